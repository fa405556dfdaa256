"""`hch verify`: the hash chain names the line of an edit, a reordering, a truncation or a splice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.audit_helpers import edit_line, hch, lines_of, one_line_error, task_run, task_spec, write_lines
from transcripts.chain import GENESIS, seal
from transcripts.reader import TranscriptError, read_transcript
from transcripts.verify import read_verified, verify_transcript


@pytest.fixture
async def run_file(tmp_path: Path) -> Path:
    return await task_run(tmp_path / "run.jsonl")


def first_problem(path: Path) -> tuple[int, str]:
    report = verify_transcript(path)
    assert not report.ok
    return report.problems[0].line, report.problems[0].kind


def test_an_intact_file_verifies_and_reports_its_head(run_file: Path, hch_home: Path) -> None:
    report = verify_transcript(run_file)
    assert report.ok and report.finished and report.lines == len(lines_of(run_file))
    assert report.head == json.loads(lines_of(run_file)[-1])["hash"]
    proc = hch("verify", str(run_file), home=hch_home)
    assert proc.returncode == 0 and "intact" in proc.stdout
    proc = hch("verify", str(run_file), "--head", report.head or "", home=hch_home)
    assert proc.returncode == 0
    proc = hch("verify", str(run_file), "--head", "0" * 64, "--json", home=hch_home)
    assert proc.returncode == 1 and json.loads(proc.stdout)["ok"] is False


@pytest.mark.parametrize("index", [0, 5, 40, -2, -1])
def test_an_edited_line_is_named(run_file: Path, tmp_path: Path, hch_home: Path, index: int) -> None:
    lines = lines_of(run_file)
    n = index % len(lines)
    data = json.loads(lines[n])
    field = next(k for k in ("answer", "question", "status") if k in data)
    edited = write_lines(tmp_path / "edited.jsonl", edit_line(lines, n, **{field: str(data[field]) + "!"}))
    assert first_problem(edited) == (n + 1, "edited")
    proc = hch("verify", str(edited), home=hch_home)
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"{edited}:{n + 1}: edited:")


def test_a_whitespace_only_reformat_still_verifies(run_file: Path, tmp_path: Path) -> None:
    # jq-style re-serialisation does not change content, so the chain still holds.
    pretty = [json.dumps(json.loads(line), indent=None, separators=(", ", ": ")) for line in lines_of(run_file)]
    path = write_lines(tmp_path / "pretty.jsonl", pretty)
    assert verify_transcript(path).ok
    # Reading and verifying in one pass checks such lines on their content too.
    transcript, report = read_verified(path)
    assert report.ok and report.head == verify_transcript(run_file).head
    assert transcript.events == read_transcript(run_file).events


def test_reordered_lines_are_named(run_file: Path, tmp_path: Path, hch_home: Path) -> None:
    lines = lines_of(run_file)
    swapped = [*lines[:10], lines[11], lines[10], *lines[12:]]
    path = write_lines(tmp_path / "swapped.jsonl", swapped)
    assert first_problem(path) == (11, "reordered")
    proc = hch("verify", str(path), home=hch_home)
    assert proc.returncode == 1 and f"{path}:11: reordered: seq is 11, expected 10" in proc.stdout


def test_removed_lines_are_named(run_file: Path, tmp_path: Path) -> None:
    lines = lines_of(run_file)
    path = write_lines(tmp_path / "removed.jsonl", [*lines[:20], *lines[23:]])
    assert first_problem(path) == (21, "reordered")


def test_truncation_is_named_at_a_line_boundary_and_mid_line(run_file: Path, tmp_path: Path, hch_home: Path) -> None:
    lines = lines_of(run_file)
    whole = write_lines(tmp_path / "whole.jsonl", lines[:30])
    assert first_problem(whole) == (30, "truncated")
    blob = run_file.read_bytes()
    mid = tmp_path / "mid.jsonl"
    cut_at = len("\n".join(lines[:30])) + 1 + 17  # 17 bytes into line 31
    mid.write_bytes(blob[:cut_at])
    assert first_problem(mid) == (31, "truncated")
    proc = hch("verify", str(mid), home=hch_home)
    assert proc.returncode == 1 and f"{mid}:31: truncated" in proc.stdout


async def test_splices_are_named(run_file: Path, tmp_path: Path, hch_home: Path) -> None:
    other = await task_run(tmp_path / "other.jsonl", task_spec(seed=4))
    a, b = lines_of(run_file), lines_of(other)
    # The tail of another run, with sequence numbers that fit: the chain breaks where it joins.
    tail = write_lines(tmp_path / "tail.jsonl", [*a[:25], *b[25:]])
    assert first_problem(tail) == (26, "edited")
    # Another whole file appended after this one: a second header.
    both = write_lines(tmp_path / "both.jsonl", [*a, *b])
    line, kind = first_problem(both)
    assert (line, kind) == (len(a) + 1, "appended")
    assert any(p.kind == "spliced" and p.line == len(a) + 1 for p in verify_transcript(both).problems)
    proc = hch("verify", str(both), home=hch_home)
    assert proc.returncode == 1 and f":{len(a) + 1}:" in proc.stdout


def test_lines_after_run_end_are_named(run_file: Path, tmp_path: Path) -> None:
    lines = lines_of(run_file)
    extra = edit_line(lines, len(lines) - 1, seq=len(lines))
    path = write_lines(tmp_path / "extra.jsonl", [*lines, extra[-1]])
    assert first_problem(path) == (len(lines) + 1, "appended")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", ":1: no header"),
        (b"hello world\n", ":1: not JSON"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\n", ":1: not JSON"),
        (b'{"a": 1}\n', ":1: not a transcript event"),
        (b'{"kind": "answer", "node_id": "0", "answer": "1", "spent": 1}\n', ":1: first line is a 'answer' event"),
    ],
)
def test_malformed_input_is_one_line_with_exit_2(tmp_path: Path, hch_home: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(TranscriptError, match=message):
        verify_transcript(path)
    proc = hch("verify", str(path), home=hch_home)
    assert proc.returncode == 2
    assert message in one_line_error(proc)


def test_wrong_schema_version_and_a_bad_event_are_exit_2_with_the_line(
    run_file: Path, tmp_path: Path, hch_home: Path
) -> None:
    lines = lines_of(run_file)
    newer = write_lines(tmp_path / "newer.jsonl", edit_line(lines, 0, schema_version=99))
    proc = hch("verify", str(newer), home=hch_home)
    assert proc.returncode == 2 and ":1: schema version 99 is not supported" in one_line_error(proc)
    bad = write_lines(tmp_path / "bad.jsonl", [*lines[:7], "{not json", *lines[7:]])
    proc = hch("verify", str(bad), home=hch_home)
    assert proc.returncode == 2 and f"{bad}:8: not JSON" in one_line_error(proc)
    wrong = write_lines(tmp_path / "wrong.jsonl", edit_line(lines, 4, node_id=7))
    proc = hch("verify", str(wrong), home=hch_home)
    assert proc.returncode == 2 and f"{wrong}:5: invalid" in one_line_error(proc)


def resealed(records: list[dict[str, Any]]) -> list[str]:
    """``records`` written as the writer seals lines (each chained to the one before), whatever they say."""
    out, prev = [], GENESIS
    for record in records:
        prev, line = seal(prev, {k: v for k, v in record.items() if k != "hash"})
        out.append(line.decode().rstrip("\n"))
    return out


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("gap", (21, "reordered")),  # a line removed and the chain sealed again over the rest
        ("header", (21, "spliced")),  # a second header inside an intact chain
        ("appended", (-1, "appended")),  # a line after run_end, chained to it
    ],
)
def test_a_chain_sealed_again_still_names_what_was_changed(
    run_file: Path, tmp_path: Path, change: str, problem: tuple[int, str]
) -> None:
    # Every line is byte for byte as a writer seals it, so the chain alone cannot tell:
    # positions, headers and the end must be checked on lines that pass the bytes test too.
    records = [json.loads(line) for line in lines_of(run_file)]
    assert resealed(records) == lines_of(run_file)  # the writer's own form
    if change == "gap":
        records = records[:20] + records[21:]
    elif change == "header":
        records = [*records[:20], {**records[0], "seq": 20}, *[{**r, "seq": r["seq"] + 1} for r in records[20:]]]
    else:
        records = [*records, {**records[-2], "seq": len(records)}]
    path = write_lines(tmp_path / f"{change}.jsonl", resealed(records))
    line, kind = problem
    expected = (line % len(records) + 1 if line < 0 else line, kind)
    assert first_problem(path) == expected
    if change == "header":  # not a transcript to read: refused, naming the line
        with pytest.raises(TranscriptError, match=f"{path}:21: a second header"):
            read_verified(path, requests=False)
    else:
        _, report = read_verified(path, requests=False)
        assert (report.problems[0].line, report.problems[0].kind) == expected
    # The lines before the change are not reported.
    assert all(p.line >= expected[0] for p in verify_transcript(path).problems)
