"""The approver: Amp(M) rating a candidate, recorded with what it saw; show, diff and replay of ratings."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from hch.app.replay import offline_model, replay_transcript
from hch.app.spec import ApprovalSpec, RunSpec, TaskSpec, build_model
from hch.errors import UsageError
from hch.executor import run_question
from hch.tasks import find_task
from operators.approval.approver import UNCERTAIN, parse_rating, parse_rating_question, rating_question
from tests.audit_helpers import hch
from transcripts.events import Approval
from transcripts.html import export_html
from transcripts.reader import read_transcript
from transcripts.show import render_node, render_tree


def rating_spec(
    candidate: str | None, depth: int, task_name: str = "permutation", seed: int = 3
) -> tuple[RunSpec, str]:
    task = find_task(task_name)
    case = task.generate(random.Random(seed), 64)
    truth = task.solve(case.facts, case.question)
    shown = truth if candidate is None else candidate
    spec = RunSpec(
        question=rating_question(case.question, shown),
        depth=depth,
        task=TaskSpec(name=task_name, facts=case.facts),
        approval=ApprovalSpec(question=case.question, candidate=shown),
    )
    return spec, truth


async def rate(spec: RunSpec, path: Path) -> tuple[float, Approval]:
    result = await run_question(build_model(spec), spec.question, transcript=path, settings={"spec": spec.model_dump()})
    events = [e for e in read_transcript(path).events if isinstance(e, Approval)]
    assert len(events) == 1
    assert float(result.answer) == events[0].approval
    return events[0].approval, events[0]


async def test_a_deep_enough_tree_confirms_the_truth_and_refutes_a_wrong_answer(tmp_path: Path) -> None:
    spec, truth = rating_spec(None, depth=8)
    approval, event = await rate(spec, tmp_path / "right.jsonl")
    assert (approval, event.verdict, event.overseer_answer) == (1.0, "confirmed", truth)
    assert event.candidate == truth and event.evidence, "the subquestions it asked are on the record"
    assert all({"subquestion", "answer", "child_id", "status"} <= set(item) for item in event.evidence)
    wrong = str((int(truth) + 1) % 64)
    spec, _ = rating_spec(wrong, depth=8)
    approval, event = await rate(spec, tmp_path / "wrong.jsonl")
    assert (approval, event.verdict) == (0.0, "refuted")
    assert truth in event.reason and event.candidate == wrong


async def test_a_shallow_tree_is_uncertain_rather_than_wrong(tmp_path: Path) -> None:
    spec, _truth = rating_spec(None, depth=1)
    task = find_task("permutation")
    assert task.depth_needed(spec.task.facts, spec.approval.question) > 1  # type: ignore[union-attr]
    approval, event = await rate(spec, tmp_path / "shallow.jsonl")
    assert (approval, event.verdict) == (UNCERTAIN, "uncertain")


async def test_a_candidate_that_is_no_answer_is_refuted(tmp_path: Path) -> None:
    spec, _ = rating_spec("seventeen", depth=3, task_name="assignments")
    approval, event = await rate(spec, tmp_path / "text.jsonl")
    assert (approval, event.verdict, event.evidence) == (0.0, "refuted", [])


async def test_a_rating_replays_identical_and_is_shown(tmp_path: Path) -> None:
    spec, _truth = rating_spec("5", depth=3, task_name="wildcard", seed=2)
    await rate(spec, tmp_path / "rating.jsonl")
    original = read_transcript(tmp_path / "rating.jsonl")
    async with offline_model(original) as (model, _prompts, guard):
        report = await replay_transcript(original, model, transcript=tmp_path / "replay.jsonl", guard=guard)
    assert report.identical, report.summary()
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(render_tree(original))
    console.print(render_node(original, "0"))
    text = console.export_text()
    assert "approval" in text and "candidate 5" in text and "reason" in text
    page = export_html(original)
    assert '"kind":"approval"' in page and 'e.kind === "approval"' in page


def test_replay_compares_approvals() -> None:
    """An approval is a step of its node: two runs with another approval or verdict are not the same."""
    from transcripts.diff import step_of

    base = Approval(node_id="0", question="q", candidate="1", approval=1.0, verdict="confirmed", reason="r")
    other = base.model_copy(update={"approval": 0.0, "verdict": "refuted"})
    first, second = step_of(base), step_of(other)
    assert first is not None and second is not None
    assert first[0] == "0" and first[1].kind == "approval" and first[1].key != second[1].key


def test_hch_replay_reproduces_a_rating_from_the_command_line(tmp_path: Path, hch_home: Path) -> None:
    import asyncio

    spec, _ = rating_spec(None, depth=4, task_name="assignments", seed=5)
    asyncio.run(rate(spec, tmp_path / "r.jsonl"))
    proc = hch("replay", str(tmp_path / "r.jsonl"), home=hch_home)
    assert proc.returncode == 0 and proc.stdout.startswith("identical"), proc.stdout + proc.stderr


def test_rating_texts_parse_back() -> None:
    text = rating_question("What is 2+2?", "four\n(I think)")
    assert parse_rating_question(text) == ("What is 2+2?", "four\n(I think)")
    assert parse_rating_question("What is 2+2?") is None
    assert parse_rating("8") == 0.8 and parse_rating("I'd say 10/10") == 1.0
    assert parse_rating(".5") == 0.05 and parse_rating("7.5") == 0.75
    assert parse_rating("eleven") is None and parse_rating("42") is None


def test_a_rating_spec_must_show_its_candidate() -> None:
    spec, _ = rating_spec("3", depth=2)
    with pytest.raises(UsageError, match="rating question"):
        build_model(spec.model_copy(update={"question": "Question: something else"}))
    with pytest.raises(UsageError, match="needs depth 1 or more"):
        build_model(spec.model_copy(update={"depth": 0}))
