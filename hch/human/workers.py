"""People as the overseer H and as the base model M0 of a tree."""

from __future__ import annotations

from hch.human.console import HumanConsole
from hch.human.modes import Mode
from hch.human.session import Drafter, NodeSession
from hch.node import Node
from hch.workspace import Workspace


class HumanOverseer:
    """An :class:`~hch.protocols.Overseer` worked by a person at the run's terminal.

    In ``augmented`` and ``review`` mode a ``drafter`` (an LLM) drafts or
    proposes each step (see :mod:`hch.human.session`).
    """

    def __init__(self, console: HumanConsole, *, mode: Mode = "direct", drafter: Drafter | None = None) -> None:
        if mode != "direct" and drafter is None:
            raise ValueError(f"{mode} mode needs a drafter (an LLM)")
        self.console = console
        self.mode: Mode = mode
        self.drafter = drafter

    @property
    def name(self) -> str:
        """Who works the node, as transcripts and ``hch show`` name it."""
        if self.mode == "direct" or self.drafter is None:
            return "human"
        return f"human+{self.drafter.name} ({self.mode})"

    async def __call__(self, ws: Workspace) -> str:
        return await NodeSession(self.console, ws.node, ws, mode=self.mode, drafter=self.drafter).run()


class HumanBaseModel:
    """A :class:`~hch.protocols.Model` of depth 0: a person answers the question without help."""

    level = 0

    def __init__(self, console: HumanConsole) -> None:
        self.console = console

    @property
    def name(self) -> str:
        return "human"

    async def answer(self, node: Node) -> str:
        return await NodeSession(self.console, node, None).run()
