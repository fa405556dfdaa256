"""Recursive debate on an algorithmic task (Irving et al. 2018, on a decomposition).

Both debaters answer the root question; the honest one the truth, the liar a
wrong answer. Then, turn by turn, one debater states the step its answer
rests on (:meth:`~operators.debate.claims.TaskRules.state_step`: the task's
own decomposition with the debater's sub-claims) and the other picks one
sub-claim it disputes, giving its own answer to it. That sub-question is the
new question in dispute and the roles swap. When the question in dispute is
simple (one lookup), the judge checks that one fact (a recorded
:func:`~hch.tasks.base.lookup`), and the debater whose claim matches wins.

An honest debater always has a false sub-claim to dispute in a liar's step
(if every sub-claim were true, the rules would conclude the truth), so against
a judge who checks one fact it should always win: that is what ``hch debate
--task`` measures.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from hch.node import Node
from hch.tasks.base import lookup
from operators.debate.claims import Argument, Claim, TaskRules
from operators.debate.record import DebateRecord, other
from operators.debate.spec import Liar, Position
from transcripts.events import DebateTurn


class Debater(Protocol):
    """A program debater of a task debate."""

    side: str

    def root_answer(self, question: str) -> str: ...

    async def state(self, question: str, claim: str) -> Argument: ...

    def dispute(self, step: Argument) -> Dispute | None:
        """The sub-claim it disputes, with its own answer (None: it disputes none)."""
        ...


@dataclass(frozen=True)
class Dispute:
    """The index of the disputed sub-claim in the step, and the disputer's answer to it."""

    index: int
    answer: str


@dataclass
class Honest:
    """Claims the truth everywhere and disputes the first false sub-claim."""

    rules: TaskRules
    side: str = "honest"

    def root_answer(self, question: str) -> str:
        return self.rules.truth(question)

    async def state(self, question: str, claim: str) -> Argument:
        return await self.rules.state_step(question, lambda q, _i: self.rules.truth(q))

    def dispute(self, step: Argument) -> Dispute | None:
        for index, sub in enumerate(step.subclaims):
            truth = self.rules.truth(sub.question)
            if sub.answer != truth:
                return Dispute(index, truth)
        return None


@dataclass
class Lying:
    """A liar of the given strategy (see :data:`operators.debate.spec.Liar`), drawing from ``rng``."""

    rules: TaskRules
    strategy: Liar
    rng: random.Random
    side: str = "liar"

    def wrong(self, question: str) -> str:
        truth = self.rules.truth(question)
        choices = [str(v) for v in self.rules.domain() if str(v) != truth]
        return self.rng.choice(choices) if choices else truth

    def root_answer(self, question: str) -> str:
        return self.wrong(question)

    async def state(self, question: str, claim: str) -> Argument:
        truth = self.rules.truth
        if self.strategy == "top":
            return await self.rules.state_step(question, lambda q, _i: truth(q))
        if self.strategy == "random":
            return await self.rules.state_step(question, lambda q, _i: self.wrong(q))
        # consistent: keep every sub-claim true but one, and set that one to
        # whatever makes the rules conclude the claim.
        honest = await self.rules.state_step(question, lambda q, _i: truth(q))
        positions = list(range(len(honest.subclaims)))
        self.rng.shuffle(positions)
        for lie_at in positions:
            values = [str(v) for v in self.rules.domain()]
            self.rng.shuffle(values)
            for value in values:

                def answer(q: str, i: int, lie_at: int = lie_at, value: str = value) -> str:
                    return value if i == lie_at else truth(q)

                step = await self.rules.state_step(question, answer)
                if step.conclusion == claim and step.subclaims[lie_at].answer != truth(step.subclaims[lie_at].question):
                    return step
        return honest  # no lie of one sub-claim derives the claim: it contradicts itself

    def dispute(self, step: Argument) -> Dispute | None:
        if self.strategy == "top" or not step.subclaims:
            return None  # it tells the truth below the root: nothing to dispute
        index = self.rng.randrange(len(step.subclaims))
        return Dispute(index, self.wrong(step.subclaims[index].question))


async def recursive_debate(
    node: Node,
    rules: TaskRules,
    debaters: dict[Position, Debater],
    *,
    turns: int,
) -> DebateRecord:
    """Run the moves of one task debate at ``node`` (each recorded as a ``debate_turn``).

    Ends with ``record.ending`` saying how; when one fact is at stake the
    judge's check of it is done here, through :func:`lookup`, so it is recorded.
    """
    question = node.question
    answers: dict[Position, str] = {p: debaters[p].root_answer(question) for p in ("A", "B")}
    record = DebateRecord(question=question, answers=dict(answers))
    current, claims = question, dict(answers)
    stater: Position = "A"
    turn = 0
    while True:
        if rules.is_simple(current):
            checked = await lookup(node, current, partial(rules.look_up, current))
            record.ending, record.fact = "fact", Claim(current, checked)
            break
        if claims["A"] == claims["B"]:
            record.ending, record.lost_by_rule = "conceded", None
            break
        if turn == turns:
            record.ending = "out_of_turns"
            break
        turn += 1
        speaker = stater
        step = await debaters[speaker].state(current, claims[speaker])
        text = step.render(claims[speaker])
        node.emit(_turn(node, turn, speaker, debaters[speaker].side, "step", current, claims[speaker], text, step=step))
        record.moves.append(f"[{turn}] {speaker}: {text}")
        if step.conclusion != claims[speaker]:
            record.moves.append(f"    (the rules conclude {step.conclusion} from {speaker}'s sub-claims)")
            record.ending, record.lost_by_rule = "inconsistent", speaker
            break
        opponent = other(speaker)
        disputed = debaters[opponent].dispute(step)
        if disputed is None:
            record.moves.append(f"[{turn}] {opponent}: disputes none of them")
            record.ending, record.lost_by_rule = "conceded", opponent
            node.emit(_turn(node, turn, opponent, debaters[opponent].side, "dispute", current, "", "concedes"))
            break
        target = step.subclaims[disputed.index]
        said = target.answer
        text = f"disputes {target.question} = {said}: it is {disputed.answer}"
        node.emit(
            _turn(node, turn, opponent, debaters[opponent].side, "dispute", target.question, disputed.answer, text)
        )
        record.moves.append(f"[{turn}] {opponent}: {text}")
        current = target.question
        claims = {speaker: said, opponent: disputed.answer}
        stater = opponent
    record.turns = turn
    record.at_stake = dict(claims)
    return record


def _turn(
    node: Node,
    turn: int,
    debater: Position,
    side: str,
    move: str,
    question: str,
    claim: str,
    text: str,
    *,
    step: Argument | None = None,
) -> DebateTurn:
    return DebateTurn.model_validate(
        {
            "node_id": node.node_id,
            "turn": turn,
            "debater": debater,
            "side": side,
            "move": move,
            "question": question,
            "claim": claim,
            "text": text,
            "subclaims": [{"question": c.question, "answer": c.answer} for c in step.subclaims] if step else [],
            "conclusion": step.conclusion if step else None,
        }
    )
