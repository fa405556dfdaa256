"""Budgets of calls that a node hands down to its children.

A budget counts *calls*: every node worked (one overseer or base-model
invocation) costs one. A node's budget covers its whole subtree. When it asks
a batch of subquestions, what it has left is split evenly among them; what a
child does not spend comes back when the child finishes, so a later batch can
use it. Because a child can only spend what it was given, no subtree, and so no
run, can ever spend more than its allotment.

The split is a pure function of the overseer's sequence of asks, not of timing,
so a replayed run spends exactly what the original spent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Budget:
    """Calls a subtree may still spend. ``allotted=None`` means unbounded."""

    allotted: int | None
    spent: int = 0
    reserved: int = 0

    @property
    def left(self) -> int | None:
        """Calls not yet spent or handed to running children (None: unbounded)."""
        if self.allotted is None:
            return None
        return self.allotted - self.spent - self.reserved

    def can_spend(self, calls: int) -> bool:
        left = self.left
        return left is None or left >= calls

    def charge(self, calls: int = 1) -> None:
        """Spend ``calls`` on this node's own work."""
        if not self.can_spend(calls):
            raise AssertionError(f"budget overdrawn: {calls} call(s) with {self.left} left")
        self.spent += calls

    def split(self, children: int) -> int | None:
        """Reserve an equal share for each of ``children`` and return the share."""
        left = self.left
        if left is None:
            return None
        share = left // children
        if share < 1:
            raise AssertionError(f"cannot split {left} call(s) among {children} children")
        self.reserved += share * children
        return share

    def settle(self, share: int | None, used: int) -> None:
        """A child given ``share`` finished having spent ``used``: release the rest."""
        if share is not None:
            self.reserved -= share
        self.spent += used
