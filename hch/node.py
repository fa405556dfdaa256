"""A node of the tree, as seen by whoever works it."""

from __future__ import annotations

from dataclasses import dataclass, field

from hch.budget import Budget
from hch.context import RunContext
from transcripts.events import Event


@dataclass(frozen=True, slots=True)
class Node:
    """One question being worked, with its place in the tree and its bounds.

    A node links to the node that asked it instead of copying the questions
    above it, so a deep tree costs memory in proportion to its nodes, not to
    their depths summed (the parent is alive anyway while its child works).
    """

    node_id: str
    parent_id: str | None
    question: str
    level: int
    """Amplification levels below this node: 0 means the base model answers it."""
    parent: Node | None
    """The node that asked this one (None at the root)."""
    budget: Budget
    """Calls this node's subtree may spend."""
    run: RunContext
    tokens: Budget = field(default_factory=lambda: Budget(None))
    """Model tokens this node's subtree may spend (unbounded unless the run has a token budget)."""
    depth: int = field(init=False)
    """Distance from the root (the root is at depth 0)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "depth", 0 if self.parent is None else self.parent.depth + 1)

    @property
    def ancestors(self) -> tuple[str, ...]:
        """Questions of the nodes above, root first."""
        return tuple(reversed([n.question for n in self._above()]))

    def in_lineage(self, question: str) -> bool:
        """Whether ``question`` (stripped) is this node's question or an ancestor's."""
        wanted = question.strip()
        # A plain loop up the parent links: called for every subquestion, so no list or generator.
        node: Node | None = self
        while node is not None:
            if node.question.strip() == wanted:
                return True
            node = node.parent
        return False

    def _above(self) -> list[Node]:
        # A loop, not recursion: trees may be deeper than Python's recursion limit.
        chain = []
        current = self.parent
        while current is not None:
            chain.append(current)
            current = current.parent
        return chain

    def emit(self, event: Event) -> None:
        """Record ``event`` in the run's transcript."""
        self.run.emit(event)
