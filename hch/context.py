"""State shared by every node of one run."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from hch.playback import Playback
from transcripts.events import Event, ModelCall
from transcripts.writer import TranscriptWriter

MemoKey = tuple[str, int, int | None]
"""(subquestion, level of the model asked, budget handed down): what makes two
subquestions the same computation."""


@dataclass(frozen=True)
class Shared:
    """A subtree that identical subquestions share: its node id and eventual answer."""

    node_id: str
    answer: asyncio.Future[str]


@dataclass
class RunContext:
    """The transcript, the single-flight table, per-node limits and counters of one run."""

    writer: TranscriptWriter
    max_subquestions: int
    playback: Playback | None = None
    """Recorded call results to give back (replay, resume); None for a fresh run."""
    memo: dict[MemoKey, Shared] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    def emit(self, event: Event) -> None:
        self.counts[event.kind] += 1
        if isinstance(event, ModelCall):
            self.counts[f"model_call:{event.source}"] += 1
        self.writer.emit(event)
