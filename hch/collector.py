"""The garbage collector, tuned for the length of a run.

A run builds a large, mostly acyclic graph of objects (nodes, events, futures)
that lives until the run ends. CPython's generational collector keeps rescanning
it: a young collection every 700 net allocations, and full ones as the old
generation grows, so the time per node grows with the tree (a 111k-node tree ran
in 0.58x the time with the collector off). During a run:

- everything alive before it (modules, classes, the caller's data) is moved to
  the permanent generation with :func:`gc.freeze`, so no collection scans it;
- the young generation's threshold is raised to 200,000 allocations, so cycles
  are still collected (memory stays bounded) but far less often.

The threshold counts allocations net of frees, so it is reached by growth of
the live set, and a run's live set grows all along (its working nodes, up to
10,000 with their tasks and frames, see :mod:`hch.admission`, and a
single-flight entry per node). Every young collection scans what survived
since the last, and a 111k-node tree makes no reference cycles, so each finds
nothing: in one measured run, 38 collections took 15% of the tree's CPU at
50,000 and 7 took 5% at 200,000, at the same peak memory
(benchmarks/memory.py). The gain depends on timing: a free lowers the count
only while it is above zero, so frees that come in a burst just after a
collection (thousands of leaves answering in one turn of the loop) are lost,
and under heavy load the same tree made as many collections at either
threshold. The price: garbage cycles from other code (an HTTP client,
exceptions) may wait for up to 200,000 net allocations, some tens of MB at worst.

Both are undone when the last of any nested or concurrent runs ends. Reference
counting frees acyclic garbage at once either way; only cycles wait longer.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

RUN_THRESHOLD0 = 200_000
"""Net allocations between young collections during a run (CPython's default is 700)."""


class _State:
    depth = 0
    saved: tuple[int, ...] = ()


def enter_run() -> None:
    """Tune the collector for a run (the outermost of nested or concurrent runs does it)."""
    if _State.depth == 0:
        _State.saved = gc.get_threshold()
        gc.freeze()
        if _State.saved[0]:  # 0 means the collector is off: leave it off
            gc.set_threshold(max(_State.saved[0], RUN_THRESHOLD0), *_State.saved[1:])
    _State.depth += 1


def leave_run() -> None:
    """Undo :func:`enter_run` when the last run ends."""
    _State.depth -= 1
    if _State.depth == 0:
        gc.set_threshold(*_State.saved)
        gc.unfreeze()


def off_until_exit() -> None:
    """Turn the collector off for the rest of the process: for a command that ends with its
    run and whose work is bounded by a file it reads (``hch replay``).

    Everything alive now is frozen, and no collection runs until the process exits.
    Such a command builds a large graph that lives to the end (the events read, the
    run, the events it wrote) and makes almost no garbage cycles (5 objects in a
    19,000-event replay), so collections find nothing: at the run's threshold a
    replay of that size still makes two, a twentieth of its CPU, and leaving a run's
    tuning makes CPython's thresholds rescan it all just before the exit frees it.
    Runs inside it nest (:func:`enter_run` does nothing while the collector is off).
    """
    gc.freeze()
    gc.disable()
    _State.depth += 1  # a run inside never undoes it


def leave_to_exit(*objects: object) -> None:
    """Leave ``objects`` to the end of the process: a command that has printed its result
    need not free what it built, one object at a time, just before the process exits.

    Freeing a 19,000-event replay's two transcripts and report took a twentieth of
    its time. They are held by a reference cycle that only the collector could free,
    and frozen, so that nothing frees them: not the collector, nor the interpreter's
    last collection at exit (it skips frozen objects). The process's memory is
    returned at once when it exits. For a process that is about to end: anything
    left this way is never freed.
    """
    held: list[object] = [*objects]
    held.append(held)
    gc.freeze()


@contextmanager
def collector_tuned() -> Iterator[None]:
    """:func:`enter_run` for the block."""
    enter_run()
    try:
        yield
    finally:
        leave_run()
