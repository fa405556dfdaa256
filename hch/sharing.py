"""Which identical subquestions share one subtree (single-flight), and under which budgets.

Two subquestions with the same text asked of the same level are the same
computation *except* for the budgets handed down with them: a subtree given
more calls or tokens may do more work and answer differently. A subquestion
that finds the same question already asked shares that subtree's answer
(waiting for it if it is still being worked) when the subtree was handed, on
every budget, **no more than the asker would hand down itself**:

- it is *safe*: the shared answer is one the asker's own child could have
  computed within its allotment, so a budget still bounds what a subtree can
  learn, not only what it pays. (The asker pays nothing for a shared answer:
  the subtree is charged once, to the node that worked it, so the run's
  spending is bounded as before.) Sharing a subtree worked under a larger
  budget would let a node low on calls or tokens take the fruit of work it
  could never have afforded;
- it shares *as much as is safe*: any subtree the asker could have afforded is
  shared, not only one worked under exactly its budgets (which was the rule
  before token budgets, and which two budgets that rarely split evenly would
  have made rare). When several such subtrees exist, the one handed the most
  is shared, since it may have done the most work.

An unbounded budget (None) is larger than every number. Which subtree a
subquestion shares depends on what was asked first, and so on timing; a
replay or resume follows the recording (:meth:`hch.workspace.Workspace`), and
shares only by an exact match of budgets where the recording is silent, which
reproduces the recorded decisions (an exact match would have been shared in
the recorded run too).
"""

from __future__ import annotations

import asyncio

Bounds = tuple[int | None, int | None]
"""(calls, tokens) handed down with a subquestion; None: unbounded."""

UNBOUNDED: Bounds = (None, None)


class Shared:
    """A subtree that identical subquestions share: its node id and eventual answer.

    Like a future, but one is made only when someone waits while the answer
    is still coming: most subtrees are never shared, and the single-flight
    table keeps an entry for every subtree of the run.
    """

    __slots__ = ("_failure", "_waiters", "answer", "bounds", "node_id")

    def __init__(self, node_id: str, answer: str | None = None, bounds: Bounds = UNBOUNDED) -> None:
        self.node_id = node_id
        self.answer = answer
        self.bounds = bounds
        """The budgets the subtree was handed."""
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


def affordable(worked: Bounds, handed: Bounds) -> bool:
    """Whether a subtree worked under ``worked`` may answer a subquestion that would be handed ``handed``."""
    return all(h is None or (w is not None and w <= h) for w, h in zip(worked, handed, strict=True))


def _size(bounds: Bounds) -> tuple[float, float]:
    return (float("inf") if bounds[0] is None else bounds[0], float("inf") if bounds[1] is None else bounds[1])


class SingleFlight:
    """The subtrees of one run, by question and level: what identical subquestions share."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], list[Shared]] = {}

    def affordable(self, question: str, level: int, handed: Bounds) -> Shared | None:
        """The subtree handed the most among those worked under no more than ``handed``; None if none."""
        best: Shared | None = None
        for shared in self._entries.get((question, level), ()):
            if affordable(shared.bounds, handed) and (best is None or _size(shared.bounds) > _size(best.bounds)):
                best = shared
        return best

    def exact(self, question: str, level: int, handed: Bounds) -> Shared | None:
        """The subtree worked under exactly ``handed``, if any."""
        for shared in self._entries.get((question, level), ()):
            if shared.bounds == handed:
                return shared
        return None

    def named(self, question: str, level: int, node_id: str) -> Shared | None:
        """The entry whose subtree is (or will be) worked by ``node_id``, if any."""
        for shared in self._entries.get((question, level), ()):
            if shared.node_id == node_id:
                return shared
        return None

    def add(self, question: str, level: int, shared: Shared) -> None:
        self._entries.setdefault((question, level), []).append(shared)

    def replace(self, question: str, level: int, old: Shared, new: Shared) -> None:
        entries = self._entries[(question, level)]
        entries[entries.index(old)] = new

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._entries.values())
