"""Running many questions through the engine at once, each in a run of its own.

Every operator runs its questions here: each question is a
:class:`~hch.app.spec.RunSpec`, run by :func:`~hch.executor.run_question` with its
own transcript in the given folder and its spec in the header
(``settings.spec``, as ``hch run`` writes it), so ``hch replay``, ``hch
verify``, ``hch show`` and ``hch export`` work on every one.

All runs share one model client (:func:`hch.app.runtime.open_model_client`): its
semaphore is the limit on model calls in flight, for the whole batch. Runs are
started together (a TaskGroup), not one after another.

What one run costs, and the one other bound: a run holds an open transcript,
whose :class:`~transcripts.writer.TranscriptWriter` keeps a file and a writer
thread until the run ends. Thousands of programmatic questions started at once
would hold thousands of threads, so at most ``max_open_runs`` runs are open at
a time. That bound is on whole independent runs, never on tree nodes, so it
cannot deadlock (no run waits for another), and it is kept well above the call
concurrency so that it does not limit throughput on a model endpoint.

An interrupted batch is continued with ``resume=True``: a transcript that
already ended ``ok`` is read back instead of run again, and one that was cut
short is kept (renamed ``*.cut.jsonl``) and resumed from (its recorded calls are
given back, not repeated).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hch.app.runtime import answer_spec, open_model_client, prompts_for, settings_of
from hch.app.spec import RunSpec, build_model, needs_llm
from hch.errors import UsageError
from hch.executor import RunResult
from hch.protocols import Model
from transcripts.events import JSONValue, NodeAnswer
from transcripts.reader import TranscriptError, read_transcript

if TYPE_CHECKING:
    from hch.llm.client import LLMClient
    from hch.llm.settings import LLMSettings

DEFAULT_OPEN_RUNS = 64
"""Runs open at once by default (each holds a transcript file and its writer thread)."""

ModelBuilder = Callable[[RunSpec, "LLMClient | None"], Model]
"""From a spec (and the batch's client, if it has one) to the tree: :func:`hch.app.spec.build_model` by default."""


@dataclass(frozen=True)
class BatchResult:
    """One question of a batch: its spec, transcript, and result or error."""

    index: int
    spec: RunSpec
    transcript: Path
    result: RunResult | None
    error: str | None = None
    """How the run failed (``Type: message``), if it did."""
    reused: bool = False
    """The result was read back from a finished transcript (``resume=True``), not run."""

    @property
    def answer(self) -> str | None:
        return self.result.answer if self.result is not None else None


@dataclass(frozen=True)
class Batch:
    """An open batch: the shared client (None when no spec needs a model) and what the headers say served it."""

    client: LLMClient | None
    header: dict[str, JSONValue]


@asynccontextmanager
async def open_batch(
    specs: Sequence[RunSpec],
    *,
    settings: LLMSettings | None = None,
    notify: Callable[[str], None] | None = None,
) -> AsyncIterator[Batch]:
    """One model client for every spec that needs one (they must agree on the model settings).

    Open it once and call :func:`run_batch` as many times as needed (an
    operator's rounds share one client, and the embedded server starts once).
    """
    needing = [s for s in specs if needs_llm(s)]
    if not needing and settings is None:
        yield Batch(None, {})
        return
    if len({s.llm for s in needing}) > 1:
        raise UsageError("the questions of one batch must use the same model settings")
    chosen = settings or settings_of(needing[0])
    async with open_model_client(chosen, notify=notify) as opened:
        yield Batch(opened.client, opened.header)


async def run_batch(
    specs: Sequence[RunSpec],
    folder: Path,
    *,
    batch: Batch | None = None,
    names: Sequence[str] | None = None,
    settings: dict[str, JSONValue] | None = None,
    build: ModelBuilder | None = None,
    on_result: Callable[[BatchResult], None] | None = None,
    max_open_runs: int | None = None,
    resume: bool = False,
) -> list[BatchResult]:
    """Run every spec concurrently, each with its own transcript ``folder/<name>.jsonl``; results in order.

    ``batch`` is an open :func:`open_batch` (one is opened for this call if
    None); ``names`` are the transcripts' file stems (default ``00000``, ...);
    ``settings`` are added to every header (an operator's name and round, say)
    next to ``spec``. ``max_open_runs`` bounds the runs open at once (default:
    :data:`DEFAULT_OPEN_RUNS`, or four times the call concurrency if more).
    A run that fails is reported in its result (the others go on); bad input
    (a :class:`UsageError`) or an interruption stops the batch, and every
    transcript written so far stays on disk.
    """
    if names is not None and len(names) != len(specs):
        raise ValueError(f"{len(names)} names for {len(specs)} specs")
    if max_open_runs is not None and max_open_runs < 1:
        raise UsageError(f"at most {max_open_runs} open runs: must be at least 1")
    stems = list(names) if names is not None else [f"{i:05d}" for i in range(len(specs))]
    if len(set(stems)) != len(stems):
        raise UsageError("two questions of the batch would share a transcript name")
    if batch is None:
        async with open_batch(specs) as opened:
            return await run_batch(
                specs,
                folder,
                batch=opened,
                names=stems,
                settings=settings,
                build=build,
                on_result=on_result,
                max_open_runs=max_open_runs,
                resume=resume,
            )
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    builder: ModelBuilder = build or (lambda spec, llm: build_model(spec, llm=llm))
    # By default far above the call concurrency, so the limit on open runs never idles the model client.
    # Given explicitly it is used as is: 1 runs the questions one after another (one terminal for a person).
    limit = asyncio.Semaphore(max_open_runs or max(DEFAULT_OPEN_RUNS, 4 * _concurrency(batch)))
    results: list[BatchResult | None] = [None] * len(specs)

    async def one(index: int) -> None:
        spec = specs[index]
        path = folder / f"{stems[index]}.jsonl"
        async with limit:
            done = await _run_one(index, spec, path, batch, builder, settings or {}, resume)
        results[index] = done
        if on_result is not None:
            on_result(done)

    async with asyncio.TaskGroup() as group:
        for index in range(len(specs)):
            group.create_task(one(index))
    return [r for r in results if r is not None]


def _concurrency(batch: Batch) -> int:
    return batch.client.settings.concurrency if batch.client is not None else 1


async def _run_one(
    index: int,
    spec: RunSpec,
    path: Path,
    batch: Batch,
    builder: ModelBuilder,
    extra: dict[str, JSONValue],
    resume: bool,
) -> BatchResult:
    llm = batch.client if needs_llm(spec) else None
    model = builder(spec, llm)
    header = {**extra, "spec": spec.model_dump(mode="json"), **(batch.header if llm is not None else {})}
    prompts = prompts_for(spec)
    if resume and await asyncio.to_thread(path.exists):
        finished = await asyncio.to_thread(finished_result, path)
        if finished is not None:
            return BatchResult(index, spec, path, finished, reused=True)
        return await _resume_cut(index, spec, path, model, prompts, header)
    try:
        result = await answer_spec(model, spec, transcript=path, settings=header, prompts=prompts)
    except (UsageError, asyncio.CancelledError):
        raise
    except Exception as exc:  # one failed run is a result; the batch goes on
        return BatchResult(index, spec, path, None, error=f"{type(exc).__name__}: {exc}")
    return BatchResult(index, spec, path, result)


async def _resume_cut(
    index: int, spec: RunSpec, path: Path, model: Model, prompts: dict[str, str], header: dict[str, JSONValue]
) -> BatchResult:
    from hch.app.replay import resume_run

    kept = path.with_name(path.stem + ".cut.jsonl")
    if await asyncio.to_thread(kept.exists):
        raise UsageError(f"{kept} already exists: an earlier resume of {path} was interrupted; move one of them away")
    await asyncio.to_thread(path.rename, kept)
    try:
        original = await asyncio.to_thread(read_transcript, kept)
    except TranscriptError:
        # Not even a header survived: nothing to give back, run it afresh.
        original = None
    try:
        if original is None:
            result = await answer_spec(model, spec, transcript=path, settings=header, prompts=prompts)
        else:
            result = (await resume_run(original, model, transcript=path, prompts=prompts)).result
    except (UsageError, asyncio.CancelledError):
        raise
    except Exception as exc:
        return BatchResult(index, spec, path, None, error=f"{type(exc).__name__}: {exc}")
    return BatchResult(index, spec, path, result)


def finished_result(path: Path) -> RunResult | None:
    """The result a transcript that ended ``ok`` records (None if it did not finish so)."""
    try:
        transcript = read_transcript(path)
    except TranscriptError:
        return None
    end = transcript.end
    if end is None or end.status != "ok" or end.answer is None:
        return None
    root = next((e for e in transcript.events if isinstance(e, NodeAnswer) and e.node_id == "0"), None)
    return RunResult(answer=end.answer, transcript=path, counts=dict(end.stats), spent=root.spent if root else 0)


def failed(results: Sequence[BatchResult]) -> list[BatchResult]:
    """The runs of a batch that did not finish."""
    return [r for r in results if r.result is None]


__all__ = [
    "DEFAULT_OPEN_RUNS",
    "Batch",
    "BatchResult",
    "failed",
    "finished_result",
    "open_batch",
    "run_batch",
]
