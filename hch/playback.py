"""Handing recorded call results back to a run (replay and resume).

Every call that leaves the engine (a model call, an oracle lookup, a person's
input) is recorded with its node id and a hash of its request. A later run of
the same tree can be given those records: every call asks
:meth:`Playback.take` before doing the real thing, through
:func:`hch.recording.record_or_replay` (the one place that takes from a playback). A replay is strict (a call
that was not recorded is a divergence: nothing reaches the network or the
terminal); a resume is not (what was recorded is reused, the rest runs live).

Records are matched by (node id, kind, request hash) and consumed in order, so
a node that makes the same request twice gets the two recorded results in the
order they happened. When identical subquestions are shared, which of the
asking nodes works the shared subtree depends on which asked first, and so on
timing: the same request may then come from a different node id than was
recorded. A request with no record at its own node therefore takes an unused
record of the same request from any node.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast, get_args

from hch.errors import HCHError
from transcripts.events import Event, HumanInput, ModelCall, NodeAnswer, OracleCall, Reuse

Recorded = ModelCall | OracleCall | HumanInput
"""The events that record a call leaving the engine: the one list of them (a new kind
of recorded call is added here, and goes through :func:`hch.recording.record_or_replay`)."""
_RECORDED: frozenset[type[Event]] = frozenset(get_args(Recorded))


class Divergence(HCHError):
    """A replayed run asked for something the transcript did not record."""

    def __init__(self, node_id: str, kind: str, detail: str) -> None:
        super().__init__(f"divergence at node {node_id}: {kind} {detail}")
        self.node_id = node_id
        self.kind = kind
        self.detail = detail


@dataclass
class Playback:
    """Recorded results of an earlier run of the same tree."""

    strict: bool
    """True for replay (a miss is a :class:`Divergence`), False for resume."""
    _records: dict[tuple[str, str, str], deque[Recorded]] = field(default_factory=lambda: defaultdict(deque))
    _by_request: dict[tuple[str, str], deque[Recorded]] = field(default_factory=lambda: defaultdict(deque))
    _used: set[int] = field(default_factory=set)
    _reuses: dict[str, str] = field(default_factory=dict)
    """Recorded single-flight decisions: child id -> id of the node whose answer it shared."""
    _answers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_events(cls, events: Iterable[Event], *, strict: bool) -> Playback:
        playback = cls(strict=strict)
        records, by_request = playback._records, playback._by_request
        for event in events:
            # By exact type (events are final classes): isinstance against the union of
            # recorded kinds, per event, cost more than the indexing itself.
            if type(event) in _RECORDED:
                record = cast(Recorded, event)
                if type(record) is ModelCall and record.error is not None:
                    continue  # a failed call has no result to give back
                records[(record.node_id, record.kind, record.request_hash)].append(record)
                by_request[(record.kind, record.request_hash)].append(record)
            elif type(event) is NodeAnswer:
                playback._answers[event.node_id] = event.answer
            elif type(event) is Reuse:
                playback._reuses[event.child_id] = event.source_id
        return playback

    @property
    def consumed(self) -> int:
        """Recorded results given back so far."""
        return len(self._used)

    def reuse_plan(self, child_id: str) -> tuple[str, str | None] | None:
        """How the recorded run shared ``child_id``: (source id, its recorded answer).

        Which of several identical subquestions is worked and which share its
        answer depends on timing; a replay or resume follows the recording
        (see :meth:`hch.workspace.Workspace`). None: not recorded as shared,
        or (strict) shared with a node whose answer was not recorded.
        """
        source = self._reuses.get(child_id)
        if source is None:
            return None
        answer = self._answers.get(source)
        if answer is None and self.strict:
            return None
        return source, answer

    def take(self, node_id: str, kind: str, request_hash: str) -> Recorded | None:
        """The next recorded result for this call, or None to make it live (resume only)."""
        record = self._first_unused(self._records.get((node_id, kind, request_hash)))
        if record is None:  # the same request from any node (see the module's docstring)
            record = self._first_unused(self._by_request.get((kind, request_hash)))
        if record is not None:
            return record
        if self.strict:
            others = sum(len(q) for (n, k, _), q in self._records.items() if n == node_id and k == kind)
            detail = f"request {request_hash[:12]} was not recorded" + (
                f" (the node recorded {others} other {kind} request(s): the request changed)" if others else ""
            )
            raise Divergence(node_id, kind, detail)
        return None

    def _first_unused(self, queue: deque[Recorded] | None) -> Recorded | None:
        """The first record of ``queue`` not given back yet (each is queued twice: by node and by request)."""
        while queue:
            record = queue.popleft()
            if id(record) not in self._used:
                self._used.add(id(record))
                return record
        return None
