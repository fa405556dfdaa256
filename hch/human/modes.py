"""How a person works a node (``direct``, ``augmented``, ``review``): the names, apart from
the commands a person types (:mod:`hch.human.commands`), so that building a tree from a
spec (:mod:`hch.app.spec`, :mod:`hch.human.build`) loads no prompt parsing."""

from __future__ import annotations

from typing import Literal

Mode = Literal["direct", "augmented", "review"]
"""How a person works a node: alone, accepting or editing an LLM's drafts, or
reviewing each step an LLM takes (approving or rejecting it). Named apart from
approval-based amplification (:mod:`operators.approval`), which is something else."""

MODES: tuple[Mode, ...] = ("direct", "augmented", "review")

FORMER_NAMES: dict[str, Mode] = {"approval": "review"}
"""Modes by the name they had before: transcripts written then record it."""


def recorded_mode(mode: Mode) -> str:
    """The mode as a person's input request records it (and so hashes it).

    Review mode was called ``approval`` when the first transcripts were written,
    and a request's hash is how replay finds the recorded input: keeping the
    recorded word keeps those transcripts replaying.
    """
    return "approval" if mode == "review" else mode
