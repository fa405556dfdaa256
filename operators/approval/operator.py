"""``hch approve``: M proposes K candidates per question, Amp(M) rates each, and the ratings become data.

Two batches of runs through the engine (:mod:`operators.batch`), each run
with its own transcript in the dataset's folder and its spec in the header:

1. the proposals (:mod:`operators.proposals`), K per question, all at once;
2. the ratings (:mod:`operators.approval.approver`), one per candidate, all at once.

The approval dataset (:class:`ApprovalExample`: question, candidate,
approval, verdict, and the provenance of both the rating and the proposal)
is written through :mod:`operators.dataset`, so ``hch dataset verify`` proves
each approval is what its tree produced. Next to it, ``preferences.jsonl``
holds the preference pairs the approvals imply in TRL's
``prompt``/``chosen``/``rejected`` form.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from hch.app.spec import ApprovalSpec, RunSpec, TaskSpec
from hch.errors import HCHError, Label, UsageError, by_name, needs_model
from hch.executor import new_run_id
from operators.approval.approver import rating_question
from operators.approval.measure import ApprovalMetrics, Rating, best_of_n, by_question, measure, preference_pairs
from operators.batch import BatchResult, open_batch, run_batch
from operators.dataset import Dataset, DatasetWriter, Example, Provenance, dataset_dir
from operators.proposals import proposal_specs
from operators.questions import QuestionSet
from transcripts.events import Approval, NodeAnswer
from transcripts.reader import TranscriptError, read_transcript

PREFERENCES = "preferences.jsonl"
"""The preference pairs, next to the dataset's examples."""


class ApprovalExample(Example):
    """One rated candidate: the approval dataset's example (q, candidate, approval, evidence reference)."""

    KIND: ClassVar[str] = "approval"
    CLAIMS: ClassVar[dict[str, str]] = {
        "question": "event.question",
        "candidate": "event.candidate",
        "approval": "event.approval",
        "verdict": "event.verdict",
    }

    question_index: int
    candidate_index: int
    question: str
    candidate: str
    approval: float
    verdict: str
    expected: str | None = None
    """The true answer (tasks) or the reference answer (free text), when there is one."""
    correct: bool | None = None
    proposal: Provenance
    """The proposal run's answer event: where the candidate came from."""


@dataclass(frozen=True)
class ApprovalSettings:
    """What ``hch approve`` was asked to do."""

    candidates: int
    depth: int
    noise: float | None = None
    seed: int = 0
    budget: int | None = None
    max_subquestions: int = 8


@dataclass(frozen=True)
class ApprovalOutcome:
    """What one ``hch approve`` produced."""

    dataset: Dataset
    preferences: Path
    metrics: ApprovalMetrics
    best: list[Rating]
    """The best-of-n choice of each question."""
    failed: list[str]
    """Runs that failed (``transcript: error``); their candidates are left out."""


def question_specs(questions: QuestionSet, llm: dict[str, Any] | None) -> list[tuple[RunSpec, str | None]]:
    """A spec of each question (its task instance, or its model settings) and its true or reference answer."""
    if questions.task is not None:
        task = questions.task
        return [
            (
                RunSpec(
                    question=case.question,
                    depth=0,
                    task=TaskSpec(name=task.name, facts=case.facts, seed=questions.seed, size=questions.size),
                ),
                task.solve(case.facts, case.question),
            )
            for case in questions.instances
        ]
    if llm is None:
        raise needs_model("a free-text question")
    return [(RunSpec(question=q.question, depth=0, overseer="llm", **llm), q.reference) for q in questions.free]


def is_correct(candidate: str, expected: str | None, *, exact: bool) -> bool | None:
    """Whether a candidate is right.

    On a task: equal to the true answer. On free text: the reference answer
    appears in the candidate as whole words, case, punctuation and spacing
    aside ("A spider has 8 legs." is right for the reference "8"). A crude
    check, stated as such: it scores short factual references, not essays.
    """
    if expected is None:
        return None
    if exact:
        return candidate.strip() == expected.strip()
    words = _words(expected)
    said = _words(candidate)
    return bool(words) and any(said[i : i + len(words)] == words for i in range(len(said) - len(words) + 1))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def _rating_spec(base: RunSpec, candidate: str, settings: ApprovalSettings) -> RunSpec:
    return base.model_copy(
        update={
            "question": rating_question(base.question, candidate),
            "depth": settings.depth,
            "budget": settings.budget,
            "max_subquestions": settings.max_subquestions,
            "approval": ApprovalSpec(question=base.question, candidate=candidate),
        }
    )


def _cite_root(writer: DatasetWriter[ApprovalExample], path: Path, kind: type[Approval] | type[NodeAnswer]) -> Any:
    transcript = read_transcript(path)
    event = next(e for e in reversed(transcript.events) if isinstance(e, kind) and e.node_id == "0")
    return writer.cite(transcript, event), event


async def approve(
    questions: QuestionSet,
    settings: ApprovalSettings,
    *,
    llm: dict[str, Any] | None = None,
    name: str | None = None,
    notify: Callable[[str], None] | None = None,
    on_result: Callable[[BatchResult], None] | None = None,
    resume: bool = False,
    label: Label = by_name,
) -> ApprovalOutcome:
    """Propose, rate, and write the approval dataset and its preference pairs (see the module docstring).

    ``resume`` continues the unfinished dataset ``name`` (an interrupted run
    with the same settings): finished runs are read back, cut ones resumed
    without repeating their recorded calls. An error names an option through
    ``label`` (:data:`hch.errors.Label`).
    """
    if settings.depth < 1:
        raise UsageError(f"{label('depth')} {settings.depth}: the rating tree is Amp(M), at least depth 1")
    bases = question_specs(questions, llm)
    task_name = questions.task.name if questions.task is not None else None
    if resume and name is None:
        raise UsageError(f"{label('resume')} continues a dataset by its {label('name')}")
    name = name or f"approval-{task_name or 'free'}-{new_run_id()}"
    if resume and not dataset_dir(name).is_dir():
        raise UsageError(f"{label('resume')}: there is no unfinished dataset {name!r} under {dataset_dir(name).parent}")
    writer = DatasetWriter(
        dataset_dir(name),
        ApprovalExample,
        operator="approval",
        task=task_name,
        settings={
            "candidates": settings.candidates,
            "depth": settings.depth,
            "noise": settings.noise,
            "seed": settings.seed,
            "budget": settings.budget,
            "size": questions.size if task_name else None,
            "questions": len(bases),
        },
        resume=resume,
    )
    proposals: list[RunSpec] = []
    slots: list[tuple[int, int]] = []
    for qi, (base, _) in enumerate(bases):
        specs = proposal_specs(base, settings.candidates, noise=settings.noise, seed=settings.seed, label=label)
        for ci, spec in enumerate(specs):
            proposals.append(spec)
            slots.append((qi, ci))
    header = {"operator": "approval"}
    proposal_names = [f"q{qi:04d}-c{ci:02d}-proposal" for qi, ci in slots]
    if resume:
        await asyncio.to_thread(_check_same, writer.transcripts, proposal_names, proposals, label)
    async with open_batch(proposals, notify=notify) as batch:
        proposed = await run_batch(
            proposals,
            writer.transcripts,
            batch=batch,
            names=proposal_names,
            settings={**header, "step": "proposal"},
            on_result=on_result,
            resume=resume,
        )
        made = [(slot, r) for slot, r in zip(slots, proposed, strict=True) if r.answer is not None]
        ratings_specs = [_rating_spec(bases[qi][0], r.answer or "", settings) for (qi, _), r in made]
        rating_names = [f"q{qi:04d}-c{ci:02d}-rating" for (qi, ci), _ in made]
        if resume:
            await asyncio.to_thread(_check_same, writer.transcripts, rating_names, ratings_specs, label)
        rated = await run_batch(
            ratings_specs,
            writer.transcripts,
            batch=batch,
            names=rating_names,
            settings={**header, "step": "rating"},
            on_result=on_result,
            resume=resume,
        )
    failed = [f"{r.transcript}: {r.error}" for r in (*proposed, *rated) if r.result is None]
    examples = await asyncio.to_thread(_examples, writer, bases, made, rated, exact=task_name is not None)
    if not examples:
        raise HCHError(f"no candidate was rated ({len(failed)} runs failed; first: {failed[0] if failed else '-'})")
    writer.extend(examples)
    dataset = await asyncio.to_thread(writer.finish, name)
    ratings = [_rating_of(e) for e in examples]
    preferences = dataset.folder / PREFERENCES
    pairs = preference_pairs(ratings)
    text = "".join(json.dumps(p.trl(), ensure_ascii=False) + "\n" for p in pairs)
    await asyncio.to_thread(preferences.write_text, text, encoding="utf-8")
    return ApprovalOutcome(
        dataset=dataset,
        preferences=preferences,
        metrics=measure(ratings),
        best=[best_of_n(group) for group in by_question(ratings)],
        failed=failed,
    )


def _check_same(folder: Path, names: Sequence[str], specs: Sequence[RunSpec], label: Label) -> None:
    """Refuse to resume over transcripts that were made with other settings (they would mix two datasets)."""
    for stem, spec in zip(names, specs, strict=True):
        path = folder / f"{stem}.jsonl"
        if not path.exists():
            continue
        try:
            recorded = read_transcript(path).header.settings.get("spec")
        except TranscriptError:
            continue  # not even a header survived: the batch runs it afresh
        if recorded != spec.model_dump(mode="json"):
            raise UsageError(
                f"{label('resume')}: {path} was made with other settings than these options give; "
                "resume with the options of the interrupted run"
            )


def _rating_of(example: ApprovalExample) -> Rating:
    return Rating(
        question_index=example.question_index,
        question=example.question,
        candidate_index=example.candidate_index,
        candidate=example.candidate,
        approval=example.approval,
        verdict=example.verdict,
        correct=example.correct,
        transcript=example.provenance.transcript,
    )


def _examples(
    writer: DatasetWriter[ApprovalExample],
    bases: Sequence[tuple[RunSpec, str | None]],
    made: Sequence[tuple[tuple[int, int], BatchResult]],
    rated: Sequence[BatchResult],
    *,
    exact: bool,
) -> list[ApprovalExample]:
    examples = []
    for ((qi, ci), proposal), rating in zip(made, rated, strict=True):
        if rating.result is None:
            continue
        cited, event = _cite_root(writer, rating.transcript, Approval)
        source, _ = _cite_root(writer, proposal.transcript, NodeAnswer)
        expected = bases[qi][1]
        examples.append(
            ApprovalExample(
                provenance=cited,
                question_index=qi,
                candidate_index=ci,
                question=event.question,
                candidate=event.candidate,
                approval=event.approval,
                verdict=event.verdict,
                expected=expected,
                correct=is_correct(event.candidate, expected, exact=exact),
                proposal=source,
            )
        )
    return examples
