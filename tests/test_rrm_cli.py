"""`hch rrm` from the command line: --json figures, one-line errors, and the audit views of its runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def hch(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env={**os.environ, "HCH_HOME": str(home), "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_json_reports_each_round_and_the_runs_are_auditable(hch_home: Path, tmp_path: Path) -> None:
    proc = hch(hch_home, "rrm", "--task", "assignments", "--n", "4", "--size", "8", "--rounds", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [r["round"] for r in report["rounds"]] == [1, 2]
    for r in report["rounds"]:
        for key in ("feedback", "reward_model_heldout_accuracy", "agent_accuracy", "overseer_accuracy"):
            assert key in r
        assert 0.0 <= r["agent_accuracy"] <= 1.0
        assert Path(r["reward_model"]).exists()
    folder = Path(report["folder"])
    assert json.loads((folder / "report.json").read_text()) == report

    dataset = hch_home / "datasets" / report["rounds"][0]["dataset"]
    transcript = sorted((dataset / "transcripts").glob("*.jsonl"))[0]
    shown = hch(hch_home, "show", str(transcript), "--node", "0")
    assert shown.returncode == 0 and "feedback · prefers" in shown.stdout
    html = tmp_path / "page.html"
    assert hch(hch_home, "export", str(transcript), "--html", str(html)).returncode == 0
    assert '"kind": "feedback"' in html.read_text() or '"kind":"feedback"' in html.read_text()
    agent = sorted((folder / "agent-r2").glob("*.jsonl"))[0]
    shown = hch(hch_home, "show", str(agent), "--node", "0")
    assert "reward scores" in shown.stdout and "★" in shown.stdout
    assert "identical" in hch(hch_home, "replay", str(agent)).stdout

    loaded = hch(hch_home, "rrm", "--load", report["rounds"][1]["reward_model"])
    assert loaded.returncode == 0 and "digest verified" in loaded.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "permutation", "--rounds", "0"], "--rounds must be at least 1"),
        (["--task", "permutation", "--noise", "1.5"], "--noise must be between 0 and 1"),
        (["--task", "nope"], "nope"),
        ([], "give --task NAME"),
        (["--task", "permutation", "--overseer", "llm"], "choose program or human"),
        (["--resume", "/nonexistent/run"], "no RRM run there"),
        (["--load", "/nonexistent/rm.json"], "cannot read the reward model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(hch_home: Path, args: list[str], message: str) -> None:
    proc = hch(hch_home, "rrm", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], proc.stderr
