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
from dataclasses import dataclass, field
from typing import Any, NamedTuple

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

Step = tuple[str, tuple[Any, ...]]
"""A step as two runs compare it: its kind and its key (what must be equal)."""


class Action(NamedTuple):
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
    found = _step(event)
    return None if found is None else (found[0], Action(found[1][0], found[1][1], event))


def _step(event: Event) -> tuple[str, Step] | None:
    """:func:`step_of` without the event: the node, and what is compared of its step."""
    # The kinds a large tree is made of come first, told by their exact type (events are final
    # classes): an isinstance against a pydantic class that fails costs several type checks.
    if type(event) is ModelCall:
        call_key = (event.purpose, event.request_hash, event.response, event.error)
        return event.node_id, ("model_call", call_key)
    if type(event) is NodeStart:
        return event.node_id, ("start", (event.question, event.parent_id, event.level, event.budget, event.worker))
    if type(event) is NodeAnswer:
        return event.node_id, ("answer", (event.answer, event.spent))
    if type(event) is Ask:
        return event.node_id, ("ask", tuple(event.questions))
    if isinstance(event, OracleCall):
        return event.node_id, ("oracle_call", (event.question, event.answer))
    if isinstance(event, Reuse):
        return event.child_id, ("reuse", (event.question, event.node_id, event.source_id))
    if isinstance(event, Refusal):
        return event.child_id, ("refusal", (event.question, event.node_id, event.reason))
    if isinstance(event, HumanInput):
        return event.node_id, ("human_input", (event.request_hash, event.typed))
    if isinstance(event, DebateTurn):
        return event.node_id, ("debate_turn", (event.turn, event.debater, event.move, event.text))
    if isinstance(event, DebateVerdict):
        return event.node_id, ("debate_verdict", (event.winner, event.rewards, event.fact))
    if isinstance(event, Approval):
        verdict = (event.question, event.candidate, event.approval, event.verdict, event.overseer_answer)
        return event.node_id, ("approval", verdict)
    if isinstance(event, Feedback):
        choice = (event.question, event.answer_a, event.answer_b, event.preferred, event.basis)
        return event.node_id, ("feedback", choice)
    if isinstance(event, RewardScores):
        scored = (event.question, tuple(event.candidates), tuple(event.scores), event.chosen, event.reward_model)
        return event.node_id, ("reward_scores", scored)
    if isinstance(event, NodeError):
        return event.node_id, ("error", (event.error_type, event.message))
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


def node_steps(events: list[Event]) -> dict[str, list[Action]]:
    """Each node's steps in order; calls made between two other steps are
    sorted, since a node may make several calls concurrently."""
    out: dict[str, list[Action]] = {}
    for node_id, (steps, recorded) in _steps(events).items():
        out[node_id] = [Action(kind, key, event) for (kind, key), event in zip(steps, recorded, strict=True)]
    return out


_NodeSteps = tuple[list[Step], list[Event]]
"""A node's steps as compared (kind and key), and the events that record them, in step order."""


def _steps(events: list[Event]) -> dict[str, _NodeSteps]:
    """:func:`node_steps`, kept as what is compared and the events apart: two runs' nodes agree
    when their lists of steps are equal, one comparison."""
    out: dict[str, _NodeSteps] = {}
    concurrent: set[str] = set()  # nodes with two calls in a row: the only ones whose steps are sorted
    for event in events:
        found = _step(event)
        if found is None:
            continue
        node_id, step = found
        entry = out.get(node_id)
        if entry is None:
            out[node_id] = ([step], [event])
            continue
        steps, recorded = entry
        if step[0] in _CALLS and steps[-1][0] in _CALLS:
            concurrent.add(node_id)
        steps.append(step)
        recorded.append(event)
    for node_id in concurrent:
        out[node_id] = _calls_sorted(*out[node_id])
    return out


def _calls_sorted(steps: list[Step], events: list[Event]) -> _NodeSteps:
    ordered: list[tuple[Step, Event]] = []
    block: list[tuple[Step, Event]] = []
    for pair in zip(steps, events, strict=True):
        if pair[0][0] in _CALLS:
            block.append(pair)
            continue
        ordered.extend(_by_key(block))
        block = []
        ordered.append(pair)
    ordered.extend(_by_key(block))
    return [step for step, _ in ordered], [event for _, event in ordered]


def _by_key(block: list[tuple[Step, Event]]) -> list[tuple[Step, Event]]:
    return sorted(block, key=lambda pair: repr(pair[0][1])) if len(block) > 1 else block


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


def _question(steps: list[Step]) -> str:
    for kind, key in steps:
        if kind in ("start", "reuse", "refusal"):
            return str(key[0])
    return ""


def diff_runs(a: Transcript, b: Transcript) -> RunDiff:
    """Align ``a`` and ``b`` by node id and list where they differ."""
    steps_a, steps_b = _steps(a.events), _steps(b.events)
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
        na, nb = steps_a.get(node_id), steps_b.get(node_id)
        if na is None:
            assert nb is not None
            diffs.append(
                NodeDiff(node_id, _question(nb[0]), "only in B", "(no such node)", describe(nb[1][0]), math.inf)
            )
            continue
        if nb is None:
            first = na[1][0]
            diffs.append(NodeDiff(node_id, _question(na[0]), "only in A", describe(first), "(no such node)", first.seq))
            continue
        result.common += 1
        (sa, ea), (sb, eb) = na, nb
        if sa == sb:
            continue
        # The first step that differs (or the first one that only one of them took).
        i = next((i for i, (x, y) in enumerate(zip(sa, sb, strict=False)) if x != y), min(len(sa), len(sb)))
        if i < len(sa) and i < len(sb):
            kind_a, kind_b = sa[i][0], sb[i][0]
            what = kind_a if kind_a == kind_b else f"{kind_a}/{kind_b}"
        else:
            what = sa[i][0] if i < len(sa) else sb[i][0]
        expected = describe(ea[i]) if i < len(sa) else "(nothing more: the node ended here)"
        produced = describe(eb[i]) if i < len(sb) else "(nothing more: the node stopped here)"
        position = ea[i].seq if i < len(sa) else ea[-1].seq + 0.5
        diffs.append(NodeDiff(node_id, _question(sa), what, expected, produced, position))
    diffs.sort(key=lambda d: (d.position, _id_key(d.node_id)))
    result.nodes = diffs
    return result


def _id_key(node_id: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in node_id.split("."))
