"""The pluggable parts of the engine.

A :class:`Model` answers a question in one step as far as its caller can see.
An :class:`Overseer` works one node through a :class:`~hch.workspace.Workspace`:
it reads the question, may ask subquestions (each answered by a fresh copy of
the model it consults), and returns its answer. ``Amp(overseer, model)`` is
itself a Model, so a depth-k HCH tree is Amp applied k times to a base model.
A :class:`Recorder` is where a run's events go.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pathlib import Path

    from hch.node import Node
    from hch.workspace import Workspace
    from transcripts.events import Event


@runtime_checkable
class Model(Protocol):
    """Answers a question; ``level`` is how many amplification levels it contains (a base model's is 0).

    The same measure as :attr:`Node.level <hch.node.Node.level>` of the node it answers:
    counted from the leaves, whereas a node's ``depth`` is its distance from the root.
    """

    @property
    def name(self) -> str: ...

    @property
    def level(self) -> int: ...

    async def answer(self, node: Node) -> str: ...


@runtime_checkable
class Overseer(Protocol):
    """Works a node: may ``await ws.ask(...)`` while it can, and returns the answer."""

    @property
    def name(self) -> str: ...

    async def __call__(self, ws: Workspace) -> str: ...


class Recorder(Protocol):
    """Where a run's events go, in the order the engine emits them.

    The engine records through this, not through a file:
    :class:`transcripts.writer.TranscriptWriter` is the recorder that writes a
    transcript file; a test may keep the events in a list.
    """

    @property
    def path(self) -> Path | None:
        """The file the events are written to (None: they are kept elsewhere)."""
        ...

    def emit(self, event: Event) -> object:
        """Record ``event`` (the file writer stamps it with seq, time and chained hash)."""
        ...

    def close(self) -> None:
        """Record everything emitted so far and release the recorder."""
        ...
