"""Reading an LLM's reply as a :class:`~hch.step.Step`, tolerating how weak models deviate.

The model is asked for JSON (an answer, or subquestions), but small models
wrap it in code fences, add prose, rename keys, or write ``ANSWER:`` lines;
:func:`parse_reply` accepts all of those and raises :class:`Unparseable`,
with a message saying what was wrong, when a reply says neither an answer nor
subquestions. The message is quoted back to the model in the repair request.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

from hch.step import Step


class Unparseable(ValueError):
    """A reply that says neither an answer nor subquestions; the message says what was wrong."""


_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)
_ANSWER_LINE = re.compile(r"^[ \t>*#_]*(?:final[ \t]+)?answer[ \t*_]*[:=-][ \t*_]*(.*)$", re.IGNORECASE | re.MULTILINE)
_SUBQ_LINE = re.compile(r"^[ \t>*#_]*sub[ -]?questions?[ \t*_]*:[ \t*_]*(.*)$", re.IGNORECASE | re.MULTILINE)
_LIST_ITEM = re.compile(r"^[ \t]*(?:\d+[.):]|[-*\u2022])[ \t]+(.+?)[ \t]*$")
_ANSWER_KEYS = ("answer", "final_answer", "finalanswer", "response")
_SUBQ_KEYS = ("subquestions", "sub_questions", "subquestion", "questions")
_DECODER = json.JSONDecoder()
"""Shared (it holds no state between calls): building one per reply cost more than parsing it."""


def parse_reply(text: str, *, allow_ask: bool, plain_is_answer: bool = False) -> Step:
    """Read a model reply as a :class:`Step`, tolerating how models deviate from the format.

    Tried in order: a JSON object (the whole text, inside code fences, or
    anywhere in the text), then ``ANSWER:`` / ``SUBQUESTIONS:`` lines, then (if
    ``plain_is_answer``) the whole text as the answer. Subquestions count only
    when ``allow_ask``; otherwise they are ignored. Raises :class:`Unparseable`.
    """
    stripped = text.strip()
    if not stripped:
        raise Unparseable("the reply was empty")
    problem = "no JSON object with an answer or subquestions was found"
    for obj in _json_objects(stripped):
        try:
            return _step_from_json(obj, allow_ask=allow_ask)
        except Unparseable as exc:
            problem = str(exc)
    step = _step_from_lines(stripped, allow_ask=allow_ask)
    if step is not None:
        return step
    if plain_is_answer:
        return Step(answer=unfence(stripped))
    raise Unparseable(problem)


def _json_objects(text: str) -> Iterator[dict[str, Any]]:
    """JSON objects in ``text``: the whole of it, fenced blocks, then any ``{...}`` that decodes.

    Found one at a time: a reply that is one JSON object (the usual case) is not searched further.
    """
    candidates = itertools.chain((text,), (m.group(1) for m in _FENCE.finditer(text)))
    for candidate in candidates:
        candidate = candidate.strip()
        try:
            value = _DECODER.decode(candidate)
        except ValueError:
            value = None
        if isinstance(value, dict):
            yield value
            continue
        for match in re.finditer(r"\{", candidate):
            try:
                value, _end = _DECODER.raw_decode(candidate, match.start())
            except ValueError:
                continue
            if isinstance(value, dict):
                yield value


def _lowered(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with its keys stripped and lower-cased (models write ``"Answer"``, ``" answer"``)."""
    return {str(k).strip().lower(): v for k, v in obj.items()}


def _lookup(lowered: dict[str, Any], keys: tuple[str, ...]) -> tuple[bool, Any]:
    """The first of ``keys`` in ``lowered`` (see :func:`_lowered`): (found, value)."""
    for key in keys:
        if key in lowered:
            return True, lowered[key]
    return False, None


def _as_text(value: Any) -> str | None:
    """A scalar as text (models write ``"answer": 42``); None for lists and objects."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return json.dumps(value)
    if value is None:
        return ""
    return None


def _step_from_json(obj: dict[str, Any], *, allow_ask: bool) -> Step:
    lowered = _lowered(obj)
    has_answer, raw_answer = _lookup(lowered, _ANSWER_KEYS)
    has_subqs, raw_subqs = _lookup(lowered, _SUBQ_KEYS)
    raw_action = lowered.get("action")
    if not has_answer and not has_subqs:
        raise Unparseable('the JSON object has neither "answer" nor "subquestions"')
    answer = _as_text(raw_answer) if has_answer else ""
    if answer is None:
        raise Unparseable('"answer" must be a string')
    subquestions: list[str] = []
    if has_subqs:
        items = raw_subqs if isinstance(raw_subqs, list) else [raw_subqs]
        for item in items:
            if isinstance(item, dict):
                _found, item = _lookup(_lowered(item), ("question", "subquestion", "text"))
            text = _as_text(item)
            if text:
                subquestions.append(text)
    action = str(raw_action).strip().lower() if isinstance(raw_action, str) else ""
    if allow_ask and subquestions and not (action == "answer" and answer):
        return Step(subquestions=tuple(subquestions))
    if answer:
        return Step(answer=answer)
    if subquestions:
        raise Unparseable('subquestions cannot be asked now: give the "answer"')
    raise Unparseable('the "answer" was empty' if has_answer else "the list of subquestions was empty")


def _step_from_lines(text: str, *, allow_ask: bool) -> Step | None:
    """``SUBQUESTIONS:`` followed by list items, or ``ANSWER: ...``; None if neither is there."""
    if allow_ask:
        header = _SUBQ_LINE.search(text)
        if header is not None:
            subquestions: list[str] = []
            inline = header.group(1).strip()
            if inline:
                subquestions.extend(part.strip() for part in inline.split(";") if part.strip())
            for line in text[header.end() :].splitlines():
                if not line.strip():
                    continue
                item = _LIST_ITEM.match(line)
                if item is None:
                    break
                subquestions.append(item.group(1))
            if subquestions:
                return Step(subquestions=tuple(subquestions))
    found = _ANSWER_LINE.search(text)
    if found is not None:
        rest = text[found.start(1) :]
        # The answer runs to the end, or to a SUBQUESTIONS header that follows it.
        stop = _SUBQ_LINE.search(rest)
        answer = (rest[: stop.start()] if stop else rest).strip().strip('"').strip()
        if answer:
            return Step(answer=answer)
    return None


def unfence(text: str) -> str:
    """Text with a wrapping code fence removed."""
    match = _FENCE.fullmatch(text.strip())
    return match.group(1).strip() if match else text.strip()


def clip(text: str, limit: int) -> str:
    """``text`` stripped and cut to ``limit`` characters (marked with an ellipsis)."""
    text = text.strip()
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "\u2026"


def clean_subquestions(questions: tuple[str, ...], *, limit: int, max_chars: int) -> list[str]:
    """Drop empty ones and duplicates (ignoring case and spacing), cut each, keep the first ``limit``."""
    seen: set[str] = set()
    kept: list[str] = []
    for question in questions:
        text = clip(" ".join(question.split()), max_chars)
        key = text.casefold()
        if not text or key in seen:
            continue
        seen.add(key)
        kept.append(text)
        if len(kept) == limit:
            break
    return kept
