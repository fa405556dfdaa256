"""What the reward model sees of a (question, answer) pair: hashed features.

A :class:`FeatureSpec` names feature groups and a hashing width; it is stored
with every fitted model, so a reloaded model computes exactly the features it
was fitted on. Hashing is scikit-learn's ``FeatureHasher`` (MurmurHash3,
seed 0), the same in every process.

The groups, and what they can and cannot capture:

- ``qa``: one indicator per exact (question, answer) pair. It lets the model
  remember which answers to *this* question the overseer preferred, and, by
  Bradley-Terry's transitivity, rank two answers that were never compared with
  each other. It says nothing about a question the model has no feedback on:
  on those every answer scores the same from this group.
- ``form``: whether the answer is an integer, empty, or "unknown"/a refusal,
  and its log length. It generalises across questions, but only to the shape of
  an answer, never to whether it is right.
- ``tokens``: the answer's lower-cased words (bag of words, weights 1/sqrt(n)).
  For free text it can learn words the overseer likes; for the algorithmic
  tasks it is a per-value bias and is left out by default.

None of them reads the task's facts: the model cannot check an answer, it can
only learn what the overseer's feedback said about answers like it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from sklearn.feature_extraction import FeatureHasher

Group = Literal["qa", "form", "tokens"]
GROUPS: tuple[Group, ...] = ("qa", "form", "tokens")
TASK_GROUPS: list[Group] = ["qa", "form"]
TEXT_GROUPS: list[Group] = ["qa", "form", "tokens"]

_WORD = re.compile(r"[a-z0-9]+")
_INTEGER = re.compile(r"-?\d+")


class FeatureSpec(BaseModel):
    """Which feature groups, hashed into how many columns."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: list[Group] = Field(default_factory=lambda: list(TASK_GROUPS))
    n_features: int = Field(default=2**16, ge=16, le=2**22)
    version: int = 1
    """Bumped whenever the features computed for a spec change."""


def _normal(text: str) -> str:
    return " ".join(text.split())


def raw_features(spec: FeatureSpec, question: str, answer: str) -> dict[str, float]:
    """The named features of one pair (before hashing)."""
    q, a = _normal(question), _normal(answer)
    found: dict[str, float] = {}
    if "qa" in spec.groups:
        found[f"qa:{q}\x1f{a}"] = 1.0
    if "form" in spec.groups:
        lowered = a.lower()
        found["form:integer"] = 1.0 if _INTEGER.fullmatch(a) else 0.0
        found["form:empty"] = 1.0 if not a else 0.0
        found["form:unknown"] = 1.0 if lowered.startswith(("unknown", "refused")) else 0.0
        found["form:loglen"] = math.log1p(len(a))
    if "tokens" in spec.groups:
        words = _WORD.findall(a.lower())
        if words:
            weight = 1.0 / math.sqrt(len(words))
            for word in words:
                key = f"tok:{word}"
                found[key] = found.get(key, 0.0) + weight
    return {k: v for k, v in found.items() if v != 0.0}


def featurize(spec: FeatureSpec, pairs: Sequence[tuple[str, str]]) -> sparse.csr_matrix:
    """One hashed row per (question, answer) pair."""
    hasher = FeatureHasher(n_features=spec.n_features, input_type="dict", alternate_sign=False)
    matrix: sparse.csr_matrix = hasher.transform([raw_features(spec, q, a) for q, a in pairs]).tocsr()
    return matrix
