"""A node of the tree, as seen by whoever works it."""

from __future__ import annotations

from dataclasses import dataclass

from hch.budget import Budget
from hch.context import RunContext
from transcripts.events import Event


@dataclass(frozen=True)
class Node:
    """One question being worked, with its place in the tree and its bounds."""

    node_id: str
    parent_id: str | None
    question: str
    level: int
    """Amplification levels below this node: 0 means the base model answers it."""
    ancestors: tuple[str, ...]
    """Questions of the nodes above, root first."""
    budget: Budget
    run: RunContext

    @property
    def depth(self) -> int:
        """Distance from the root (the root is at depth 0)."""
        return len(self.ancestors)

    def emit(self, event: Event) -> None:
        """Record ``event`` in the run's transcript."""
        self.run.emit(event)
