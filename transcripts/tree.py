"""Rebuilding the tree of a run from its events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from transcripts.events import (
    Event,
    NodeAnswer,
    NodeError,
    NodeStart,
    Refusal,
    Reuse,
)


@dataclass
class TreeNode:
    """One node of a rebuilt run: a worked node, or a reused or refused subquestion."""

    node_id: str
    question: str
    status: Literal["worked", "reused", "refused"] = "worked"
    parent_id: str | None = None
    level: int | None = None
    budget: int | None = None
    worker: str | None = None
    answer: str | None = None
    spent: int | None = None
    token_budget: int | None = None
    """Model tokens the node was handed (None: unbounded)."""
    tokens_spent: int | None = None
    """Model tokens its subtree spent (None until it answered)."""
    error: str | None = None
    source_id: str | None = None
    """For a reused node: the node whose answer it shares."""
    reason: str | None = None
    """For a refused node: why it was refused."""
    events: list[Event] = field(default_factory=list)
    children: list[TreeNode] = field(default_factory=list)

    def walk(self) -> list[TreeNode]:
        """This node and all below it, depth first (a loop: trees may be deeper than Python's recursion limit)."""
        out: list[TreeNode] = []
        stack = [self]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out


def build_tree(events: list[Event]) -> TreeNode | None:
    """The root of the tree described by ``events`` (None if no node started)."""
    nodes: dict[str, TreeNode] = {}
    root: TreeNode | None = None

    def attach(node: TreeNode) -> None:
        nonlocal root
        nodes[node.node_id] = node
        if node.parent_id is None:
            root = node
        elif node.parent_id in nodes:
            nodes[node.parent_id].children.append(node)

    for event in events:
        if isinstance(event, NodeStart):
            attach(
                TreeNode(
                    node_id=event.node_id,
                    question=event.question,
                    parent_id=event.parent_id,
                    level=event.level,
                    budget=event.budget,
                    worker=event.worker,
                    token_budget=event.token_budget,
                )
            )
        elif isinstance(event, Reuse):
            attach(
                TreeNode(
                    node_id=event.child_id,
                    question=event.question,
                    status="reused",
                    parent_id=event.node_id,
                    source_id=event.source_id,
                )
            )
        elif isinstance(event, Refusal):
            attach(
                TreeNode(
                    node_id=event.child_id,
                    question=event.question,
                    status="refused",
                    parent_id=event.node_id,
                    reason=event.reason,
                )
            )
        node_id = getattr(event, "node_id", None)
        if node_id in nodes and not isinstance(event, Reuse | Refusal):
            target = nodes[node_id]
            target.events.append(event)
            if isinstance(event, NodeAnswer):
                target.answer, target.spent, target.tokens_spent = event.answer, event.spent, event.tokens_spent
            elif isinstance(event, NodeError):
                target.error = f"{event.error_type}: {event.message}"
    for node in nodes.values():
        if node.status == "reused" and node.source_id in nodes:
            node.answer = nodes[node.source_id].answer
    return root
