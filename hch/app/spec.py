"""What a run is: enough to build its tree again from a transcript header.

Options become a :class:`RunSpec` (:mod:`hch.app.options`); :func:`build_model` turns a spec
into the model tree; the spec is stored in the transcript header under
``settings.spec`` so that replay and resume rebuild exactly the same tree. A
task instance's facts are stored in full, so a transcript needs no other file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hch.amp import hch_tree
from hch.errors import UsageError, needs_model
from hch.executor import DEFAULT_MAX_SUBQUESTIONS
from hch.human.build import human_depths_of, human_tree
from hch.human.modes import FORMER_NAMES
from hch.limits import check_budget, check_depth, check_max_subquestions, check_token_budget
from hch.llm.settings import LLMSettings
from hch.protocols import Model, Overseer
from operators.debate.spec import DebateSpec

if TYPE_CHECKING:
    # Imported lazily below: hch.llm pulls in the OpenAI SDK, which runs without a model need not load;
    # the people's side of a tree (the terminal, rich) and the tasks are loaded by the runs that have them.
    from hch.human.session import Drafter
    from hch.llm.client import LLMClient
    from hch.tasks import Task


class TaskSpec(BaseModel):
    """An algorithmic task instance: the task's name and its fact table."""

    model_config = ConfigDict(extra="forbid")

    name: str
    facts: dict[str, Any]
    seed: int | None = None
    size: int | None = None

    def checked(self, question: str) -> tuple[Task, dict[str, Any]]:
        """The task and its facts, both checked, and ``question`` checked against them (a one-line UsageError)."""
        from hch.tasks import find_task

        task = find_task(self.name)
        facts = task.validate_facts(self.facts)
        task.parse_question(facts, question)
        return task, facts


class ProposalSpec(BaseModel):
    """A run that proposes one candidate answer (see :mod:`operators.proposals`).

    On a task, the candidate is the true answer made wrong with probability
    ``noise`` (deterministic from ``seed``, the question and ``index``); on free
    text, it is the base LLM's sample number ``index``.
    """

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    noise: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int = 0


class ApprovalSpec(BaseModel):
    """A run in which the overseer rates a candidate answer (see :mod:`operators.approval`)."""

    model_config = ConfigDict(extra="forbid")

    question: str
    candidate: str


class BestOfNSpec(BaseModel):
    """The best-of-n policy as the tree's base model (see :mod:`operators.approval.policy`)."""

    model_config = ConfigDict(extra="forbid")

    candidates: int = Field(ge=1)
    rating_depth: int = Field(ge=1)
    """Depth of the approval tree that rates the candidates."""
    noise: float | None = Field(default=None, ge=0.0, le=1.0)
    """On a task, the probability that a proposed candidate is wrong."""
    seed: int = 0


class DistilledSpec(BaseModel):
    """A distilled model M_{t+1}, rebuilt from a dataset under ``$HCH_HOME/datasets`` (see docs/operators.md).

    The dataset is named, not embedded, and pinned by the sha256 of its
    examples file: building the model refuses a dataset whose digest differs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["memorising", "in_context", "endpoint"]
    """``memorising``: a table of Amp(M_t)'s answers (a stand-in that does not generalise);
    ``in_context``: the base LLM prompted with the most similar amplified examples;
    ``endpoint``: a model trained on the dataset elsewhere and served at the run's endpoint as ``model``."""
    dataset: str
    sha256: str
    """The dataset it was distilled from (its examples file's sha256), checked whenever it is built."""
    k: int = Field(default=4, ge=1)
    """Examples shown per question (``in_context``)."""
    model: str | None = None
    """The trained model's name at the endpoint (``endpoint``)."""


class RRMSpec(BaseModel):
    """A run of recursive reward modeling (see :mod:`operators.rrm`): the agent
    answering a question, or an overseer comparing two answers with its assistant."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["agent", "compare"]
    candidates: int = Field(ge=1)
    """n of the agent's best-of-n."""
    noise: float | None = Field(default=None, ge=0.0, le=1.0)
    """On a task: the probability that one of the agent's candidates is wrong."""
    seed: int = 0
    reward_model: dict[str, Any] | None = None
    """The agent's reward model, as its saved JSON (digest checked on rebuild); None: the base agent."""
    tag: str = ""
    """What the reward model prefixes to questions (the task instance)."""
    assisted: bool = True
    """Compare: whether the overseer may consult the assistant, Amp^assist_depth(agent)."""
    assist_depth: int = Field(default=1, ge=0)
    human: bool = False
    """Compare: a person compares, at the terminal."""


class RunSpec(BaseModel):
    """A question, the tree's bounds, and who works the nodes."""

    model_config = ConfigDict(extra="forbid")

    question: str
    depth: int
    budget: int | None = None
    max_subquestions: int = DEFAULT_MAX_SUBQUESTIONS
    # Left out of the JSON when unbounded, so a header without a token budget is what it was before them.
    token_budget: int | None = Field(default=None, exclude_if=lambda value: value is None)
    """Model tokens the whole tree may spend (None: unbounded; see docs/budgets.md)."""
    overseer: Literal["program", "llm", "human"] = "program"
    human_depths: list[int] = Field(default_factory=list)
    """Depths (0 = the root, ``depth`` = the leaves) where a person works the nodes (see hch.human.build)."""
    human_mode: Literal["direct", "augmented", "review"] = "direct"
    """How a person works an overseer node: alone, taking an LLM's drafts, or reviewing an LLM's steps."""
    task: TaskSpec | None = None
    llm: LLMSettings | None = None
    """The model's settings (no key: see :mod:`hch.llm.settings`) when an LLM works or drafts any node.

    Recorded as the JSON object ``LLMSettings.public()`` gives, the form headers have always held."""
    structured_output: Literal["json_schema", "json_object_schema", "json_object", "text"] = "json_schema"
    """How the LLM's replies are constrained (see ``hch.llm.overseer.StructuredOutput``)."""
    proposal: ProposalSpec | None = None
    """Set when the run proposes a candidate answer to ``question`` (approval-based amplification)."""
    approval: ApprovalSpec | None = None
    """Set when the run's overseer rates a candidate answer (approval-based amplification)."""
    debate: DebateSpec | None = None
    """A debate on the question (see :mod:`operators.debate`) instead of a tree: depth 0, one node."""
    best_of_n: BestOfNSpec | None = None
    """Set when the tree's base model is the best-of-n policy (approval-based amplification)."""
    distilled: DistilledSpec | None = None
    """The model M the tree consults at its leaves instead of the task's lookup oracle or the LLM."""
    rrm: RRMSpec | None = None
    """Set when the run is part of recursive reward modeling (the agent, or a comparison)."""

    @field_validator("human_mode", mode="before")
    @classmethod
    def _former_mode_name(cls, value: object) -> object:
        """Headers written before review mode was renamed say ``approval``: read them as ``review``."""
        return FORMER_NAMES.get(value, value) if isinstance(value, str) else value


def check_bounds(
    depth: int,
    budget: int | None,
    max_subquestions: int,
    *,
    token_budget: int | None = None,
    label: Callable[[str], str] = str,
) -> None:
    """Reject impossible or out-of-limit bounds with a one-line message (limits: :mod:`hch.limits`).

    ``label`` names an option in the message, given its name (``max_subquestions``): see
    :data:`hch.errors.Label`.
    """
    check_depth(depth, label("depth"))
    check_budget(budget, label("budget"))
    check_max_subquestions(max_subquestions, label("max_subquestions"))
    check_token_budget(token_budget, label("token_budget"))


def needs_llm(spec: RunSpec) -> bool:
    """Whether the tree has a node an LLM works or drafts (so the run needs a model client)."""
    if spec.debate is not None:
        return spec.debate.needs_llm
    if spec.human_mode != "direct" or spec.overseer == "llm":
        return True
    leaves_human = spec.depth in human_depths_of(spec.overseer, spec.human_depths, spec.depth)
    if spec.distilled is not None:
        return spec.distilled.kind != "memorising" and not leaves_human
    if spec.task is not None:
        return False
    # Free text: the leaves are the LLM's unless a person answers them too.
    return not leaves_human


def build_model(spec: RunSpec, *, llm: LLMClient | None = None) -> Model:
    """The HCH tree the spec describes; ``llm`` is the run's model client when :func:`needs_llm`."""
    check_bounds(spec.depth, spec.budget, spec.max_subquestions, token_budget=spec.token_budget)
    if spec.proposal is not None or spec.approval is not None or spec.best_of_n is not None or spec.rrm is not None:
        # Imported here: the operators build on the engine, not the other way round.
        from operators.models import build_operator_model

        return build_operator_model(spec, llm=llm)
    if spec.debate is not None:
        from operators.debate.model import debate_model

        return debate_model(spec, llm=llm)
    overseer: Overseer | None = None
    base: Model | None = None
    drafter: Drafter | None = None
    if needs_llm(spec):
        if llm is None:
            raise needs_model("this run")
        from hch.llm.overseer import LLMBaseModel, LLMOverseer
        from hch.llm.prompts import DEFAULT_PROMPTS

        name = f"llm:{llm.settings.model}"
        output = spec.structured_output
        overseer = LLMOverseer(llm, DEFAULT_PROMPTS, spec.max_subquestions, output=output, name=name)
        base = LLMBaseModel(llm, DEFAULT_PROMPTS, output=output, name=name)
        if spec.human_mode != "direct":
            from hch.human.drafter import LLMDrafter  # (people only)

            drafter = LLMDrafter(llm, DEFAULT_PROMPTS, spec.max_subquestions, output=output, name=name)
    if spec.task is not None:
        task, facts = spec.task.checked(spec.question)
        program = None if spec.overseer == "llm" else task.overseer(facts)
        leaves = _distilled(spec, llm, facts) if spec.distilled is not None else task.oracle(facts)
        return place_people(spec, program or overseer, leaves, drafter)
    if spec.distilled is not None:
        base = _distilled(spec, llm, None)
    return place_people(spec, overseer, base, drafter)


def _distilled(spec: RunSpec, llm: LLMClient | None, facts: dict[str, Any] | None) -> Model:
    # Imported here: the engine only needs the operators' learners when a spec names one.
    from operators.imitative.learners import build_distilled

    assert spec.distilled is not None
    return build_distilled(spec.distilled, llm=llm, facts=facts, output=spec.structured_output)


def place_people(spec: RunSpec, overseer: Overseer | None, base: Model | None, drafter: Drafter | None = None) -> Model:
    """The tree with ``overseer`` and ``base``, and a person wherever the spec puts one (see hch.human.build).

    ``drafter`` (an LLM) drafts or proposes steps for people in augmented or review mode.
    """
    people = human_depths_of(spec.overseer, spec.human_depths, spec.depth)
    if not people:
        if overseer is None or base is None:
            raise UsageError("this tree needs an overseer and a base model")
        return hch_tree(overseer, base, spec.depth)
    from hch.human.console import HumanConsole

    machine = None if spec.overseer == "human" else overseer
    return human_tree(
        spec.depth, people, console=HumanConsole(), overseer=machine, base=base, mode=spec.human_mode, drafter=drafter
    )
