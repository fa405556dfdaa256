"""`hch rrm` on free text, end to end on the REAL embedded model (SmolLM2-135M via llama.cpp).

Nothing is skipped. The model is weak, so this checks structure and plumbing:
K samples per agent answer scored by the reward model, an LLM judge comparing
with the previous agent as its assistant, a reward model fitted and saved, and
every run replaying identically offline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from operators.dataset import open_dataset, verify_dataset
from operators.rrm.loop import FeedbackExample
from operators.rrm.reward_model import load_reward_model
from tests.test_embedded_e2e import ROOT, clean_env
from transcripts.events import Feedback, ModelCall, RewardScores
from transcripts.reader import read_transcript

pytestmark = pytest.mark.slow  # the embedded model (llama.cpp serving SmolLM2)


def hch(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=clean_env(home), capture_output=True, text=True, timeout=900
    )


def test_hch_rrm_on_the_embedded_model_replays_identical(tmp_path: Path) -> None:
    home = tmp_path / "home"
    questions = tmp_path / "q.jsonl"
    lines = [
        {"question": "How many legs does a spider have?", "reference": "8"},
        {"question": "What is the capital of France?", "reference": "Paris"},
    ]
    questions.write_text("".join(json.dumps(x) + "\n" for x in lines))
    proc = hch(
        "rrm", "--questions", str(questions), "--rounds", "2", "--candidates", "2", "--max-tokens", "40",
        "--json", home=home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [r["round"] for r in report["rounds"]] == [1, 2]
    folder = Path(report["folder"])
    model = load_reward_model(Path(report["rounds"][1]["reward_model"]))
    assert model.features.groups == ["qa", "form", "tokens"]

    agent = read_transcript(sorted((folder / "agent-r1").glob("*.jsonl"))[0])
    scores = next(e for e in agent.events if isinstance(e, RewardScores))
    assert len(scores.candidates) == 2 and scores.reward_model.startswith("sha256:")
    samples = {c.request["sample"] for c in agent.events if isinstance(c, ModelCall)}
    assert samples == {0, 1}, "candidate i is sample i of the model"

    replayed = []
    for r in report["rounds"]:
        dataset = open_dataset(home / "datasets" / r["dataset"]) if r["feedback"] else None
        if dataset is None:
            continue
        assert verify_dataset(dataset).ok
        for example in dataset.examples(FeedbackExample):
            path = dataset.transcript_path(example.provenance.transcript, "test")
            feedback = next(e for e in read_transcript(path).events if isinstance(e, Feedback))
            assert feedback.basis.startswith(("LLM judge", "guess"))
            replayed.append(path)
    replayed.append(agent.path)
    replayed.extend(sorted((folder / "unassisted-r1").glob("*.jsonl"))[:1])
    for path in replayed:
        replay = hch("replay", str(path), home=home)
        assert replay.returncode == 0 and replay.stdout.startswith("identical"), replay.stdout + replay.stderr
