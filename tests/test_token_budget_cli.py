"""``--token-budget`` on ``hch run`` and ``hch eval``: checked, recorded in the header, rebuilt by replay."""

from __future__ import annotations

import json
from pathlib import Path

from tests.audit_helpers import hch, one_line_error
from transcripts import read_transcript


def test_hch_run_records_its_token_budget_and_a_replay_rebuilds_it(hch_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    proc = hch(
        "run",
        "--task",
        "permutation",
        "--depth",
        "2",
        "--token-budget",
        "5000",
        "--transcript",
        str(path),
        home=hch_home,
    )
    assert proc.returncode == 0, proc.stderr
    assert "tokens spent 0 of 5000" in " ".join(proc.stdout.split())  # the program overseer calls no model
    header = read_transcript(path).header
    assert header.settings["token_budget"] == 5000
    assert header.settings["spec"]["token_budget"] == 5000
    again = tmp_path / "replay.jsonl"
    replay = hch("replay", str(path), "--transcript", str(again), "--json", home=hch_home)
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout)["identical"] is True
    assert read_transcript(again).header.settings["token_budget"] == 5000


def test_a_token_budget_with_a_model_needs_max_tokens(hch_home: Path) -> None:
    proc = hch(
        "run", "What is 2 + 2?", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--token-budget", "900",
        home=hch_home,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--token-budget needs --max-tokens" in one_line_error(proc)


def test_hch_eval_takes_a_token_budget(hch_home: Path, tmp_path: Path) -> None:
    proc = hch(
        "eval", "--task", "wildcard", "--depth", "1", "--n", "2", "--token-budget", "1000", "--json",
        home=hch_home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    bad = hch("eval", "--task", "wildcard", "--depth", "1", "--token-budget", "0", home=hch_home)
    assert bad.returncode == 2 and "--token-budget must be at least 1 token" in one_line_error(bad)
