"""Distilled models M_{t+1}, usable at once as a :class:`~hch.protocols.Model` and rebuilt from a run's spec.

:class:`MemorisingLearner` is a **stand-in learner**: a table of the answers
Amp(M_t) gave, errors included, copied from a distillation dataset. It
memorises and does not generalise: a question it was not shown gets
``unknown``. Christiano's own amplification code used a memoiser the same way,
to study the amplify/distill loop without training a network. Because it only
knows questions it saw, the questions it is trained on must be closed under
decomposition (see :mod:`operators.imitative.iterate`).

A spec names the model by dataset name and digest (:class:`hch.app.spec.DistilledSpec`),
never by embedding the table: :func:`build_distilled` opens the dataset under
``$HCH_HOME/datasets``, refuses it if its examples file's sha256 is not the
recorded one, and reads it strictly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from hch.app.spec import DistilledSpec
from hch.errors import UsageError, needs_model
from hch.node import Node
from hch.protocols import Model
from hch.tasks import UNKNOWN, lookup
from operators.dataset import Dataset, DatasetError, open_dataset, sha256_file
from operators.imitative.examples import ImitationExample, instance_key
from operators.paths import dataset_dir

if TYPE_CHECKING:
    from hch.llm.client import LLMClient
    from hch.llm.overseer import StructuredOutput


Table = dict[str | None, dict[str, str]]
"""instance (None for free text) -> question -> answer."""

T = TypeVar("T")


@dataclass(frozen=True)
class MemorisingLearner:
    """M_{t+1} as a lookup table of Amp(M_t)'s answers: it memorises and does not generalise.

    Each answer is recorded as a lookup (``oracle_call``) of the node, so a
    run's transcript shows what the learner was asked and what it answered,
    and a replay or resume gets the recorded answer back.
    """

    dataset: str
    table: Mapping[str, str]
    level: int = 0

    @property
    def name(self) -> str:
        return f"memoriser:{self.dataset}"

    async def answer(self, node: Node) -> str:
        table = self.table
        question = node.question.strip()
        return await lookup(node, node.question, lambda: table.get(question, UNKNOWN))


def open_pinned(spec: DistilledSpec) -> Dataset:
    """The dataset ``spec`` names, refused unless its examples file has the recorded sha256."""
    folder = dataset_dir(spec.dataset)
    if not (folder / "manifest.json").is_file():
        raise DatasetError(f"{folder}: the distilled model's dataset {spec.dataset!r} is not there")
    dataset = open_dataset(folder)
    actual = sha256_file(dataset.examples_path)
    if actual != spec.sha256 or dataset.manifest.examples_sha256 != spec.sha256:
        raise DatasetError(
            f"{dataset.examples_path}: sha256 {actual[:16]}... is not the {spec.sha256[:16]}... the model was "
            "distilled from: the dataset changed since"
        )
    return dataset


_LOADED: dict[tuple[str, str, str, int, int], Any] = {}
_LOADED_LOCK = threading.Lock()


def _pinned_examples(spec: DistilledSpec, what: str, build: Callable[[list[ImitationExample]], T]) -> T:
    """``build`` applied to the pinned dataset's examples, read and verified once per file version.

    A batch builds thousands of trees from one spec, and re-reading a large
    dataset for each would dominate the run. The key includes the file's size
    and mtime, so a changed file is read (and its digest checked) again.
    """
    path = dataset_dir(spec.dataset) / "examples.jsonl"
    try:
        stat = path.stat()
        size, mtime = stat.st_size, stat.st_mtime_ns
    except OSError:
        size, mtime = -1, -1
    key = (what, str(path), spec.sha256, size, mtime)
    with _LOADED_LOCK:
        if key in _LOADED:
            return cast(T, _LOADED[key])
    value = build(open_pinned(spec).examples(ImitationExample))
    with _LOADED_LOCK:
        # Keep the last few versions only: a run needs one or two (the round's model and the previous one).
        while len(_LOADED) >= 4:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = value
    return value


def memorised_table(spec: DistilledSpec) -> Table:
    """Every example of the pinned dataset, by instance and question."""

    def build(examples: list[ImitationExample]) -> Table:
        table: Table = {}
        for e in examples:
            table.setdefault(e.instance, {})[e.question.strip()] = e.answer
        return table

    return _pinned_examples(spec, "table", build)


def build_distilled(
    spec: DistilledSpec,
    *,
    llm: LLMClient | None,
    facts: dict[str, Any] | None,
    output: StructuredOutput = "json_schema",
) -> Model:
    """The model ``spec`` names; ``facts`` is the run's task instance (a memoriser keeps its questions only)."""
    if spec.kind == "memorising":
        wanted = instance_key(facts) if facts is not None else None
        return MemorisingLearner(spec.dataset, memorised_table(spec).get(wanted, {}))
    if spec.kind == "in_context":
        from operators.imitative.in_context import InContextLearner, Retriever

        if llm is None:
            raise needs_model("the in-context distilled model")
        retriever = _pinned_examples(
            spec, "retriever", lambda es: Retriever.build([(e.question, e.answer) for e in es])
        )
        return InContextLearner(llm, spec.dataset, retriever, spec.k)
    if spec.kind == "endpoint":
        from hch.llm.overseer import LLMBaseModel
        from hch.llm.prompts import DEFAULT_PROMPTS

        if llm is None or spec.model is None:
            raise UsageError("a model trained elsewhere needs its name and the run's endpoint (base_url)")
        open_pinned(spec)  # the data it was trained on must still be the data named
        return LLMBaseModel(llm.for_model(spec.model), DEFAULT_PROMPTS, output=output, name=f"llm:{spec.model}")
    raise UsageError(f"unknown distilled model kind {spec.kind!r}")
