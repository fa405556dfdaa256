"""Accuracy of HCH trees of several depths on generated task instances.

Every depth is scored on the same instances, so a row differs from the next
only by the depth of the tree: the table shows how much of the task each
amount of amplification can solve.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hch.app.runtime import run_spec
from hch.app.spec import RunSpec, TaskSpec
from hch.executor import DEFAULT_MAX_SUBQUESTIONS
from hch.limits import check_instances
from hch.tasks import Instance, Task


@dataclass
class DepthScore:
    """How trees of one depth did on the evaluation's instances."""

    depth: int
    n: int = 0
    correct: int = 0
    nodes: int = 0
    calls: int = 0
    reused: int = 0
    failures: list[str] = field(default_factory=list)
    """Questions answered wrongly, as 'question: got X, expected Y' (first few)."""

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "depth": self.depth,
            "n": self.n,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "mean_nodes": self.nodes / self.n if self.n else 0.0,
            "mean_calls": self.calls / self.n if self.n else 0.0,
            "reused": self.reused,
        }


def instances(task: Task, n: int, seed: int, size: int) -> list[Instance]:
    """``n`` instances, each from its own seeded generator so that instance i
    is the same whatever ``n`` is."""
    check_instances(n)
    return [task.generate(random.Random(f"{seed}:{i}"), size) for i in range(n)]


async def evaluate(
    task: Task,
    depths: Sequence[int],
    cases: Sequence[Instance],
    *,
    transcript_dir: Path,
    budget: int | None = None,
    max_subquestions: int = DEFAULT_MAX_SUBQUESTIONS,
    token_budget: int | None = None,
    on_result: Callable[[int, bool], None] | None = None,
) -> list[DepthScore]:
    """Run every instance at every depth; score against the independent solver."""
    scores = []
    for depth in depths:
        score = DepthScore(depth)
        for i, case in enumerate(cases):
            spec = RunSpec(
                question=case.question,
                depth=depth,
                budget=budget,
                max_subquestions=max_subquestions,
                token_budget=token_budget,
                task=TaskSpec(name=task.name, facts=case.facts),
            )
            result = await run_spec(spec, transcript=transcript_dir / f"depth{depth}-{i:04d}.jsonl")
            expected = task.solve(case.facts, case.question)
            ok = result.answer == expected
            score.n += 1
            score.correct += ok
            score.nodes += result.nodes
            score.calls += result.calls
            score.reused += result.counts.get("reuse", 0)
            if not ok and len(score.failures) < 5:
                score.failures.append(f"{case.question}: got {result.answer}, expected {expected}")
            if on_result:
                on_result(depth, ok)
        scores.append(score)
    return scores
