"""How many model calls a run keeps in flight: at most the user's limit, less while the endpoint says 429.

A rate-limited endpoint should slow a run down, not end it. :class:`AdaptiveLimit`
is the semaphore around model-call attempts (attempts only: never around tree
nodes, which would deadlock). It follows the additive-increase /
multiplicative-decrease rule of TCP and of inspect_ai's adaptive connections:

- a 429 cuts the limit by a quarter (at least by one, never below one), at most
  once per cool-down, since the calls of one rate-limit episode all fail together;
- every ``limit`` calls that succeed at their first attempt while no cool-down
  runs raise it by one, back up to the ceiling the user set (``--concurrency``).

Calls already in flight when the limit drops finish; new attempts wait until
fewer than the new limit are in flight.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger("hch.llm")

DECREASE = 0.75
COOLDOWN_S = 5.0
"""Calls failing within this long of a cut belong to the same episode."""


class AdaptiveLimit:
    """An async context manager admitting at most :attr:`limit` holders, a limit 429s lower."""

    def __init__(self, ceiling: int, *, cooldown_s: float = COOLDOWN_S, clock: Callable[[], float] = time.monotonic):
        if ceiling < 1:
            raise ValueError(f"concurrency must be at least 1, got {ceiling}")
        self.ceiling = ceiling
        self.limit = ceiling
        self.in_flight = 0
        self.lowest = ceiling
        """The lowest the limit went (for reports)."""
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._cool_until = float("-inf")
        self._clean = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def __aenter__(self) -> None:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # the releaser counted us in
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # admitted just as we were cancelled: pass the place on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._release()

    def rate_limited(self) -> None:
        """The endpoint answered 429: lower the limit (once per episode)."""
        self._clean = 0
        now = self._clock()
        if now < self._cool_until:
            return
        self._cool_until = now + self._cooldown_s
        lowered = max(1, min(self.limit - 1, int(self.limit * DECREASE)))
        if lowered != self.limit:
            log.info("rate limited: model calls in flight %d -> %d", self.limit, lowered)
            self.limit = lowered
            self.lowest = min(self.lowest, lowered)

    def succeeded(self, *, first_attempt: bool) -> None:
        """A call succeeded; one that needed no retry counts toward raising the limit again."""
        if not first_attempt or self._clock() < self._cool_until or self.limit >= self.ceiling:
            return
        self._clean += 1
        if self._clean >= self.limit:
            self._clean = 0
            self.limit += 1
            self._wake()

    def _release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)
