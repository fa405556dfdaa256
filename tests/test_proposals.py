"""Candidate proposers: noisy candidates on the tasks, K samples of an LLM; each a replayable run."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from commands.common import flag
from hch.app.replay import offline_model, replay_transcript
from hch.app.spec import RunSpec, TaskSpec, build_model
from hch.errors import UsageError
from hch.executor import run_question
from hch.llm.settings import LLMSettings
from hch.tasks import ALL_TASKS, find_task
from hch.tasks.base import parse_answer
from operators.proposals import _SampleOf, proposal_specs, wrong_value
from transcripts.events import OracleCall
from transcripts.reader import read_transcript


def question_spec(task_name: str, seed: int = 1, size: int = 64) -> tuple[RunSpec, str]:
    task = find_task(task_name)
    case = task.generate(random.Random(seed), size)
    spec = RunSpec(question=case.question, depth=0, task=TaskSpec(name=task_name, facts=case.facts))
    return spec, task.solve(case.facts, case.question)


async def propose(spec: RunSpec, folder: Path, name: str) -> str:
    result = await run_question(
        build_model(spec), spec.question, transcript=folder / f"{name}.jsonl", settings={"spec": spec.model_dump()}
    )
    return result.answer


@pytest.mark.parametrize("task_name", [t.name for t in ALL_TASKS])
async def test_noisy_candidates_are_wrong_at_the_set_rate_and_plausible(task_name: str, tmp_path: Path) -> None:
    wrong = total = 0
    for seed in range(40):
        spec, truth = question_spec(task_name, seed)
        for i, proposal in enumerate(proposal_specs(spec, 5, noise=0.3, seed=7)):
            candidate = await propose(proposal, tmp_path, f"{seed}-{i}")
            value = parse_answer(candidate)
            assert value is not None, candidate  # an integer answer, never refutable by its form
            if task_name == "permutation":
                assert 0 <= value < len(spec.task.facts["permutation"])  # type: ignore[union-attr]
            if task_name == "assignments":
                assert 0 <= value < 8
            total += 1
            wrong += candidate != truth
    assert 0.2 < wrong / total < 0.4, (wrong, total)


async def test_noise_zero_and_one(tmp_path: Path) -> None:
    spec, truth = question_spec("wildcard")
    right = [await propose(s, tmp_path, f"a{i}") for i, s in enumerate(proposal_specs(spec, 3, noise=0.0, seed=0))]
    wrong = [await propose(s, tmp_path, f"b{i}") for i, s in enumerate(proposal_specs(spec, 3, noise=1.0, seed=0))]
    assert right == [truth] * 3
    assert truth not in wrong


async def test_a_proposal_is_deterministic_recorded_and_replays_identical(tmp_path: Path) -> None:
    spec, truth = question_spec("permutation", seed=3)
    proposal = proposal_specs(spec, 4, noise=0.5, seed=11)[2]
    first = await propose(proposal, tmp_path, "one")
    again = await propose(proposal, tmp_path, "two")
    assert first == again
    original = read_transcript(tmp_path / "one.jsonl")
    lookups = [e for e in original.events if isinstance(e, OracleCall)]
    assert [e.answer for e in lookups] == [truth]  # the truth it read is on the record, next to what it proposed
    async with offline_model(original) as (model, _prompts, guard):
        report = await replay_transcript(original, model, transcript=tmp_path / "replay.jsonl", guard=guard)
    assert report.identical, report.summary()


def test_wrong_values_are_near_misses_never_the_truth() -> None:
    task = find_task("assignments")
    case = task.generate(random.Random(0), 16)
    for seed in range(50):
        for truth in map(str, range(8)):
            wrong = wrong_value(task, case.facts, truth, random.Random(seed))
            assert wrong != truth and 0 <= int(wrong) < 8
            assert (int(wrong) - int(truth)) % 8 in (1, 2, 6, 7)


def test_bad_proposal_settings_are_refused() -> None:
    spec, _ = question_spec("wildcard")
    with pytest.raises(UsageError, match="at least 1"):
        proposal_specs(spec, 0, noise=0.1, seed=0)
    with pytest.raises(UsageError, match="need noise"):
        proposal_specs(spec, 2, noise=None, seed=0)
    free = RunSpec(question="Why?", depth=0, overseer="llm", llm=LLMSettings(model="m"))
    with pytest.raises(UsageError, match="need temperature above 0"):
        proposal_specs(free, 3, noise=None, seed=0)
    with pytest.raises(UsageError, match="need --temperature above 0"):  # as the command line says it
        proposal_specs(free, 3, noise=None, seed=0, label=flag)
    warm = free.model_copy(update={"llm": LLMSettings(model="m", temperature=0.8)})
    sampled = proposal_specs(warm, 3, noise=None, seed=0)
    assert [s.proposal.index for s in sampled if s.proposal] == [0, 1, 2]


class RecordingChat:
    """A chat client stand-in (unit test) recording the sample index of each request."""

    def __init__(self) -> None:
        self.samples: list[int] = []

    async def chat(
        self, node: Any, messages: Any, *, purpose: str, response_format: Any = None, sample: int = 0
    ) -> str:
        self.samples.append(sample)
        return '{"answer": "x"}'


async def test_a_sample_proposer_asks_for_its_own_sample_index() -> None:
    inner = RecordingChat()
    await _SampleOf(inner, 3).chat(None, [], purpose="answer")  # type: ignore[arg-type]
    await _SampleOf(inner, 0).chat(None, [], purpose="answer", sample=5)  # type: ignore[arg-type]
    assert inner.samples == [3, 0]
