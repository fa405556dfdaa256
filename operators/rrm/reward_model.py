"""The reward model: Bradley-Terry over hashed features of (question, answer).

Bradley-Terry says P(a preferred to b | q) = sigmoid(r(q, a) - r(q, b)). With a
linear reward r(q, a) = w . phi(q, a), that is a logistic regression on the
feature difference phi(q, chosen) - phi(q, rejected) with no intercept (only
differences of rewards matter), which scikit-learn fits; this is the loss TRL's
reward trainer minimises, -log sigmoid(r_chosen - r_rejected). Each comparison
is used in both orientations so the two classes are balanced.

A fitted model is saved as JSON (the feature spec, the non-zero coefficients,
the intercept, how it was trained, and a sha256 digest of all of that) and is
only ever read back from JSON: a pickle, a file that is not this format, or one
whose digest no longer matches (edited by hand) is refused with a one-line
error. Floats survive the JSON round trip exactly, so a reloaded model scores
identically, in any process.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError
from scipy import sparse

from hch.errors import UsageError
from operators.rrm.features import FeatureSpec, featurize

FORMAT = "hch-reward-model"
FORMAT_VERSION = 1
KIND = "bradley-terry-linear"
_PICKLE_MAGIC = (b"\x80", b"(", b"c")
"""First bytes of pickle protocols 2-5, 0 and 1 ("(" starts a MARK, "c" a GLOBAL)."""


class RewardModelError(UsageError):
    """A reward model file that cannot be used (pickled, edited, not the format)."""


@runtime_checkable
class RewardModel(Protocol):
    """Scores an answer to a question; higher is better. Plug in your own."""

    @property
    def name(self) -> str: ...

    def score(self, question: str, answer: str) -> float: ...


@dataclass(frozen=True)
class Preference:
    """One comparison: the overseer preferred ``chosen`` to ``rejected`` for ``question``."""

    question: str
    chosen: str
    rejected: str
    key: str
    """A stable id (round and comparison), which decides the held-out split."""


def is_heldout(key: str, fraction: float) -> bool:
    """Whether the comparison ``key`` is held out: a fixed, seed-free split by its hash."""
    if fraction <= 0:
        return False
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    return bucket < fraction


def split(prefs: Sequence[Preference], fraction: float) -> tuple[list[Preference], list[Preference]]:
    """(train, held out)."""
    train = [p for p in prefs if not is_heldout(p.key, fraction)]
    held = [p for p in prefs if is_heldout(p.key, fraction)]
    return train, held


def pairwise_accuracy(model: RewardModel, prefs: Sequence[Preference]) -> float | None:
    """How often ``model`` scores ``chosen`` above ``rejected`` (a tie counts half: chance)."""
    if not prefs:
        return None
    total = 0.0
    for p in prefs:
        margin = model.score(p.question, p.chosen) - model.score(p.question, p.rejected)
        total += 1.0 if margin > 0 else 0.5 if margin == 0 else 0.0
    return total / len(prefs)


class _File(BaseModel):
    """The JSON file, as validated on load."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["hch-reward-model"]
    format_version: Literal[1]
    kind: Literal["bradley-terry-linear"]
    features: FeatureSpec
    coefficients: dict[str, float]
    """Non-zero weights by hashed column (as a decimal string)."""
    intercept: float
    training: dict[str, Any]
    digest: str


def _digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class LinearRewardModel:
    """r(q, a) = w . phi(q, a) + intercept, with phi from :mod:`operators.rrm.features`."""

    features: FeatureSpec
    coefficients: dict[int, float]
    intercept: float = 0.0
    training: dict[str, Any] = field(default_factory=dict)
    name: str = "bradley-terry"

    def __post_init__(self) -> None:
        weights = np.zeros(self.features.n_features, dtype=np.float64)
        for index, value in self.coefficients.items():
            weights[index] = value
        object.__setattr__(self, "_weights", weights)

    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Rewards of many (question, answer) pairs at once."""
        if not pairs:
            return []
        weights: np.ndarray[Any, np.dtype[np.float64]] = getattr(self, "_weights")  # noqa: B009
        values = featurize(self.features, pairs) @ weights
        return [float(v) + self.intercept for v in values]

    def score(self, question: str, answer: str) -> float:
        return self.scores([(question, answer)])[0]

    def body(self) -> dict[str, Any]:
        """The file's content without its digest."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": KIND,
            "features": self.features.model_dump(mode="json"),
            "coefficients": {str(i): v for i, v in sorted(self.coefficients.items())},
            "intercept": self.intercept,
            "training": self.training,
        }

    @property
    def digest(self) -> str:
        return _digest(self.body())

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "digest": self.digest}

    def save(self, path: Path) -> Path:
        """Write the model as JSON (atomically: a half-written file never replaces a good one)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def from_json(cls, data: object, where: str) -> LinearRewardModel:
        """A model from its JSON object; RewardModelError if it is not one or was edited."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RewardModelError(f'{where}: not a reward model file (no "format": "{FORMAT}")')
        try:
            parsed = _File.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(part) for part in first["loc"]) or "file"
            raise RewardModelError(f"{where}: invalid reward model: {loc}: {first['msg']}") from None
        body = {k: v for k, v in data.items() if k != "digest"}
        computed = _digest(body)
        if computed != parsed.digest:
            raise RewardModelError(
                f"{where}: digest mismatch: the file was changed after it was saved "
                f"(recorded {parsed.digest[:19]}, content {computed[:19]}); refit or restore it"
            )
        coefficients: dict[int, float] = {}
        for key, value in parsed.coefficients.items():
            if not key.isdigit() or int(key) >= parsed.features.n_features:
                raise RewardModelError(f"{where}: coefficient column {key!r} is outside the feature spec")
            if not math.isfinite(value):
                raise RewardModelError(f"{where}: coefficient {key} is not a finite number")
            coefficients[int(key)] = value
        return cls(parsed.features, coefficients, parsed.intercept, parsed.training)


def load_reward_model(path: Path) -> LinearRewardModel:
    """Read a saved model; a pickle, a non-JSON file or an edited one is refused (RewardModelError)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RewardModelError(f"{path}: cannot read the reward model: {exc.strerror or exc}") from None
    if raw[:1] in _PICKLE_MAGIC and not raw.lstrip().startswith(b"{"):
        raise RewardModelError(
            f"{path}: looks like a Python pickle: refused (a reward model is only read from its JSON file; "
            "unpickling can run code)"
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RewardModelError(f"{path}: not a reward model file (not JSON: {exc})") from None
    return LinearRewardModel.from_json(data, str(path))


@dataclass(frozen=True)
class Fit:
    """A fitted model and how well it predicts feedback it was not fitted on."""

    model: LinearRewardModel
    train: list[Preference]
    heldout: list[Preference]
    heldout_accuracy: float | None
    train_accuracy: float | None


def fit_bradley_terry(
    prefs: Sequence[Preference],
    features: FeatureSpec,
    *,
    heldout_fraction: float = 0.2,
    c: float = 1.0,
    metadata: dict[str, Any] | None = None,
) -> Fit:
    """Fit a Bradley-Terry model on the training part of ``prefs``; score it on the held-out part.

    With no training comparisons the model is all zeros (every answer scores 0).
    """
    from sklearn.linear_model import LogisticRegression

    train, held = split(prefs, heldout_fraction)
    coefficients: dict[int, float] = {}
    if train:
        chosen = featurize(features, [(p.question, p.chosen) for p in train])
        rejected = featurize(features, [(p.question, p.rejected) for p in train])
        diff = (chosen - rejected).tocsr()
        x = sparse.vstack([diff, -diff]).tocsr()
        y = np.concatenate([np.ones(len(train)), np.zeros(len(train))])
        if x.nnz:
            fitted = LogisticRegression(fit_intercept=False, C=c, solver="lbfgs", max_iter=1000).fit(x, y)
            coef = fitted.coef_[0]
            coefficients = {int(i): float(coef[i]) for i in np.flatnonzero(coef)}
    import sklearn

    training = {
        "method": "LogisticRegression on phi(chosen) - phi(rejected), both orientations, no intercept",
        "library": f"scikit-learn {sklearn.__version__}",
        "C": c,
        "comparisons": len(prefs),
        "train": len(train),
        "heldout": len(held),
        "heldout_fraction": heldout_fraction,
        **(metadata or {}),
    }
    model = LinearRewardModel(features, coefficients, 0.0, training)
    heldout_accuracy = pairwise_accuracy(model, held)
    train_accuracy = pairwise_accuracy(model, train)
    training["heldout_accuracy"] = heldout_accuracy
    training["train_accuracy"] = train_accuracy
    return Fit(model, train, held, heldout_accuracy, train_accuracy)
