"""The best-of-n policy: a :class:`~hch.protocols.Model` that answers with the most-approved of K candidates.

``best_of_n_policy(proposers, approver)`` is ``Amp(BestOfN(proposers), approver)``:
at its node, the K proposers (depth-0 models, such as those of
:mod:`operators.proposals`) propose candidates, their calls recorded at that
node; the distinct candidates are rated concurrently as subquestions (each a
rating question, :func:`~operators.approval.approver.rating_question`) by the
approval tree; the answer is the most approved (ties: proposed most often,
then proposed first). Being a Model, it can be used anywhere one is: the root
of a run, or the base model of an HCH tree.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hch.amp import Amp, hch_tree
from hch.app.spec import ProposalSpec, RunSpec
from hch.errors import UsageError, needs_model
from hch.protocols import Model
from hch.workspace import Workspace
from operators.approval.approver import LLMApprover, parse_rating, rating_question, task_approval_tree
from operators.approval.measure import Rating, best_of_n
from operators.proposals import NoisyProposer, sampled_proposer

if TYPE_CHECKING:
    from hch.llm.client import LLMClient


@dataclass(frozen=True)
class BestOfN:
    """The overseer of the best-of-n policy: propose K, have each distinct candidate rated, keep the best."""

    proposers: Sequence[Model]
    name: str = "best-of-n"

    async def __call__(self, ws: Workspace) -> str:
        node = ws.node
        candidates = list(await asyncio.gather(*(p.answer(node) for p in self.proposers)))
        votes = Counter(candidates)
        # The most proposed first, so that when the bounds cut the batch the likeliest are rated.
        distinct = sorted(votes, key=lambda c: (-votes[c], candidates.index(c)))
        allowed = min(len(distinct), ws.room())
        if allowed == 0:
            return distinct[0]  # no room to ask: the most proposed candidate
        rated = distinct[:allowed]
        answers = await ws.ask(*(rating_question(ws.question, c) for c in rated))
        approval = {c: _approval(a) for c, a in zip(rated, answers, strict=True)}
        ratings = [
            Rating(0, ws.question, i, c, approval[c], "rated", None) for i, c in enumerate(candidates) if c in approval
        ]
        return best_of_n(ratings).candidate


def _approval(answer: str) -> float:
    """The approval a rating tree answered (its answer is the approval in [0, 1]); 0 if unreadable."""
    try:
        value = float(answer)
    except ValueError:
        scaled = parse_rating(answer)
        return scaled if scaled is not None else 0.0
    return value if 0.0 <= value <= 1.0 else 0.0


def best_of_n_policy(proposers: Sequence[Model], approver: Model) -> Model:
    """The best-of-n policy over ``proposers``, rated by ``approver`` (an approval tree): a Model."""
    if not proposers:
        raise ValueError("a best-of-n policy needs at least one proposer")
    return Amp(BestOfN(proposers), approver)


def build_best_of_n_tree(spec: RunSpec, llm: LLMClient | None) -> Model:
    """The tree ``spec`` names with the best-of-n policy as its base model (``spec.depth`` 0: the policy alone).

    On a task: noisy proposers and the task's approval tree; on free text: K
    samples of the LLM and an LLM approval tree. The overseer above the policy
    is the one the spec would otherwise use (the task's program, or the LLM).
    """
    from hch.app.spec import build_model

    chosen = spec.best_of_n
    assert chosen is not None
    plain = spec.model_copy(update={"best_of_n": None})
    if spec.task is not None:
        task, facts = spec.task.checked(spec.question)
        if chosen.noise is None:
            raise UsageError("a best-of-n policy on a task needs a noise level for its proposers")
        proposers: list[Model] = [
            NoisyProposer(task, facts, ProposalSpec(index=i, noise=chosen.noise, seed=chosen.seed))
            for i in range(chosen.candidates)
        ]
        policy = best_of_n_policy(proposers, task_approval_tree(task, facts, chosen.rating_depth))
        return hch_tree(task.overseer(facts), policy, spec.depth)
    if llm is None:
        raise needs_model("a best-of-n policy on free text")
    from hch.llm.overseer import LLMOverseer
    from hch.llm.prompts import DEFAULT_PROMPTS

    samples = [sampled_proposer(llm, i, spec.structured_output) for i in range(chosen.candidates)]
    consulted = build_model(plain.model_copy(update={"depth": chosen.rating_depth - 1}), llm=llm)
    name = f"llm:{llm.settings.model}"
    overseer = LLMOverseer(llm, DEFAULT_PROMPTS, spec.max_subquestions, output=spec.structured_output, name=name)
    policy = best_of_n_policy(samples, Amp(LLMApprover(overseer), consulted))
    return hch_tree(overseer, policy, spec.depth)
