"""hch: an asyncio engine for amplification and HCH (Humans Consulting HCH).

The names below are loaded on first use (PEP 562), so that importing a light
module of the package (``hch.errors``, ``hch.paths``) does not load the engine and
pydantic: ``hch --help`` pays only for what it shows.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hch.amp import Amp, hch_tree
    from hch.budget import Budget
    from hch.errors import BoundExceeded, HCHError, UsageError
    from hch.executor import RunResult, run_node, run_question
    from hch.node import Node
    from hch.protocols import Model, Overseer
    from hch.step import Step
    from hch.version import __version__
    from hch.workspace import Arrival, Arrivals, BatchCheck, Exchange, Planned, Workspace

_WHERE = {
    "Amp": "hch.amp",
    "hch_tree": "hch.amp",
    "Budget": "hch.budget",
    "BoundExceeded": "hch.errors",
    "HCHError": "hch.errors",
    "UsageError": "hch.errors",
    "RunResult": "hch.executor",
    "run_node": "hch.executor",
    "run_question": "hch.executor",
    "Node": "hch.node",
    "Model": "hch.protocols",
    "Overseer": "hch.protocols",
    "Step": "hch.step",
    "__version__": "hch.version",
    "Arrival": "hch.workspace",
    "Arrivals": "hch.workspace",
    "BatchCheck": "hch.workspace",
    "Exchange": "hch.workspace",
    "Planned": "hch.workspace",
    "Workspace": "hch.workspace",
}
"""Where each public name lives (the import it stands for, not a registry of behaviour)."""

__all__ = [
    "Amp",
    "Arrival",
    "Arrivals",
    "BatchCheck",
    "BoundExceeded",
    "Budget",
    "Exchange",
    "HCHError",
    "Model",
    "Node",
    "Overseer",
    "Planned",
    "RunResult",
    "Step",
    "UsageError",
    "Workspace",
    "__version__",
    "hch_tree",
    "run_node",
    "run_question",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
