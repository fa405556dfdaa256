"""Iterated amplification on free-text questions, with the in-context distilled model.

Round t runs Amp(M_{t-1}) with a depth-``depth`` tree (the LLM as overseer;
M_0 is the base LLM, answering alone) over the questions, keeps the dataset,
and distils M_t: the base LLM prompted with the most similar examples of that
dataset (:class:`~operators.imitative.in_context.InContextLearner`). It then
asks M_t every question (one call each) and measures: agreement of M_t with
Amp(M_{t-1}), calls per question, and, where the questions file gives a
``reference``, how often each answer contains it (:func:`matches`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from hch.app.spec import DistilledSpec, RunSpec
from hch.errors import Label, UsageError, by_name
from hch.llm.settings import LLMSettings
from operators.batch import Batch, BatchResult, run_batch
from operators.imitative.distill import Distiller, InContextDistiller
from operators.imitative.iterate import RoundReport, amplify_round, iterate_dir, save_report, saved_settings

DEFAULT_K = 4


class FreeIterateSettings(BaseModel):
    """A free-text iterate run (saved as ``iterate.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    questions: list[str]
    references: list[str | None]
    rounds: int
    depth: int = 1
    max_subquestions: int = 8
    k: int = DEFAULT_K
    llm: LLMSettings
    structured_output: str = "json_schema"


@dataclass
class FreeIterateReport:
    """The rounds so far (the keys of ``--json``)."""

    settings: FreeIterateSettings
    folder: Path
    rounds: list[RoundReport] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.settings.name,
            "task": None,
            "n": len(self.settings.questions),
            "depth": self.settings.depth,
            "k": self.settings.k,
            "folder": str(self.folder),
            "rounds": [r.as_json() for r in self.rounds],
        }


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def matches(answer: str | None, reference: str) -> bool:
    """Whether ``answer`` contains ``reference`` (case, punctuation and spacing ignored)."""
    return answer is not None and normalise(reference) in normalise(answer)


def _accuracy(results: Sequence[BatchResult], references: list[str | None]) -> float | None:
    graded = [(r, ref) for r, ref in zip(results, references, strict=True) if ref is not None]
    if not graded:
        return None
    return sum(1 for r, ref in graded if matches(r.answer, ref)) / len(graded)


def _agreement(a: Sequence[BatchResult], b: Sequence[BatchResult]) -> float:
    same = sum(
        1
        for x, y in zip(a, b, strict=True)
        if x.answer is not None and y.answer is not None and normalise(x.answer) == normalise(y.answer)
    )
    return same / len(a) if a else 0.0


def _calls(results: Sequence[BatchResult]) -> float:
    return sum(r.result.calls for r in results if r.result is not None) / len(results) if results else 0.0


async def iterate_free(
    settings: FreeIterateSettings,
    *,
    batch: Batch,
    resume: bool = False,
    on_round: Callable[[FreeIterateReport], None] | None = None,
    on_result: Callable[[BatchResult], None] | None = None,
    on_stage: Callable[[str, int], None] | None = None,
    distiller: Distiller | None = None,
    label: Label = by_name,
) -> FreeIterateReport:
    """Run (or resume) the rounds of ``settings`` on free-text questions.

    ``distiller`` makes M_t from each round's dataset (default: the in-context model with ``settings.k``).
    An error names an option through ``label`` (:data:`hch.errors.Label`).
    """
    distiller = distiller or InContextDistiller(settings.k)
    if settings.rounds < 1 or settings.depth < 1:
        raise UsageError(f"{label('rounds')} and {label('depth')} must be at least 1")
    settings = saved_settings(
        settings,
        resume=resume,
        same=("questions", "references", "depth", "max_subquestions", "k", "llm"),
        label=label,
    )
    folder = iterate_dir(settings.name)
    stage = on_stage or (lambda _name, _total: None)
    common: dict[str, Any] = {"overseer": "llm", "llm": settings.llm, "structured_output": settings.structured_output}

    def specs(depth: int, model: DistilledSpec | None) -> list[RunSpec]:
        return [
            RunSpec(question=q, depth=depth, max_subquestions=settings.max_subquestions, distilled=model, **common)
            for q in settings.questions
        ]

    report = FreeIterateReport(settings, folder)
    model: DistilledSpec | None = None
    n = len(settings.questions)
    for t in range(1, settings.rounds + 1):
        name = f"{settings.name}-r{t}"
        stage(f"round {t}: Amp(M{t - 1})", n)
        amplified = await amplify_round(
            specs(settings.depth, model), name, t, None, settings.model_dump(), batch, on_result
        )
        model = await distiller.distill(amplified.dataset)
        stage(f"round {t}: M{t}, one call per question", n)
        distilled = await run_batch(
            specs(0, model),
            folder / f"r{t}-distilled",
            batch=batch,
            settings={"operator": "imitative", "iterate": settings.name, "round": t, "stage": "distilled"},
            on_result=on_result,
            resume=True,
        )
        report.rounds.append(
            RoundReport(
                round=t,
                training_questions=n,
                amplified_accuracy=_accuracy(amplified.results, settings.references),
                distilled_accuracy=_accuracy(distilled, settings.references),
                agreement=_agreement(distilled, amplified.results),
                calls_per_question=_calls(amplified.results),
                distilled_calls_per_question=_calls(distilled),
                hch_depth_equivalent=None,
                dataset=name,
                failed_runs=len(amplified.failed) + sum(1 for r in distilled if r.result is None),
            )
        )
        await asyncio.to_thread(save_report, folder, report.as_json())
        if on_round is not None:
            on_round(report)
    return report
