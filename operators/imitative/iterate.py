"""Iterated amplification on the algorithmic tasks: amplify with depth-1 trees, distil, repeat.

Round t runs Amp(M_{t-1}) (the task's overseer consulting M_{t-1}; M_0 is the
lookup oracle) with a depth-1 tree over the training questions, distils M_t
from what it answered (:class:`~operators.imitative.learners.MemorisingLearner`),
and measures on the sampled questions: the accuracy of Amp(M_{t-1}) and of M_t
against the task's exact solver, the agreement of M_t with Amp(M_{t-1}), the
calls per question, and the depth a plain HCH tree needs for M_t's accuracy.

The memoriser only knows questions it saw, so the training questions are
closed under decomposition: the sampled questions and every question their
full-depth HCH tree asks (those trees are run first, through the engine, and
are also the baseline). Then round t's depth-1 tree answers correctly exactly
the questions that need depth t, and after as many rounds as the deepest
question needs, M answers every sampled question in one call, as accurately as
the full-depth tree.

Everything is on disk under ``$HCH_HOME/iterate/<name>/`` and the round
datasets ``<name>-r<t>``; running again with the same name resumes: finished
rounds are read back, an unfinished one continues without repeating a finished
call (see :func:`operators.batch.run_batch`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from hch.app.spec import DistilledSpec, RunSpec, TaskSpec
from hch.errors import Label, UsageError, by_name
from hch.paths import hch_home
from hch.tasks import Instance, find_task
from operators.batch import Batch, BatchResult, finished_result, run_batch
from operators.dataset import open_dataset
from operators.imitative.amplify import Amplified, amplify, dataset_writer
from operators.imitative.distill import Distiller, MemorisingDistiller
from operators.imitative.metrics import agreement, score_runs
from operators.paths import MANIFEST, check_name, dataset_dir
from operators.questions import question_set
from transcripts.events import NodeStart
from transcripts.reader import read_transcript


class IterateSettings(BaseModel):
    """What an iterate run is (saved as ``iterate.json``, so a resume runs the same thing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    task: str
    n: int
    seed: int = 0
    size: int = 64
    rounds: int
    depth: int = 1


@dataclass(frozen=True)
class RoundReport:
    """One round's figures (the keys of ``--json``'s ``rounds``)."""

    round: int
    training_questions: int
    amplified_accuracy: float | None
    distilled_accuracy: float | None
    agreement: float
    calls_per_question: float
    """Calls Amp(M_{t-1}) made per sampled question."""
    distilled_calls_per_question: float
    """Calls M_t made per sampled question (1: it answers in one call)."""
    hch_depth_equivalent: int | None
    """Smallest depth of a plain HCH tree (over M_0) as accurate as M_t on the sampled questions."""
    dataset: str
    failed_runs: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IterateReport:
    """The whole run: the full-depth baseline, the HCH curve, and the rounds so far."""

    settings: IterateSettings
    folder: Path
    full_depth: int
    full_depth_accuracy: float | None
    full_depth_calls_per_question: float
    hch_accuracy_by_depth: list[float]
    training_questions: int
    rounds: list[RoundReport] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.settings.name,
            "task": self.settings.task,
            "n": self.settings.n,
            "seed": self.settings.seed,
            "size": self.settings.size,
            "depth": self.settings.depth,
            "folder": str(self.folder),
            "training_questions": self.training_questions,
            "full_depth": {
                "depth": self.full_depth,
                "accuracy": self.full_depth_accuracy,
                "calls_per_question": self.full_depth_calls_per_question,
            },
            "hch_accuracy_by_depth": self.hch_accuracy_by_depth,
            "rounds": [r.as_json() for r in self.rounds],
        }


def iterate_dir(name: str) -> Path:
    """Where an iterate run keeps its settings and non-dataset transcripts."""
    return hch_home() / "iterate" / check_name(name)


S = TypeVar("S", bound=BaseModel)


def saved_settings(settings: S, *, resume: bool, same: tuple[str, ...], label: Label = by_name) -> S:
    """Save a new run's settings; on resume, check the ``same`` fields agree with the saved ones (rounds may grow).

    An error names an option through ``label`` (:data:`hch.errors.Label`).
    """
    name = getattr(settings, "name")  # noqa: B009 - every settings model has one
    path = iterate_dir(name) / "iterate.json"
    if path.exists():
        try:
            saved = type(settings).model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UsageError(
                f"{path}: not the settings of this kind of iterate run: {str(exc).splitlines()[0]}"
            ) from None
        if not resume:
            raise UsageError(f"an iterate run named {name!r} exists ({path}); add {label('resume')} to continue it")
        for key in same:
            if getattr(saved, key) != getattr(settings, key):
                shown = getattr(saved, key)
                shown = shown if not isinstance(shown, list | dict) else "the saved value"
                raise UsageError(
                    f"{label(key)} conflicts with the run being resumed ({shown}); {path} holds its settings"
                )
    elif resume:
        raise UsageError(f"no iterate run named {name!r} to resume ({path} is missing)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(settings.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return settings


@dataclass(frozen=True)
class Training:
    """The training questions: each with the index of the sampled question whose tree asked it."""

    root: list[int]
    questions: list[str]


def closure(cases: list[Instance], results: list[BatchResult]) -> Training:
    """Every question the full-depth trees asked, per sampled question, in the order they were asked."""
    roots: list[int] = []
    questions: list[str] = []
    for i, r in enumerate(results):
        seen: set[str] = set()
        asked = [cases[i].question]
        asked += [e.question for e in read_transcript(r.transcript).events if isinstance(e, NodeStart)]
        for q in asked:
            q = q.strip()
            if q not in seen:
                seen.add(q)
                roots.append(i)
                questions.append(q)
    return Training(roots, questions)


async def iterate(
    settings: IterateSettings,
    *,
    batch: Batch,
    resume: bool = False,
    on_round: Callable[[IterateReport], None] | None = None,
    on_result: Callable[[BatchResult], None] | None = None,
    on_stage: Callable[[str, int], None] | None = None,
    distiller: Distiller | None = None,
    label: Label = by_name,
) -> IterateReport:
    """Run (or resume) the rounds of ``settings``; ``on_round`` hears the report after each round.

    ``distiller`` makes M_t from each round's dataset (default: the memorising stand-in learner).
    An error names an option through ``label`` (:data:`hch.errors.Label`).
    """
    distiller = distiller or MemorisingDistiller()
    if settings.rounds < 1:
        raise UsageError(f"{label('rounds')} must be at least 1, got {settings.rounds}")
    if settings.depth < 1:
        raise UsageError(f"{label('depth')} must be at least 1 (the amplification step's tree), got {settings.depth}")
    settings = saved_settings(settings, resume=resume, same=("task", "n", "seed", "size", "depth"), label=label)
    task = find_task(settings.task)
    cases = question_set(settings.task, settings.n, settings.seed, settings.size, None).instances
    folder = iterate_dir(settings.name)

    def specs(questions: list[str], owners: list[int], depth: int, model: DistilledSpec | None) -> list[RunSpec]:
        return [
            RunSpec(
                question=q,
                depth=depth,
                task=TaskSpec(name=task.name, facts=cases[i].facts, seed=settings.seed, size=settings.size),
                distilled=model,
            )
            for q, i in zip(questions, owners, strict=True)
        ]

    stage = on_stage or (lambda _name, _total: None)
    needed = [task.depth_needed(c.facts, c.question) for c in cases]
    full_depth = max(needed)
    roots = list(range(len(cases)))
    texts = [c.question for c in cases]
    stage("full-depth HCH trees", len(cases))
    full = await run_batch(
        specs(texts, roots, full_depth, None),
        folder / "full-depth",
        batch=batch,
        settings={"operator": "imitative", "iterate": settings.name, "stage": "full-depth"},
        on_result=on_result,
        resume=True,
    )
    full_score = score_runs(full)
    training = await asyncio.to_thread(closure, cases, full)
    curve = [sum(1 for d in needed if d <= k) / len(needed) for k in range(full_depth + 1)]
    report = IterateReport(
        settings=settings,
        folder=folder,
        full_depth=full_depth,
        full_depth_accuracy=full_score.accuracy,
        full_depth_calls_per_question=full_score.calls_per_question,
        hch_accuracy_by_depth=curve,
        training_questions=len(training.questions),
    )
    # Where each sampled question sits among the training questions (it is the first its tree asked).
    first = {root: training.root.index(root) for root in roots}
    model: DistilledSpec | None = None
    for t in range(1, settings.rounds + 1):
        name = f"{settings.name}-r{t}"
        stage(f"round {t}: Amp(M{t - 1}) over the training questions", len(training.questions))
        amplified = await amplify_round(
            specs(training.questions, training.root, settings.depth, model),
            name,
            t,
            settings.task,
            {**settings.model_dump(), "round": t},
            batch,
            on_result,
        )
        model = await distiller.distill(amplified.dataset)
        stage(f"round {t}: M{t} on the sampled questions", len(cases))
        distilled = await run_batch(
            specs(texts, roots, 0, model),
            folder / f"r{t}-distilled",
            batch=batch,
            settings={"operator": "imitative", "iterate": settings.name, "round": t, "stage": "distilled"},
            on_result=on_result,
            resume=True,
        )
        on_roots = [amplified.results[first[i]] for i in roots]
        amp_score, distilled_score = score_runs(on_roots), score_runs(distilled)
        accuracy = distilled_score.accuracy
        report.rounds.append(
            RoundReport(
                round=t,
                training_questions=len(training.questions),
                amplified_accuracy=amp_score.accuracy,
                distilled_accuracy=accuracy,
                agreement=agreement(distilled, on_roots),
                calls_per_question=amp_score.calls_per_question,
                distilled_calls_per_question=distilled_score.calls_per_question,
                hch_depth_equivalent=None if accuracy is None else _depth_for(curve, accuracy),
                dataset=name,
                failed_runs=len(amplified.failed) + sum(1 for r in distilled if r.result is None),
            )
        )
        await asyncio.to_thread(save_report, folder, report.as_json())
        if on_round is not None:
            on_round(report)
    return report


def _depth_for(curve: list[float], accuracy: float) -> int | None:
    return next((k for k, a in enumerate(curve) if a >= accuracy - 1e-12), None)


def save_report(folder: Path, report: dict[str, Any]) -> None:
    """Write ``report.json`` (atomically): the figures so far, for plots and for whoever looks mid-run."""
    path = folder / "report.json"
    tmp = path.with_name("report.json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


async def amplify_round(
    specs: list[RunSpec],
    name: str,
    t: int,
    task: str | None,
    settings: dict[str, Any],
    batch: Batch,
    on_result: Callable[[BatchResult], None] | None,
) -> Amplified:
    """Round ``t``'s dataset ``name``: read back if sealed, else amplified (continuing an unfinished one)."""
    folder = dataset_dir(name)
    names = [f"{i:06d}" for i in range(len(specs))]
    if (folder / MANIFEST).exists():
        # A finished round: its runs are read back from the dataset's transcripts, nothing is run.
        dataset = open_dataset(folder)
        return Amplified(dataset, await asyncio.to_thread(_read_back, specs, folder / "transcripts", names))
    writer = dataset_writer(folder, task=task, round=t, settings=settings, resume=True)
    return await amplify(
        specs,
        writer,
        batch=batch,
        names=names,
        settings={"iterate": str(settings.get("name")), "round": t},
        on_result=on_result,
        resume=True,
    )


def _read_back(specs: list[RunSpec], folder: Path, names: list[str]) -> list[BatchResult]:
    results = []
    for i, (spec, stem) in enumerate(zip(specs, names, strict=True)):
        path = folder / f"{stem}.jsonl"
        done = finished_result(path)
        error = None if done is not None else f"{path} did not finish in the recorded round"
        results.append(BatchResult(i, spec, path, done, error=error, reused=True))
    return results
