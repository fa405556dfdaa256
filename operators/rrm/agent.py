"""The agent RRM optimises: best-of-n candidates by the reward model's score.

A :class:`Proposer` supplies candidate answers (the policy before
optimisation); :class:`BestOfN` is a :class:`~hch.protocols.Model` that asks it
for n candidates, scores each with the reward model, records the scores as a
``reward_scores`` event, and answers with the best. With no reward model it is
the base agent: it answers with its first candidate (one sample).

:class:`NoisyTaskProposer` is the stand-in policy for the algorithmic tasks: it
is a *simulated* policy, not a learner. Each candidate is the exact answer with
probability 1 - noise and otherwise a near miss (approval's draws), from a
generator seeded by (seed, question, candidate index), so a replay gets the
same candidates.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hch.app.spec import RunSpec
from hch.errors import UsageError
from hch.node import Node
from hch.tasks import UNKNOWN, find_task, lookup
from operators.proposals import is_wrong_draw, sampled_proposer, wrong_value
from operators.rrm.reward_model import RewardModel
from transcripts.events import RewardScores

if TYPE_CHECKING:
    from hch.llm.client import LLMClient


class Proposer(Protocol):
    """Proposes candidate answers to a node's question."""

    @property
    def name(self) -> str: ...

    async def propose(self, node: Node, n: int) -> list[str]: ...


@dataclass(frozen=True)
class NoisyTaskProposer:
    """The simulated policy of the algorithmic tasks: n candidates, each wrong with probability ``noise``.

    The same draws as approval's proposer (:mod:`operators.proposals`): candidate
    i of a question is what that proposer's run number i answers. The true
    answer is read once per node as a recorded lookup.
    """

    task: str
    facts: dict[str, Any]
    noise: float
    seed: int
    name: str = "noisy-proposer"

    async def propose(self, node: Node, n: int) -> list[str]:
        task, facts, question = find_task(self.task), self.facts, node.question
        try:
            task.parse_question(facts, question)
        except UsageError:
            return [UNKNOWN] * n  # a malformed subquestion: the policy has nothing to say
        truth = await lookup(node, f"solve: {question}", lambda: task.solve(facts, question))
        candidates = []
        for index in range(n):
            wrong, rng = is_wrong_draw(self.seed, question, index, self.noise)
            candidates.append(wrong_value(task, facts, truth, rng) if wrong else truth)
        return candidates


@dataclass(frozen=True)
class SampledLLMProposer:
    """The policy on free text: n samples of the base LLM answering directly (approval's
    ``sampled_proposer``: sample i is part of the request, the cache key and the seed)."""

    spec: RunSpec
    llm: LLMClient
    name: str = "llm-samples"

    async def propose(self, node: Node, n: int) -> list[str]:
        models = [sampled_proposer(self.llm, i, self.spec.structured_output) for i in range(n)]
        return list(await asyncio.gather(*(m.answer(node) for m in models)))


@dataclass(frozen=True)
class BestOfN:
    """The agent: the reward model's favourite among ``n`` candidates (ties: the earliest)."""

    proposer: Proposer
    n: int
    reward_model: RewardModel | None
    tag: str = ""
    """Prefixed to the question the reward model sees (the task instance), so that the same
    question text about different fact tables is a different question to it."""
    name: str = "agent"
    level: int = 0

    def prompt_of(self, question: str) -> str:
        return f"[{self.tag}] {question}" if self.tag else question

    async def answer(self, node: Node) -> str:
        candidates = await self.proposer.propose(node, self.n)
        prompt = self.prompt_of(node.question)
        if self.reward_model is None:
            scores = [0.0] * len(candidates)
            digest = "none"
        else:
            scores = [self.reward_model.score(prompt, c) for c in candidates]
            digest = str(getattr(self.reward_model, "digest", self.reward_model.name))
        best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
        node.emit(
            RewardScores(
                node_id=node.node_id,
                question=prompt,
                candidates=candidates,
                scores=scores,
                chosen=best,
                reward_model=digest,
            )
        )
        return candidates[best]
