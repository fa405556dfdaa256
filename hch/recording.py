"""Record or replay: the one path every call that leaves the engine takes.

A model call, an oracle lookup and a person's input are each recorded as one
event of the node that made it (``model_call``, ``oracle_call``,
``human_input``), keyed by a hash of the request. A replayed or resumed run is
given those records (:class:`~hch.playback.Playback`); :func:`record_or_replay`
is the only code that takes from them, so every kind of call, present and
future (ratings, comparisons, verdicts, reward-model scores), replays by the
same rules:

- a recorded result is given back, and recorded again as this run's event;
- in a strict replay, a call that was not recorded is a
  :class:`~hch.playback.Divergence` (raised by :meth:`Playback.take`, before
  anything reaches the network or the terminal): nothing was recorded for that
  request, or the request changed;
- otherwise (a fresh run, a resume's unrecorded calls) the call is made live and
  its event recorded.

A new kind of call (a person's rating, a reward model served over the network)
gets an event type with ``node_id`` and ``request_hash`` in
:mod:`transcripts.events`, is added to :data:`hch.playback.Recorded`, and calls
:func:`record_or_replay` with the hash of its request, a ``live`` that makes the
call and returns its event, and a ``replayed`` that turns a recorded event into
this node's. Events derived from recorded calls (an approval, a debate verdict,
reward scores of a local model) are computed again on replay and need none of this.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar, get_args

from hch.node import Node
from hch.playback import Recorded

E = TypeVar("E", bound=Recorded)

_KINDS: dict[type[object], str] = {cls: cls.model_fields["kind"].default for cls in get_args(Recorded)}
"""Each recorded event type's ``kind`` tag, read once (pydantic's ``model_fields`` costs microseconds a call)."""


class CallFailed(Exception):
    """A live call failed, and what happened is worth recording.

    The live side of :func:`record_or_replay` raises this instead of recording
    the failure itself: ``event`` is recorded, then ``error`` is raised in its
    place (a cancellation stays a cancellation).
    """

    def __init__(self, event: Recorded, error: BaseException) -> None:
        super().__init__(str(error))
        self.event = event
        self.error = error


async def record_or_replay(
    node: Node,
    kind: type[E],
    key: str,
    live: Callable[[], Awaitable[E]],
    replayed: Callable[[E], E | None],
) -> E:
    """The event of one call of ``node``: given back from the playback if recorded, else made live; recorded either way.

    ``key`` is the request's hash (:func:`transcripts.chain.request_hash`);
    ``live`` makes the call and returns its event (or raises :class:`CallFailed`);
    ``replayed`` turns a recorded event into this node's event, or returns None
    when the record cannot be given back (then the call is made live).
    Raises :class:`~hch.playback.Divergence` when a strict replay meets a call
    the transcript did not record.
    """
    playback = node.run.playback
    if playback is not None:
        record = playback.take(node.node_id, _KINDS[kind], key)
        if isinstance(record, kind):
            event = replayed(record)
            if event is not None:
                node.emit(event)
                return event
    try:
        event = await live()
    except CallFailed as failed:
        node.emit(failed.event)
        error = failed.error
    else:
        node.emit(event)
        return event
    # Raised outside the handler, so the error keeps its own cause and context.
    raise error
