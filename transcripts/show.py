"""Terminal views of a transcript: the whole tree, or one node in full.

:func:`render_tree` draws the run as a rich tree, one line per node: its id,
question and answer, who worked it, its calls, tokens and time.
:func:`render_node` shows one node's full detail: every call with its prompt
and response, its subquestions, and its children.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from transcripts.debate_view import render_debate, turn_line, verdict_line
from transcripts.diff import RunDiff
from transcripts.events import (
    Approval,
    Ask,
    DebateTurn,
    DebateVerdict,
    Event,
    Feedback,
    HumanInput,
    ModelCall,
    NodeAnswer,
    NodeError,
    NodeStart,
    OracleCall,
    RewardScores,
    RunEnd,
)
from transcripts.reader import Transcript
from transcripts.tree import TreeNode, build_tree


@dataclass(frozen=True)
class NodeStats:
    """What one node did by itself (its children not included)."""

    model_calls: int
    oracle_calls: int
    human_inputs: int
    tokens: int
    seconds: float | None
    """From start to answer or error (None if it never finished)."""

    @property
    def calls(self) -> int:
        return self.model_calls + self.oracle_calls + self.human_inputs


def node_stats(node: TreeNode) -> NodeStats:
    start = next((e.time for e in node.events if isinstance(e, NodeStart)), None)
    end = next((e.time for e in node.events if isinstance(e, NodeAnswer | NodeError)), None)
    model = [e for e in node.events if isinstance(e, ModelCall)]
    tokens = sum(
        e.usage.get("total_tokens", e.usage.get("prompt_tokens", 0) + e.usage.get("completion_tokens", 0))
        for e in model
    )
    return NodeStats(
        model_calls=len(model),
        oracle_calls=sum(isinstance(e, OracleCall) for e in node.events),
        human_inputs=sum(isinstance(e, HumanInput) for e in node.events),
        tokens=tokens,
        seconds=None if start is None or end is None else max(0.0, end - start),
    )


def token_budget_line(allotted: object, spent: int | None) -> str:
    """`` · token budget: S of A spent`` for a run with a token budget ("" without one)."""
    if not isinstance(allotted, int):
        return ""
    return f" · token budget: {'?' if spent is None else spent} of {allotted} spent"


def clip(text: str | None, limit: int = 100) -> str:
    """``text`` on one line, shortened to ``limit`` characters."""
    if text is None:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class ViewError(ValueError):
    """A view that cannot be drawn from this transcript (no nodes, no such node); the message says why.

    Its own class, not the engine's UsageError: this package imports nothing from ``hch``.
    """


def tree_of(transcript: Transcript) -> TreeNode:
    """The run's tree; raises :class:`ViewError` if the root never started."""
    root = build_tree(transcript.events)
    if root is None:
        raise ViewError(f"{transcript.path}: the run has no nodes (it stopped before the root started)")
    return root


def find_node(root: TreeNode, node_id: str) -> TreeNode:
    """The node ``node_id``; raises :class:`ViewError` naming ids that do exist."""
    for node in root.walk():
        if node.node_id == node_id:
            return node
    ids = [n.node_id for n in root.walk()]
    near = [i for i in ids if i.startswith(node_id.rsplit(".", 1)[0])][:8]
    raise ViewError(
        f"no node {node_id!r} in this run ({len(ids)} nodes; ids are tree positions like {', '.join(near)})"
    )


def _label(node: TreeNode, width: int) -> Text:
    text = Text()
    text.append(node.node_id, style="bold cyan")
    text.append("  ")
    text.append(clip(node.question, width), style="bold")
    if node.status == "reused":
        text.append("  ⇐ reused ", style="magenta")
        text.append(f"{node.source_id}", style="magenta")
        text.append(f"  → {clip(node.answer, width)}", style="green")
        return text
    if node.status == "refused":
        text.append(f"  ✗ {clip(node.reason, width)}", style="yellow")
        return text
    if node.error is not None:
        text.append(f"  ✗ {clip(node.error, width)}", style="red")
    elif node.answer is None:
        text.append("  … unfinished", style="yellow")
    else:
        text.append(f"  → {clip(node.answer, width)}", style="green")
    approvals = [e for e in node.events if isinstance(e, Approval)]
    if approvals:
        text.append(f"  ✓ approval {approvals[-1].approval:g} ({approvals[-1].verdict})", style="magenta")
    for feedback in (e for e in node.events if isinstance(e, Feedback)):
        text.append(f"  ◆ prefers {feedback.preferred} ({feedback.basis})", style="magenta")
    for scored in (e for e in node.events if isinstance(e, RewardScores)):
        text.append(f"  ★ best of {len(scored.candidates)} by reward", style="magenta")
    stats = node_stats(node)
    facts = [node.worker or "?"]
    if stats.model_calls:
        facts.append(f"{stats.model_calls} model")
    if stats.oracle_calls:
        facts.append(f"{stats.oracle_calls} oracle")
    if stats.human_inputs:
        facts.append(f"{stats.human_inputs} human")
    if stats.tokens:
        facts.append(f"{stats.tokens} tok")
    if stats.seconds is not None:
        facts.append(f"{stats.seconds:.2f}s")
    text.append("  [" + " · ".join(facts) + "]", style="dim")
    return text


NEST_LEVELS = 12
"""Levels drawn nested in one block; a deeper subtree continues in a block of its own."""


def render_tree(
    transcript: Transcript, *, max_depth: int | None = None, width: int = 80, label: Callable[[str], str] = str
) -> RenderableType:
    """The run as a tree, with a summary line above it; ``label`` names an option in a hint (``max_depth``)."""
    root = tree_of(transcript)
    header = transcript.header
    end = transcript.end
    summary = Text()
    summary.append("question ", style="bold")
    summary.append(header.question + "\n")
    summary.append("answer   ", style="bold")
    if isinstance(end, RunEnd):
        summary.append(f"{end.answer}" if end.status == "ok" else f"({end.status}) {end.error}")
    else:
        summary.append(f"(unfinished: {transcript.cut})", style="yellow")
    nodes = root.walk()
    worked = [n for n in nodes if n.status == "worked"]
    totals = [node_stats(n) for n in worked]
    summary.append(
        f"\nrun {header.run_id} · {header.created} · hch {header.hch_version} · "
        f"{len(worked)} nodes worked, {sum(n.status == 'reused' for n in nodes)} reused, "
        f"{sum(n.status == 'refused' for n in nodes)} refused · "
        f"{sum(t.calls for t in totals)} calls · {sum(t.tokens for t in totals)} tokens"
        + token_budget_line(header.settings.get("token_budget"), root.tokens_spent),
        style="dim",
    )
    tree = Tree(_label(root, width), guide_style="dim")

    blocks: list[RenderableType] = [tree]
    # A loop, not recursion: trees may be deeper than Python's recursion limit.
    stack: list[tuple[Tree, TreeNode, int]] = [(tree, root, 0)]
    while stack:
        branch, node, depth = stack.pop()
        if max_depth is not None and depth >= max_depth and node.children:
            branch.add(Text(f"… {len(node.walk()) - 1} nodes below ({label('max_depth')})", style="dim"))
            continue
        if depth and depth % NEST_LEVELS == 0 and node.children:
            # Indentation would push deeper levels off the screen: continue
            # this subtree in a block of its own below.
            branch.add(Text(f"↓ continued below (depth {depth})", style="dim"))
            branch = Tree(_label(node, width), guide_style="dim")
            blocks.extend((Text(f"subtree of {node.node_id} at depth {depth}:", style="dim"), branch))
        grown = [(branch.add(_label(child, width)), child, depth + 1) for child in node.children]
        stack.extend(reversed(grown))

    debate = render_debate(transcript.events)
    if debate is not None:
        blocks.extend((Text(""), debate))
    return Group(summary, Text(""), *blocks)


def _params(request: dict[str, Any]) -> str:
    """A request's parameters other than its messages, on one line (a response format by its kind)."""
    shown = []
    for key, value in request.items():
        if key == "messages":
            continue
        if key == "response_format" and isinstance(value, dict):
            inner = value.get("json_schema")
            name = inner.get("name") if isinstance(inner, dict) else None
            value = f"{value.get('type')}" + (f" ({name})" if name else "")
        shown.append(f"{key}={value}")
    return " · ".join(shown)


def _call_rows(events: list[Event]) -> Iterator[RenderableType]:
    for event in events:
        if isinstance(event, ModelCall):
            usage = event.usage
            tokens = (
                f" · {usage.get('total_tokens', '?')} tok ({usage.get('prompt_tokens', '?')} in, "
                f"{usage.get('completion_tokens', '?')} out)"
                if usage
                else ""
            )
            title = (
                f"model call · {event.purpose} · {event.source} · {event.latency_s:.2f}s{tokens}"
                f" · request {event.request_hash[:12]}"
            )
            parts: list[RenderableType] = []
            messages = event.request.get("messages")
            if isinstance(messages, list):
                for message in messages:
                    if isinstance(message, dict):
                        parts.append(Text(f"[{message.get('role', '?')}]", style="bold blue"))
                        parts.append(Text(str(message.get("content", ""))))
            parts.append(Text(f"params {_params(event.request)}", style="dim"))
            parts.append(Text("[response]", style="bold green"))
            parts.append(Text(event.response if event.response is not None else f"(failed: {event.error})"))
            if len(event.attempts) > 1:
                parts.append(Text(f"attempts {event.attempts}", style="dim"))
            yield Panel(Group(*parts), title=escape(title), title_align="left", border_style="blue")
        elif isinstance(event, OracleCall):
            yield Text.assemble(("oracle ", "bold"), f"{event.question} → ", (event.answer, "green"))
        elif isinstance(event, HumanInput):
            parts = [
                Text("[shown]", style="bold blue"),
                Text(event.shown),
                Text("[prompt] ", style="bold blue") + Text(event.prompt),
                Text("[typed]", style="bold green"),
                Text(event.typed),
            ]
            yield Panel(Group(*parts), title=f"person · {event.seconds:.1f}s", title_align="left", border_style="cyan")
        elif isinstance(event, Ask):
            yield Text.assemble(("asked ", "bold"), " | ".join(event.questions))
        elif isinstance(event, Approval):
            yield _approval_panel(event)
        elif isinstance(event, Feedback):
            yield _feedback_panel(event)
        elif isinstance(event, RewardScores):
            yield _scores_panel(event)
        elif isinstance(event, NodeError):
            yield Text(f"error {event.error_type}: {event.message}", style="red")
        elif isinstance(event, DebateTurn):
            yield turn_line(event)
        elif isinstance(event, DebateVerdict):
            yield verdict_line(event)


def _approval_panel(event: Approval) -> Panel:
    """What the overseer saw when it rated a candidate, and its approval."""
    parts: list[RenderableType] = [
        Text.assemble(("question  ", "bold"), event.question),
        Text.assemble(("candidate ", "bold"), event.candidate),
    ]
    for item in event.evidence:
        parts.append(
            Text.assemble(
                ("asked ", "bold"),
                f"{item.get('child_id', '?')} {item.get('subquestion', '')} → ",
                (item.get("answer", ""), "green"),
                (f" ({item['status']})" if item.get("status", "worked") != "worked" else "", "dim"),
            )
        )
    if event.overseer_answer is not None:
        parts.append(Text.assemble(("overseer's answer ", "bold"), event.overseer_answer))
    parts.append(Text.assemble(("reason ", "bold"), event.reason))
    title = f"approval {event.approval:g} · {event.verdict}"
    style = {"confirmed": "green", "refuted": "red"}.get(event.verdict, "yellow")
    return Panel(Group(*parts), title=escape(title), title_align="left", border_style=style)


def _feedback_panel(event: Feedback) -> Panel:
    """An RRM comparison: the two answers side by side, what was consulted, and the choice."""
    pair = Table(show_header=True, header_style="bold", expand=True)
    for side in ("A", "B"):
        pair.add_column(f"{side} (preferred)" if event.preferred == side else side)
    pair.add_row(Text(event.answer_a), Text(event.answer_b))
    parts: list[RenderableType] = [Text.assemble(("question ", "bold"), event.question), pair]
    for item in event.consulted:
        parts.append(
            Text.assemble(
                ("consulted ", "bold"),
                f"{item.get('child_id', '?')} {item.get('question', '')} → ",
                (item.get("answer", ""), "green"),
            )
        )
    title = f"feedback · prefers {event.preferred} · {event.basis}"
    return Panel(Group(*parts), title=escape(title), title_align="left", border_style="magenta")


def _scores_panel(event: RewardScores) -> Panel:
    """Best-of-n: each candidate with its reward-model score, the chosen one marked."""
    table = Table(show_header=True, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("candidate")
    table.add_column("reward", justify="right")
    for i, (candidate, score) in enumerate(zip(event.candidates, event.scores, strict=False)):
        mark = " ★" if i == event.chosen else ""
        table.add_row(f"{i}{mark}", Text(candidate), f"{score:.3f}")
    title = f"reward scores · model {event.reward_model[:19]}"
    return Panel(Group(Text(event.question), table), title=escape(title), title_align="left", border_style="magenta")


def render_node(transcript: Transcript, node_id: str) -> RenderableType:
    """One node in full: its facts, every call with prompt and response, and its children."""
    node = find_node(tree_of(transcript), node_id)
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("node", node.node_id)
    facts.add_row("question", node.question)
    facts.add_row("status", node.status)
    if node.parent_id is not None:
        facts.add_row("parent", node.parent_id)
    if node.status == "reused":
        facts.add_row("shares", f"node {node.source_id}")
    if node.status == "refused":
        facts.add_row("reason", node.reason or "")
    if node.worker is not None:
        facts.add_row("worked by", node.worker)
        facts.add_row("level", f"{node.level} (amplification levels below)")
        facts.add_row("budget", "unbounded" if node.budget is None else f"{node.budget} calls, spent {node.spent}")
        if node.token_budget is not None:
            facts.add_row("token budget", f"{node.token_budget} tokens, spent {node.tokens_spent}")
    facts.add_row("answer", node.answer if node.answer is not None else "(none)")
    if node.error:
        facts.add_row("error", node.error)
    stats = node_stats(node)
    facts.add_row(
        "calls",
        f"{stats.model_calls} model, {stats.oracle_calls} oracle, {stats.human_inputs} human · {stats.tokens} tokens"
        + (f" · {stats.seconds:.2f}s" if stats.seconds is not None else ""),
    )
    parts: list[RenderableType] = [facts, Text("")]
    parts.extend(_call_rows(node.events))
    if node.children:
        table = Table(title="children", title_justify="left", show_lines=False)
        for col in ("id", "status", "question", "answer"):
            table.add_column(col)
        for child in node.children:
            table.add_row(child.node_id, child.status, clip(child.question, 60), clip(child.answer or child.error, 60))
        parts.append(table)
    return Group(*parts)


def render_diff(diff: RunDiff, *, limit: int = 30, label: Callable[[str], str] = str) -> RenderableType:
    """Where two runs differ: their final answers, then the nodes where they part.

    Nodes below a node whose question or existence differs are left out (they
    differ as a consequence) and counted. ``label`` names an option in a hint (``limit``).
    """
    a, b = diff.a, diff.b
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_column()
    head.add_row("", "A", "B")
    head.add_row("file", str(a.path), str(b.path))
    head.add_row("run", a.header.run_id, b.header.run_id)
    head.add_row("question", clip(a.header.question), clip(b.header.question))
    same = "same" if diff.same_final else "DIFFERENT"
    head.add_row(
        "result",
        Text(f"{diff.status_a}: {clip(diff.final_a)}"),
        Text(f"{diff.status_b}: {clip(diff.final_b)}  ({same})", style="green" if diff.same_final else "red"),
    )
    parts: list[RenderableType] = [head, Text("")]
    if a.header.question != b.header.question:
        parts.append(Text("note: the runs answer different questions; nodes are aligned by position only", "yellow"))
    if diff.identical:
        parts.append(Text(f"identical: all {diff.common} nodes match", style="green"))
        return Group(*parts)
    roots = diff.roots()
    parts.append(
        Text(
            f"{len(diff.nodes)} node(s) differ ({diff.common} in both runs); "
            f"{len(roots)} where the runs part, earliest first:",
            style="bold",
        )
    )
    table = Table(show_lines=True)
    for col in ("node", "question", "what", "A", "B"):
        table.add_column(col, overflow="fold")
    for d in roots[:limit]:
        table.add_row(d.node_id, clip(d.question, 50), d.what, Text(d.expected), Text(d.produced))
    parts.append(table)
    if len(roots) > limit:
        parts.append(Text(f"... and {len(roots) - limit} more ({label('limit')})", style="dim"))
    return Group(*parts)
