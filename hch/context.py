"""State shared by every node of one run."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from hch.admission import Admission
from hch.playback import Playback
from hch.protocols import Recorder
from transcripts.events import Event, ModelCall

MemoKey = tuple[str, int, int | None]
"""(subquestion, level of the model asked, budget handed down): what makes two
subquestions the same computation."""


class Shared:
    """A subtree that identical subquestions share: its node id and eventual answer.

    Like a future, but one is made only when someone waits while the answer
    is still coming: most subtrees are never shared, and the single-flight
    table keeps an entry for every subtree of the run.
    """

    __slots__ = ("_failure", "_waiters", "answer", "node_id")

    def __init__(self, node_id: str, answer: str | None = None) -> None:
        self.node_id = node_id
        self.answer = answer
        self._failure: BaseException | None = None
        self._waiters: asyncio.Future[str] | None = None

    def done(self) -> bool:
        return self.answer is not None or self._failure is not None

    def set_result(self, answer: str) -> None:
        self.answer = answer
        if self._waiters is not None:
            self._waiters.set_result(answer)

    def set_failure(self, exc: BaseException) -> None:
        """The subtree failed (or, with a CancelledError, was stopped): waiters get ``exc``."""
        self._failure = exc
        if self._waiters is not None:
            if isinstance(exc, asyncio.CancelledError):
                self._waiters.cancel()
            else:
                self._waiters.set_exception(exc)
                self._waiters.exception()  # mark retrieved: the error travels up the working branch

    async def wait(self) -> str:
        """The answer, once the subtree has one (a waiter's cancellation does not cancel the subtree)."""
        if self.answer is not None:
            return self.answer
        if self._failure is not None:
            raise self._failure
        if self._waiters is None:
            self._waiters = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self._waiters)


@dataclass
class RunContext:
    """The transcript, the single-flight table, per-node limits and counters of one run."""

    writer: Recorder
    """Where the run's events go (the transcript file's writer, in a real run)."""
    max_subquestions: int
    playback: Playback | None = None
    """Recorded call results to give back (replay, resume); None for a fresh run."""
    memo: dict[MemoKey, Shared] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    admission: Admission = field(default_factory=Admission)
    """Bounds the nodes working at once (see :mod:`hch.admission`)."""

    def emit(self, event: Event) -> None:
        self.counts[event.kind] += 1
        if isinstance(event, ModelCall):
            self.counts[f"model_call:{event.source}"] += 1
        self.writer.emit(event)
