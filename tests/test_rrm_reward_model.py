"""The RRM reward model: a Bradley-Terry fit that learns, persisted as JSON that reloads identically
in a fresh process, and refuses pickled, edited or foreign files."""

from __future__ import annotations

import json
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import pytest

from operators.rrm.features import FeatureSpec, raw_features
from operators.rrm.reward_model import (
    LinearRewardModel,
    Preference,
    RewardModel,
    RewardModelError,
    fit_bradley_terry,
    load_reward_model,
    pairwise_accuracy,
)

ROOT = Path(__file__).resolve().parents[1]


def overseer_prefs(count: int, seed: int = 0) -> list[Preference]:
    """Comparisons over 30 questions with a fixed right answer each; the overseer prefers it
    to a random wrong one (so each question's right answer recurs across comparisons)."""
    rng = random.Random(seed)
    truth = {f"q{i}": str(rng.randrange(10)) for i in range(30)}
    prefs = []
    for k in range(count):
        q = f"q{rng.randrange(30)}"
        wrong = str((int(truth[q]) + rng.randrange(1, 10)) % 10)
        prefs.append(Preference(q, truth[q], wrong, f"c{k}"))
    return prefs


def test_fit_learns_and_is_scored_on_feedback_it_was_not_fitted_on() -> None:
    prefs = overseer_prefs(300)
    fit = fit_bradley_terry(prefs, FeatureSpec())
    assert fit.heldout and fit.train
    held_keys = {p.key for p in fit.heldout}
    assert not held_keys & {p.key for p in fit.train}
    assert fit.heldout_accuracy is not None and fit.heldout_accuracy > 0.75
    # Ranked by Bradley-Terry: the right answer above every wrong one it was compared with.
    assert isinstance(fit.model, RewardModel)
    assert fit.model.training["heldout"] == len(fit.heldout)
    assert fit.model.training["library"].startswith("scikit-learn")


def test_no_feedback_gives_a_flat_model_that_is_at_chance() -> None:
    fit = fit_bradley_terry([], FeatureSpec())
    assert fit.model.coefficients == {}
    prefs = overseer_prefs(20)
    assert pairwise_accuracy(fit.model, prefs) == 0.5


def test_features_name_what_they_capture() -> None:
    spec = FeatureSpec(groups=["qa", "form", "tokens"])
    found = raw_features(spec, "What is 2+2?", "four, I think")
    assert "qa:What is 2+2?\x1ffour, I think" in found
    assert "form:integer" not in found and found["form:loglen"] > 0  # not an integer; its length
    assert "tok:four" in found and "tok:think" in found
    assert raw_features(FeatureSpec(groups=["form"]), "q", "unknown")["form:unknown"] == 1.0


def test_saved_model_reloads_in_a_fresh_process_and_scores_identically(tmp_path: Path) -> None:
    prefs = overseer_prefs(200, seed=3)
    model = fit_bradley_terry(prefs, FeatureSpec()).model
    path = model.save(tmp_path / "rm.json")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps({"prompt": p.question, "chosen": p.chosen, "rejected": p.rejected}) + "\n" for p in prefs[:40]
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "rrm", "--load", str(path), "--pairs", str(pairs), "--json"],
        cwd=ROOT,
        env={**os.environ, "HCH_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["digest"] == model.digest
    fresh = [(s["chosen"], s["rejected"]) for s in report["scores"]]
    here = [(model.score(p.question, p.chosen), model.score(p.question, p.rejected)) for p in prefs[:40]]
    assert fresh == here  # bit for bit: floats survive the JSON round trip
    assert report["pairwise_accuracy"] == pairwise_accuracy(model, prefs[:40])
    assert load_reward_model(path).scores([(p.question, p.chosen) for p in prefs]) == model.scores(
        [(p.question, p.chosen) for p in prefs]
    )


def _cli_load(path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "rrm", "--load", str(path)],
        cwd=ROOT,
        env={**os.environ, "HCH_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_pickled_model_is_refused_without_unpickling(tmp_path: Path) -> None:
    model = fit_bradley_terry(overseer_prefs(50), FeatureSpec()).model
    path = tmp_path / "rm.pkl"
    path.write_bytes(pickle.dumps(model))
    with pytest.raises(RewardModelError, match="pickle: refused"):
        load_reward_model(path)
    proc = _cli_load(path, tmp_path / "home")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pickle" in lines[0] and lines[0].startswith("error:")


def test_an_edited_model_is_refused(tmp_path: Path) -> None:
    model = fit_bradley_terry(overseer_prefs(50), FeatureSpec()).model
    path = model.save(tmp_path / "rm.json")
    data = json.loads(path.read_text())
    column = next(iter(data["coefficients"]))
    data["coefficients"][column] += 1.0  # someone nudges a weight by hand
    path.write_text(json.dumps(data))
    with pytest.raises(RewardModelError, match="digest mismatch"):
        load_reward_model(path)
    proc = _cli_load(path, tmp_path / "home")
    assert proc.returncode == 2 and "digest mismatch" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json at all", "not JSON"),
        (b'{"hello": 1}', "not a reward model file"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_files_that_are_not_reward_models_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "rm.json"
    path.write_bytes(content)
    with pytest.raises(RewardModelError, match=message):
        load_reward_model(path)


def test_a_coefficient_outside_the_feature_spec_is_refused() -> None:
    model = LinearRewardModel(FeatureSpec(n_features=16), {3: 0.5})
    data = model.to_json()
    data["coefficients"] = {"99": 1.0}
    body = {k: v for k, v in data.items() if k != "digest"}
    from operators.rrm.reward_model import _digest

    data["digest"] = _digest(body)
    with pytest.raises(RewardModelError, match="outside the feature spec"):
        LinearRewardModel.from_json(data, "x.json")
