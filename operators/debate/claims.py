"""Stating a decomposition step with a task's own rules.

A debater's step for "q = a" is what the task's programmatic overseer would
do with q, except that every subquestion is answered by the debater's claim
instead of a subtree: :func:`state_step` runs the task's ``Rules.decompose``
against a workspace whose ``ask`` returns the debater's claimed sub-answers.
The sub-claims are what the rules asked (in their order, each question formed
from the answers before it, as the rules form them) and the *conclusion* is
what the rules derive from them. So a step can never misstate what follows
from its sub-claims; a debater whose step does not conclude its own claim has
contradicted itself.

Program debaters know the fact table (they are the strong debaters of the
theory); what they read while working out a step is not a judge's check, so
it is not recorded: their steps run against a node whose run context records
nothing (:class:`PrivateRun`). Only the judge's one fact check is a recorded
lookup.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hch.budget import Budget
from hch.context import RunContext
from hch.errors import UsageError
from hch.node import Node
from hch.protocols import Model
from hch.tasks import Task
from hch.tasks.assignments import MODULUS
from hch.tasks.base import UNKNOWN, ProgrammaticOverseer, Rules
from hch.workspace import Arrivals, BatchCheck, Planned, Workspace
from transcripts.events import Event


@dataclass(frozen=True)
class Claim:
    """A debater's assertion that ``question`` has ``answer``."""

    question: str
    answer: str

    def render(self) -> str:
        return f"{self.question} = {self.answer}"


@dataclass(frozen=True)
class Argument:
    """A stated step: the sub-claims, and what the task's rules conclude from them."""

    question: str
    subclaims: tuple[Claim, ...]
    conclusion: str

    def render(self, claim: str) -> str:
        """E.g. ``s^8(5) = 17 because s^4(5) = 3 and s^4(3) = 17``."""
        because = " and ".join(c.render() for c in self.subclaims)
        return f"{self.question} = {claim} because {because}"


SubAnswer = Callable[[str, int], str]
"""The debater's answer to the i-th subquestion the rules ask (question, i)."""


class PrivateRun(RunContext):
    """A run context that records nothing: a program debater's own reading of the facts."""

    def emit(self, event: Event) -> None:
        return None


class _ClaimWorkspace(Workspace):
    """A workspace whose subquestions are answered by a debater's claims, not by subtrees.

    Every way of asking answers by the claims (:meth:`ask`, :meth:`ask_each`),
    and every way of planning says a claim is always possible (:meth:`room`,
    :meth:`can_ask`, :meth:`check`): a step states as many sub-claims as the
    rules ask, with no cap or budget.
    """

    def __init__(self, node: Node, model: Model, answer: SubAnswer) -> None:
        super().__init__(node, model)
        self._answer = answer
        self.claims: list[Claim] = []

    @property
    def subquestions_left(self) -> int:
        return sys.maxsize

    def check(self, *questions: str, keep_tokens: int = 0) -> BatchCheck:
        return BatchCheck(self._plan(questions))

    async def ask(self, *questions: str, keep_tokens: int = 0) -> list[str]:
        return self._claim(questions)

    def ask_each(self, *questions: str, keep_tokens: int = 0) -> Arrivals:
        plan = self._plan(questions)
        return Arrivals.at_once(plan, self._claim(questions))

    def _plan(self, questions: Sequence[str]) -> tuple[Planned, ...]:
        first = len(self.claims)
        return tuple(Planned(q, f"{self.node.node_id}.{first + i}", "worked") for i, q in enumerate(questions))

    def _claim(self, questions: Sequence[str]) -> list[str]:
        answers = []
        for question in questions:
            answer = self._answer(question, len(self.claims))
            self.claims.append(Claim(question, answer))
            answers.append(answer)
        return answers


@dataclass(frozen=True)
class TaskRules:
    """A task instance as debaters and the judge use it: its rules, the truth, what answers can be."""

    task: Task
    facts: dict[str, Any]
    rules: Rules[Any]
    oracle: Model
    node: Node
    """A private node (see :class:`PrivateRun`) the rules may read facts through."""

    @classmethod
    def of(cls, task: Task, facts: dict[str, Any], run: RunContext) -> TaskRules:
        overseer = task.overseer(facts)
        if not isinstance(overseer, ProgrammaticOverseer):
            raise UsageError(f"task {task.name} has no programmatic rules to debate over")
        private = PrivateRun(writer=run.writer, max_subquestions=run.max_subquestions)
        node = Node(
            node_id="debater", parent_id=None, question="", level=1, parent=None, budget=Budget(None), run=private
        )
        return cls(task, facts, overseer.rules, task.oracle(facts), node)

    def is_simple(self, question: str) -> bool:
        query = self.rules.parse(question)
        return query is None or bool(self.rules.is_simple(query))

    def look_up(self, question: str) -> str:
        """The fact table's answer to a simple question (what the judge's one check reads)."""
        query = self.rules.parse(question)
        return UNKNOWN if query is None else str(self.rules.look_up(query))

    def truth(self, question: str) -> str:
        return self.task.solve(self.facts, question)

    def domain(self) -> list[int]:
        """The integers an answer of this task can be (where wrong answers are drawn from)."""
        if self.task.name == "permutation":
            return list(range(len(self.facts["permutation"])))
        if self.task.name == "assignments":
            return list(range(MODULUS))
        count = len(self.facts.get("strings", {}))
        return list(range(-count, count + 1))

    async def state_step(self, question: str, answer: SubAnswer) -> Argument:
        """The step the rules take on ``question`` when subquestions get ``answer``'s claims."""
        query = self.rules.parse(question)
        if query is None:
            raise UsageError(f"cannot parse {question!r} for task {self.task.name}")
        ws = _ClaimWorkspace(self.node, self.oracle, answer)
        conclusion = await self.rules.decompose(ws, query)
        return Argument(question, tuple(ws.claims), conclusion)
