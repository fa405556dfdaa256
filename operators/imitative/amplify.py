"""Amplify: run Amp(M_t) over questions and keep (q, Amp(M_t)(q)) with its decomposition as a dataset.

Each question is one run of the tree the spec describes (``depth`` levels of
the overseer over M_t: the task's lookup oracle or the LLM for t = 0, a
distilled model after), through :func:`operators.batch.run_batch`, with its
transcript inside the dataset's folder. Each example cites the root's
``answer`` event of its run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hch.app.spec import DistilledSpec, RunSpec, TaskSpec
from hch.errors import HCHError
from operators.batch import Batch, BatchResult, run_batch
from operators.dataset import Dataset, DatasetWriter, node_view
from operators.imitative.examples import ImitationExample, Subanswer, instance_key
from operators.questions import QuestionSet
from transcripts.events import JSONValue, NodeAnswer
from transcripts.reader import read_transcript

OPERATOR = "imitative"


@dataclass(frozen=True)
class Amplified:
    """A sealed distillation dataset and the runs behind it (failed runs have no example)."""

    dataset: Dataset
    results: list[BatchResult]

    @property
    def failed(self) -> list[BatchResult]:
        return [r for r in self.results if r.result is None]


def amplify_specs(
    questions: QuestionSet | Sequence[str],
    *,
    depth: int,
    budget: int | None = None,
    max_subquestions: int = 8,
    distilled: DistilledSpec | None = None,
    facts: Sequence[dict[str, object]] | None = None,
    task: str | None = None,
    **fields: object,
) -> list[RunSpec]:
    """One spec per question: Amp^depth over M_t (``distilled``, or the base model when None).

    ``questions`` is a :class:`QuestionSet`, or bare question texts with
    ``task`` and one fact table per question in ``facts``. ``fields`` are
    further RunSpec fields (who works the nodes, the model settings).
    """
    common: dict[str, object] = {
        "depth": depth,
        "budget": budget,
        "max_subquestions": max_subquestions,
        "distilled": distilled,
        **fields,
    }
    if isinstance(questions, QuestionSet):
        if questions.task is not None:
            return [
                RunSpec.model_validate(
                    {
                        **common,
                        "question": c.question,
                        "task": TaskSpec(name=c.task, facts=c.facts, seed=questions.seed, size=questions.size),
                    }
                )
                for c in questions.instances
            ]
        return [RunSpec.model_validate({**common, "question": q}) for q in questions.texts]
    if task is not None:
        assert facts is not None and len(facts) == len(questions)
        return [
            RunSpec.model_validate({**common, "question": q, "task": TaskSpec(name=task, facts=dict(f))})
            for q, f in zip(questions, facts, strict=True)
        ]
    return [RunSpec.model_validate({**common, "question": q}) for q in questions]


def dataset_writer(
    folder: Path, *, task: str | None, round: int | None, settings: dict[str, JSONValue], resume: bool = False
) -> DatasetWriter[ImitationExample]:
    """A writer for an imitation dataset of this operator."""
    return DatasetWriter(
        folder, ImitationExample, operator=OPERATOR, task=task, round=round, settings=settings, resume=resume
    )


async def amplify(
    specs: Sequence[RunSpec],
    writer: DatasetWriter[ImitationExample],
    *,
    batch: Batch,
    names: Sequence[str] | None = None,
    settings: dict[str, JSONValue] | None = None,
    on_result: Callable[[BatchResult], None] | None = None,
    resume: bool = False,
    max_open_runs: int | None = None,
) -> Amplified:
    """Run every spec (concurrently), write one example per finished run, seal the dataset.

    ``max_open_runs=1`` runs the questions one after another: for a person at
    the terminal, who works one question's tree at a time.
    """
    header: dict[str, JSONValue] = {"operator": OPERATOR, **(settings or {})}
    results = await run_batch(
        specs,
        writer.transcripts,
        batch=batch,
        names=names,
        settings=header,
        on_result=on_result,
        resume=resume,
        max_open_runs=max_open_runs,
    )
    finished = [r for r in results if r.result is not None]
    if not finished:
        first = results[0].error if results else "no questions"
        raise HCHError(f"every amplification run failed; the first: {first}")
    examples = await asyncio.to_thread(lambda: [example_of(writer, r) for r in finished])
    writer.extend(examples)
    dataset = await asyncio.to_thread(writer.finish)
    return Amplified(dataset, results)


def example_of(writer: DatasetWriter[ImitationExample], result: BatchResult) -> ImitationExample:
    """The example a finished run gives: its root's question, answer and decomposition, citing the answer."""
    transcript = read_transcript(result.transcript)
    answer = next(e for e in transcript.events if isinstance(e, NodeAnswer) and e.node_id == "0")
    view = node_view(transcript.events[: answer.seq], answer, "0")
    subs = view.node["subquestions"]
    assert isinstance(subs, list)
    spec = result.spec
    return ImitationExample(
        provenance=writer.cite(transcript, answer),
        question=spec.question,
        answer=answer.answer,
        decomposition=[Subanswer.model_validate(s) for s in subs],
        instance=instance_key(spec.task.facts) if spec.task is not None else None,
    )
