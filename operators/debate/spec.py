"""What a debate is, as recorded in a run's spec (``RunSpec.debate``).

A :class:`DebateSpec` plus the run's question (and, for a task debate, its
:class:`~hch.app.spec.TaskSpec`) is enough to run the same debate again: the
program debaters' choices come from ``seed``, every model call, fact check
and person's input is recorded in the transcript.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Position = Literal["A", "B"]
"""A debater's place: A moves first (and its answer is shown first)."""

Liar = Literal["consistent", "random", "top"]
"""How the lying debater of a task debate lies:

- ``consistent``: lies at the root and defends the lie by inventing sub-claims
  consistent with it (every step's sub-claims derive its claim by the task's
  rules; one of them is false, and it descends into that one);
- ``random``: a random wrong answer wherever it makes a claim, sub-claims
  included, whether or not they derive its claim;
- ``top``: a random wrong answer at the root, the truth below it (so its own
  step contradicts its claim).
"""

Side = Literal["honest", "liar"]

JudgeKind = Literal["program", "llm", "human"]

LIARS: tuple[Liar, ...] = ("consistent", "random", "top")
JUDGES: tuple[JudgeKind, ...] = ("program", "llm", "human")


class DebateSpec(BaseModel):
    """One debate: its format, its bounds, its judge and who argues what."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["task", "free"]
    """``task``: recursive debate over a task's decomposition; ``free``: free-text debate."""
    turns: int = Field(ge=1)
    """Task debates: most steps stated before a fact must be at stake. Free text: rounds (both argue each round)."""
    judge: JudgeKind
    honest: Position
    """Which position argues the true (task) or correct (free text) answer."""
    seed: int = 0
    """Seeds the program debaters' choices (the liar's lies and disputes)."""
    liar: Liar = "consistent"
    answers: list[str] = Field(default_factory=list)
    """Free text: the answers argued, position A's first."""
    source: str | None = None
    """Free text: the text debaters quote from (the judge does not see it)."""
    word_limit: int = Field(default=60, ge=1)
    """Free text: words per argument (longer arguments are cut)."""

    @property
    def needs_llm(self) -> bool:
        """Whether the debate makes model calls (free-text debaters, or an LLM judge)."""
        return self.format == "free" or self.judge == "llm"

    @property
    def liar_position(self) -> Position:
        return "B" if self.honest == "A" else "A"
