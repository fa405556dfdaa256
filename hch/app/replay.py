"""Replaying and resuming runs from their transcripts.

**Replay** re-executes a recorded run with today's code and prompts, feeding
back every recorded model response, oracle answer and human input by tree
position and request hash (:class:`~hch.playback.Playback` with
``strict=True``). Nothing reaches the network or the terminal: a request that
was not recorded is a :class:`~hch.playback.Divergence`, not a cache miss. The
replay writes a transcript of its own, and the two runs are compared node by
node (:func:`transcripts.diff.diff_runs`): the replay is *identical* when the
final answer and every node match; otherwise the first divergence names the
node, what the transcript recorded there and what the replay produced.

**Resume** continues a run that was cut short (killed, even by SIGKILL, or
ended by an error): the same tree is run again with the transcript's records
given back (``strict=False``), so completed calls are taken from the file and
only unfinished work is done live. It writes a new, complete transcript whose
header records ``resumed_from``; the old file is left untouched.

Both first verify the chain of the file they read (:mod:`hch.app.integrity`) and
refuse one that was edited, reordered or spliced, unless told to trust it.

The two share one path and differ only where they must: :func:`reopen` builds
the recorded tree again (offline for a replay, through the same
:func:`~hch.app.runtime.open_run` as a fresh run for a resume), and
:func:`_prepare` and :func:`_run_again` check, place and run it with the
records given back (strictly for a replay). :func:`replay` and :func:`resume`
put them together for the command line.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from hch.app.integrity import Integrity, check_integrity
from hch.app.runtime import open_run, prompts_for
from hch.app.spec import RunSpec, build_model, needs_llm
from hch.errors import UsageError, validation_summary
from hch.executor import (
    DEFAULT_MAX_SUBQUESTIONS,
    RunResult,
    check_new_transcript,
    default_transcript_path,
    new_run_id,
    run_question,
)
from hch.playback import Playback
from hch.protocols import Model
from transcripts.chain import GENESIS
from transcripts.diff import RunDiff, diff_runs
from transcripts.events import Event, Header, JSONValue
from transcripts.reader import Transcript, TranscriptError, read_header, read_transcript
from transcripts.writer import Listener

if TYPE_CHECKING:
    import httpx2

    from hch.llm.settings import LLMSettings

_ENGINE_SETTINGS = ("depth", "budget", "token_budget", "max_subquestions", "root_worker")
"""Header settings that run_question writes itself."""
_LINEAGE = ("replay_of", "resumed_from")

Action = Literal["replay", "resume"]
"""What running a recorded run again is for: a replay (offline, every record
given back strictly, then compared) or a resume (live where the records end)."""


def spec_of(transcript: Transcript) -> RunSpec:
    """The run spec recorded in a transcript's header."""
    raw = transcript.header.settings.get("spec")
    if not isinstance(raw, dict):
        raise TranscriptError(
            f"{transcript.path}:1: header has no run spec (settings.spec): this run cannot be rebuilt "
            "(it was not started by `hch run`)"
        )
    try:
        return RunSpec.model_validate(raw)
    except ValidationError as exc:
        # Not str(exc): pydantic's message quotes the input, which may be a URL with a key in it.
        if all(error["loc"][:1] == ("llm",) for error in exc.errors()):
            what = "the recorded model settings are invalid"
        else:
            what = "header's run spec is invalid"
        raise TranscriptError(f"{transcript.path}:1: {what}: {validation_summary(exc)}") from None


@dataclass(frozen=True)
class RunBounds:
    """What run_question needs to run the recorded question again (from the header)."""

    question: str
    budget: int | None
    max_subquestions: int
    token_budget: int | None = None


def bounds_of(transcript: Transcript) -> RunBounds:
    settings = transcript.header.settings
    budget = settings.get("budget")
    token_budget = settings.get("token_budget")  # absent from runs recorded before token budgets
    max_sub = settings.get("max_subquestions", DEFAULT_MAX_SUBQUESTIONS)
    if not all(b is None or (isinstance(b, int) and not isinstance(b, bool)) for b in (budget, token_budget)):
        raise TranscriptError(f"{transcript.path}:1: header settings hold no valid budget / token_budget")
    if not isinstance(max_sub, int):
        raise TranscriptError(f"{transcript.path}:1: header settings hold no valid max_subquestions")
    return RunBounds(transcript.header.question, budget, max_sub, token_budget)


def head_hash(transcript: Transcript) -> str:
    """The hash of the last complete line."""
    last = transcript.events[-1] if transcript.events else transcript.header
    return last.hash or GENESIS


def _inherited_settings(header: Header) -> dict[str, JSONValue]:
    return {k: v for k, v in header.settings.items() if k not in _ENGINE_SETTINGS and k not in _LINEAGE}


def _lineage(transcript: Transcript, integrity: Integrity) -> dict[str, JSONValue]:
    return {
        "path": str(transcript.path),
        "run_id": transcript.header.run_id,
        "lines": len(transcript.events) + 1,
        "head": head_hash(transcript),
        "cut": transcript.cut,
        **integrity.lineage(),
    }


# -- building the tree again -----------------------------------------------


@dataclass
class NetworkGuard:
    """Refuses, and counts, every request that tries to leave the process during a replay."""

    attempts: int = 0

    def transport(self) -> httpx2.MockTransport:
        import httpx2  # here: a replay sends nothing, so it builds this only if something tries

        def refuse(request: httpx2.Request) -> httpx2.Response:
            self.attempts += 1
            raise httpx2.ConnectError(f"replay is offline: refused a request to {request.url}", request=request)

        return httpx2.MockTransport(refuse)


def llm_settings_of(transcript: Transcript, spec: RunSpec, **overrides: Any) -> LLMSettings:
    """The model settings recorded in the spec, with ``overrides`` (None values ignored)."""
    settings = spec.llm
    if settings is None:
        raise TranscriptError(f"{transcript.path}:1: the run needs a model but its spec records no model settings")
    changes = {k: v for k, v in overrides.items() if v is not None}
    return settings.model_copy(update=changes) if changes else settings


@dataclass(frozen=True)
class Reopened:
    """A recorded run's tree built again with today's code."""

    spec: RunSpec
    model: Model
    prompts: dict[str, str]
    """The prompts the tree uses today (recorded in the new transcript's header)."""
    guard: NetworkGuard | None = None
    """A replay's refusal of the network (None for a resume, which may call the model)."""


@asynccontextmanager
async def reopen(original: Transcript, action: Action, **llm_overrides: Any) -> AsyncIterator[Reopened]:
    """The tree ``original``'s header describes, built with today's code, for ``action``.

    For a replay it is cut off from the network: the model client (if the run
    used one) has its cache off, one attempt per call, no API key, and an HTTP
    transport that refuses every request (and counts it); with strict playback
    no request is even tried, so the count stays 0. The embedded model's server
    is not started.

    For a resume it is opened as a fresh run is (:func:`~hch.app.runtime.open_run`),
    able to make live calls; ``llm_overrides`` change how calls are made, not
    what they are (concurrency, timeouts, attempts, cache, where the key is): the
    request hashes, and so the matching of recorded calls, do not depend on them.
    """
    spec = spec_of(original)
    if action == "resume":
        settings = llm_settings_of(original, spec, **llm_overrides) if needs_llm(spec) else None
        async with open_run(spec, settings=settings) as opened:
            yield Reopened(spec, opened.model, opened.prompts)
        return
    guard = NetworkGuard()
    if not needs_llm(spec):
        yield Reopened(spec, build_model(spec), {}, guard)
        return
    from hch.llm.client import LLMClient

    settings = llm_settings_of(original, spec, cache=False, max_attempts=1)

    def offline() -> httpx2.AsyncClient:
        import httpx2

        return httpx2.AsyncClient(transport=guard.transport(), trust_env=False)

    # Built by the client on a first request, which strict playback never lets it send.
    client = LLMClient(settings, http_client=offline, environ={})
    try:
        yield Reopened(spec, build_model(spec, llm=client), prompts_for(spec), guard)
    finally:
        await client.aclose()  # (and the HTTP client, if it was built)


@asynccontextmanager
async def offline_model(original: Transcript) -> AsyncIterator[tuple[Model, dict[str, str], NetworkGuard]]:
    """The tree of ``original`` built for a replay (:func:`reopen`): the model, its prompts, the guard."""
    async with reopen(original, "replay") as opened:
        assert opened.guard is not None
        yield opened.model, opened.prompts, opened.guard


@asynccontextmanager
async def live_model(original: Transcript, **llm_overrides: Any) -> AsyncIterator[tuple[Model, dict[str, str]]]:
    """The tree of ``original`` built for a resume (:func:`reopen`): the model and its prompts."""
    async with reopen(original, "resume", **llm_overrides) as opened:
        yield opened.model, opened.prompts


# -- the one re-run path ----------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    """Where and how a recorded run runs again, checked before it starts."""

    path: Path
    run_id: str
    bounds: RunBounds
    lineage: dict[str, JSONValue]


def _prepare(
    original: Transcript,
    action: Action,
    *,
    transcript: Path | None,
    run_id: str | None,
    trust_edited: bool,
    integrity: Integrity | None,
) -> _Prepared:
    """Verify ``original`` (a resume accepts a cut file), read its bounds, and place the new transcript."""
    if integrity is None:
        integrity = check_integrity(original, allow_cut=action == "resume", trust_edited=trust_edited, action=action)
    bounds = bounds_of(original)
    run_id = run_id or new_run_id()
    default = default_transcript_path(run_id)
    path = transcript or (default.with_name(f"{default.stem}-replay.jsonl") if action == "replay" else default)
    if action == "resume" and path.resolve() == original.path.resolve():
        raise UsageError(f"{path} is the transcript being resumed; a resume writes a new file")
    check_new_transcript(path)
    return _Prepared(path, run_id, bounds, _lineage(original, integrity))


async def _run_again(
    original: Transcript,
    model: Model,
    action: Action,
    prepared: _Prepared,
    *,
    prompts: dict[str, str] | None,
    listeners: Iterable[Listener],
) -> tuple[RunResult, Playback]:
    """Run the recorded question with ``original``'s records given back; its header says where it came from."""
    if action == "replay":
        # Strict: a request that was not recorded is a divergence, never a live call.
        playback = Playback.from_events(original.events, strict=True)
        lineage: dict[str, JSONValue] = {"replay_of": prepared.lineage}
    else:
        playback = Playback.from_events(original.events, strict=False)
        at = datetime.now(UTC).isoformat(timespec="seconds")
        lineage = {"resumed_from": {**prepared.lineage, "at": at}}
    result = await run_question(
        model,
        prepared.bounds.question,
        transcript=prepared.path,
        budget=prepared.bounds.budget,
        token_budget=prepared.bounds.token_budget,
        max_subquestions=prepared.bounds.max_subquestions,
        settings={**_inherited_settings(original.header), **lineage},
        prompts=prompts,
        listeners=listeners,
        run_id=prepared.run_id,
        playback=playback,
    )
    return result, playback


# -- replay -----------------------------------------------------------------


@dataclass(frozen=True)
class ReplayReport:
    """The outcome of a replay."""

    original: Transcript
    replayed: Transcript
    diff: RunDiff
    run_error: str | None
    """How the replay run failed (for example a Divergence), if it did."""
    network_requests: int = 0
    """Requests that tried to leave the process (always 0: they are refused)."""

    @property
    def identical(self) -> bool:
        return self.diff.identical

    def summary(self) -> str:
        """One line: identical, or the first divergence."""
        nodes = self.diff.common + sum(1 for d in self.diff.nodes if d.what.startswith("only in"))
        if self.identical:
            return (
                f"identical: final answer {_quote(self.diff.final_b)} and all {self.diff.common} nodes match "
                f"({self.diff.a.path.name} replayed offline, {self.network_requests} network requests)"
            )
        first = self.diff.first
        if first is None:
            return (
                f"diverged: the final result differs: expected {self.diff.status_a} {_quote(self.diff.final_a)}, "
                f"produced {self.diff.status_b} {_quote(self.diff.final_b)}"
            )
        return (
            f"diverged at node {first.node_id} ({first.what}): expected {first.expected}; "
            f"produced {first.produced} [{len(self.diff.nodes)} of {nodes} nodes differ]"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "original": str(self.original.path),
            "replay": str(self.replayed.path),
            "final": {
                "expected": {"status": self.diff.status_a, "answer": self.diff.final_a},
                "produced": {"status": self.diff.status_b, "answer": self.diff.final_b},
            },
            "nodes": self.diff.common,
            "first_divergence": self.diff.first.as_json() if self.diff.first else None,
            "divergent_nodes": [d.as_json() for d in self.diff.nodes],
            "run_error": self.run_error,
            "network_requests": self.network_requests,
        }


def _quote(text: str | None) -> str:
    return "none" if text is None else repr(text if len(text) <= 80 else text[:77] + "...")


async def replay_transcript(
    original: Transcript,
    model: Model,
    *,
    transcript: Path | None = None,
    listeners: Iterable[Listener] = (),
    prompts: dict[str, str] | None = None,
    guard: NetworkGuard | None = None,
    trust_edited: bool = False,
    integrity: Integrity | None = None,
) -> ReplayReport:
    """Re-run ``original`` with ``model`` from its records only, and compare.

    ``model`` must be built from the transcript's spec by a caller that cut it
    off from the network and the terminal (see :func:`hch.app.spec.build_model`);
    ``prompts`` are the prompts it uses today (recorded in the replay's header).
    A file that fails verification raises
    :class:`~hch.app.integrity.UnverifiedTranscript` unless ``trust_edited``;
    ``integrity`` is a :func:`~hch.app.integrity.check_integrity` result the caller
    already has for ``original`` (it is not checked again).
    """
    if original.end is None:
        raise UsageError(
            f"{original.cut}: a replay compares with a finished run; resume this one with `hch run --resume`"
        )
    prepared = _prepare(
        original, "replay", transcript=transcript, run_id=None, trust_edited=trust_edited, integrity=integrity
    )
    path = prepared.path
    produced: list[Event] = []
    run_error: str | None = None
    # Nothing reaches the terminal: what human nodes would show (drafts, their
    # context) goes nowhere; their inputs come from the transcript (strict
    # playback: a missing one is a divergence, never a prompt).
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            await _run_again(
                original, model, "replay", prepared, prompts=prompts, listeners=[*listeners, produced.append]
            )
    except Exception as exc:  # the replay's failure (a divergence, say) is part of its result
        if not path.exists():
            raise
        run_error = f"{type(exc).__name__}: {exc}"
    # A replay that ran to its end is compared as it ran (the events its file holds, not
    # read back); one that failed, with what its file holds.
    if run_error is None:
        replayed = Transcript(path=path, header=read_header(path), events=produced, cut=None)
    else:
        replayed = read_transcript(path)
    return ReplayReport(
        original=original,
        replayed=replayed,
        diff=diff_runs(original, replayed),
        run_error=run_error,
        network_requests=guard.attempts if guard is not None else 0,
    )


# -- resume -----------------------------------------------------------------


@dataclass(frozen=True)
class ResumeResult:
    """A resumed run: its result and how much of it came from the old transcript."""

    result: RunResult
    resumed_from: Path
    reused_calls: int
    """Recorded calls given back instead of being made again."""


async def resume_run(
    original: Transcript,
    model: Model,
    *,
    transcript: Path | None = None,
    listeners: Iterable[Listener] = (),
    prompts: dict[str, str] | None = None,
    run_id: str | None = None,
    trust_edited: bool = False,
    integrity: Integrity | None = None,
) -> ResumeResult:
    """Run ``original`` again with its recorded calls given back; write a new transcript.

    A file whose chain fails verification for any reason but being cut short
    raises :class:`~hch.app.integrity.UnverifiedTranscript` unless
    ``trust_edited``; ``integrity`` is as for :func:`replay_transcript`.
    """
    prepared = _prepare(
        original, "resume", transcript=transcript, run_id=run_id, trust_edited=trust_edited, integrity=integrity
    )
    result, playback = await _run_again(original, model, "resume", prepared, prompts=prompts, listeners=listeners)
    return ResumeResult(result=result, resumed_from=original.path, reused_calls=playback.consumed)


# -- for the command line ---------------------------------------------------


async def replay(
    original: Transcript,
    *,
    transcript: Path | None = None,
    trust_edited: bool = False,
    integrity: Integrity | None = None,
) -> ReplayReport:
    """``hch replay``: build ``original``'s tree offline (:func:`reopen`) and replay it (:func:`replay_transcript`)."""
    async with reopen(original, "replay") as opened:
        return await replay_transcript(
            original,
            opened.model,
            transcript=transcript,
            prompts=opened.prompts,
            guard=opened.guard,
            trust_edited=trust_edited,
            integrity=integrity,
        )


async def resume(
    original: Transcript,
    *,
    transcript: Path | None = None,
    listeners: Iterable[Listener] = (),
    display: AbstractContextManager[Any] | None = None,
    run_id: str | None = None,
    trust_edited: bool = False,
    integrity: Integrity | None = None,
    **llm_overrides: Any,
) -> ResumeResult:
    """``hch run --resume``: build ``original``'s tree as a fresh run's (:func:`reopen`), then :func:`resume_run`.

    ``display`` (a live progress line) is entered once the model client is open;
    ``llm_overrides`` are as for :func:`reopen`.
    """
    async with reopen(original, "resume", **llm_overrides) as opened:
        with display or nullcontext():
            return await resume_run(
                original,
                opened.model,
                transcript=transcript,
                listeners=listeners,
                prompts=opened.prompts,
                run_id=run_id,
                trust_edited=trust_edited,
                integrity=integrity,
            )
