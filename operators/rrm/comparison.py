"""Feedback: an overseer compares two answers, assisted by the previous agent.

A comparison is an ordinary run through the engine: its root question names
the task question and the two candidates (:func:`comparison_question`), and
its root is worked by a comparator (H) that may ask the assistant, Amp^k of
the previous round's agent, subquestions before it answers "A" or "B". Every
comparison records a ``feedback`` event: which answer was preferred, on what
basis, and what the overseer consulted.

:class:`TaskComparator` is the programmatic overseer for the algorithmic
tasks. What it can check alone is what a person with the fact table could: a
simple question (one fact lookup) is looked up, and an answer that is not an
integer loses to one that is. Anything else it can only guess, unless it is
assisted: then it asks the assistant the question and prefers the candidate
that agrees with the assistant's answer. :class:`HumanComparator` puts a
person at the terminal instead (see :mod:`operators.rrm.human`), and
:class:`LLMComparator` an LLM judge on free text.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from hch.errors import HCHError
from hch.protocols import Model, Overseer
from hch.tasks import UNKNOWN, find_task, lookup
from hch.tasks.base import parse_answer
from hch.workspace import Workspace
from transcripts.events import Feedback

PREFIX = "Which answer to this question is better? Reply A or B. "
Choice = Literal["A", "B"]


@dataclass(frozen=True)
class Comparison:
    """A task question and the two candidate answers shown as A and B."""

    question: str
    a: str
    b: str


def comparison_question(question: str, a: str, b: str) -> str:
    """The root question of a comparison run (one line: the candidates as JSON)."""
    return PREFIX + json.dumps({"question": question, "A": a, "B": b}, ensure_ascii=False)


def parse_comparison(text: str) -> Comparison | None:
    """The comparison a root question names, or None if it is not one."""
    if not text.startswith(PREFIX):
        return None
    try:
        data = json.loads(text[len(PREFIX) :])
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("question", "A", "B")):
        return None
    return Comparison(data["question"], data["A"], data["B"])


def coin(seed: int, text: str) -> Choice:
    """A fair, reproducible guess for ``text`` (what an overseer that cannot tell does)."""
    return "A" if hashlib.sha256(f"{seed}\x1f{text}".encode()).digest()[0] % 2 == 0 else "B"


def consulted(ws: Workspace) -> list[dict[str, str]]:
    """The subquestions the overseer asked and the answers it got."""
    return [{"question": e.question, "answer": e.answer, "child_id": e.child_id} for e in ws.history]


def record(ws: Workspace, cmp: Comparison, preferred: Choice, basis: str) -> Choice:
    """Emit the ``feedback`` event and return the choice (the node's answer)."""
    ws.node.emit(
        Feedback(
            node_id=ws.node.node_id,
            question=cmp.question,
            answer_a=cmp.a,
            answer_b=cmp.b,
            preferred=preferred,
            basis=basis,
            consulted=consulted(ws),
        )
    )
    return preferred


def _agrees(value: str, a: str, b: str) -> Choice | None:
    value = value.strip()
    if value == a.strip() and value != b.strip():
        return "A"
    if value == b.strip() and value != a.strip():
        return "B"
    return None


@dataclass(frozen=True)
class TaskComparator:
    """The programmatic overseer of a comparison on an algorithmic task (see the module docstring)."""

    task: str
    facts: dict[str, Any]
    assisted: bool
    seed: int

    @property
    def name(self) -> str:
        return "comparator+assistant" if self.assisted else "comparator"

    async def __call__(self, ws: Workspace) -> str:
        cmp = parse_comparison(ws.question)
        if cmp is None:
            return UNKNOWN
        task = find_task(self.task)
        try:
            simple = task.depth_needed(self.facts, cmp.question) == 0
        except HCHError:
            simple = False
        if simple:
            facts, question = self.facts, cmp.question
            truth = await lookup(ws.node, question, lambda: task.solve(facts, question))
            found = _agrees(truth, cmp.a, cmp.b)
            if found is not None:
                return record(ws, cmp, found, "own check: one fact lookup")
        if self.assisted and ws.can_ask(1):
            (said,) = await ws.ask(cmp.question)
            found = _agrees(said, cmp.a, cmp.b)
            if found is not None:
                return record(ws, cmp, found, "assistant's answer")
        a_ok, b_ok = parse_answer(cmp.a) is not None, parse_answer(cmp.b) is not None
        if a_ok != b_ok:
            return record(ws, cmp, "A" if a_ok else "B", "own check: only one is an integer")
        return record(ws, cmp, coin(self.seed, ws.question), "guess")


_CHOICE = re.compile(r"\b([AB])\b")


def parse_choice_reply(reply: str) -> Choice | None:
    """The first standalone A or B in an LLM's reply, if any."""
    found = _CHOICE.search(reply)
    return None if found is None else ("A" if found.group(1) == "A" else "B")


@dataclass(frozen=True)
class LLMComparator:
    """An LLM judges a comparison on free text.

    Assisted, the LLM overseer works the comparison node: it may ask the
    assistant (Amp^k of the previous agent) subquestions and then answers.
    Alone, the LLM answers directly (no subquestions). The first standalone
    A or B of its answer is the choice; without one it is a guess.
    """

    overseer: Overseer
    judge: Model
    assisted: bool
    seed: int

    @property
    def name(self) -> str:
        return f"{self.overseer.name} judge" + ("+assistant" if self.assisted else "")

    async def __call__(self, ws: Workspace) -> str:
        cmp = parse_comparison(ws.question)
        if cmp is None:
            return UNKNOWN
        reply = await (self.overseer(ws) if self.assisted else self.judge.answer(ws.node))
        choice = parse_choice_reply(reply)
        if choice is None:
            return record(ws, cmp, coin(self.seed, ws.question), "guess (the judge named neither A nor B)")
        return record(ws, cmp, choice, "LLM judge, assisted" if self.assisted else "LLM judge, alone")
