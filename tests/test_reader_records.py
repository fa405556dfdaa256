"""Reading a transcript for replay and resume: model calls without their requests (transcripts.reader)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transcripts import reader
from transcripts.events import Header, ModelCall, NodeAnswer, NodeStart, RunEnd
from transcripts.reader import TranscriptError, read_transcript
from transcripts.verify import read_verified
from transcripts.writer import TranscriptWriter

# Text that looks like the keys around a request, inside the request and the response.
TRICKY = 'x"},"request_hash":"0","request":{"a":1}, \\"request_hash\\": {'


def write_run(path: Path) -> None:
    writer = TranscriptWriter(path, Header(run_id="r", created="now", hch_version="test", question="q"))
    writer.emit(NodeStart(node_id="0", parent_id=None, question="q", level=1, budget=None, worker="w"))
    for i, request in enumerate(
        [
            {
                "messages": [{"role": "user", "content": TRICKY}],
                "model": "m",
                "response_format": {"a": 1, "request": {"b": 2}},  # a request key inside the request
            },
            {},
        ]
    ):
        call = ModelCall(node_id="0", purpose="answer", request=request, request_hash=f"h{i}", response=TRICKY)
        writer.emit(call)
    writer.emit(NodeAnswer(node_id="0", answer="a", spent=2))
    writer.emit(RunEnd(status="ok", answer="a"))
    writer.close()


def test_a_replay_reads_every_event_but_the_requests(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_run(path)
    whole = read_transcript(path)
    records, report = read_verified(path, requests=False)
    assert report.ok
    calls = [e for e in records.events if isinstance(e, ModelCall)]
    assert len(calls) == 2 and all(c.request == {} and c.response == TRICKY for c in calls)
    assert [c.request_hash for c in calls] == ["h0", "h1"]
    assert [e.model_copy(update={"request": {}}) if isinstance(e, ModelCall) else e for e in whole.events] == (
        records.events
    )


def test_a_line_another_tool_wrote_is_read_whole_and_a_bad_one_still_named(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_run(path)
    lines = path.read_bytes().splitlines()
    # Re-serialised with spaces (as jq writes it): the same content, read whole.
    lines[2] = json.dumps(json.loads(lines[2])).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    records, report = read_verified(path, requests=False)
    assert report.ok
    call = records.events[1]
    assert isinstance(call, ModelCall) and call.request["messages"][0]["content"] == TRICKY
    # A line whose other fields are wrong is refused, naming the line and field, as a full read does.
    lines[3] = lines[3].replace(b'"purpose":"answer"', b'"purpose":7')
    path.write_bytes(b"\n".join(lines) + b"\n")
    expected = f"{path}:4: invalid 'model_call' event: model_call.purpose: Input should be a valid string"
    with pytest.raises(TranscriptError) as cut:
        read_verified(path, requests=False)
    with pytest.raises(TranscriptError) as whole:
        read_transcript(path)
    assert str(cut.value) == str(whole.value) == expected


@settings(max_examples=300, deadline=None)
@given(content=st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\n\n", b"x" * 9]), max_size=30).map(b"".join))
def test_lines_split_as_read_are_the_file_split_whole(content: bytes) -> None:
    # The file is read a chunk at a time; a line spanning chunks, an empty line, a cut last
    # line all come out as splitting the whole file would give them (here, chunks of 4 bytes).
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(reader, "_CHUNK", 4)
        path = Path(folder) / "lines"
        path.write_bytes(content)
        raw = reader.read_lines(path)
    *lines, tail = content.split(b"\n")
    assert (raw.lines, raw.tail, raw.size) == (lines, tail, len(content))
