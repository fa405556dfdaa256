"""What a judge gets (the debate as it was argued) and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from hch.node import Node
from operators.debate.claims import Claim
from operators.debate.spec import Position

Ending = Literal["fact", "inconsistent", "conceded", "out_of_turns", "argued"]
"""How the moves ended:

- ``fact``: the dispute reached one fact, which the judge checked (``record.fact``);
- ``inconsistent``: a debater's step did not conclude its own claim;
- ``conceded``: a debater disputed none of the other's sub-claims;
- ``out_of_turns``: the turns ran out before a fact was at stake;
- ``argued``: a free-text debate ran its rounds.
"""


def other(position: Position) -> Position:
    return "B" if position == "A" else "A"


@dataclass
class DebateRecord:
    """A debate as the judge sees it: the question, the two answers, the moves.

    Which debater is honest is not here: a judge sees only the debate.
    """

    question: str
    answers: dict[Position, str]
    moves: list[str] = field(default_factory=list)
    """Each move as shown to the judge, in order (quotes marked verified or not)."""
    turns: int = 0
    ending: Ending = "argued"
    lost_by_rule: Position | None = None
    """Who lost by the protocol's rules (``inconsistent``, ``conceded``), if anyone."""
    at_stake: dict[Position, str] = field(default_factory=dict)
    """The two debaters' answers to the question in dispute when the moves ended."""
    fact: Claim | None = None
    """The one fact the judge checked (``ending == "fact"``)."""

    def render(self) -> str:
        """The debate as text: what an LLM or a person judging it reads."""
        lines = [f"Question: {self.question}", f"Answer A: {self.answers['A']}", f"Answer B: {self.answers['B']}", ""]
        lines += self.moves
        if self.fact is not None:
            lines += ["", f"Checked fact (from the facts table): {self.fact.render()}"]
            lines += [f"At stake: A says {self.at_stake.get('A')}, B says {self.at_stake.get('B')}"]
        elif self.lost_by_rule is not None:
            lines += ["", f"Ended: {self.ending} (debater {self.lost_by_rule})"]
        return "\n".join(lines)


@dataclass(frozen=True)
class Decision:
    """A judge's verdict: the winning position (None: no winner) and why."""

    winner: Position | None
    reason: str


class Judge(Protocol):
    """Decides a debate from its record (and may record calls at ``node``: a fact, a model call, a person's input)."""

    @property
    def name(self) -> str: ...

    async def decide(self, node: Node, record: DebateRecord) -> Decision: ...
