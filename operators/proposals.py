"""Candidate proposers: the model M of approval-based amplification (and of RRM)
proposing K candidate answers to a question.

Every proposal is a run through the engine: a depth-0 run whose root node is
worked by a proposer model and whose answer is the candidate. Its
:class:`~hch.app.spec.RunSpec` names the candidate (``spec.proposal``), so
``hch replay`` rebuilds the same proposer and reproduces the candidate.

- On an algorithmic task, :class:`NoisyProposer` is a *simulated* policy: it
  reads the true answer (a recorded lookup of the task's solver) and, with
  probability ``noise``, replaces it by a plausible wrong value (in the
  answer's range, near the truth: the errors a careless solver makes). Whether
  candidate ``index`` is wrong, and how, is drawn from a generator seeded by
  the seed, the question and the index, so a replay draws the same.
- On free text, :class:`SampledProposer` is the base LLM answering directly,
  as the tree's leaves do, with sample index ``index`` (part of the request
  and the cache key, and an offset of the seed): K samples at a temperature
  above 0 are K different candidates.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hch.app.spec import ProposalSpec, RunSpec
from hch.errors import Label, UsageError, by_name, needs_model
from hch.node import Node
from hch.protocols import Model
from hch.tasks import Task, lookup
from hch.tasks.base import parse_answer

if TYPE_CHECKING:
    from hch.llm.client import LLMClient
    from hch.llm.overseer import ChatClient, StructuredOutput

_NEAR_MISSES = (-2, -1, 1, 2)
"""How far a wrong candidate is from the truth: close, so it looks plausible."""


def wrong_value(task: Task, facts: dict[str, Any], truth: str, rng: random.Random) -> str:
    """A plausible wrong answer: the truth moved by a near miss, kept in the answer's range.

    Permutation answers are elements (taken modulo the permutation's size),
    assignment answers are values mod 8, wildcard answers are sums (any
    integer), so the wrong value is never refutable by its form alone.
    """
    value = parse_answer(truth)
    if value is None:  # the solver always answers an integer; keep the guard honest
        raise ValueError(f"cannot make a wrong answer from {truth!r}")
    modulus = _answer_modulus(task, facts)
    for _ in range(len(_NEAR_MISSES)):
        wrong = value + rng.choice(_NEAR_MISSES)
        if modulus is not None:
            wrong %= modulus
        if wrong != value:
            return str(wrong)
    return str(value + 1)  # a modulus of 1 or 2 leaves few choices; unreachable for generated instances


def _answer_modulus(task: Task, facts: dict[str, Any]) -> int | None:
    if task.name == "permutation":
        return len(facts["permutation"])
    if task.name == "assignments":
        return 8
    return None


def is_wrong_draw(seed: int, question: str, index: int, noise: float) -> tuple[bool, random.Random]:
    """Whether candidate ``index`` of ``question`` is wrong, and the generator that then picks the wrong value."""
    rng = random.Random(f"proposal:{seed}:{question}:{index}")
    return rng.random() < noise, rng


@dataclass(frozen=True)
class NoisyProposer:
    """A simulated proposer for the algorithmic tasks (see the module docstring).

    It is a stand-in for a learned policy: it knows the true answer and errs
    on purpose, so that approval can be measured against ground truth.
    """

    task: Task
    facts: dict[str, Any]
    proposal: ProposalSpec
    level: int = 0

    @property
    def name(self) -> str:
        return f"noisy-proposer(p={self.proposal.noise})"

    async def answer(self, node: Node) -> str:
        task, facts, question = self.task, self.facts, node.question
        truth = await lookup(node, f"solve: {question}", lambda: task.solve(facts, question))
        p = self.proposal
        wrong, rng = is_wrong_draw(p.seed, question, p.index, p.noise or 0.0)
        return wrong_value(task, facts, truth, rng) if wrong else truth


class _SampleOf:
    """A chat client that asks for sample ``index`` of every request it passes on."""

    def __init__(self, client: ChatClient, index: int) -> None:
        self._client = client
        self._index = index

    async def chat(
        self,
        node: Node,
        messages: list[dict[str, str]],
        *,
        purpose: str,
        response_format: dict[str, Any] | None = None,
        sample: int = 0,
    ) -> str:
        return await self._client.chat(
            node, messages, purpose=purpose, response_format=response_format, sample=self._index
        )

    def reservation(self, messages: list[dict[str, str]], *, response_format: dict[str, Any] | None = None) -> int:
        return self._client.reservation(messages, response_format=response_format)


def sampled_proposer(llm: LLMClient, index: int, output: StructuredOutput) -> Model:
    """The base LLM answering directly with sample index ``index``."""
    from hch.llm.overseer import LLMBaseModel
    from hch.llm.prompts import DEFAULT_PROMPTS

    name = f"llm:{llm.settings.model}#sample{index}"
    return LLMBaseModel(_SampleOf(llm, index), DEFAULT_PROMPTS, output=output, name=name)


def build_proposer(spec: RunSpec, llm: LLMClient | None) -> Model:
    """The proposer ``spec.proposal`` names: noisy on a task, a sample of the LLM on free text."""
    proposal = spec.proposal
    assert proposal is not None
    if spec.depth != 0:
        raise UsageError(f"a proposal is one step of the model (depth 0), got depth {spec.depth}")
    if spec.task is not None:
        task, facts = spec.task.checked(spec.question)
        if proposal.noise is None:
            raise UsageError("a proposal on a task needs a noise level")
        return NoisyProposer(task, facts, proposal)
    if llm is None:
        raise needs_model("a proposal on free text")
    return sampled_proposer(llm, proposal.index, spec.structured_output)


def proposal_specs(
    question: RunSpec, k: int, *, noise: float | None, seed: int, label: Label = by_name
) -> list[RunSpec]:
    """The K proposal runs for ``question`` (a spec of the question: its task instance or model settings).

    On free text the model must sample (temperature above 0), or the K
    candidates would be one candidate K times. An error names an option
    through ``label`` (:data:`hch.errors.Label`).
    """
    if k < 1:
        raise UsageError(f"{label('candidates')} must be at least 1, got {k}")
    if question.task is None:
        temperature = question.llm.temperature if question.llm is not None else 0.0
        if k > 1 and not temperature:
            raise UsageError(f"K samples of the model need {label('temperature')} above 0 (at 0 they are all the same)")
    elif noise is None:
        raise UsageError(f"proposals on a task need {label('noise')} (the probability that a candidate is wrong)")
    return [
        question.model_copy(
            update={
                "depth": 0,
                "budget": None,
                "overseer": "program" if question.task is not None else "llm",
                "human_depths": [],
                "human_mode": "direct",
                "proposal": ProposalSpec(index=i, noise=noise if question.task is not None else None, seed=seed),
                "approval": None,
            }
        )
        for i in range(k)
    ]
