"""Wildcard search: the sum of the values of all strings matching a pattern.

Each string in the table has the value +1 or -1 (a string not in the table
counts 0). A pattern without ``*`` is one lookup. Otherwise H replaces the first
``*`` by each letter of the alphabet, asks the resulting patterns in one batch
and adds the answers, so the depth needed is the number of wildcards and the
batch size is the alphabet's size (it must fit the node's max subquestions).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from hch.errors import UsageError
from hch.limits import check_size
from hch.protocols import Model, Overseer
from hch.tasks.base import (
    UNKNOWN,
    Instance,
    LookupOracle,
    ProgrammaticOverseer,
    ask_for_integers,
    bad_question,
    check_object,
    is_int,
    json_type,
)
from hch.workspace import Workspace

NAME = "wildcard"
STAR = "*"
"""The wildcard: matches any one letter."""
DEFAULT_ALPHABET = "abcd"
DEFAULT_LENGTH = 4

_QUESTION = re.compile(r"\s*sum\s*\(\s*([^()\s]*)\s*\)\s*")
_EXPECTED = "sum(PATTERN), e.g. sum(ab*d)"
# Characters an alphabet may not use: they are the question's own syntax.
_RESERVED = set("*()")


@dataclass(frozen=True)
class Pattern:
    """The question sum(pattern)."""

    pattern: str


@dataclass(frozen=True)
class WildcardRules:
    """How H and M0 treat sum(PATTERN) questions about one table of strings."""

    alphabet: str
    strings: dict[str, int]
    length: int

    def parse(self, question: str) -> Pattern | None:
        m = _QUESTION.fullmatch(question)
        if m is None or _pattern_problem(m.group(1), self.alphabet, self.length) is not None:
            return None
        return Pattern(m.group(1))

    def is_simple(self, query: Pattern) -> bool:
        return STAR not in query.pattern

    def look_up(self, query: Pattern) -> str:
        return str(self.strings.get(query.pattern, 0))

    async def decompose(self, ws: Workspace, query: Pattern) -> str:
        head, _, tail = query.pattern.partition(STAR)
        # The cases are independent: one concurrent batch.
        values = await ask_for_integers(ws, [f"sum({head}{letter}{tail})" for letter in self.alphabet])
        return UNKNOWN if values is None else str(sum(values))


def _pattern_problem(pattern: str, alphabet: str, length: int) -> str | None:
    """What is wrong with ``pattern``, or None."""
    if len(pattern) != length:
        return f"pattern has length {len(pattern)}, the strings have length {length}"
    for ch in pattern:
        if ch != STAR and ch not in alphabet:
            return f"{ch!r} is neither in the alphabet {alphabet!r} nor {STAR!r}"
    return None


class WildcardTask:
    """Wildcard search (see the module docstring)."""

    name: str = NAME
    summary: str = "sum of +1/-1 values of strings matching a pattern: depth = number of wildcards"
    question_format: str = "sum(PATTERN): PATTERN has the strings' length, * matches any one letter, e.g. sum(ab*d)"
    facts_format: str = (
        '{"alphabet": LETTERS, "strings": {STRING: 1 or -1, ...}}: strings of one length over the alphabet; '
        'absent strings count 0. E.g. {"alphabet": "ab", "strings": {"aa": 1, "ab": -1, "ba": 1}}'
    )

    def generate(self, rng: random.Random, size: int = 64) -> Instance:
        """``size`` distinct strings over "abcd" (length 4, longer if 4**4 < size), 1..length wildcards."""
        check_size(size)
        letters = len(DEFAULT_ALPHABET)
        length = DEFAULT_LENGTH
        while letters**length < size:
            length += 1

        def spell(index: int) -> str:
            chars = []
            for _ in range(length):
                index, digit = divmod(index, letters)
                chars.append(DEFAULT_ALPHABET[digit])
            return "".join(chars)

        picked = sorted(spell(i) for i in rng.sample(range(letters**length), size))
        strings = {s: rng.choice((1, -1)) for s in picked}
        # Start from a string in the table so the pattern tends to match some.
        base = list(rng.choice(picked))
        for position in rng.sample(range(length), rng.randint(1, length)):
            base[position] = STAR
        return Instance(NAME, {"alphabet": DEFAULT_ALPHABET, "strings": strings}, f"sum({''.join(base)})")

    def validate_facts(self, facts: object) -> dict[str, Any]:
        obj = check_object(facts, "facts", ["alphabet", "strings"])
        alphabet, strings = obj["alphabet"], obj["strings"]
        if not isinstance(alphabet, str):
            raise UsageError(f"facts.alphabet: expected a string of letters, got {json_type(alphabet)}")
        if not alphabet:
            raise UsageError("facts.alphabet: is empty")
        for i, ch in enumerate(alphabet):
            if ch in _RESERVED or ch.isspace():
                raise UsageError(f"facts.alphabet: {ch!r} cannot be a letter (reserved: whitespace, * ( ))")
            if ch in alphabet[:i]:
                raise UsageError(f"facts.alphabet: {ch!r} appears twice")
        if not isinstance(strings, dict):
            raise UsageError(f"facts.strings: expected an object of strings and values, got {json_type(strings)}")
        if not strings:
            raise UsageError("facts.strings: is empty")
        first = next(iter(strings))
        for string, value in strings.items():
            where = f"facts.strings.{string}"
            if not string:
                raise UsageError("facts.strings: the empty string is not allowed")
            if len(string) != len(first):
                raise UsageError(
                    f"{where}: has length {len(string)}, the first string {first!r} has length {len(first)}"
                )
            for ch in string:
                if ch not in alphabet:
                    raise UsageError(f"{where}: {ch!r} is not in the alphabet {alphabet!r}")
            if not (is_int(value) and value in (1, -1)):
                shown = value if is_int(value) else json_type(value)
                raise UsageError(f"{where}: value must be 1 or -1, got {shown}")
        return {"alphabet": alphabet, "strings": dict(strings)}

    def parse_question(self, facts: dict[str, Any], question: str) -> Pattern:
        checked = self.validate_facts(facts)
        m = _QUESTION.fullmatch(question)
        if m is None:
            raise bad_question(NAME, question, _EXPECTED)
        length = len(next(iter(checked["strings"])))
        problem = _pattern_problem(m.group(1), checked["alphabet"], length)
        if problem is not None:
            raise UsageError(f"question {question!r}: {problem}")
        return Pattern(m.group(1))

    def solve(self, facts: dict[str, Any], question: str) -> str:
        """Add the values of the strings in the table that match, letter by letter."""
        pattern = self.parse_question(facts, question).pattern
        total = 0
        for string, value in facts["strings"].items():
            if all(p in (STAR, ch) for p, ch in zip(pattern, string, strict=True)):
                total += value
        return str(total)

    def depth_needed(self, facts: dict[str, Any], question: str) -> int:
        """One level per wildcard; a pattern without one is answered by M0."""
        return self.parse_question(facts, question).pattern.count(STAR)

    def overseer(self, facts: dict[str, Any]) -> Overseer:
        return ProgrammaticOverseer(f"{NAME}-overseer", self._rules(facts))

    def oracle(self, facts: dict[str, Any]) -> Model:
        return LookupOracle(f"{NAME}-lookup", self._rules(facts))

    def _rules(self, facts: dict[str, Any]) -> WildcardRules:
        checked = self.validate_facts(facts)
        strings: dict[str, int] = checked["strings"]
        return WildcardRules(checked["alphabet"], strings, len(next(iter(strings))))


WILDCARD = WildcardTask()
