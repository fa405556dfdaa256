"""A debate as a :class:`~hch.protocols.Model`: one engine run per debate.

``run_question(DebateModel(...), question)`` runs the debate at the root node:
the moves (``debate_turn`` events), the judge's one fact check (an
``oracle_call``), model calls (``model_call``) and a person's verdict
(``human_input``) are all recorded there, then the ``debate_verdict`` with the
rewards. The root's answer is the winning answer. :func:`debate_model` builds
it from a :class:`~hch.app.spec.RunSpec` whose ``debate`` is set, which is how
``hch replay`` rebuilds a debate (see :func:`hch.app.spec.build_model`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hch.errors import UsageError, needs_model
from hch.human.console import HumanConsole
from hch.node import Node
from hch.tasks import Task
from operators.debate.claims import TaskRules
from operators.debate.free import PROMPTS as DEBATER_PROMPTS
from operators.debate.free import free_debate
from operators.debate.judges import PROMPTS as JUDGE_PROMPTS
from operators.debate.judges import HumanJudge, LLMJudge, ProgramJudge
from operators.debate.record import DebateRecord, Decision, Judge, other
from operators.debate.recursive import Debater, Honest, Lying, recursive_debate
from operators.debate.spec import DebateSpec, Side
from transcripts.events import DebateVerdict

if TYPE_CHECKING:
    from hch.app.spec import RunSpec
    from hch.llm.client import LLMClient

UNDECIDED = "undecided"
"""The root's answer when the judge named no winner."""


@dataclass
class DebateModel:
    """Runs one debate at the node it is asked to answer (depth 0: it asks no subquestions)."""

    spec: DebateSpec
    judge: Judge
    task: Task | None = None
    facts: dict[str, object] | None = None
    llm: LLMClient | None = None
    level: int = 0

    @property
    def name(self) -> str:
        return f"debate ({self.spec.format}, judge {self.judge.name})"

    async def answer(self, node: Node) -> str:
        record = await self._moves(node)
        decision = await self.judge.decide(node, record)
        node.emit(verdict_event(node, self.spec, self.judge.name, record, decision))
        return record.answers[decision.winner] if decision.winner is not None else UNDECIDED

    async def _moves(self, node: Node) -> DebateRecord:
        if self.spec.format == "free":
            if self.llm is None:
                raise UsageError("a free-text debate needs a model for its debaters")
            return await free_debate(node, self.spec, self.llm)
        assert self.task is not None and self.facts is not None
        rules = TaskRules.of(self.task, dict(self.facts), node.run)
        rng = random.Random(f"debate:{self.spec.seed}")
        liar = Lying(rules, self.spec.liar, rng)
        debaters: dict[str, Debater] = {self.spec.honest: Honest(rules), self.spec.liar_position: liar}
        return await recursive_debate(node, rules, {"A": debaters["A"], "B": debaters["B"]}, turns=self.spec.turns)


def verdict_event(node: Node, spec: DebateSpec, judge: str, record: DebateRecord, decision: Decision) -> DebateVerdict:
    """The verdict with its rewards: +1 to the winner, -1 to the loser (0 each with no winner)."""
    if decision.winner is None:
        rewards = {"A": 0, "B": 0}
        side: Side | None = None
    else:
        rewards = {decision.winner: 1, other(decision.winner): -1}
        side = "honest" if decision.winner == spec.honest else "liar"
    return DebateVerdict(
        node_id=node.node_id,
        judge=judge,
        answers={p: a for p, a in record.answers.items()},
        winner=decision.winner,
        winner_side=side,
        reason=decision.reason,
        rewards=rewards,
        turns=record.turns,
        fact={"question": record.fact.question, "answer": record.fact.answer} if record.fact else None,
    )


def debate_prompts(spec: DebateSpec) -> dict[str, str]:
    """The prompts a debate sends, as recorded in its header."""
    prompts: dict[str, str] = {}
    if spec.format == "free":
        prompts.update(DEBATER_PROMPTS)
    if spec.judge == "llm":
        prompts.update(JUDGE_PROMPTS)
    return prompts


def debate_model(run: RunSpec, *, llm: LLMClient | None = None, console: HumanConsole | None = None) -> DebateModel:
    """The debate ``run.debate`` describes; ``console`` is the terminal a person judges at (shared by debates)."""
    spec = run.debate
    if spec is None:
        raise UsageError("this run is not a debate")
    if spec.needs_llm and llm is None:
        raise needs_model("this debate")
    judge: Judge
    if spec.judge == "program":
        judge = ProgramJudge()
    elif spec.judge == "llm":
        assert llm is not None
        judge = LLMJudge(llm, run.structured_output)
    else:
        judge = HumanJudge(console or HumanConsole())
    if spec.format == "task":
        if run.task is None:
            raise UsageError("a task debate needs a task instance")
        task, facts = run.task.checked(run.question)
        return DebateModel(spec, judge, task, facts, llm)
    if len(spec.answers) != 2:
        raise UsageError(f"a free-text debate argues two answers, got {len(spec.answers)}")
    return DebateModel(spec, judge, llm=llm)
