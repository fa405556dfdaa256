"""Free-text debate end to end on the embedded model (SmolLM2 via llama.cpp), and its replay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from transcripts import read_transcript
from transcripts.events import DebateTurn, DebateVerdict, ModelCall

pytestmark = pytest.mark.slow  # the embedded model (llama.cpp serving SmolLM2)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "debate"


def hch(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HCH_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )


def test_embedded_debaters_and_judge_then_an_identical_replay(hch_home: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text((EXAMPLES / "questions.jsonl").read_text().splitlines()[0] + "\n")
    proc = hch(
        "debate",
        "--questions",
        str(questions),
        "--source",
        str(EXAMPLES / "lighthouse.txt"),
        "--turns",
        "1",
        "--word-limit",
        "20",
        "--max-tokens",
        "48",
        "--json",
        home=hch_home,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["n"] == 2 and report["judge"] == "llm"
    assert set(report["win_rate_by_position"]) == {"A", "B"}
    assert 0.0 <= report["judge_accuracy"] <= 1.0
    honest = [d["honest"] for d in report["debates"]]
    assert honest == ["A", "B"]  # the correct answer in both positions
    for debate in report["debates"]:
        events = read_transcript(Path(debate["transcript"])).events
        turns = [e for e in events if isinstance(e, DebateTurn)]
        assert [t.debater for t in turns] == ["A", "B"]
        assert all(len(t.text.split()) <= 21 for t in turns)
        calls = [e for e in events if isinstance(e, ModelCall)]
        assert [c.purpose for c in calls] == ["debater-A", "debater-B", "judge"]
        (verdict,) = [e for e in events if isinstance(e, DebateVerdict)]
        assert verdict.judge.startswith("llm:")
        assert verdict.rewards in ({"A": 1, "B": -1}, {"A": -1, "B": 1}, {"A": 0, "B": 0})
    replay = hch("replay", report["debates"][1]["transcript"], home=hch_home)
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout.startswith("identical") and "0 network requests" in replay.stdout
