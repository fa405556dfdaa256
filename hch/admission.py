"""How many nodes of a run may be working at once.

A wide tree whose calls are slow would otherwise start every one of its nodes
before the first answer comes back, each with its task, coroutine frames and
bookkeeping alive: memory grows with the tree, not with the work in flight.

:class:`Admission` bounds the nodes that are *working alone* (making their own
calls, or about to ask). A node takes a slot before it starts and gives it
back as soon as it asks subquestions or finishes, whichever comes first. So a
slot holder never waits for another node, and no tree, however deep, can
deadlock on the limit (the pitfall of a plain semaphore around nodes: parents
holding every slot while their children wait for one). Waiting children are
admitted deepest first, so the tree is explored depth first and the nodes
waiting on subquestions stay few.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

DEFAULT_MAX_WORKING = 10_000
"""High enough that model-call concurrency, not this, bounds the speed of any
tree whose calls take under a second; low enough that a wide tree with slow
calls stays within tens of MB."""


class Admission:
    """Slots for nodes working alone; waiters are served deepest first."""

    def __init__(self, limit: int = DEFAULT_MAX_WORKING) -> None:
        if limit < 1:
            raise ValueError(f"admission limit must be at least 1, got {limit}")
        self.limit = limit
        self._holders: set[str] = set()
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._granted = 0
        """Slots handed to waiters that have not resumed yet."""

    @property
    def working(self) -> int:
        """Nodes holding a slot now."""
        return len(self._holders)

    async def enter(self, node_id: str, depth: int) -> None:
        """Wait for a slot for ``node_id`` (at ``depth`` from the root)."""
        if len(self._holders) + self._granted < self.limit and not self._waiting:
            self._holders.add(node_id)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (-depth, next(self._order), waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._granted -= 1
                self._hand_on()  # granted just as it was cancelled: pass the slot on
            raise
        self._granted -= 1
        self._holders.add(node_id)

    def release(self, node_id: str) -> None:
        """Give back ``node_id``'s slot, if it holds one (safe to call more than once)."""
        if node_id in self._holders:
            self._holders.discard(node_id)
            self._hand_on()

    def _hand_on(self) -> None:
        """A slot came free: grant it to the deepest live waiter."""
        while self._waiting:
            _, _, waiter = heapq.heappop(self._waiting)
            if not waiter.done():
                self._granted += 1
                waiter.set_result(None)
                return
