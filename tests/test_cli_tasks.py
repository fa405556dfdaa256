"""The `hch` command on algorithmic tasks, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from transcripts import read_transcript
from transcripts.events import OracleCall, RunEnd

ROOT = Path(__file__).resolve().parents[1]


def hch(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HCH_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_run_a_generated_instance_prints_answer_expected_and_transcript(hch_home: Path) -> None:
    proc = hch("run", "--task", "permutation", "--seed", "3", "--depth", "7", "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["match"] is True and report["answer"] == report["expected"]
    assert report["nodes"] > 1 and report["calls"] > 0
    transcript = read_transcript(Path(report["transcript"]))
    assert Path(report["transcript"]).is_relative_to(hch_home)
    assert transcript.header.settings["spec"]["task"]["name"] == "permutation"
    assert isinstance(transcript.end, RunEnd) and transcript.end.answer == report["answer"]
    assert sum(isinstance(e, OracleCall) for e in transcript.events) == report["calls"]


def test_run_display_shows_match(hch_home: Path) -> None:
    proc = hch("run", "--task", "wildcard", "--seed", "1", "--depth", "4", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    assert "match" in proc.stdout and "transcript" in proc.stdout and "MISMATCH" not in proc.stdout


def test_run_a_users_facts_file(hch_home: Path, tmp_path: Path) -> None:
    facts = tmp_path / "mine.json"
    facts.write_text(
        json.dumps({"task": "permutation", "facts": {"permutation": [1, 2, 3, 0]}, "questions": ["s^6(1)"]})
    )
    proc = hch("run", "--facts", str(facts), "--depth", "3", "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["answer"] == "3" and report["expected"] == "3"


def test_eval_table_shows_accuracy_growing_with_depth(hch_home: Path) -> None:
    proc = hch("eval", "--task", "wildcard", "--depth", "1", "--depth", "4", "--n", "12", "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    rows = {row["depth"]: row for row in json.loads(proc.stdout)["depths"]}
    assert rows[4]["accuracy"] == 1.0
    assert rows[1]["accuracy"] < 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--task", "nope"], "unknown task 'nope'"),
        (["eval", "--task", "nope", "--depth", "1"], "unknown task 'nope'"),
        (["run", "--task", "permutation", "--depth", "-1"], "--depth must be 0 or more, got -1"),
        (["run", "s^x(3)", "--task", "permutation"], "cannot parse question 's^x(3)'"),
        (["run", "--task", "permutation", "--budget", "0"], "--budget must be at least 1 call"),
        (["run", "--task", "permutation", "--size", "0"], "--size must be at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(hch_home: Path, args: list[str], message: str) -> None:
    proc = hch(*args, home=hch_home)
    assert proc.returncode == 2
    assert message in one_line_error(proc)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"task": "permutation", "questions": ["s^2(0)"]}), "missing 'facts'"),
        (json.dumps({"task": "permutation", "facts": {"permutation": [0, 0, 1]}, "questions": ["s^2(0)"]}), "twice"),
        (
            json.dumps({"task": "assignments", "facts": {"variables": {"a": ["a", "a"]}}, "questions": ["value(a)"]}),
            "a",
        ),
    ],
)
def test_malformed_or_inconsistent_facts_file(hch_home: Path, tmp_path: Path, content: str, message: str) -> None:
    facts = tmp_path / "facts.json"
    facts.write_text(content)
    proc = hch("run", "--facts", str(facts), home=hch_home)
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert "facts.json" in line and message in line


def test_tasks_lists_every_task(hch_home: Path) -> None:
    proc = hch("tasks", home=hch_home)
    assert proc.returncode == 0
    for name in ("permutation", "assignments", "wildcard"):
        assert name in proc.stdout


def test_tasks_prints_the_formats_as_text_not_markup(hch_home: Path) -> None:
    proc = hch("tasks", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    # rich would read "[p0, p1, ...]" as a markup tag and drop it.
    assert '{"permutation": [p0, p1, ...]}' in proc.stdout


def test_tasks_json_describes_every_task(hch_home: Path) -> None:
    proc = hch("tasks", "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    described = {t["name"]: t for t in json.loads(proc.stdout)["tasks"]}
    assert set(described) == {"permutation", "assignments", "wildcard"}
    assert described["permutation"]["facts_format"].startswith('{"permutation": [p0, p1, ...]}')
    assert all(t["question_format"] and t["summary"] for t in described.values())
