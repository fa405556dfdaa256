"""Transcripts: incremental writing, typed reading, cuts at any byte, tree rebuilding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hch import hch_tree, run_question
from hch.errors import UsageError
from hch.testing import CountingLeaf, RandomOverseer
from transcripts import TranscriptError, build_tree, read_transcript
from transcripts.chain import line_hash
from transcripts.events import Header, NodeStart, RunEnd


@pytest.fixture
async def finished(tmp_path: Path) -> Path:
    path = tmp_path / "full.jsonl"
    await run_question(hch_tree(RandomOverseer(), CountingLeaf(), 3), "abc", transcript=path, budget=25)
    return path


async def test_transcript_reads_back_and_rebuilds_the_tree(finished: Path) -> None:
    transcript = read_transcript(finished)
    assert transcript.cut is None
    assert transcript.header.question == "abc"
    assert transcript.header.settings["budget"] == 25
    assert isinstance(transcript.end, RunEnd) and transcript.end.status == "ok"
    root = build_tree(transcript.events)
    assert root is not None and root.node_id == "0"
    assert root.answer == transcript.end.answer
    worked = [n for n in root.walk() if n.status == "worked"]
    assert len(worked) == sum(isinstance(e, NodeStart) for e in transcript.events)
    # Every non-root node hangs under the parent its id names.
    for node in root.walk():
        for child in node.children:
            assert child.node_id.rsplit(".", 1)[0] == node.node_id


def test_lines_are_chained(finished: Path) -> None:
    prev = ""
    for raw in finished.read_text().splitlines():
        fields = json.loads(raw)
        assert fields["hash"] == line_hash(prev, fields)
        prev = fields["hash"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_a_cut_at_any_byte_keeps_complete_events_and_reports_the_cut(
    finished: Path, tmp_path: Path, fraction: float
) -> None:
    blob = finished.read_bytes()
    cut_at = int(fraction * len(blob))
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(blob[:cut_at])
    header_end = blob.index(b"\n") + 1
    if cut_at < header_end:
        with pytest.raises(TranscriptError, match="no header"):
            read_transcript(cut)
        return
    full = read_transcript(finished)
    partial = read_transcript(cut)
    complete_lines = blob[:cut_at].count(b"\n") - 1  # minus the header
    assert partial.events == full.events[:complete_lines]
    assert partial.cut is not None
    if blob[:cut_at].endswith(b"\n"):
        assert "no run_end" in partial.cut
    else:
        assert "incomplete" in partial.cut and f":{complete_lines + 2}:" in partial.cut


def test_malformed_lines_name_file_and_line(finished: Path, tmp_path: Path) -> None:
    lines = finished.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*lines[:3], "{not json", *lines[3:]]) + "\n")
    with pytest.raises(TranscriptError, match=r"bad.jsonl:4: not JSON"):
        read_transcript(bad)
    bad.write_text("\n".join([*lines[:2], '{"kind": "node_start", "node_id": 3}', *lines[2:]]) + "\n")
    with pytest.raises(TranscriptError, match=r"bad.jsonl:3: invalid 'node_start' event"):
        read_transcript(bad)
    bad.write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(TranscriptError, match=r"bad.jsonl:1: first line is a 'node_start' event, not a header"):
        read_transcript(bad)
    header = json.loads(lines[0])
    header["schema_version"] = 99
    bad.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    with pytest.raises(TranscriptError, match="schema version 99 is not supported"):
        read_transcript(bad)
    bad.write_text("hello world\n")
    with pytest.raises(TranscriptError, match=r"bad\.jsonl:1: not JSON"):
        read_transcript(bad)


async def test_header_records_settings_and_the_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    await run_question(hch_tree(RandomOverseer(), CountingLeaf(), 1), "q", transcript=path, settings={"seed": 5})
    header = read_transcript(path).header
    assert isinstance(header, Header) and header.settings["seed"] == 5 and header.settings["depth"] == 1
    with pytest.raises(UsageError, match="already exists"):  # a one-line error, not a traceback
        await run_question(hch_tree(RandomOverseer(), CountingLeaf(), 1), "q", transcript=path)
