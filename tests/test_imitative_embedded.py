"""The free-text iterate loop end to end on the embedded model, and every transcript replays identically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.audit_helpers import hch

pytestmark = pytest.mark.slow  # the embedded model (llama.cpp serving SmolLM2)


def test_free_text_iterate_runs_on_the_embedded_model_and_replays(hch_home: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"question": "What is the capital of France?", "reference": "Paris"}\n'
        '{"question": "How many legs does a spider have?", "reference": "8"}\n'
    )
    args = ["iterate", "--questions", str(questions), "--rounds", "2", "--depth", "1", "--max-subquestions", "2"]
    proc = hch(*args, "--max-tokens", "48", "--name", "free", "--json", home=hch_home, timeout=900)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [r["round"] for r in report["rounds"]] == [1, 2]
    for r in report["rounds"]:
        assert r["distilled_calls_per_question"] == 1.0  # M_t answers in one call
        assert r["calls_per_question"] > 1.0  # Amp(M_t-1) consulted M on subquestions
        assert r["failed_runs"] == 0

    # Round 2 amplified M_1: the in-context model, named in the spec by dataset and digest.
    r2 = sorted((hch_home / "datasets" / "free-r2" / "transcripts").glob("*.jsonl"))
    distilled = sorted((hch_home / "iterate" / "free" / "r2-distilled").glob("*.jsonl"))
    assert len(r2) == len(distilled) == 2
    header = json.loads(distilled[0].read_text().splitlines()[0])
    spec = header["settings"]["spec"]
    assert spec["distilled"]["kind"] == "in_context" and spec["distilled"]["dataset"] == "free-r2"
    assert "in_context_system" in header["prompts"]
    calls = [json.loads(line) for line in distilled[0].read_text().splitlines() if '"model_call"' in line]
    shown = calls[0]["request"]["messages"]
    assert shown[0]["role"] == "system" and len(shown) == 1 + 2 * 2 + 1  # both round-2 examples, then the question
    for path in [*r2, *distilled]:
        proc = hch("replay", str(path), "--json", home=hch_home, timeout=300)
        assert proc.returncode == 0, proc.stderr
        replay = json.loads(proc.stdout)
        assert replay["identical"] is True and replay["network_requests"] == 0, replay
    assert hch("dataset", "verify", "free-r2", home=hch_home).returncode == 0
