"""The models an operator's run spec can name, rebuilt from it by :func:`hch.app.spec.build_model`.

A transcript's header holds the run's :class:`~hch.app.spec.RunSpec`; when the
spec names a proposal or an approval rating, the engine asks this module for
the tree, so ``hch replay`` rebuilds exactly what the operator ran.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hch.app.spec import RunSpec
from hch.protocols import Model

if TYPE_CHECKING:
    from hch.llm.client import LLMClient


def build_operator_model(spec: RunSpec, *, llm: LLMClient | None = None) -> Model:
    """The proposer, the approval tree, the best-of-n tree or the RRM tree ``spec`` describes."""
    if spec.rrm is not None:
        from operators.rrm.trees import build_rrm_tree

        return build_rrm_tree(spec, llm)
    if spec.proposal is not None:
        from operators.proposals import build_proposer

        return build_proposer(spec, llm)
    if spec.best_of_n is not None:
        from operators.approval.policy import build_best_of_n_tree

        return build_best_of_n_tree(spec, llm)
    from operators.approval.approver import build_approval_tree

    return build_approval_tree(spec, llm)
