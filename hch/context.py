"""State shared by every node of one run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hch.admission import Admission
from hch.playback import Playback
from hch.protocols import Recorder
from hch.sharing import SingleFlight
from transcripts.events import Event, ModelCall


@dataclass
class RunContext:
    """The transcript, the single-flight table, per-node limits and counters of one run."""

    writer: Recorder
    """Where the run's events go (the transcript file's writer, in a real run)."""
    max_subquestions: int
    playback: Playback | None = None
    """Recorded call results to give back (replay, resume); None for a fresh run."""
    memo: SingleFlight = field(default_factory=SingleFlight)
    """The subtrees identical subquestions share (see :mod:`hch.sharing`)."""
    counts: Counter[str] = field(default_factory=Counter)
    admission: Admission = field(default_factory=Admission)
    """Bounds the nodes working at once (see :mod:`hch.admission`)."""

    def emit(self, event: Event) -> None:
        self.counts[event.kind] += 1
        if isinstance(event, ModelCall):
            self.counts[f"model_call:{event.source}"] += 1
        self.writer.emit(event)
