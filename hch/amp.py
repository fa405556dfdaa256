"""The amplification operator and HCH trees built from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hch.limits import check_depth
from hch.node import Node
from hch.protocols import Model, Overseer
from hch.workspace import Workspace


@dataclass(frozen=True)
class Amp:
    """Amp(H, M): the overseer H answering with the help of fresh copies of M.

    It is a :class:`~hch.protocols.Model` itself, one level deeper than M.
    """

    overseer: Overseer
    model: Model
    level: int = field(init=False)
    """One more than ``model``'s: stored, not derived on each read, so that a
    deep tree never walks (or recurses) through all its levels to know it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", self.model.level + 1)

    @property
    def name(self) -> str:
        return self.overseer.name

    async def answer(self, node: Node) -> str:
        return await self.overseer(Workspace(node, self.model))


def hch_tree(
    overseer: Overseer,
    base: Model,
    depth: int,
    *,
    overseer_at: Callable[[int], Overseer] | None = None,
) -> Model:
    """A depth-``depth`` HCH tree: Amp^depth(base), ``overseer`` at every node.

    ``overseer_at`` overrides that by a node's distance to the root (0 = root),
    for trees where, say, a person works the top and a model the rest.
    """
    check_depth(depth)
    model = base
    for level in range(1, depth + 1):
        distance = depth - level
        model = Amp(overseer_at(distance) if overseer_at else overseer, model)
    return model
