"""The transcript's event types.

A transcript is JSONL: one header line, then one event per line, in the order
things happened. Every line carries ``kind`` (a literal tag that selects the
model below), ``seq`` (0 for the header, then 1, 2, ...), ``time`` (Unix
seconds) and ``hash``, which chains the line to the one before it (see
:mod:`transcripts.chain`), so that an edited, reordered or spliced file can be
detected.

Node ids are tree positions: the root is ``"0"`` and the i-th subquestion a
node asks gets ``f"{parent}.{i}"``. They are the same in every run of the same
overseers on the same question, which is what replay and resume match on.
"""

from __future__ import annotations

import functools
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION = 1

JSONValue = Any
"""Any value that survives a JSON round trip (pydantic checks it on dump)."""


class _Event(BaseModel):
    # No NaN or infinity: they are not JSON, and have no canonical form to hash (transcripts.chain).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    seq: int = -1
    time: float = 0.0
    hash: str = ""

    def serialised_field(self) -> tuple[str, bytes] | None:
        """A top-level field already serialised as canonical JSON, as (name, UTF-8 JSON), or None.

        The writer splices it into the line instead of serialising it again.
        """
        return None


class Header(_Event):
    """First line: what produced the run and with which settings."""

    kind: Literal["header"] = "header"
    schema_version: int = SCHEMA_VERSION
    run_id: str
    created: str
    hch_version: str
    question: str
    settings: dict[str, JSONValue] = Field(default_factory=dict)
    prompts: dict[str, str] = Field(default_factory=dict)


class NodeStart(_Event):
    """A node began: ``level`` is the amplification depth left below it (0 is
    the base model M0); ``budget`` the calls its subtree may spend (None:
    unbounded); ``token_budget`` the model tokens it may spend (None:
    unbounded); ``worker`` names the overseer or model working it."""

    kind: Literal["node_start"] = "node_start"
    node_id: str
    parent_id: str | None
    question: str
    level: int
    budget: int | None
    worker: str
    token_budget: int | None = None


class Ask(_Event):
    """A node asked a batch of subquestions (each then appears as a
    ``node_start``, ``reuse`` or ``refusal`` with this node as parent)."""

    kind: Literal["ask"] = "ask"
    node_id: str
    questions: list[str]


class Reuse(_Event):
    """A subquestion identical to one already asked was answered by that
    node's result instead of a new subtree (single-flight): the source was
    handed no larger budgets than this one would have been (docs/budgets.md)."""

    kind: Literal["reuse"] = "reuse"
    node_id: str
    child_id: str
    question: str
    source_id: str


class Refusal(_Event):
    """A subquestion was not asked; ``reason`` is what the overseer was told."""

    kind: Literal["refusal"] = "refusal"
    node_id: str
    child_id: str
    question: str
    reason: str


class OracleCall(_Event):
    """A lookup in the task's fact table (the algorithmic tasks' M0)."""

    kind: Literal["oracle_call"] = "oracle_call"
    node_id: str
    request_hash: str
    question: str
    answer: str


class ModelCall(_Event):
    """One model call as the node saw it: the request without credentials,
    the response, and how it was obtained (attempts, cache, latency)."""

    kind: Literal["model_call"] = "model_call"
    node_id: str
    purpose: str
    request: dict[str, JSONValue]
    request_hash: str
    response: str | None
    usage: dict[str, int] = Field(default_factory=dict)
    latency_s: float = 0.0
    attempts: list[dict[str, JSONValue]] = Field(default_factory=list)
    source: Literal["network", "cache", "transcript"] = "network"
    """Where the response came from: a live call, the call cache, or a
    transcript being replayed or resumed."""
    error: str | None = None
    tokens: int = 0
    """Tokens charged against the run's token budget (see docs/budgets.md):
    the usage the server reported for a network call, nothing for a cache hit,
    and for a replayed call what the recorded call was charged."""

    __slots__ = ("_request_json",)
    # A slot, not a pydantic private attribute: setting those up cost a third of building the event.

    def with_request_json(self, text: bytes) -> ModelCall:
        """This event, noting that ``text`` is the canonical JSON (UTF-8) of its request.

        The client serialises each request once, for its hash; the writer then
        reuses that text for the line instead of serialising the request again.
        The caller vouches that ``text`` is ``canonical_bytes(self.request)``. A copy
        of the event does not carry it (the writer then serialises the request).
        """
        object.__setattr__(self, "_request_json", text)  # frozen for its fields; this is not one
        return self

    def serialised_field(self) -> tuple[str, bytes] | None:
        text: bytes | None = getattr(self, "_request_json", None)
        return None if text is None else ("request", text)

    def __eq__(self, other: object) -> bool:
        # The fields decide: the request's serialised text is a copy of one of them, not more.
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = _Event.__hash__


class HumanInput(_Event):
    """What a person was shown and what they typed, with how long it took."""

    kind: Literal["human_input"] = "human_input"
    node_id: str
    request_hash: str
    prompt: str
    shown: str
    typed: str
    seconds: float


class NodeAnswer(_Event):
    """A node answered; ``spent`` counts the calls its subtree used, ``tokens_spent`` its model tokens."""

    kind: Literal["answer"] = "answer"
    node_id: str
    answer: str
    spent: int
    tokens_spent: int = 0


class NodeError(_Event):
    """A node failed or was cancelled; the failure propagates to the root."""

    kind: Literal["error"] = "error"
    node_id: str
    error_type: str
    message: str


class RunEnd(_Event):
    """Last line of a run that ended (a missing one means the run was cut)."""

    kind: Literal["run_end"] = "run_end"
    status: Literal["ok", "error", "cancelled"]
    answer: str | None = None
    error: str | None = None
    stats: dict[str, int] = Field(default_factory=dict)


# -- approval-based amplification ---------------------------------------------


class Approval(_Event):
    """The overseer's approval of a candidate answer, with what it saw.

    ``evidence`` lists the subquestions the overseer asked (with the answer it
    got, the child's id and whether it was worked, reused or refused);
    ``overseer_answer`` is the answer it worked out itself, or the LLM's reply;
    ``verdict`` is ``confirmed``, ``refuted`` or ``uncertain`` for a
    programmatic check and ``rated`` for a score an LLM gave.
    """

    kind: Literal["approval"] = "approval"
    node_id: str
    question: str
    candidate: str
    approval: float
    verdict: Literal["confirmed", "refuted", "uncertain", "rated"]
    reason: str
    evidence: list[dict[str, str]] = Field(default_factory=list)
    overseer_answer: str | None = None


# -- debate (operators.debate) ----------------------------------------------


class DebateTurn(_Event):
    """One move of a debate, held at the node that runs it.

    ``move`` is ``step`` (a debater states the decomposition step its claim
    rests on: ``subclaims`` are the sub-answers it asserts, ``conclusion`` what
    the task's rules derive from them), ``dispute`` (the other debater picks
    the sub-claim it disputes and states its own answer to it) or ``argument``
    (free text; each quote of the source marked verified or not).
    ``debater`` is the position (``A``, ``B``), ``side`` whether it argues the
    true answer (``honest``) or a wrong one (``liar``); the judge is shown
    neither side nor anything but the moves."""

    kind: Literal["debate_turn"] = "debate_turn"
    node_id: str
    turn: int
    debater: str
    side: Literal["honest", "liar"]
    move: Literal["step", "dispute", "argument"]
    question: str
    claim: str
    text: str
    subclaims: list[dict[str, str]] = Field(default_factory=list)
    conclusion: str | None = None
    quotes: list[dict[str, JSONValue]] = Field(default_factory=list)


class DebateVerdict(_Event):
    """How a debate ended: the judge's pick, its reason, and the rewards
    (+1 to the winner, -1 to the loser; 0 each when no one won). ``fact`` is
    the one fact the judge checked, if it checked one."""

    kind: Literal["debate_verdict"] = "debate_verdict"
    node_id: str
    judge: str
    answers: dict[str, str]
    """The answer each position argued at the root."""
    winner: str | None
    winner_side: Literal["honest", "liar"] | None
    reason: str
    rewards: dict[str, int]
    turns: int
    fact: dict[str, str] | None = None


# -- recursive reward modeling (operators/rrm) -------------------------------


class RewardScores(_Event):
    """An agent chose among candidate answers by a reward model's scores (best-of-n).

    ``reward_model`` is the digest of the model that scored them ("none": the
    base agent, which takes its first candidate)."""

    kind: Literal["reward_scores"] = "reward_scores"
    node_id: str
    question: str
    candidates: list[str]
    scores: list[float]
    chosen: int
    reward_model: str


class Feedback(_Event):
    """An overseer compared two answers to a question and preferred one.

    ``basis`` says what decided it (the assistant's answer, the overseer's own
    check, a guess, or a person); ``consulted`` lists the subquestions the
    overseer asked its assistant and the answers it got."""

    kind: Literal["feedback"] = "feedback"
    node_id: str
    question: str
    answer_a: str
    answer_b: str
    preferred: Literal["A", "B"]
    basis: str
    consulted: list[dict[str, str]] = Field(default_factory=list)


Event = Annotated[
    Header
    | NodeStart
    | Ask
    | Reuse
    | Refusal
    | OracleCall
    | ModelCall
    | HumanInput
    | NodeAnswer
    | NodeError
    | RunEnd
    | Approval
    | DebateTurn
    | DebateVerdict
    | RewardScores
    | Feedback,
    Field(discriminator="kind"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


@functools.cache
def may_hold_floats(kind: type[BaseModel]) -> bool:
    """Whether an event of ``kind`` may hold a float besides its ``time`` (which the writer sets).

    Read from the fields' types (a float, ``Any``, a model: it may), so a field added with a
    float is counted without anyone remembering to. Validation holds values to those types.
    The writer checks only these events' JSON for floats orjson writes unlike Python
    (:func:`transcripts.chain.canonical_bytes`).
    """
    return any(_holds_floats(field.annotation) for name, field in kind.model_fields.items() if name != "time")


def _holds_floats(annotation: Any) -> bool:
    if annotation in (str, int, bool, type(None)):
        return False
    origin = get_origin(annotation)
    if origin is Literal:
        return any(isinstance(arg, float) for arg in get_args(annotation))
    if origin in (list, tuple, dict, Union, types.UnionType):
        return any(_holds_floats(arg) for arg in get_args(annotation) if arg is not Ellipsis)
    return True
