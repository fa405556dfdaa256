"""Budgets that a node hands down to its children: of calls, and of tokens.

A budget counts units of one kind, and every node carries two:

- **calls**: every node worked (one overseer or base-model invocation) costs
  one, charged when the node starts;
- **tokens**: every model call reserves what it may cost before it starts
  (its ``max_tokens`` plus a bound on its prompt, see :mod:`hch.llm.tokens`)
  and settles with what it did cost once it ends. A call that does not fit is
  not made, and its node answers without it.

A node's budget covers its whole subtree. When it asks a batch of
subquestions, what it has left (less what it keeps for its own later calls) is
split evenly among them; what a child does not spend comes back when the child
finishes, so a later batch, or the node's own next call, can use it. A model
call is settled the same way as a child: it is handed its reservation and
gives back what it did not use. Because nothing spends more than it was handed,
no subtree, and so no run, can ever spend more than its allotment.

The split is a pure function of the overseer's sequence of asks and of what
earlier work cost, not of timing, so a replayed run (whose calls cost what the
recorded ones did) spends exactly what the original spent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Budget:
    """Units (calls or tokens) a subtree may still spend. ``allotted=None`` means unbounded."""

    allotted: int | None
    spent: int = 0
    reserved: int = 0

    @property
    def left(self) -> int | None:
        """Units not yet spent or handed to work in flight (None: unbounded)."""
        if self.allotted is None:
            return None
        return self.allotted - self.spent - self.reserved

    def can_spend(self, units: int) -> bool:
        left = self.left
        return left is None or left >= units

    def charge(self, units: int = 1) -> None:
        """Spend ``units`` on this node's own work."""
        if not self.can_spend(units):
            raise AssertionError(f"budget overdrawn: {units} unit(s) with {self.left} left")
        self.spent += units

    def reserve(self, units: int) -> bool:
        """Hand ``units`` to work about to start (settled by :meth:`settle`); False if they do not fit.

        Nothing is reserved when they do not fit: the work must not start.
        """
        if units < 0:
            raise ValueError(f"cannot reserve {units} unit(s)")
        if not self.can_spend(units):
            return False
        self.reserved += units
        return True

    def room(self, each: int = 1, *, keeping: int = 0) -> int | None:
        """The most children that can each be handed ``each`` units once ``keeping`` is kept back.

        None: no limit (an unbounded budget, or nothing to hand each). This is
        the rule :meth:`split` enforces, for overseers to read before they ask
        (``Workspace.room``).
        """
        left = self.left
        if left is None:
            return None
        available = left - keeping
        if available < 0:
            return 0
        return None if each <= 0 else available // each

    def share(self, children: int, *, keeping: int = 0) -> int | None:
        """What :meth:`split` would hand each of ``children`` once ``keeping`` is reserved; reserves nothing."""
        left = self.left
        return None if left is None else max(left - keeping, 0) // children

    def split(self, children: int, *, minimum: int = 1) -> int | None:
        """Reserve an equal share for each of ``children`` and return the share.

        A share below ``minimum`` is a caller's bug (check :meth:`room` first):
        a child given no call could not even be worked; a child may be given no
        tokens, and then answers without any model call.
        """
        share = self.share(children)
        if share is None:
            return None
        if share < minimum:
            raise AssertionError(f"cannot split {self.left} unit(s) among {children} children")
        self.reserved += share * children
        return share

    def settle(self, share: int | None, used: int) -> None:
        """Work handed ``share`` (a child, a model call) finished having spent ``used``: release the rest.

        ``used`` is what the work did cost, even in the (server-side) event that it
        is more than ``share``: a budget reports what was spent, never less.
        """
        if share is not None:
            self.reserved -= share
        self.spent += used
