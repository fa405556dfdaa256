"""Loading user instances from a JSON file.

The file holds one object, or an array of objects, each::

    {"task": "permutation", "facts": {...}, "questions": ["s^5(3)", ...], "comment": "optional"}

Every object is checked completely (task name, facts, every question) before
anything runs; each question becomes one :class:`~hch.tasks.base.Instance`.
The file is only ever parsed as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hch.errors import UsageError
from hch.tasks.base import Instance, check_object, json_type
from hch.tasks.catalog import find_task

_KEYS = ("task", "facts", "questions")
_OPTIONAL = ("comment",)


def _reject_constant(name: str) -> Any:
    # json accepts NaN and Infinity by default; they are not JSON.
    raise ValueError(f"{name} is not valid JSON")


def _read_json(path: Path) -> object:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON ({exc})") from None


def _instances(entry: object, path: Path, loc: str) -> list[Instance]:
    """The instances of one object of the file; ``loc`` is its place ("" or "[i]")."""

    def fail(field: str, message: str) -> UsageError:
        where = ".".join(part for part in (loc, field) if part)
        return UsageError(f"{path}: {where + ': ' if where else ''}{message}")

    obj = check_object(entry, f"{path}: {loc}" if loc else str(path), _KEYS, _OPTIONAL)
    name = obj["task"]
    if not isinstance(name, str):
        raise fail("task", f"expected a task name, got {json_type(name)}")
    try:
        task = find_task(name)
    except UsageError as exc:
        raise fail("task", str(exc)) from None
    try:
        facts = task.validate_facts(obj["facts"])
    except UsageError as exc:
        # validate_facts messages start with their place ("facts.permutation[3]: ...").
        raise UsageError(f"{path}: {loc + '.' if loc else ''}{exc}") from None
    questions = obj["questions"]
    if not isinstance(questions, list):
        raise fail("questions", f"expected an array of question strings, got {json_type(questions)}")
    if not questions:
        raise fail("questions", f"is empty; e.g. {task.question_format}")
    if "comment" in obj and not isinstance(obj["comment"], str):
        raise fail("comment", f"expected a string, got {json_type(obj['comment'])}")
    instances = []
    for j, question in enumerate(questions):
        if not isinstance(question, str):
            raise fail(f"questions[{j}]", f"expected a string, got {json_type(question)}")
        try:
            task.parse_question(facts, question)
        except UsageError as exc:
            raise fail(f"questions[{j}]", str(exc)) from None
        instances.append(Instance(task.name, facts, question.strip()))
    return instances


def load_instances(path: Path) -> list[Instance]:
    """Every instance in the JSON file at ``path``, in file order.

    Raises UsageError naming the file and what is wrong with it: unreadable,
    not JSON, a missing or unknown key, an unknown task, invalid facts, or a
    question that does not parse.
    """
    data = _read_json(path)
    if isinstance(data, dict):
        return _instances(data, path, "")
    if not isinstance(data, list):
        raise UsageError(f"{path}: expected an object or an array of objects, got {json_type(data)}")
    if not data:
        raise UsageError(f"{path}: is an empty array (no instances)")
    instances: list[Instance] = []
    for i, entry in enumerate(data):
        instances.extend(_instances(entry, path, f"[{i}]"))
    return instances
