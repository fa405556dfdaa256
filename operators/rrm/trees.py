"""The trees of an RRM run, rebuilt from a run spec (``spec.rrm``).

- ``agent``: the agent of a round answering one question: best-of-n against
  the round's reward model (depth 0).
- ``compare``: an overseer comparing two answers, consulting the assistant
  Amp^k(agent of the previous round) when ``assisted``; the tree is
  Amp(comparator, Amp^k(task overseer, agent)), depth k + 1.

Everything a tree needs (the task's facts, the proposer's seed and noise, the
reward model's coefficients) is in the spec, so ``hch replay`` rebuilds it
from the transcript alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hch.amp import Amp, hch_tree
from hch.app.spec import RRMSpec, RunSpec
from hch.errors import UsageError, needs_model
from hch.human.console import HumanConsole
from hch.protocols import Model, Overseer
from hch.tasks import find_task
from operators.rrm.agent import BestOfN, NoisyTaskProposer, Proposer, SampledLLMProposer
from operators.rrm.comparison import LLMComparator, TaskComparator
from operators.rrm.reward_model import LinearRewardModel

if TYPE_CHECKING:
    from hch.llm.client import LLMClient


def agent_of(spec: RunSpec, rrm: RRMSpec, llm: LLMClient | None) -> BestOfN:
    """The agent the spec names: its proposer, n, and reward model (digest checked)."""
    reward_model = (
        LinearRewardModel.from_json(rrm.reward_model, "the run spec's reward model")
        if rrm.reward_model is not None
        else None
    )
    proposer: Proposer
    if spec.task is None:
        if llm is None:
            raise needs_model("the agent on free text")
        proposer = SampledLLMProposer(spec, llm)
        name = f"agent(best-of-{rrm.candidates} samples)" if reward_model is not None else "agent(one sample)"
        return BestOfN(proposer, rrm.candidates, reward_model, tag=rrm.tag, name=name)
    if rrm.noise is None:
        raise UsageError("the agent of a task needs a noise level (noise)")
    facts: dict[str, Any] = find_task(spec.task.name).validate_facts(spec.task.facts)
    proposer = NoisyTaskProposer(spec.task.name, facts, rrm.noise, rrm.seed)
    name = "agent" if reward_model is None else f"agent(best-of-{rrm.candidates})"
    return BestOfN(proposer, rrm.candidates, reward_model, tag=rrm.tag, name=name)


def build_rrm_tree(spec: RunSpec, llm: LLMClient | None, *, console: HumanConsole | None = None) -> Model:
    """The agent or the comparison tree ``spec.rrm`` describes."""
    rrm = spec.rrm
    assert rrm is not None
    agent = agent_of(spec, rrm, llm)
    if rrm.role == "agent":
        if spec.depth != 0:
            raise UsageError(f"the agent answers in one step (depth 0), got depth {spec.depth}")
        return agent
    if spec.depth != rrm.assist_depth + 1:
        raise UsageError(f"a comparison tree has depth assist_depth + 1 = {rrm.assist_depth + 1}, got {spec.depth}")
    if spec.task is None:
        return _free_text_comparison(spec, rrm, agent, llm, console)
    task = find_task(spec.task.name)
    facts = task.validate_facts(spec.task.facts)
    assistant = hch_tree(task.overseer(facts), agent, rrm.assist_depth)
    comparator: Overseer
    if rrm.human:
        from operators.rrm.human import HumanComparator

        comparator = HumanComparator(console or HumanConsole())
    else:
        comparator = TaskComparator(task.name, facts, rrm.assisted, rrm.seed)
    return Amp(comparator, assistant)


def _free_text_comparison(
    spec: RunSpec, rrm: RRMSpec, agent: BestOfN, llm: LLMClient | None, console: HumanConsole | None
) -> Model:
    """Amp(comparator, Amp^k(LLM overseer, agent)): an LLM (or a person) judges, the LLM decomposes below."""
    from hch.llm.overseer import LLMBaseModel, LLMOverseer
    from hch.llm.prompts import DEFAULT_PROMPTS

    assert llm is not None  # agent_of refused free text without a model
    name = f"llm:{llm.settings.model}"
    output = spec.structured_output
    overseer = LLMOverseer(llm, DEFAULT_PROMPTS, spec.max_subquestions, output=output, name=name)
    assistant = hch_tree(overseer, agent, rrm.assist_depth)
    comparator: Overseer
    if rrm.human:
        from operators.rrm.human import HumanComparator

        comparator = HumanComparator(console or HumanConsole())
    else:
        judge = LLMBaseModel(llm, DEFAULT_PROMPTS, output=output, name=name)
        comparator = LLMComparator(overseer, judge, rrm.assisted, rrm.seed)
    return Amp(comparator, assistant)
