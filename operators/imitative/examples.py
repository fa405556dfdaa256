"""The distillation example: a question, Amp(M_t)'s answer to it, and the decomposition behind it."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from operators.dataset import Example
from transcripts.chain import canonical_json, request_hash


class Subanswer(BaseModel):
    """One subquestion the overseer asked, the answer it got, and how (worked, reused, refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str
    answer: str | None
    status: str


class ImitationExample(Example):
    """(q, Amp(M_t)(q)) with the decomposition: what M_{t+1} is trained to imitate.

    The question, the answer and the subquestions with their answers are
    claims: ``hch dataset verify`` checks each against the cited tree.
    """

    KIND: ClassVar[str] = "imitation"
    CLAIMS: ClassVar[dict[str, str]] = {
        "question": "node.question",
        "answer": "node.answer",
        "decomposition": "node.subquestions",
    }

    question: str
    answer: str
    decomposition: list[Subanswer]
    instance: str | None = None
    """For a task question: :func:`instance_key` of its fact table (a memoriser keys on it)."""


def instance_key(facts: dict[str, Any]) -> str:
    """A short stable name of a task's fact table (the sha256 of its canonical JSON, 16 hex digits)."""
    return request_hash({"facts": canonical_json(facts)})[:16]
