"""Replay and resume verify the chain of what they read before using it.

A transcript is evidence: a run rebuilt from an edited, reordered or spliced
file must not come out as an intact transcript of its own. Both refuse such a
file with a one-line error naming the line (exit 2, nothing written) unless the
user says ``--trust-edited``, and then the new transcript's header records
that it was built from an unverified file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hch.app.integrity import UnverifiedTranscript
from hch.app.replay import live_model, offline_model, replay_transcript, resume_run
from tests.audit_helpers import edit_line, hch, lines_of, one_line_error, task_run, task_spec, write_lines
from transcripts.reader import read_transcript
from transcripts.verify import verify_transcript


@pytest.fixture
async def full_run(tmp_path: Path) -> Path:
    return await task_run(tmp_path / "full.jsonl", task_spec(task="wildcard", seed=5, depth=6, size=48))


def oracle_line(lines: list[str], after: int = 0) -> int:
    return next(i for i, line in enumerate(lines) if i >= after and '"oracle_call"' in line)


def cut_and_edited(full: Path, tmp_path: Path) -> tuple[Path, int]:
    """The first half of ``full`` with one recorded oracle answer changed: what the audit found resume accepts."""
    lines = lines_of(full)[: len(lines_of(full)) // 2]
    index = oracle_line(lines, after=3)
    return write_lines(tmp_path / "cut-edited.jsonl", edit_line(lines, index, answer="EDITED")), index + 1


def swapped(full: Path, tmp_path: Path) -> tuple[Path, int]:
    lines = lines_of(full)
    i = oracle_line(lines, after=5)
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    return write_lines(tmp_path / "swapped.jsonl", lines), i + 1


def test_resume_refuses_a_cut_and_edited_file_naming_the_line(full_run: Path, tmp_path: Path, hch_home: Path) -> None:
    bad, line = cut_and_edited(full_run, tmp_path)
    out = tmp_path / "resumed.jsonl"
    proc = hch("run", "--resume", str(bad), "--transcript", str(out), "--json", home=hch_home)
    assert proc.returncode == 2, proc.stdout
    error = one_line_error(proc)
    assert f"{bad}:{line}: edited" in error and "--trust-edited" in error
    assert not out.exists() and not (hch_home / "transcripts").exists()  # nothing half-made

    # The same file resumed on purpose: the run goes on, and says where it came from.
    proc = hch("run", "--resume", str(bad), "--transcript", str(out), "--trust-edited", "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    assert verify_transcript(out).ok
    lineage = read_transcript(out).header.settings["resumed_from"]
    assert isinstance(lineage, dict)
    assert lineage["verified"] is False and lineage["trust_edited"] is True
    problems = lineage["problems"]
    assert isinstance(problems, list) and f"{bad}:{line}: edited" in str(problems[0])


def test_resume_of_a_merely_cut_file_is_verified_and_says_so(full_run: Path, tmp_path: Path, hch_home: Path) -> None:
    blob = full_run.read_bytes()
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(blob[: len(blob) // 2])  # mid-line, as a SIGKILL leaves it
    out = tmp_path / "resumed.jsonl"
    proc = hch("run", "--resume", str(cut), "--transcript", str(out), "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    lineage = read_transcript(out).header.settings["resumed_from"]
    assert isinstance(lineage, dict) and lineage["verified"] is True and "trust_edited" not in lineage


def test_replay_refuses_two_swapped_lines(full_run: Path, tmp_path: Path, hch_home: Path) -> None:
    bad, line = swapped(full_run, tmp_path)
    out = tmp_path / "replay.jsonl"
    proc = hch("replay", str(bad), "--transcript", str(out), home=hch_home)
    assert proc.returncode == 2, proc.stdout
    error = one_line_error(proc)
    assert f"{bad}:{line}: reordered" in error and "--trust-edited" in error
    assert proc.stdout == "" and not out.exists()

    proc = hch("replay", str(bad), "--transcript", str(out), "--trust-edited", "--json", home=hch_home)
    assert proc.returncode in (0, 1), proc.stderr
    lineage = read_transcript(out).header.settings["replay_of"]
    assert isinstance(lineage, dict) and lineage["verified"] is False and lineage["trust_edited"] is True


def test_trust_edited_belongs_to_resume(hch_home: Path) -> None:
    proc = hch("run", "--task", "permutation", "--trust-edited", home=hch_home)
    assert proc.returncode == 2 and "--trust-edited" in one_line_error(proc)


async def test_the_library_refuses_too(full_run: Path, tmp_path: Path) -> None:
    bad, line = swapped(full_run, tmp_path)
    original = read_transcript(bad)
    async with offline_model(original) as (model, prompts, _):
        with pytest.raises(UnverifiedTranscript, match=f":{line}: reordered"):
            await replay_transcript(original, model, transcript=tmp_path / "r.jsonl", prompts=prompts)
    cut, line = cut_and_edited(full_run, tmp_path)
    original = read_transcript(cut)
    async with live_model(original) as (model, prompts):
        with pytest.raises(UnverifiedTranscript, match=f":{line}: edited"):
            await resume_run(original, model, transcript=tmp_path / "s.jsonl", prompts=prompts)
    assert not (tmp_path / "r.jsonl").exists() and not (tmp_path / "s.jsonl").exists()


async def test_a_file_changed_after_it_was_read_is_refused(full_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(full_run.read_bytes())  # noqa: ASYNC240 (a test's setup)
    original = read_transcript(copy)
    lines = lines_of(copy)
    # Someone rewrites the file between the read and the replay: a different, intact run.
    other = await task_run(tmp_path / "other.jsonl", task_spec(task="wildcard", seed=6, depth=6, size=48))
    copy.write_bytes(other.read_bytes())
    assert verify_transcript(copy).ok and lines != lines_of(copy)
    async with offline_model(original) as (model, prompts, _):
        with pytest.raises(UnverifiedTranscript, match="changed after it was read"):
            await replay_transcript(original, model, transcript=tmp_path / "r.jsonl", prompts=prompts)
    assert json.loads(lines[0])["kind"] == "header"
