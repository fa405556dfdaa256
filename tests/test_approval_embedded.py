"""`hch approve` end to end on the REAL embedded model (SmolLM2-135M via llama.cpp), like test_embedded_e2e.py.

Nothing is skipped: without the embedded model installed this fails. The model
is weak, so the test checks structure and plumbing (K samples, ratings through
an LLM tree, the dataset and its replay), never how good the approvals are.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from operators.approval.operator import is_correct
from operators.dataset import open_dataset, verify_dataset
from tests.test_embedded_e2e import ROOT, clean_env
from transcripts.events import Approval, ModelCall
from transcripts.reader import read_transcript


def hch(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=clean_env(home), capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow  # the embedded model
def test_hch_approve_on_the_embedded_model_replays_identical(tmp_path: Path) -> None:
    home = tmp_path / "home"
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "How many legs does a spider have?", "reference": "8"}) + "\n")
    proc = hch(
        "approve", "--questions", str(questions), "--candidates", "2", "--depth", "1", "--max-tokens", "48",
        "--json", home=home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["questions"] == 1 and report["candidates"] == 2 and not report["failed"]
    assert set(report["verdicts"]) <= {"rated", "uncertain"}
    dataset = open_dataset(report["dataset"])
    assert verify_dataset(dataset).ok
    folder = dataset.folder / "transcripts"
    samples = []
    for index in range(2):
        proposal = read_transcript(folder / f"q0000-c{index:02d}-proposal.jsonl")
        calls = [e for e in proposal.events if isinstance(e, ModelCall)]
        samples.append({c.request["sample"] for c in calls})
        assert proposal.header.settings["spec"]["llm"]["temperature"] > 0
        rating = read_transcript(folder / f"q0000-c{index:02d}-rating.jsonl")
        approval = next(e for e in rating.events if isinstance(e, Approval))
        assert approval.question == "How many legs does a spider have?"
        assert approval.candidate == proposal.end.answer  # type: ignore[union-attr]
        assert 0.0 <= approval.approval <= 1.0
    assert samples == [{0}, {1}], "candidate i is sample i of the model"
    for path in sorted(folder.glob("*.jsonl")):
        replay = hch("replay", str(path), home=home)
        assert replay.returncode == 0 and replay.stdout.startswith("identical"), replay.stdout + replay.stderr


def test_free_text_correctness_is_the_reference_in_whole_words() -> None:
    assert is_correct("A spider has 8 legs.", "8", exact=False)
    assert not is_correct("A spider has 18 legs.", "8", exact=False)
    assert is_correct("paris", "Paris", exact=False) and is_correct("x", None, exact=False) is None
