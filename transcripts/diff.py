"""Aligning two runs of the same question node by node.

Node ids are tree positions, so two runs of the same tree (a run and its
replay, or two runs with different prompts) are aligned by id. Each node is
reduced to its *steps*, in order: how it began (worked, reused, refused), the
calls it made and what they returned, the subquestions it asked, and how it
ended. Times, latencies, token counts and where a response came from
(network, cache, transcript) are not steps: they differ between runs of the
same computation.

The first divergence is the earliest differing step in the order of the first
run's events, so it names the node where the runs parted, not a node that
merely inherited a difference.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

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
    Refusal,
    Reuse,
    RewardScores,
    RunEnd,
)
from transcripts.reader import Transcript

_CALLS = ("oracle_call", "model_call", "human_input")


@dataclass(frozen=True, slots=True)
class Action:
    """One comparable thing a node did."""

    kind: str
    key: tuple[Any, ...]
    """What must be equal for two runs to agree on this step."""
    event: Event
    """The event that records it."""

    @property
    def seq(self) -> int:
        """Where it is in its transcript."""
        return self.event.seq

    @property
    def text(self) -> str:
        """The step in words, for reports (built only for the steps a report shows)."""
        return describe(self.event)


def _short(text: str | None, limit: int = 160) -> str:
    if text is None:
        return "None"
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


def step_of(event: Event) -> tuple[str, Action] | None:
    """The node an event belongs to and the step it records (None: not a step)."""
    # The kinds a large tree is made of come first.
    if isinstance(event, ModelCall):
        call_key = (event.purpose, event.request_hash, event.response, event.error)
        return event.node_id, Action("model_call", call_key, event)
    if isinstance(event, NodeStart):
        return event.node_id, Action(
            "start", (event.question, event.parent_id, event.level, event.budget, event.worker), event
        )
    if isinstance(event, NodeAnswer):
        return event.node_id, Action("answer", (event.answer, event.spent), event)
    if isinstance(event, Ask):
        return event.node_id, Action("ask", tuple(event.questions), event)
    if isinstance(event, OracleCall):
        return event.node_id, Action("oracle_call", (event.question, event.answer), event)
    if isinstance(event, Reuse):
        return event.child_id, Action("reuse", (event.question, event.node_id, event.source_id), event)
    if isinstance(event, Refusal):
        return event.child_id, Action("refusal", (event.question, event.node_id, event.reason), event)
    if isinstance(event, HumanInput):
        return event.node_id, Action("human_input", (event.request_hash, event.typed), event)
    if isinstance(event, DebateTurn):
        return event.node_id, Action("debate_turn", (event.turn, event.debater, event.move, event.text), event)
    if isinstance(event, DebateVerdict):
        return event.node_id, Action("debate_verdict", (event.winner, event.rewards, event.fact), event)
    if isinstance(event, Approval):
        verdict = (event.question, event.candidate, event.approval, event.verdict, event.overseer_answer)
        return event.node_id, Action("approval", verdict, event)
    if isinstance(event, Feedback):
        choice = (event.question, event.answer_a, event.answer_b, event.preferred, event.basis)
        return event.node_id, Action("feedback", choice, event)
    if isinstance(event, RewardScores):
        scored = (event.question, tuple(event.candidates), tuple(event.scores), event.chosen, event.reward_model)
        return event.node_id, Action("reward_scores", scored, event)
    if isinstance(event, NodeError):
        return event.node_id, Action("error", (event.error_type, event.message), event)
    return None


def describe(event: Event) -> str:
    """A step's event in words, for reports."""
    if isinstance(event, NodeStart):
        return (
            f"question {_short(event.question)} worked by {event.worker} (level {event.level}, budget {event.budget})"
        )
    if isinstance(event, Reuse):
        return f"question {_short(event.question)} reused the answer of node {event.source_id}"
    if isinstance(event, Refusal):
        return f"question {_short(event.question)} refused: {event.reason}"
    if isinstance(event, Ask):
        return "asked " + ", ".join(_short(q, 80) for q in event.questions)
    if isinstance(event, OracleCall):
        return f"oracle lookup {_short(event.question)} -> {_short(event.answer)}"
    if isinstance(event, ModelCall):
        if event.error is not None:
            return f"{event.purpose} model call {event.request_hash[:12]} failed: {event.error}"
        return f"{event.purpose} model call {event.request_hash[:12]} -> {_short(event.response)}"
    if isinstance(event, HumanInput):
        return f"person shown {_short(event.prompt, 60)} typed {_short(event.typed)}"
    if isinstance(event, DebateTurn):
        return f"debate turn {event.turn}: {event.debater} {event.move} {_short(event.text)}"
    if isinstance(event, DebateVerdict):
        return f"verdict: winner {event.winner} ({_short(event.reason, 80)})"
    if isinstance(event, NodeAnswer):
        return f"answer {_short(event.answer)} (spent {event.spent})"
    if isinstance(event, Approval):
        return f"approval {event.approval:g} ({event.verdict}) of {_short(event.candidate)}"
    if isinstance(event, Feedback):
        return f"feedback prefers {event.preferred} ({event.basis})"
    if isinstance(event, RewardScores):
        return f"reward scores: chose #{event.chosen} of {len(event.candidates)}"
    if isinstance(event, NodeError):
        return f"error {event.error_type}: {event.message}"
    return event.kind


def _by_key(steps: list[Action]) -> list[Action]:
    return sorted(steps, key=lambda s: repr(s.key)) if len(steps) > 1 else steps


def node_steps(events: list[Event]) -> dict[str, list[Action]]:
    """Each node's steps in order; calls made between two other steps are
    sorted, since a node may make several calls concurrently."""
    raw: dict[str, list[Action]] = defaultdict(list)
    for event in events:
        found = step_of(event)
        if found is not None:
            raw[found[0]].append(found[1])
    out: dict[str, list[Action]] = {}
    for node_id, steps in raw.items():
        ordered: list[Action] = []
        block: list[Action] = []
        for step in steps:
            if step.kind in _CALLS:
                block.append(step)
                continue
            if block:
                ordered.extend(_by_key(block))
                block = []
            ordered.append(step)
        ordered.extend(_by_key(block))
        out[node_id] = ordered
    return out


@dataclass(frozen=True)
class NodeDiff:
    """Where one node of two runs differs: the first differing step."""

    node_id: str
    question: str
    what: str
    """The kind of the differing step (``answer``, ``model_call``, ``ask``, ...), or
    ``only in A`` / ``only in B``."""
    expected: str
    """The step in the first run (the transcript, for a replay)."""
    produced: str
    """The step in the second run (the replay)."""
    position: float
    """Where the difference is in the first run's event order (for sorting)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "question": self.question,
            "what": self.what,
            "expected": self.expected,
            "produced": self.produced,
        }


@dataclass
class RunDiff:
    """How two runs differ."""

    a: Transcript
    b: Transcript
    nodes: list[NodeDiff] = field(default_factory=list)
    """Differing nodes, earliest divergence first."""
    common: int = 0
    """Nodes present in both runs."""
    final_a: str | None = None
    final_b: str | None = None
    status_a: str = "cut"
    status_b: str = "cut"

    @property
    def same_final(self) -> bool:
        return (self.status_a, self.final_a) == (self.status_b, self.final_b)

    @property
    def identical(self) -> bool:
        return not self.nodes and self.same_final

    @property
    def first(self) -> NodeDiff | None:
        return self.nodes[0] if self.nodes else None

    def as_json(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "a": {
                "path": str(self.a.path),
                "run_id": self.a.header.run_id,
                "status": self.status_a,
                "answer": self.final_a,
            },
            "b": {
                "path": str(self.b.path),
                "run_id": self.b.header.run_id,
                "status": self.status_b,
                "answer": self.final_b,
            },
            "same_question": self.a.header.question == self.b.header.question,
            "common_nodes": self.common,
            "first_divergence": self.first.as_json() if self.first else None,
            "divergent_nodes": [d.as_json() for d in self.nodes],
        }

    def roots(self) -> list[NodeDiff]:
        """Differing nodes whose ancestors do not differ in their question or existence
        (below such a node, everything differs as a consequence)."""
        broken: set[str] = {d.node_id for d in self.nodes if d.what in ("start", "only in A", "only in B")}
        out = []
        for d in self.nodes:
            parts = d.node_id.split(".")
            if any(".".join(parts[:i]) in broken for i in range(1, len(parts))):
                continue
            out.append(d)
        return out


def _question(steps: list[Action]) -> str:
    for s in steps:
        if s.kind in ("start", "reuse", "refusal"):
            return str(s.key[0])
    return ""


def diff_runs(a: Transcript, b: Transcript) -> RunDiff:
    """Align ``a`` and ``b`` by node id and list where they differ."""
    steps_a, steps_b = node_steps(a.events), node_steps(b.events)
    result = RunDiff(a=a, b=b)
    for t, side in ((a, "a"), (b, "b")):
        end = t.end
        status = end.status if isinstance(end, RunEnd) else "cut"
        answer = end.answer if isinstance(end, RunEnd) else None
        if side == "a":
            result.status_a, result.final_a = status, answer
        else:
            result.status_b, result.final_b = status, answer
    diffs: list[NodeDiff] = []
    for node_id in steps_a.keys() | steps_b.keys():
        sa, sb = steps_a.get(node_id), steps_b.get(node_id)
        if sa is None:
            assert sb is not None
            diffs.append(NodeDiff(node_id, _question(sb), "only in B", "(no such node)", sb[0].text, math.inf))
            continue
        if sb is None:
            diffs.append(NodeDiff(node_id, _question(sa), "only in A", sa[0].text, "(no such node)", sa[0].seq))
            continue
        result.common += 1
        for i in range(max(len(sa), len(sb))):
            x = sa[i] if i < len(sa) else None
            y = sb[i] if i < len(sb) else None
            if x is not None and y is not None and x.kind == y.kind and x.key == y.key:
                continue
            if x is not None and y is not None:
                what = x.kind if x.kind == y.kind else f"{x.kind}/{y.kind}"
            else:
                what = (x or y or sa[-1]).kind
            expected = x.text if x is not None else "(nothing more: the node ended here)"
            produced = y.text if y is not None else "(nothing more: the node stopped here)"
            position = x.seq if x is not None else sa[-1].seq + 0.5
            diffs.append(NodeDiff(node_id, _question(sa), what, expected, produced, position))
            break
    diffs.sort(key=lambda d: (d.position, _id_key(d.node_id)))
    result.nodes = diffs
    return result


def _id_key(node_id: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in node_id.split("."))
