"""Fuzzing the transcript reader, `verify`, replay and resume with changed copies of a real transcript.

Hypothesis edits bytes, rewrites values, inserts, deletes and swaps lines, and
cuts files anywhere. For every changed file:

- the reader returns a transcript or raises TranscriptError, nothing else;
- `verify` raises TranscriptError or reports a problem: no change passes;
- reading and verifying in one pass (what replay does) finds the same;
- replay never runs on it (it refuses, naming why);
- resume runs on it only if its complete lines are a prefix of the original's
  (a cut file, which is what resume is for), and refuses it otherwise.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hch.app.replay import replay_transcript, resume_run, spec_of
from hch.app.spec import build_model
from hch.errors import UsageError
from tests.audit_helpers import task_run, task_spec
from transcripts.reader import TranscriptError, read_transcript
from transcripts.verify import read_verified, verify_transcript

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@dataclass(frozen=True)
class Original:
    path: Path
    blob: bytes

    @property
    def lines(self) -> list[bytes]:
        return self.blob.split(b"\n")[:-1]


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Original:
    path = tmp_path_factory.mktemp("fuzz") / "run.jsonl"
    asyncio.run(task_run(path, task_spec(task="permutation", seed=4, size=8, depth=3)))
    assert verify_transcript(path).ok
    return Original(path, path.read_bytes())


def join(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def parsed(lines: list[bytes]) -> list[Any] | None:
    try:
        return [json.loads(line) for line in lines]
    except (ValueError, RecursionError):
        return None


def is_prefix(blob: bytes, original: Original) -> bool:
    """Whether the complete lines of ``blob`` say what the first lines of the original say."""
    lines = blob.split(b"\n")[:-1]
    mine = parsed(lines)
    return mine is not None and mine == parsed(original.lines[: len(lines)]) and len(lines) <= len(original.lines)


def same_content(blob: bytes, original: Original) -> bool:
    """Whether ``blob`` holds the same JSON values line for line (a change of spelling only)."""
    return blob.endswith(b"\n") and is_prefix(blob, original) and blob.count(b"\n") == original.blob.count(b"\n")


def check(blob: bytes, original: Original, tmp: Path) -> str:
    """Run every reader of transcripts on ``blob``; return how it was reported."""
    path = tmp / "changed.jsonl"
    path.write_bytes(blob)
    try:
        transcript = read_transcript(path)
    except TranscriptError as exc:
        with pytest.raises(TranscriptError) as again:
            read_verified(path)
        assert str(again.value) == str(exc)  # reading in one pass with verifying says the same
        return "unreadable"
    try:
        report = verify_transcript(path)
    except TranscriptError:
        pytest.fail("verify refused a file that the reader read")
    assert not report.ok, f"verify passed a changed file:\n{blob.decode(errors='replace')}"
    assert read_verified(path) == (transcript, report)  # one pass finds what the two passes find

    try:
        model = build_model(spec_of(transcript))
    except (TranscriptError, UsageError):  # a spec edited into nonsense: both refuse the file (exit 2)
        return report.problems[0].kind

    async def replay_and_resume() -> None:
        with pytest.raises((UsageError, TranscriptError)):  # a cut run, or a file that fails verification
            await replay_transcript(transcript, model, transcript=tmp / "replayed.jsonl")
        assert not (tmp / "replayed.jsonl").exists()
        out = tmp / "resumed.jsonl"
        if is_prefix(blob, original):  # cut short, nothing else: that is what resume is for
            await resume_run(transcript, model, transcript=out)
            assert verify_transcript(out).ok
            out.unlink()
        else:
            with pytest.raises(TranscriptError):
                await resume_run(transcript, model, transcript=out)
            assert not out.exists()

    asyncio.run(replay_and_resume())
    return report.problems[0].kind


@FUZZ
@given(data=st.data())
def test_a_changed_byte_is_reported(original: Original, tmp_path: Path, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(original.blob) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != original.blob[at]))
    blob = original.blob[:at] + bytes([byte]) + original.blob[at + 1 :]
    assume(not same_content(blob, original))
    check(blob, original, tmp_path)


@FUZZ
@given(data=st.data())
def test_a_rewritten_value_is_reported(original: Original, tmp_path: Path, data: st.DataObject) -> None:
    lines = list(original.lines)
    index = data.draw(st.integers(0, len(lines) - 1))
    event = json.loads(lines[index])
    key = data.draw(st.sampled_from(sorted(event)))
    value = data.draw(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.just(str(event[key]) + "x"))
    )
    assume(value != event[key])
    event[key] = value
    lines[index] = json.dumps(event).encode()
    check(join(lines), original, tmp_path)


@FUZZ
@given(data=st.data())
def test_inserted_deleted_and_swapped_lines_are_reported(
    original: Original, tmp_path: Path, data: st.DataObject
) -> None:
    lines = list(original.lines)
    kind = data.draw(st.sampled_from(["insert copy", "insert bytes", "delete", "swap"]))
    i = data.draw(st.integers(0, len(lines) - 1))
    if kind == "insert copy":
        lines.insert(data.draw(st.integers(0, len(lines))), lines[i])
    elif kind == "insert bytes":
        junk = data.draw(st.one_of(st.binary(max_size=40), st.just(b"[" * 100_000), st.just(b'{"kind":' * 50_000)))
        lines.insert(i, junk.replace(b"\n", b""))
    elif kind == "delete":
        assume(i < len(lines) - 1)  # the last line gone is a cut, fuzzed below
        del lines[i]
    else:
        j = data.draw(st.integers(0, len(lines) - 1).filter(lambda j: j != i))
        lines[i], lines[j] = lines[j], lines[i]
    check(join(lines), original, tmp_path)


@FUZZ
@given(data=st.data())
def test_a_cut_anywhere_is_reported_and_only_resume_continues_it(
    original: Original, tmp_path: Path, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(original.blob) - 1))
    blob = original.blob[:at]
    assert check(blob, original, tmp_path) in ("unreadable", "truncated")
