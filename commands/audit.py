"""The audit commands: ``schema``, ``replay``, ``verify``, ``show``, ``diff``, ``export``."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from commands.common import (
    JsonOpt,
    TranscriptArg,
    TrustEditedOpt,
    fail,
    flag,
    integrity_or_fail,
    new_transcript_or_fail,
    out,
    read_transcript_or_fail,
    read_verified_or_fail,
    run_async,
)


def schema() -> None:
    """Print the JSON Schema of the transcript format (docs/transcript-schema.json)."""
    from transcripts.schema import schema_text

    print(schema_text(), end="")


def replay(
    transcript: TranscriptArg,
    out_path: Annotated[
        Path | None,
        typer.Option("--transcript", help="Where to write the replay's transcript (default under $HCH_HOME)."),
    ] = None,
    as_json: JsonOpt = False,
    trust_edited: TrustEditedOpt = False,
) -> None:
    """Re-execute a run offline from its transcript and say whether every node matches.

    Recorded model responses, oracle answers and human inputs are fed back by
    tree position and request hash; nothing reaches the network or the
    terminal. Exit 0 and "identical", or exit 1 naming the first divergent
    node with what was expected and what was produced. A file that fails
    `hch verify` is refused (exit 2) unless --trust-edited is given.
    """
    from hch.collector import leave_to_exit, off_until_exit

    # First: what it imports, reads and runs lives until the process ends (see hch.collector).
    off_until_exit()
    from hch.app.replay import replay as replay_recorded
    from hch.app.replay import spec_of
    from transcripts.reader import TranscriptError

    new_transcript_or_fail(out_path)
    # Without the requests: a replay matches recorded calls by their hashes.
    original, verified = read_verified_or_fail(transcript, requests=False)
    if original.end is None:
        fail(f"{original.cut}: a replay compares with a finished run; resume this one with `hch run --resume`", 2)
    try:
        spec_of(original)
    except TranscriptError as exc:
        fail(str(exc), 2)
    integrity = integrity_or_fail(original, action="replay", trust_edited=trust_edited, report=verified)
    report = run_async(partial(replay_recorded, original, transcript=out_path, integrity=integrity))
    if as_json:
        print(json.dumps(report.as_json()))
    else:
        out.print(report.summary(), markup=False, soft_wrap=True)
        for d in report.diff.roots()[1:6]:
            out.print(
                f"  also node {d.node_id} ({d.what}): expected {d.expected}; produced {d.produced}",
                markup=False,
                soft_wrap=True,
            )
        out.print(f"replay transcript: {report.replayed.path}", markup=False, soft_wrap=True)
    identical = report.identical
    leave_to_exit(original, verified, report)  # the process ends here: freeing them is wasted time
    if not identical:
        raise typer.Exit(1)


def verify(
    transcript: TranscriptArg,
    head: Annotated[str | None, typer.Option("--head", help="The last line's hash the file must end with.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a transcript's hash chain: detect edited, reordered, truncated or spliced files.

    Exit 0 when intact, 1 naming the line of the first problem, 2 when the
    file is not a transcript.
    """
    from transcripts.reader import TranscriptError
    from transcripts.verify import verify_transcript

    try:
        report = verify_transcript(transcript, expect_head=head)
    except TranscriptError as exc:
        fail(str(exc), 2)
    if as_json:
        print(json.dumps(report.as_json()))
    else:
        out.print(report.summary(), markup=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


def show(
    transcript: TranscriptArg,
    node: Annotated[
        str | None, typer.Option("--node", help="Show one node in full: prompts, responses, calls.")
    ] = None,
    max_depth: Annotated[int | None, typer.Option("--max-depth", help="Draw the tree this many levels deep.")] = None,
) -> None:
    """Draw a run's tree: each node's question, answer, who worked it, calls, tokens and time."""
    from transcripts.show import ViewError, render_node, render_tree

    t = read_transcript_or_fail(transcript)
    try:
        out.print(render_node(t, node) if node is not None else render_tree(t, max_depth=max_depth, label=flag))
    except ViewError as exc:
        fail(str(exc), 2)


def diff(
    a: Annotated[Path, typer.Argument(help="The first transcript.")],
    b: Annotated[Path, typer.Argument(help="The second transcript (same question).")],
    limit: Annotated[int, typer.Option("--limit", help="Most differing nodes to list.")] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Align two runs of the same question node by node and show where they differ (exit 1 if they do)."""
    from transcripts.diff import diff_runs
    from transcripts.show import render_diff

    ta, tb = read_transcript_or_fail(a), read_transcript_or_fail(b)
    result = diff_runs(ta, tb)
    if as_json:
        print(json.dumps(result.as_json()))
    else:
        out.print(render_diff(result, limit=limit, label=flag))
    if not result.identical:
        raise typer.Exit(1)


def export(
    transcript: TranscriptArg,
    html_path: Annotated[Path, typer.Option("--html", help="The HTML file to write.")],
) -> None:
    """Write a run as one self-contained HTML page: collapsible tree, node details, search."""
    from transcripts.html import write_html
    from transcripts.show import ViewError

    t = read_transcript_or_fail(transcript)
    try:
        size = write_html(t, html_path)
    except ViewError as exc:
        fail(str(exc), 2)
    except OSError as exc:
        fail(f"{html_path}: cannot write: {exc.strerror or exc}", 2)
    out.print(f"wrote {html_path} ({size} bytes, {sum(1 for _ in t.events)} events)", markup=False)
