"""What the algorithmic tasks share: instances, the task protocol, fact lookups,
and the generic programmatic overseer and lookup oracle built on them.

Each task supplies its *rules* (:class:`Rules`): how to read a question, which
questions are simple (answered by a fact lookup), how to look one up, and how
to decompose the rest. :class:`ProgrammaticOverseer` (the H of the tree) and
:class:`LookupOracle` (M0, the base model at depth 0) are the same for every
task, so the HCH semantics (lookups recorded, bounds checked, "unknown"
propagated) live in one place.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from hch.errors import UsageError
from hch.node import Node
from hch.protocols import Model, Overseer
from hch.recording import record_or_replay
from hch.workspace import Workspace
from transcripts.chain import request_hash
from transcripts.events import OracleCall

UNKNOWN = "unknown"
"""What M0 answers when it cannot look a question up, and what H answers when
any answer it depends on is unknown, refused or not an integer."""

_INTEGER = re.compile(r"-?\d+")


@dataclass(frozen=True)
class Instance:
    """One question about one fact table of a task."""

    task: str
    """The task's name, e.g. ``"permutation"``."""
    facts: dict[str, Any]
    """The JSON-able fact table (as returned by the task's ``validate_facts``)."""
    question: str


class Task(Protocol):
    """An algorithmic task with exact answers (see docs/tasks.md)."""

    name: str
    """``"permutation"``, ``"assignments"`` or ``"wildcard"``."""
    summary: str
    """One line saying what the task is."""
    question_format: str
    """The question syntax, with an example."""
    facts_format: str
    """The facts JSON, with a small example."""

    def generate(self, rng: random.Random, size: int = 64) -> Instance:
        """A random instance with ``size`` elements; the same ``rng`` state gives the same instance."""
        ...

    def validate_facts(self, facts: object) -> dict[str, Any]:
        """A checked copy of ``facts``; raises UsageError saying what is wrong and where."""
        ...

    def parse_question(self, facts: dict[str, Any], question: str) -> object:
        """The parsed question; raises UsageError if it is malformed or names unknown things."""
        ...

    def solve(self, facts: dict[str, Any], question: str) -> str:
        """The exact answer, computed without the decomposition."""
        ...

    def depth_needed(self, facts: dict[str, Any], question: str) -> int:
        """Smallest HCH depth at which the decomposition answers exactly (unbounded budget)."""
        ...

    def overseer(self, facts: dict[str, Any]) -> Overseer:
        """The programmatic H for this fact table."""
        ...

    def oracle(self, facts: dict[str, Any]) -> Model:
        """M0 for this fact table: answers simple questions by lookup, anything else "unknown"."""
        ...


async def lookup(node: Node, question: str, compute: Callable[[], str]) -> str:
    """Answer ``question`` from the fact table, recording it as an ``oracle_call``.

    Every fact read (by H or by M0) goes through here, so that a replayed or
    resumed run gets the recorded answer back (``node.run.playback``) and
    every lookup is in the transcript. ``compute`` reads the facts; it is only
    called when there is no recorded answer.
    """
    rh = request_hash({"oracle": question})

    def event(answer: str) -> OracleCall:
        return OracleCall(node_id=node.node_id, request_hash=rh, question=question, answer=answer)

    async def live() -> OracleCall:
        return event(compute())

    recorded = await record_or_replay(node, OracleCall, rh, live, lambda record: event(record.answer))
    return recorded.answer


def parse_answer(text: str) -> int | None:
    """The integer an answer states, or None ("unknown", "refused: ...", anything else)."""
    text = text.strip()
    return int(text) if _INTEGER.fullmatch(text) else None


async def ask_for_integers(ws: Workspace, questions: Sequence[str]) -> list[int] | None:
    """Ask ``questions`` as one concurrent batch; their integer answers, or None.

    None means the node cannot get what it needs: the batch does not fit its
    bounds (so it is not asked), or some answer is not an integer.
    """
    if not ws.can_ask(len(questions)):
        return None
    answers = await ws.ask(*questions)
    values = [parse_answer(a) for a in answers]
    if any(v is None for v in values):
        return None
    return [v for v in values if v is not None]


Q = TypeVar("Q")


class Rules(Protocol[Q]):
    """A task's rules over one fact table, as H and M0 use them."""

    def parse(self, question: str) -> Q | None:
        """The parsed question, or None if it is malformed or names unknown things."""
        ...

    def is_simple(self, query: Q) -> bool:
        """Whether the question is answered by one fact lookup."""
        ...

    def look_up(self, query: Q) -> str:
        """The answer to a simple question, read from the fact table."""
        ...

    async def decompose(self, ws: Workspace, query: Q) -> str:
        """Answer a non-simple question by asking subquestions through ``ws``."""
        ...


@dataclass(frozen=True)
class ProgrammaticOverseer(Generic[Q]):
    """H: answers a simple question by lookup, decomposes anything else."""

    name: str
    rules: Rules[Q]

    async def __call__(self, ws: Workspace) -> str:
        query = self.rules.parse(ws.question)
        if query is None:
            return UNKNOWN
        if self.rules.is_simple(query):
            rules = self.rules
            return await lookup(ws.node, ws.question, lambda: rules.look_up(query))
        return await self.rules.decompose(ws, query)


@dataclass(frozen=True)
class LookupOracle(Generic[Q]):
    """M0: answers simple questions by lookup and anything else with "unknown".

    Every question it gets is recorded as a lookup, the unanswerable ones too,
    so the transcript shows what the base model was asked.
    """

    name: str
    rules: Rules[Q]
    level: int = 0

    async def answer(self, node: Node) -> str:
        query = self.rules.parse(node.question)
        rules = self.rules

        def compute() -> str:
            if query is None or not rules.is_simple(query):
                return UNKNOWN
            return rules.look_up(query)

        return await lookup(node, node.question, compute)


def is_int(value: object) -> bool:
    """Whether ``value`` is a JSON integer (``True`` and ``1.0`` are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_object(value: object, where: str, keys: Sequence[str], optional: Sequence[str] = ()) -> dict[str, Any]:
    """``value`` as a JSON object with all of ``keys`` and nothing but them and ``optional``.

    Unknown keys are errors rather than ignored, so that a misspelt key is
    reported instead of silently doing nothing.
    """
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected a JSON object, got {json_type(value)}")
    for key in keys:
        if key not in value:
            raise UsageError(f"{where}: missing {key!r}")
    allowed = (*keys, *optional)
    for key in value:
        if key not in allowed:
            expected = ", ".join(repr(k) for k in allowed)
            raise UsageError(f"{where}: unknown key {key!r} (expected {expected})")
    return value


def json_type(value: object) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def bad_question(task: str, question: str, expected: str) -> UsageError:
    """The error for a question that does not have the task's syntax."""
    return UsageError(f"cannot parse question {question!r} for task {task}: expected {expected}")
