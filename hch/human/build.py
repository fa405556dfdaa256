"""Where people sit in a tree: building mixed human / machine HCH trees from a run spec.

A node's *depth* is its distance from the root (0 = the root). In a depth-k
tree, nodes at depths 0..k-1 are worked by overseers and nodes at depth k are
answered by the base model M0. A person works:

- every overseer node, with the overseer ``human``;
- the nodes at the listed depths, with ``human_depths`` ``0,1`` (the machine
  overseer, an LLM or a program, works the others); listing depth k puts a
  person at the leaves too, and ``all`` means every node, leaves included (a
  fully human tree).

The ``mode`` says how a person works an overseer node: ``direct`` (alone),
``augmented`` (an LLM drafts each step; the person takes, edits or replaces
it) or ``review`` (an LLM works the node; the person approves or rejects
each step). Leaves a person answers are always worked directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from hch.amp import hch_tree
from hch.errors import UsageError, needs_model
from hch.human.modes import FORMER_NAMES, MODES, Mode
from hch.protocols import Model, Overseer

if TYPE_CHECKING:
    # The terminal side (rich) is imported by human_tree: a run without people never loads it.
    from hch.human.console import HumanConsole
    from hch.human.session import Drafter

ALL = "all"


def parse_depths(text: str, depth: int, name: str = "human_depths") -> list[int]:
    """``"0,1"`` -> [0, 1]; ``"all"`` -> [0..depth]; one-line UsageError (naming the option ``name``) otherwise."""
    text = text.strip()
    if text.lower() == ALL:
        return list(range(depth + 1))
    found: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise UsageError(f"{name} {text!r}: an empty item; give depths like 0,1 or all")
        if not part.isdigit():
            raise UsageError(f"{name} {text!r}: {part!r} is not a depth; give depths like 0,1 or all")
        value = int(part)
        if value > depth:
            raise UsageError(
                f"{name} {text!r}: depth {value} is below the tree (depth {depth}: 0 is the root, {depth} the leaves)"
            )
        found.add(value)
    return sorted(found)


def check_mode(mode: str, name: str = "mode") -> Mode:
    """The mode named ``mode``; a one-line UsageError (naming the option ``name``) naming the choices otherwise."""
    for known in MODES:
        if mode == known:
            return known
    now = f" (now called {FORMER_NAMES[mode]})" if mode in FORMER_NAMES else ""
    raise UsageError(f"{name} {mode!r}{now}: choose one of {', '.join(MODES)}")


def human_depths_of(overseer: str, human_depths: Sequence[int], depth: int) -> set[int]:
    """Every depth a person works, given the ``overseer`` and the ``human_depths``."""
    found = set(human_depths)
    if overseer == "human":
        found.update(range(depth))
    return found


def human_tree(
    depth: int,
    people: set[int],
    *,
    console: HumanConsole,
    overseer: Overseer | None,
    base: Model | None,
    mode: Mode = "direct",
    drafter: Drafter | None = None,
) -> Model:
    """A depth-``depth`` tree with a person at each depth in ``people`` (``depth`` = the leaves).

    ``overseer`` works the other overseer nodes and ``base`` answers the other
    leaves (either may be None when people work all of those nodes).
    """
    from hch.human.workers import HumanBaseModel, HumanOverseer

    if mode != "direct" and drafter is None:
        raise needs_model(f"mode {mode} (an LLM drafts each step)")
    person = HumanOverseer(console, mode=mode, drafter=drafter)
    if depth in people:
        leaf: Model = HumanBaseModel(console)
    elif base is not None:
        leaf = base
    else:
        raise UsageError(
            f"the leaves need a base model or a person: give a model, or list their depth {depth} in human_depths"
        )

    missing = [d for d in range(depth) if d not in people]
    if missing and overseer is None:
        raise UsageError(f"nodes at depth {missing[0]} need an overseer: choose overseer llm or program")
    machine = overseer if overseer is not None else person  # only used at depths people don't work
    return hch_tree(person, leaf, depth, overseer_at=lambda d: person if d in people else machine)


class _HasPeople(Protocol):
    @property
    def overseer(self) -> str: ...

    @property
    def human_depths(self) -> list[int]: ...

    @property
    def depth(self) -> int: ...


def has_people(spec: _HasPeople) -> bool:
    """Whether a person works any node of the run ``spec`` describes."""
    return bool(human_depths_of(spec.overseer, spec.human_depths, spec.depth))
