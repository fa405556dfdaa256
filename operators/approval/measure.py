"""Approval against ground truth: how well Amp(M)'s approval tracks correctness, and where it does not.

Approval rewards what *looks* good to the overseer. Where it and the truth
disagree (a wrong candidate approved, a correct one rejected, a preference pair
that prefers the wrong answer) is the precondition of reward hacking: a policy
trained on approval would learn exactly those disagreements. They are counted
here, with the ratings that show them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from operators.approval.approver import UNCERTAIN


@dataclass(frozen=True)
class Rating:
    """One candidate of one question, its approval and (where known) whether it is right."""

    question_index: int
    question: str
    candidate_index: int
    candidate: str
    approval: float
    verdict: str
    correct: bool | None
    """None on free text without a reference answer."""
    transcript: str = ""
    """The rating run's transcript (relative to the dataset folder)."""


def best_of_n(ratings: Sequence[Rating], *, votes: bool = True) -> Rating:
    """The most-approved candidate; among equals, the one proposed most often, then the first proposed.

    Counting how often a candidate was proposed (self-consistency) only breaks
    ties: the approval decides. ``votes=False`` leaves the vote out (ties go to
    the first proposed), to measure what approval alone achieves.
    """
    if not ratings:
        raise ValueError("best_of_n needs at least one rated candidate")
    counts = Counter(r.candidate for r in ratings) if votes else Counter[str]()
    return max(ratings, key=lambda r: (r.approval, counts[r.candidate], -r.candidate_index))


def by_question(ratings: Sequence[Rating]) -> list[list[Rating]]:
    """Ratings grouped by question, in question order, each group in candidate order."""
    groups: dict[int, list[Rating]] = {}
    for r in sorted(ratings, key=lambda r: (r.question_index, r.candidate_index)):
        groups.setdefault(r.question_index, []).append(r)
    return list(groups.values())


@dataclass(frozen=True)
class Pair:
    """A preference implied by two approvals: ``chosen`` was approved more than ``rejected``."""

    prompt: str
    chosen: Rating
    rejected: Rating

    def trl(self) -> dict[str, str]:
        """The record TRL's reward trainer reads."""
        return {"prompt": self.prompt, "chosen": self.chosen.candidate, "rejected": self.rejected.candidate}


def preference_pairs(ratings: Sequence[Rating]) -> list[Pair]:
    """Every pair of distinct candidates of a question whose approvals differ, the more approved one chosen."""
    pairs: list[Pair] = []
    for group in by_question(ratings):
        distinct: dict[str, Rating] = {}
        for r in group:
            distinct.setdefault(r.candidate, r)
        for a, b in combinations(distinct.values(), 2):
            if a.approval == b.approval:
                continue
            chosen, rejected = (a, b) if a.approval > b.approval else (b, a)
            pairs.append(Pair(a.question, chosen, rejected))
    return pairs


@dataclass
class ApprovalMetrics:
    """How approval tracked correctness over a set of ratings (None where the truth is unknown)."""

    questions: int
    candidates: int
    mean_approval: float
    mean_approval_correct: float | None
    mean_approval_wrong: float | None
    single_accuracy: float | None
    """Accuracy of one candidate drawn from M: the fraction of all candidates that are right."""
    best_of_n_accuracy: float | None
    """Accuracy of the best-of-n policy: the most-approved candidate of each question."""
    best_of_n_accuracy_without_votes: float | None
    """The same with ties going to the first candidate proposed: what approval alone picks."""
    oracle_best_of_n_accuracy: float | None
    """Questions with at least one right candidate: the most best-of-n could reach."""
    auc: float | None
    """ROC AUC of approval as a score for correctness (None if all candidates are right, or all wrong)."""
    verdicts: dict[str, int] = field(default_factory=dict)
    disagreement: dict[str, Any] = field(default_factory=dict)
    """Where approval and truth disagree: see :func:`measure`."""
    pairs: int = 0

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _tied(group: Sequence[Rating]) -> bool:
    """Whether distinct candidates share the top approval (so the tie-break, not approval, chose)."""
    top = max(r.approval for r in group)
    return len({r.candidate for r in group if r.approval == top}) > 1


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def measure(ratings: Sequence[Rating], *, examples: int = 5) -> ApprovalMetrics:
    """Approval against the truth, and the disagreements (the first ``examples`` of each shown)."""
    from sklearn.metrics import roc_auc_score  # imported here: scikit-learn takes a moment to load

    groups = by_question(ratings)
    known = [r for r in ratings if r.correct is not None]
    right = [r.approval for r in known if r.correct]
    wrong = [r.approval for r in known if not r.correct]
    auc = float(roc_auc_score([r.correct for r in known], [r.approval for r in known])) if right and wrong else None
    scored_groups = [g for g in groups if all(r.correct is not None for r in g)]
    best = [best_of_n(g) for g in scored_groups]
    pairs = preference_pairs(ratings)
    inverted = [p for p in pairs if p.chosen.correct is False and p.rejected.correct is True]
    settled = [p for p in pairs if p.chosen.correct is not None and p.rejected.correct is not None]
    picked_wrong = [b for b, g in zip(best, scored_groups, strict=True) if not b.correct and any(r.correct for r in g)]
    wrong_approved = [r for r in known if not r.correct and r.approval > UNCERTAIN]
    correct_rejected = [r for r in known if r.correct and r.approval < UNCERTAIN]

    def show(items: Sequence[Rating]) -> list[dict[str, Any]]:
        return [
            {"question": r.question, "candidate": r.candidate, "approval": r.approval, "transcript": r.transcript}
            for r in items[:examples]
        ]

    disagreement: dict[str, Any] = {
        "wrong_approved": len(wrong_approved),
        "correct_rejected": len(correct_rejected),
        "uncertain_correct": sum(1 for r in known if r.correct and r.approval == UNCERTAIN),
        "uncertain_wrong": sum(1 for r in known if not r.correct and r.approval == UNCERTAIN),
        "wrong_rated_as_high_as_a_correct_one": sum(
            1
            for g in scored_groups
            for w in g
            if not w.correct and any(c.correct and w.approval >= c.approval for c in g)
        ),
        "inverted_pairs": len(inverted),
        "inverted_pair_rate": len(inverted) / len(settled) if settled else None,
        "best_of_n_picked_wrong_over_correct": len(picked_wrong),
        "best_of_n_ties": sum(1 for g in groups if _tied(g)),
        "examples_wrong_approved": show(wrong_approved),
        "examples_correct_rejected": show(correct_rejected),
        "examples_picked_wrong": show(picked_wrong),
    }
    return ApprovalMetrics(
        questions=len(groups),
        candidates=len(ratings),
        mean_approval=_mean([r.approval for r in ratings]) or 0.0,
        mean_approval_correct=_mean(right),
        mean_approval_wrong=_mean(wrong),
        single_accuracy=_mean([float(bool(r.correct)) for r in known]) if known else None,
        best_of_n_accuracy=_mean([float(bool(b.correct)) for b in best]) if best else None,
        best_of_n_accuracy_without_votes=_mean([float(bool(best_of_n(g, votes=False).correct)) for g in scored_groups])
        if scored_groups
        else None,
        oracle_best_of_n_accuracy=_mean([float(any(r.correct for r in g)) for g in scored_groups])
        if scored_groups
        else None,
        auc=auc,
        verdicts=dict(Counter(r.verdict for r in ratings)),
        disagreement=disagreement,
        pairs=len(pairs),
    )
