"""hch: an asyncio engine for amplification and HCH (Humans Consulting HCH)."""

from hch.amp import Amp, hch_tree
from hch.budget import Budget
from hch.errors import BoundExceeded, HCHError, UsageError
from hch.executor import RunResult, run_node, run_question
from hch.node import Node
from hch.protocols import Model, Overseer
from hch.step import Step
from hch.version import __version__
from hch.workspace import Exchange, Workspace

__all__ = [
    "Amp",
    "BoundExceeded",
    "Budget",
    "Exchange",
    "HCHError",
    "Model",
    "Node",
    "Overseer",
    "RunResult",
    "Step",
    "UsageError",
    "Workspace",
    "__version__",
    "hch_tree",
    "run_node",
    "run_question",
]
