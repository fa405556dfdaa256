"""Distillers: what turns Amp(M_t)'s dataset into M_{t+1}. A Protocol, so a researcher plugs in their own.

A distiller returns M_{t+1} as a run's spec names it
(:class:`~hch.app.spec.DistilledSpec`), so every tree that consults it is rebuilt
by ``hch replay`` from its transcript: the built-in ones, and a model trained
elsewhere (a LoRA adapter, a fine-tuning job) served at the run's endpoint
under a name (``kind="endpoint"``). docs/operators.md has a complete example.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hch.app.spec import DistilledSpec
from operators.dataset import Dataset
from operators.imitative.examples import ImitationExample


@runtime_checkable
class Distiller(Protocol):
    """Turns a distillation dataset (the answers of Amp(M_t)) into M_{t+1}."""

    @property
    def name(self) -> str: ...

    async def distill(self, dataset: Dataset) -> DistilledSpec:
        """M_{t+1}, trained on ``dataset``; the dataset's name and digest go in the returned spec."""
        ...


@dataclass(frozen=True)
class MemorisingDistiller:
    """The memorising stand-in learner: a table of the dataset's answers. It does not generalise."""

    name: str = "memorising"

    async def distill(self, dataset: Dataset) -> DistilledSpec:
        # Strict: a damaged dataset is refused here, not mid-round.
        await asyncio.to_thread(dataset.examples, ImitationExample)
        return DistilledSpec(kind="memorising", dataset=dataset.name, sha256=dataset.manifest.examples_sha256)


@dataclass(frozen=True)
class InContextDistiller:
    """The base LLM shown the ``k`` most similar examples of the dataset (free text)."""

    k: int = 4
    name: str = "in-context"

    async def distill(self, dataset: Dataset) -> DistilledSpec:
        dataset.examples(ImitationExample)
        return DistilledSpec(kind="in_context", dataset=dataset.name, sha256=dataset.manifest.examples_sha256, k=self.k)
