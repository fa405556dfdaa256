"""The questions an operator works on: generated task instances, or free text from a file.

The same task, ``n``, seed and size give the same instances as ``hch eval``
(:func:`hch.app.evaluate.instances`: instance i has its own seeded generator, so
it is the same whatever ``n`` is). A questions file holds one JSON object a
line: ``{"question": "...", "reference": "..."}`` (``reference``, an answer to
score against, and ``id`` are optional).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from hch.app.evaluate import instances
from hch.errors import Label, UsageError, by_name
from hch.limits import check_instances, check_size
from hch.tasks import Instance, Task, find_task


class FreeQuestion(BaseModel):
    """One line of a questions file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str
    reference: str | None = None
    """An answer to score against, when there is one."""
    id: str | None = None
    incorrect: str | None = None
    """A wrong answer, for operators that argue it against the reference (``hch debate``)."""
    source: str | None = None
    """A text the question is about (``hch debate``'s debaters quote it)."""


@dataclass(frozen=True)
class QuestionSet:
    """Either task instances (``task`` set) or free-text questions."""

    task: Task | None
    instances: list[Instance] = field(default_factory=list)
    free: list[FreeQuestion] = field(default_factory=list)
    seed: int = 0
    size: int = 64

    @property
    def texts(self) -> list[str]:
        """The question texts, in order."""
        if self.task is not None:
            return [case.question for case in self.instances]
        return [q.question for q in self.free]

    def __len__(self) -> int:
        return len(self.instances) if self.task is not None else len(self.free)


def read_questions(path: Path) -> list[FreeQuestion]:
    """The questions of a JSONL file; a :class:`UsageError` naming the file and line for a bad one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"{path}: cannot read: {reason}") from None
    questions: list[FreeQuestion] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: not JSON ({exc.msg}); expected one object a line") from None
        if not isinstance(data, dict):
            raise UsageError(f"{where}: expected a JSON object with a 'question' key")
        try:
            question = FreeQuestion.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise UsageError(f"{where}: {loc}: {first['msg']}") from None
        if not question.question.strip():
            raise UsageError(f"{where}: the question is empty")
        questions.append(question)
    if not questions:
        raise UsageError(f"{path}: holds no questions")
    return questions


def question_set(
    task: str | None,
    n: int,
    seed: int,
    size: int,
    questions: Path | None,
    *,
    limit_free: bool = False,
    label: Label = by_name,
) -> QuestionSet:
    """The operator's questions: a ``task`` with ``n``, ``seed`` and ``size``, or a ``questions`` file.

    With ``limit_free``, ``n`` also caps how many lines of the file are used.
    An error names an option through ``label`` (:data:`hch.errors.Label`).
    """
    if (task is None) == (questions is None):
        raise UsageError(
            f"give {label('task')} NAME (generated questions) or {label('questions')} FILE (free text), not both"
        )
    check_instances(n, label("n"))
    if task is not None:
        the_task = find_task(task)
        check_size(size, label("size"))
        return QuestionSet(the_task, instances=instances(the_task, n, seed, size), seed=seed, size=size)
    assert questions is not None
    free = read_questions(questions)
    return QuestionSet(None, free=free[:n] if limit_free else free, seed=seed, size=size)
