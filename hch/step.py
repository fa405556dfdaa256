"""A :class:`Step`: what an overseer does next at a node, ask or answer.

One type for every kind of overseer that works a node step by step: a reply
read from an LLM, a step a person typed, a draft an LLM proposes to a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Step:
    """One step of working a node: ask subquestions, or answer (exactly one of the two)."""

    answer: str | None = None
    subquestions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.answer is None) == (not self.subquestions):
            raise ValueError("a step either asks subquestions or answers, not both or neither")

    @property
    def asks(self) -> bool:
        return self.answer is None

    @property
    def kind(self) -> Literal["ask", "answer"]:
        return "ask" if self.asks else "answer"
