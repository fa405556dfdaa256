"""Permutation powering: what is s^N(x) for a permutation s of 0..n-1?

Simple questions (N <= 1) are one lookup. Anything else is halved:
h = N // 2, y = s^h(x), z = s^h(y), and if N is odd one more step s^1(z), each
asked as a subquestion (sequentially: each depends on the answer before), so
the depth needed is floor(log2 N).
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

NAME = "permutation"
MAX_EXPONENT_DIGITS = 18
"""Exponents stop at 18 digits: deeper trees than that are no run anyone waits for,
and Python refuses to convert much longer digit strings anyway."""

_QUESTION = re.compile(r"\s*s\s*\^\s*(\d+)\s*\(\s*(\d+)\s*\)\s*")
_EXPECTED = "s^N(X), e.g. s^13(42)"


@dataclass(frozen=True)
class Power:
    """The question s^n(x)."""

    n: int
    x: int


def _match(question: str) -> tuple[str, str] | None:
    m = _QUESTION.fullmatch(question)
    return (m.group(1), m.group(2)) if m else None


@dataclass(frozen=True)
class PermutationRules:
    """How H and M0 treat s^N(X) questions about one permutation."""

    perm: tuple[int, ...]

    def parse(self, question: str) -> Power | None:
        parts = _match(question)
        if parts is None or len(parts[0]) > MAX_EXPONENT_DIGITS or len(parts[1]) > MAX_EXPONENT_DIGITS:
            return None
        n, x = int(parts[0]), int(parts[1])
        return Power(n, x) if x < len(self.perm) else None

    def is_simple(self, query: Power) -> bool:
        return query.n <= 1

    def look_up(self, query: Power) -> str:
        return str(query.x if query.n == 0 else self.perm[query.x])

    async def decompose(self, ws: Workspace, query: Power) -> str:
        h = query.n // 2
        # y and z depend on each other, so they are asked one after the other.
        y = await ask_for_integers(ws, [f"s^{h}({query.x})"])
        if y is None:
            return UNKNOWN
        z = await ask_for_integers(ws, [f"s^{h}({y[0]})"])
        if z is None:
            return UNKNOWN
        if query.n % 2 == 0:
            return str(z[0])
        last = await ask_for_integers(ws, [f"s^1({z[0]})"])
        return UNKNOWN if last is None else str(last[0])


class PermutationTask:
    """Permutation powering (see the module docstring)."""

    name: str = NAME
    summary: str = "s^N(x) for a permutation s: halve N, depth floor(log2 N)"
    question_format: str = "s^N(X): N >= 0 applications of s to element X, e.g. s^13(42)"
    facts_format: str = (
        '{"permutation": [p0, p1, ...]}: a permutation of 0..n-1, s(i) = p_i, e.g. {"permutation": [2, 0, 1]}'
    )

    def generate(self, rng: random.Random, size: int = 64) -> Instance:
        """A random permutation of ``size`` elements and s^N(x), N uniform in 2..size."""
        check_size(size)
        perm = list(range(size))
        rng.shuffle(perm)
        n = rng.randint(2, max(2, size))
        x = rng.randrange(size)
        return Instance(NAME, {"permutation": perm}, f"s^{n}({x})")

    def validate_facts(self, facts: object) -> dict[str, Any]:
        obj = check_object(facts, "facts", ["permutation"])
        perm = obj["permutation"]
        if not isinstance(perm, list):
            raise UsageError(f"facts.permutation: expected an array of integers, got {json_type(perm)}")
        if not perm:
            raise UsageError("facts.permutation: is empty")
        size = len(perm)
        seen: dict[int, int] = {}
        for i, p in enumerate(perm):
            if not is_int(p):
                raise UsageError(f"facts.permutation[{i}]: expected an integer, got {json_type(p)}")
            if not 0 <= p < size:
                raise UsageError(f"facts.permutation[{i}]: {p} is out of range 0..{size - 1}")
            if p in seen:
                raise UsageError(
                    f"facts.permutation: not a permutation: {p} appears twice (at indices {seen[p]} and {i})"
                )
            seen[p] = i
        return {"permutation": list(perm)}

    def parse_question(self, facts: dict[str, Any], question: str) -> Power:
        perm = self.validate_facts(facts)["permutation"]
        parts = _match(question)
        if parts is None:
            raise bad_question(NAME, question, _EXPECTED)
        for part, what in zip(parts, ("exponent", "element"), strict=True):
            if len(part) > MAX_EXPONENT_DIGITS:
                raise UsageError(f"question {question!r}: {what} has more than {MAX_EXPONENT_DIGITS} digits")
        n, x = int(parts[0]), int(parts[1])
        if x >= len(perm):
            raise UsageError(f"question {question!r}: element {x} is out of range 0..{len(perm) - 1}")
        return Power(n, x)

    def solve(self, facts: dict[str, Any], question: str) -> str:
        """Apply s N times, one step at a time (skipping whole cycles through x)."""
        query = self.parse_question(facts, question)
        perm = facts["permutation"]
        y, steps = query.x, 0
        while steps < query.n:
            y = perm[y]
            steps += 1
            if y == query.x:
                # Back at x after `steps` steps: every further `steps` steps come back again.
                for _ in range((query.n - steps) % steps):
                    y = perm[y]
                break
        return str(y)

    def depth_needed(self, facts: dict[str, Any], question: str) -> int:
        """floor(log2 N): each level halves N; N <= 1 is answered by M0."""
        query = self.parse_question(facts, question)
        return max(0, query.n.bit_length() - 1)

    def overseer(self, facts: dict[str, Any]) -> Overseer:
        return ProgrammaticOverseer(f"{NAME}-overseer", self._rules(facts))

    def oracle(self, facts: dict[str, Any]) -> Model:
        return LookupOracle(f"{NAME}-lookup", self._rules(facts))

    def _rules(self, facts: dict[str, Any]) -> PermutationRules:
        return PermutationRules(tuple(self.validate_facts(facts)["permutation"]))


PERMUTATION = PermutationTask()
