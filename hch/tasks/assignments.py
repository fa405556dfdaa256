"""Sequential assignments: what is the value of a variable, mod 8?

Each variable is a literal (taken mod 8) or the sum mod 8 of two other
variables; the definitions are acyclic. The value of a literal is one lookup.
For a sum, H looks up the definition, asks for both parts in one batch (once if
they are the same variable) and adds them mod 8, so the depth needed is the
longest chain of sums below the variable.
"""

from __future__ import annotations

import random
import re
from collections import deque
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
    lookup,
    parse_answer,
)
from hch.workspace import Workspace

NAME = "assignments"
MODULUS = 8

Definition = int | tuple[str, str]
"""A literal, or the two variables whose sum it is."""

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_VARIABLE = re.compile(_NAME)
_QUESTION = re.compile(rf"\s*value\s*\(\s*({_NAME})\s*\)\s*")
_SUM = re.compile(rf"\s*({_NAME})\s*\+\s*({_NAME})\s*")
_EXPECTED = "value(NAME), e.g. value(v12)"

# Generator shape. The first few variables must be literals (there is nothing
# to add yet); after that a variable is a literal with this probability, else
# the sum of two earlier variables picked uniformly. Uniform parents give a
# longest chain that grows like log(size): about 6-10 for 64 variables.
_LEADING_LITERALS = 3
_LITERAL_PROBABILITY = 0.2


@dataclass(frozen=True)
class Value:
    """The question value(name)."""

    name: str


def render_definition(definition: Definition) -> str:
    """How a definition reads in a lookup answer: ``"5"`` or ``"v3 + v5"``."""
    if isinstance(definition, int):
        return str(definition)
    return f"{definition[0]} + {definition[1]}"


@dataclass(frozen=True)
class AssignmentRules:
    """How H and M0 treat value(NAME) questions about one set of definitions."""

    definitions: dict[str, Definition]

    def parse(self, question: str) -> Value | None:
        m = _QUESTION.fullmatch(question)
        return Value(m.group(1)) if m and m.group(1) in self.definitions else None

    def is_simple(self, query: Value) -> bool:
        return isinstance(self.definitions[query.name], int)

    def look_up(self, query: Value) -> str:
        definition = self.definitions[query.name]
        assert isinstance(definition, int), "look_up is only asked about literals"
        return str(definition % MODULUS)

    async def decompose(self, ws: Workspace, query: Value) -> str:
        definition = self.definitions[query.name]
        # H reads the definition from the fact table (a recorded lookup), and
        # works from what it read: in a replay, that is the recorded answer.
        seen = await lookup(ws.node, f"definition({query.name})", lambda: render_definition(definition))
        literal = parse_answer(seen)
        if literal is not None:
            return str(literal % MODULUS)
        m = _SUM.fullmatch(seen)
        if m is None or m.group(1) not in self.definitions or m.group(2) not in self.definitions:
            return UNKNOWN
        a, b = m.group(1), m.group(2)
        if a == b:
            values = await ask_for_integers(ws, [f"value({a})"])
            return UNKNOWN if values is None else str(2 * values[0] % MODULUS)
        values = await ask_for_integers(ws, [f"value({a})", f"value({b})"])
        return UNKNOWN if values is None else str(sum(values) % MODULUS)


def _definitions(facts: dict[str, Any]) -> dict[str, Definition]:
    """Validated facts as definitions (pairs become tuples)."""
    return {k: v if isinstance(v, int) else (v[0], v[1]) for k, v in facts["variables"].items()}


def _parts(definition: Definition) -> tuple[str, ...]:
    return () if isinstance(definition, int) else definition


def _topological_order(definitions: dict[str, Definition]) -> list[str]:
    """Every variable after the variables it is defined from (Kahn's algorithm)."""
    users: dict[str, list[str]] = {name: [] for name in definitions}
    waiting: dict[str, int] = {}
    for name, definition in definitions.items():
        parts = set(_parts(definition))
        waiting[name] = len(parts)
        for part in parts:
            users[part].append(name)
    ready = deque(name for name, count in waiting.items() if count == 0)
    order: list[str] = []
    while ready:
        name = ready.popleft()
        order.append(name)
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    return order


def _find_cycle(definitions: dict[str, Definition]) -> list[str] | None:
    """A cycle of definitions (first variable repeated at the end), or None."""
    state: dict[str, int] = {}  # absent: unvisited, 1: on the current path, 2: done
    for start in definitions:
        if start in state:
            continue
        path = [start]
        stack = [iter(_parts(definitions[start]))]
        state[start] = 1
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(step) == 1:
                return [*path[path.index(step) :], step]
            elif step not in state:
                state[step] = 1
                path.append(step)
                stack.append(iter(_parts(definitions[step])))
    return None


class AssignmentsTask:
    """Sequential assignments (see the module docstring)."""

    name: str = NAME
    summary: str = "value of a variable defined by literals and sums mod 8: depth = longest chain of sums"
    question_format: str = "value(NAME): the value mod 8 of variable NAME, e.g. value(v12)"
    facts_format: str = (
        '{"variables": {NAME: DEFINITION, ...}}: DEFINITION is an integer literal (taken mod 8) or '
        "[A, B], the sum mod 8 of two other variables; no cycles. "
        'E.g. {"variables": {"v0": 3, "v1": 6, "v2": ["v0", "v1"], "v3": ["v2", "v2"]}}'
    )

    def generate(self, rng: random.Random, size: int = 64) -> Instance:
        """``size`` variables v0..; the question favours variables with long chains of sums."""
        check_size(size)
        variables: dict[str, int | list[str]] = {}
        depth: list[int] = []
        for i in range(size):
            if i < _LEADING_LITERALS or rng.random() < _LITERAL_PROBABILITY:
                variables[f"v{i}"] = rng.randrange(MODULUS)
                depth.append(0)
            else:
                a, b = rng.randrange(i), rng.randrange(i)
                variables[f"v{i}"] = [f"v{a}", f"v{b}"]
                depth.append(1 + max(depth[a], depth[b]))
        # Weighting by depth squared makes deep questions common without
        # making shallow ones impossible.
        (pick,) = rng.choices(range(size), weights=[(1 + d) ** 2 for d in depth])
        return Instance(NAME, {"variables": variables}, f"value(v{pick})")

    def validate_facts(self, facts: object) -> dict[str, Any]:
        obj = check_object(facts, "facts", ["variables"])
        variables = obj["variables"]
        if not isinstance(variables, dict):
            raise UsageError(f"facts.variables: expected an object of definitions, got {json_type(variables)}")
        if not variables:
            raise UsageError("facts.variables: is empty")
        checked: dict[str, int | list[str]] = {}
        for name, value in variables.items():
            if not _VARIABLE.fullmatch(name):
                raise UsageError(
                    f"facts.variables: {name!r} is not a variable name "
                    "(letters, digits and _, not starting with a digit)"
                )
            where = f"facts.variables.{name}"
            if is_int(value):
                checked[name] = value
                continue
            if not isinstance(value, list):
                raise UsageError(
                    f'{where}: expected an integer or a pair of variable names like ["v0", "v1"], '
                    f"got {json_type(value)}"
                )
            if len(value) != 2:
                raise UsageError(f"{where}: expected a pair of variable names, got an array of {len(value)} item(s)")
            for part in value:
                if not isinstance(part, str):
                    raise UsageError(f"{where}: expected a pair of variable names, got {json_type(part)} in it")
            for part in value:
                if part == name:
                    raise UsageError(f"{where}: refers to itself (a sum is of two other variables)")
                if part not in variables:
                    raise UsageError(f"facts.variables: variable {name} refers to undefined {part}")
            checked[name] = list(value)
        cycle = _find_cycle(_definitions({"variables": checked}))
        if cycle is not None:
            raise UsageError(f"facts.variables: cycle through {cycle[0]} ({' -> '.join(cycle)})")
        return {"variables": checked}

    def parse_question(self, facts: dict[str, Any], question: str) -> Value:
        variables = self.validate_facts(facts)["variables"]
        m = _QUESTION.fullmatch(question)
        if m is None:
            raise bad_question(NAME, question, _EXPECTED)
        if m.group(1) not in variables:
            raise UsageError(f"question {question!r}: unknown variable {m.group(1)}")
        return Value(m.group(1))

    def solve(self, facts: dict[str, Any], question: str) -> str:
        """Evaluate every variable in one topological pass and read off the one asked."""
        query = self.parse_question(facts, question)
        definitions = _definitions(facts)
        values: dict[str, int] = {}
        for name in _topological_order(definitions):
            definition = definitions[name]
            if isinstance(definition, int):
                values[name] = definition % MODULUS
            else:
                values[name] = (values[definition[0]] + values[definition[1]]) % MODULUS
        return str(values[query.name])

    def depth_needed(self, facts: dict[str, Any], question: str) -> int:
        """The longest chain of sums from the variable down to literals."""
        query = self.parse_question(facts, question)
        definitions = _definitions(facts)
        depth: dict[str, int] = {}
        for name in _topological_order(definitions):
            parts = _parts(definitions[name])
            depth[name] = 1 + max(depth[p] for p in parts) if parts else 0
        return depth[query.name]

    def overseer(self, facts: dict[str, Any]) -> Overseer:
        return ProgrammaticOverseer(f"{NAME}-overseer", self._rules(facts))

    def oracle(self, facts: dict[str, Any]) -> Model:
        return LookupOracle(f"{NAME}-lookup", self._rules(facts))

    def _rules(self, facts: dict[str, Any]) -> AssignmentRules:
        return AssignmentRules(_definitions(self.validate_facts(facts)))


ASSIGNMENTS = AssignmentsTask()
