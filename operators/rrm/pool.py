"""The questions RRM trains and evaluates the agent on.

For an algorithmic task the pool is the generated root questions (the same
instances as ``hch eval`` for the same seed and size) *and every subquestion of
their exact decomposition*: the questions the assistant's tree asks the agent
when it checks a comparison. Feedback on those is what lets the agent improve
as an assistant from one round to the next. The subquestions are found by
running the task's programmatic tree on each root question (an ordinary run
through the engine, with its transcript) and reading the questions of its nodes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hch.app.spec import RunSpec, TaskSpec
from hch.errors import HCHError
from hch.tasks import Instance, find_task
from operators.approval.operator import is_correct
from operators.batch import Batch, failed, run_batch
from operators.questions import FreeQuestion
from transcripts.chain import request_hash
from transcripts.events import NodeStart
from transcripts.reader import read_transcript


@dataclass(frozen=True)
class PoolQuestion:
    """One question of the pool, its instance and its exact answer."""

    instance: int
    question: str
    truth: str | None
    """The exact answer (a task), the reference (free text), or None (free text without one)."""
    root: bool
    facts: dict[str, Any]
    tag: str
    """The instance, as the reward model sees it (the fact table's digest; empty on free text)."""
    exact: bool = True
    """Right means equal to ``truth`` (a task); else ``truth`` appears in it as words (approval's check)."""

    @property
    def prompt(self) -> str:
        """The question as the reward model sees it."""
        return f"[{self.tag}] {self.question}" if self.tag else self.question

    def right(self, answer: str) -> bool | None:
        """Whether ``answer`` is right (None: no way to tell)."""
        return is_correct(answer, self.truth, exact=self.exact)


def free_pool(questions: list[FreeQuestion]) -> list[PoolQuestion]:
    """Free-text questions: each its own root, scored against its reference when it has one."""
    return [PoolQuestion(i, q.question, q.reference, True, {}, "", exact=False) for i, q in enumerate(questions)]


def instance_tag(task: str, facts: dict[str, Any]) -> str:
    return f"{task}#{request_hash(facts)[:10]}"


def _questions_of(path: Path) -> list[str]:
    transcript = read_transcript(path)
    seen: dict[str, None] = {}
    for event in transcript.events:
        if isinstance(event, NodeStart):
            seen.setdefault(event.question, None)
    return list(seen)


async def build_pool(
    task_name: str, cases: list[Instance], seed: int, size: int, folder: Path, batch: Batch, *, resume: bool = False
) -> list[PoolQuestion]:
    """Root questions and their decomposition's subquestions, each once per instance."""
    task = find_task(task_name)
    specs = [
        RunSpec(
            question=case.question,
            depth=task.depth_needed(case.facts, case.question),
            task=TaskSpec(name=task_name, facts=case.facts, seed=seed, size=size),
        )
        for case in cases
    ]
    results = await run_batch(specs, folder, batch=batch, settings={"operator": "rrm", "part": "pool"}, resume=resume)
    if failed(results):
        raise HCHError(f"the pool's decomposition run failed: {failed(results)[0].error}")
    pool: list[PoolQuestion] = []
    for index, (case, result) in enumerate(zip(cases, results, strict=True)):
        tag = instance_tag(task_name, case.facts)
        questions = await asyncio.to_thread(_questions_of, result.transcript)
        for q in questions:
            pool.append(PoolQuestion(index, q, task.solve(case.facts, q), q == case.question, case.facts, tag))
    return pool
