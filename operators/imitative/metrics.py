"""Scoring runs: accuracy against the task's exact solver, calls per question, agreement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hch.tasks import find_task
from operators.batch import BatchResult


@dataclass(frozen=True)
class Score:
    """How a set of runs did: accuracy (None without ground truth), calls and nodes per question."""

    n: int
    correct: int | None
    calls: int
    nodes: int

    @property
    def accuracy(self) -> float | None:
        return None if self.correct is None or not self.n else self.correct / self.n

    @property
    def calls_per_question(self) -> float:
        return self.calls / self.n if self.n else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "calls_per_question": self.calls_per_question,
            "nodes_per_question": self.nodes / self.n if self.n else 0.0,
        }


def expected_answer(result: BatchResult) -> str | None:
    """The exact answer of a task question (None for free text)."""
    task = result.spec.task
    return find_task(task.name).solve(task.facts, result.spec.question) if task is not None else None


def score_runs(results: Sequence[BatchResult]) -> Score:
    """Accuracy of every run (a failed run counts as wrong) and its cost."""
    graded = all(r.spec.task is not None for r in results)
    correct = sum(1 for r in results if r.result is not None and r.answer == expected_answer(r)) if graded else None
    calls = sum(r.result.calls for r in results if r.result is not None)
    nodes = sum(r.result.nodes for r in results if r.result is not None)
    return Score(len(results), correct, calls, nodes)


def agreement(a: Sequence[BatchResult], b: Sequence[BatchResult]) -> float:
    """Share of questions on which two sets of runs (in the same order) gave the same answer."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} runs against {len(b)}")
    same = sum(1 for x, y in zip(a, b, strict=True) if x.answer is not None and x.answer == y.answer)
    return same / len(a) if a else 0.0
