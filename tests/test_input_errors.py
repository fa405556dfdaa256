"""Bad input to `hch run` is a one-line error with exit 2, and leaves no half-made file.

Each case here was a traceback (or a transcript no reader accepts) before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.audit_helpers import ROOT, hch, one_line_error

CLOSED = "http://127.0.0.1:9/v1"  # nothing listens there: a check that lets a run start would hang in retries
LLM = ["--overseer", "llm", "--model", "m", "--base-url", CLOSED, "--max-attempts", "1"]


def files_under(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file()] if home.exists() else []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--temperature", "inf"], "temperature: Input should be a finite number"),
        (["--temperature", "nan"], "temperature: Input should be a finite number"),
        (["--timeout", "inf"], "timeout_s: Input should be a finite number"),
        (["--timeout", "nan"], "timeout_s: Input should be a finite number"),
    ],
)
def test_non_finite_numbers_are_refused(hch_home: Path, flags: list[str], message: str) -> None:
    proc = hch("run", "Q", *LLM, *flags, home=hch_home)
    assert proc.returncode == 2, proc.stderr
    assert message in one_line_error(proc)
    assert files_under(hch_home) == []


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_an_empty_question_is_refused(hch_home: Path, question: str) -> None:
    proc = hch("run", question, *LLM, home=hch_home)
    assert proc.returncode == 2, proc.stderr
    assert "the question is empty" in one_line_error(proc)
    assert files_under(hch_home) == []


def test_a_question_that_is_not_utf8_is_refused_and_leaves_no_transcript(hch_home: Path) -> None:
    env = {**os.environ, "HCH_HOME": str(hch_home), "COLUMNS": "200"}
    argv: list[str | bytes] = [sys.executable, "-m", "cli", "run", b"how many \xff\xfe legs?", *LLM]
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "not valid UTF-8" in one_line_error(proc) and "byte 0xff at position 9" in proc.stderr
    assert files_under(hch_home) == []


def test_a_transcript_path_that_exists_is_refused(hch_home: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken.jsonl"
    taken.write_text("keep me\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    for path, message in (
        (taken, "already exists"),
        (folder, "is a folder"),
        (Path("/dev/null"), "already exists"),
    ):
        proc = hch("run", "--task", "permutation", "--transcript", str(path), home=hch_home)
        assert proc.returncode == 2, proc.stderr
        error = one_line_error(proc)
        assert str(path) in error and message in error
    assert taken.read_text() == "keep me\n" and list(folder.iterdir()) == []
    assert files_under(hch_home) == []


async def test_the_library_refuses_them_too(tmp_path: Path) -> None:
    from hch.app.spec import build_model
    from hch.errors import UsageError
    from hch.executor import run_question
    from tests.audit_helpers import task_spec

    model = build_model(task_spec())
    taken = tmp_path / "taken.jsonl"
    taken.write_text("keep me\n")
    with pytest.raises(UsageError, match="already exists"):
        await run_question(model, "q", transcript=taken)
    with pytest.raises(UsageError, match="not valid UTF-8"):
        await run_question(model, "q \udcff", transcript=tmp_path / "a.jsonl")
    with pytest.raises(UsageError, match="empty"):
        await run_question(model, " ", transcript=tmp_path / "b.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.jsonl"]  # noqa: ASYNC240 (a test's check)
