"""Recursive debate on the algorithmic tasks: steps from the tasks' own rules, one fact checked, replay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hch.app.replay import offline_model, replay_transcript
from hch.tasks import find_task
from operators.dataset import Dataset, DatasetWriter, open_dataset, verify_dataset
from operators.debate.runner import DebateExample, DebateSummary, run_debates, task_debates
from operators.debate.spec import LIARS, Liar
from operators.paths import dataset_dir
from operators.questions import question_set
from transcripts import read_transcript
from transcripts.events import DebateTurn, DebateVerdict, OracleCall
from transcripts.html import export_html
from transcripts.show import render_tree

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("permutation", "assignments", "wildcard")


async def debates(
    task: str, *, n: int, seed: int, size: int = 64, turns: int = 12, liar: Liar = "consistent", name: str = "d"
) -> tuple[DebateSummary, Dataset]:
    specs = task_debates(question_set(task, n, seed, size, None), turns=turns, judge="program", liar=liar)
    return await run_debates(specs, DatasetWriter(dataset_dir(name), DebateExample, operator="debate", task=task))


def verdict_of(path: Path) -> DebateVerdict:
    verdicts = [e for e in read_transcript(path).events if isinstance(e, DebateVerdict)]
    assert len(verdicts) == 1
    return verdicts[0]


@pytest.mark.parametrize("task", TASKS)
async def test_honest_debater_wins_every_debate_against_a_consistent_liar(task: str, hch_home: Path) -> None:
    summary, dataset = await debates(task, n=16, seed=5, size=32)
    assert verify_dataset(dataset).ok and dataset.manifest.examples == 16
    assert summary.honest_win_rate == 1.0 and summary.judge_accuracy == 1.0
    assert summary.win_rate_by_position() == {"A": 0.5, "B": 0.5}  # the honest side alternates
    for outcome, path in zip(summary.examples, summary.transcripts, strict=True):
        events = read_transcript(path).events
        verdict = verdict_of(path)
        assert verdict.rewards == outcome.rewards == {outcome.honest: 1, ("B" if outcome.honest == "A" else "A"): -1}
        # The judge read one fact at most, and it is the one the verdict names.
        lookups = [e for e in events if isinstance(e, OracleCall)]
        assert len(lookups) == (1 if verdict.fact is not None else 0)
        if verdict.fact is not None:
            assert lookups[0].question == verdict.fact["question"]
            assert lookups[0].answer == find_task(task).solve(_facts(path), lookups[0].question)
        # Every step's conclusion is what the task's rules derive; the liar's steps rest on one false sub-claim.
        for turn in (e for e in events if isinstance(e, DebateTurn) and e.move == "step"):
            assert turn.conclusion == turn.claim
            if turn.side == "liar":
                facts = _facts(path)
                false = [s for s in turn.subclaims if find_task(task).solve(facts, s["question"]) != s["answer"]]
                assert len(false) == 1


def _facts(path: Path) -> dict[str, object]:
    spec = read_transcript(path).header.settings["spec"]
    facts: dict[str, object] = spec["task"]["facts"]
    return facts


async def test_a_permutation_step_is_the_halving_rule_with_the_debaters_sub_answers(hch_home: Path) -> None:
    summary, _ = await debates("permutation", n=4, seed=1)
    for path in summary.transcripts:
        first = next(e for e in read_transcript(path).events if isinstance(e, DebateTurn))
        n, x = first.question.removeprefix("s^").rstrip(")").split("(")
        h = int(n) // 2
        subs = first.subclaims
        assert subs[0]["question"] == f"s^{h}({x})"
        assert subs[1]["question"] == f"s^{h}({subs[0]['answer']})"
        assert len(subs) == (3 if int(n) % 2 else 2)
        assert first.conclusion == subs[-1]["answer"]
        assert first.text.startswith(f"{first.question} = {first.claim} because {subs[0]['question']} = ")


@pytest.mark.parametrize("liar", LIARS)
async def test_each_liar_strategy_loses_and_weaker_liars_lose_sooner(liar: Liar, hch_home: Path) -> None:
    summary, _ = await debates("assignments", n=12, seed=2, liar=liar)
    assert summary.honest_win_rate == 1.0
    if liar == "top":
        assert summary.mean_turns <= 1.0  # its own first step contradicts its claim


async def test_too_few_turns_leaves_debates_undecided_with_zero_rewards(hch_home: Path) -> None:
    summary, _ = await debates("permutation", n=10, seed=0, turns=1)
    undecided = [p for e, p in zip(summary.examples, summary.transcripts, strict=True) if e.winner is None]
    assert undecided, "one turn cannot reach a fact on 64-element permutations"
    for path in undecided:
        verdict = verdict_of(path)
        assert verdict.rewards == {"A": 0, "B": 0} and verdict.fact is None
        assert not any(isinstance(e, OracleCall) for e in read_transcript(path).events)
    assert summary.honest_win_rate < 1.0


async def test_the_verdict_follows_the_recorded_fact(hch_home: Path, tmp_path: Path) -> None:
    """A replay fed an edited fact check diverges at the root: the verdict depends on that one lookup."""
    from hch.playback import Playback
    from transcripts.diff import diff_runs

    summary, _ = await debates("wildcard", n=1, seed=3)
    (path,) = summary.transcripts
    original = read_transcript(path)
    assert verdict_of(path).fact is not None
    report = None
    async with offline_model(original) as (model, _prompts, guard):
        report = await replay_transcript(original, model, transcript=tmp_path / "replay.jsonl", guard=guard)
    assert report.identical and report.network_requests == 0

    edited = [e.model_copy(update={"answer": "99"}) if isinstance(e, OracleCall) else e for e in original.events]
    from hch.executor import run_question

    async with offline_model(original) as (model, _p, _g):
        result = await run_question(
            model,
            original.header.question,
            transcript=tmp_path / "edited.jsonl",
            settings=dict(original.header.settings),
            playback=Playback.from_events(edited, strict=True),
        )
    assert result.answer == "undecided"  # neither debater claimed 99
    assert not diff_runs(original, read_transcript(tmp_path / "edited.jsonl")).identical


def test_show_and_html_display_the_debate(hch_home: Path) -> None:
    import asyncio

    summary, _ = asyncio.run(debates("permutation", n=1, seed=4))
    (outcome,) = summary.examples
    transcript = read_transcript(summary.transcripts[0])
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(render_tree(transcript))
    text = console.export_text()
    assert "debate" in text and "verdict" in text and f"{outcome.winner} wins (honest)" in text
    first = next(e for e in transcript.events if isinstance(e, DebateTurn))
    assert first.text in text
    page = export_html(transcript)
    assert '"kind":"debate_turn"' in page and '"kind":"debate_verdict"' in page
    assert 'e.kind === "debate_turn"' in page


def hch(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HCH_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_json_reports_the_figures_and_replay_is_identical(hch_home: Path) -> None:
    proc = hch("debate", "--task", "wildcard", "--n", "6", "--json", home=hch_home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["honest_win_rate"] == 1.0 and report["judge_accuracy"] == 1.0
    assert report["mean_turns"] > 0 and set(report["win_rate_by_position"]) == {"A", "B"}
    assert len(report["debates"]) == 6
    assert Path(report["dataset_folder"]).is_relative_to(hch_home)
    dataset = open_dataset(Path(report["dataset_folder"]))
    assert dataset.manifest.operator == "debate" and dataset.manifest.examples == 6
    verified = hch("dataset", "verify", report["dataset"], home=hch_home)
    assert verified.returncode == 0 and "verified: 6 example(s)" in verified.stdout, verified.stderr
    first = Path(report["debates"][0]["transcript"])
    assert first.is_relative_to(hch_home)
    replay = hch("replay", str(first), home=hch_home)
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout.startswith("identical")


def test_a_free_question_without_a_wrong_answer_is_named(hch_home: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"question": "a?", "reference": "x", "incorrect": "y"}\n{"question": "b?", "reference": "z"}\n'
    )
    proc = hch("debate", "--questions", str(questions), home=hch_home)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{questions}: question 2 needs 'reference' and 'incorrect'" in lines[0], proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--task", "permutation", "--liar", "sly"), "--liar 'sly': choose consistent, random, top"),
        (("--task", "permutation", "--judge", "oracle"), "--judge 'oracle': choose program, llm, human"),
        (
            (
                "--task",
                "nope",
            ),
            "unknown task 'nope'",
        ),
        ((), "give --task NAME (generated questions) or --questions FILE (free text), not both"),
        (("--task", "permutation", "--turns", "0"), "--turns must be at least 1, got 0"),
    ],
)
def test_bad_flags_get_one_line_errors(args: tuple[str, ...], message: str, hch_home: Path) -> None:
    proc = hch("debate", *args, home=hch_home)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
