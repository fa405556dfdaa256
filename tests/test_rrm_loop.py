"""The RRM loop on an algorithmic task: assisted feedback, a reward model that learns, an agent that
improves, and runs that replay identically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hch.app.replay import offline_model, replay_transcript
from hch.app.spec import RRMSpec, RunSpec, TaskSpec, build_model
from hch.executor import run_question
from hch.tasks import find_task
from operators.batch import open_batch
from operators.dataset import open_dataset, verify_dataset
from operators.rrm.comparison import comparison_question, parse_comparison
from operators.rrm.loop import RRM, FeedbackExample, RRMResult, RRMSettings
from operators.rrm.reward_model import load_reward_model
from transcripts.events import Feedback, OracleCall, RewardScores
from transcripts.reader import read_transcript

SETTINGS = RRMSettings(task="permutation", n=20, seed=0, size=16, rounds=3, candidates=4, noise=0.5, assist_depth=1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RRMResult, Path]:
    import asyncio
    import os

    home = tmp_path_factory.mktemp("rrm-home")
    old = os.environ.get("HCH_HOME")
    os.environ["HCH_HOME"] = str(home)
    try:

        async def go() -> RRMResult:
            async with open_batch([]) as batch:
                return await RRM(SETTINGS, home / "rrm" / "run1", batch).run()

        return asyncio.run(go()), home
    finally:
        if old is None:
            os.environ.pop("HCH_HOME", None)
        else:
            os.environ["HCH_HOME"] = old


@pytest.mark.slow  # the three-round RRM loop of the module's fixture, about 20 s
def test_acceptance_figures(run: tuple[RRMResult, Path]) -> None:
    result, _home = run
    first, last = result.rounds[0], result.rounds[-1]
    # The reward model predicts feedback it was not fitted on better than chance.
    assert last.reward_model_heldout_accuracy is not None and last.reward_model_heldout_accuracy > 0.6
    # The agent optimised against it is more accurate in round 3 than in round 1.
    assert last.agent_accuracy is not None and first.agent_accuracy is not None
    assert last.agent_accuracy > first.agent_accuracy
    # On the same comparisons, the overseer with its assistant is right more often than alone.
    assisted = sum(r.overseer_accuracy or 0.0 for r in result.rounds)
    alone = sum(r.unassisted_overseer_accuracy or 0.0 for r in result.rounds)
    assert assisted > alone
    assert last.hard_overseer_accuracy is not None and last.hard_unassisted_overseer_accuracy is not None
    assert last.hard_overseer_accuracy > last.hard_unassisted_overseer_accuracy
    # Feedback accumulates; every round reports its reward-hacking gap.
    assert [r.feedback_total for r in result.rounds] == [
        sum(r.feedback for r in result.rounds[: i + 1]) for i in range(len(result.rounds))
    ]
    assert all(r.reward_hacking_gap is not None for r in result.rounds)


@pytest.mark.slow  # the three-round RRM loop of the module's fixture, about 20 s
def test_feedback_datasets_verify_and_cite_their_comparisons(run: tuple[RRMResult, Path]) -> None:
    result, home = run
    for report in result.rounds:
        dataset = open_dataset(home / "datasets" / report.dataset)
        assert verify_dataset(dataset).ok
        examples = dataset.examples(FeedbackExample)
        assert len(examples) == report.feedback
        example = examples[0]
        transcript = read_transcript(dataset.transcript_path(example.provenance.transcript, "test"))
        cited = next(e for e in transcript.events if e.seq == example.provenance.seq)
        assert isinstance(cited, Feedback) and cited.hash == example.provenance.hash
        assert {example.chosen, example.rejected} == {cited.answer_a, cited.answer_b}
        assert example.chosen == (cited.answer_a if cited.preferred == "A" else cited.answer_b)


@pytest.mark.slow  # the three-round RRM loop of the module's fixture, about 20 s
def test_assisted_comparisons_consult_the_previous_agent(run: tuple[RRMResult, Path]) -> None:
    result, home = run
    dataset = open_dataset(home / "datasets" / result.rounds[1].dataset)
    reached_agent = 0
    digests: set[str] = set()
    for example in dataset.examples(FeedbackExample):
        t = read_transcript(dataset.transcript_path(example.provenance.transcript, "test"))
        feedback = next(e for e in t.events if isinstance(e, Feedback))
        scores = [e for e in t.events if isinstance(e, RewardScores)]
        if scores:
            assert feedback.consulted  # the agent only answers what the overseer asked its assistant
            reached_agent += 1
            digests.update(s.reward_model for s in scores)
    # The assistant's leaves are the round-1 agent: best-of-n scored by round 1's reward model.
    assert reached_agent > 0
    assert digests == {load_reward_model(Path(result.rounds[0].reward_model)).digest}


@pytest.mark.slow  # the three-round RRM loop of the module's fixture, about 20 s
def test_comparison_and_agent_runs_replay_identically(run: tuple[RRMResult, Path]) -> None:
    import asyncio

    result, home = run
    dataset = open_dataset(home / "datasets" / result.rounds[2].dataset)
    example = dataset.examples(FeedbackExample)[0]
    paths = [
        dataset.transcript_path(example.provenance.transcript, "test"),
        next((home / "rrm" / "run1" / "agent-r3").glob("*.jsonl")),
    ]

    async def replay(path: Path) -> Any:
        original = read_transcript(path)
        async with offline_model(original) as (model, prompts, guard):
            return await replay_transcript(
                original, model, transcript=path.with_name(path.stem + "-replay.jsonl"), prompts=prompts, guard=guard
            )

    for path in paths:
        report = asyncio.run(replay(path))
        assert report.identical, report.summary()


def test_the_overseer_alone_guesses_where_the_assistant_checks() -> None:
    import asyncio

    task = find_task("permutation")
    facts = {"permutation": [1, 2, 3, 0]}  # s(i) = i + 1 mod 4
    truth = task.solve(facts, "s^3(0)")
    question = comparison_question("s^3(0)", truth, str((int(truth) + 1) % 4))

    def spec(assisted: bool, noise: float) -> RunSpec:
        rrm = RRMSpec(role="compare", candidates=2, noise=noise, seed=0, assisted=assisted, assist_depth=1)
        return RunSpec(question=question, depth=2, task=TaskSpec(name="permutation", facts=facts), rrm=rrm)

    async def compare(s: RunSpec, path: Path) -> Feedback:
        await run_question(build_model(s), s.question, transcript=path, settings={"spec": s.model_dump(mode="json")})
        return next(e for e in read_transcript(path).events if isinstance(e, Feedback))

    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        # An assistant whose policy is never wrong makes the hard comparison checkable.
        checked = asyncio.run(compare(spec(True, 0.0), Path(folder) / "a.jsonl"))
        assert checked.basis == "assistant's answer" and checked.preferred == "A"
        assert checked.consulted and checked.consulted[0]["question"] == "s^3(0)"
        alone = asyncio.run(compare(spec(False, 0.0), Path(folder) / "b.jsonl"))
        assert alone.basis == "guess" and alone.consulted == []
        # A simple question is one fact lookup: the overseer checks it alone.
        simple = comparison_question("s^1(2)", "0", "3")
        s = spec(False, 0.0).model_copy(update={"question": simple})
        own = asyncio.run(compare(s, Path(folder) / "c.jsonl"))
        assert own.basis.startswith("own check") and own.preferred == "B"
        events = read_transcript(Path(folder) / "c.jsonl").events
        assert any(isinstance(e, OracleCall) and e.answer == "3" for e in events)


def test_comparison_questions_round_trip() -> None:
    text = comparison_question('s^2(1) "quoted"', "A | B", "line\nbreak")
    parsed = parse_comparison(text)
    assert parsed is not None and parsed.question == 's^2(1) "quoted"' and parsed.b == "line\nbreak"
    assert parse_comparison("Which answer to this question is better? {broken") is None
    assert parse_comparison("s^2(1)") is None
