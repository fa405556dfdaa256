"""The overseer rating a candidate answer: Amp(M) giving its approval.

A rating is a run of its own. Its root question shows the question and the
candidate (:func:`rating_question`); the root is worked by an approver, H
consulting copies of M (depth ``D - 1`` trees) on subquestions; its answer is
the approval, a number in [0, 1]. Before answering, the approver records an
:class:`~transcripts.events.Approval` event with what it saw: the question,
the candidate, every subquestion it asked with the answer it got, its own
answer where it worked one out, and why it approves as much as it does.

- On an algorithmic task, :class:`TaskApprover` checks the candidate: it works
  the question one step with the task's own decomposition (asking M the
  subquestions) and compares. It *confirms* (1) a candidate equal to what it
  found, *refutes* (0) one that differs or is not an answer at all, and is
  *uncertain* (0.5) when M could not tell it within the tree's bounds. It
  never reads the ground truth.
- On free text, :class:`LLMApprover` is the LLM overseer working the rating
  question (decompose, consult, combine) and replying with a score from 0 to
  10; a reply with no readable score is uncertain (0.5), and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from hch.amp import Amp, hch_tree
from hch.app.spec import RunSpec
from hch.errors import UsageError, needs_model
from hch.protocols import Model, Overseer
from hch.tasks import UNKNOWN, Task, lookup
from hch.tasks.base import ProgrammaticOverseer, Rules, parse_answer
from hch.workspace import Workspace
from transcripts.events import Approval

if TYPE_CHECKING:
    from hch.llm.client import LLMClient

UNCERTAIN = 0.5
"""The approval of a candidate the overseer cannot judge: neither for nor against it."""

RATING_SCALE = 10
"""The LLM rates from 0 to this; the approval is the rating divided by it."""

RATING_PROMPT = (
    "Question: {question}\n"
    "Proposed answer: {candidate}\n"
    "How much do you approve of this answer? Rate it from 0 (certainly wrong) to {scale} "
    "(certainly right) and answer with the number only."
)
"""The rating question: the root question of every rating run (recorded in its header)."""

Verdict = Literal["confirmed", "refuted", "uncertain", "rated"]

_SCORE = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)")


def rating_question(question: str, candidate: str) -> str:
    """The question the approver's tree answers: show the question and the candidate, ask for a rating."""
    return RATING_PROMPT.format(question=question, candidate=candidate, scale=RATING_SCALE)


def parse_rating_question(text: str) -> tuple[str, str] | None:
    """The (question, candidate) a rating question shows, or None if ``text`` is not one."""
    head, sep, tail = text.partition("\nProposed answer: ")
    if not sep or not head.startswith("Question: "):
        return None
    candidate, sep, _ = tail.rpartition("\nHow much do you approve of this answer?")
    if not sep or text != rating_question(head[len("Question: ") :], candidate):
        return None
    return head[len("Question: ") :], candidate


def format_approval(value: float) -> str:
    """An approval as the rating run answers it: ``"1"``, ``"0"``, ``"0.5"``, ``"0.7"``."""
    return f"{value:.4g}"


def parse_rating(reply: str) -> float | None:
    """The approval a reply states: its first number on the 0..10 scale, divided by 10; None if none."""
    match = _SCORE.search(reply)
    if match is None:
        return None
    score = float(match.group())
    if not 0 <= score <= RATING_SCALE:
        return None
    return score / RATING_SCALE


def record(
    ws: Workspace,
    shown: tuple[str, str],
    approval: float,
    verdict: Verdict,
    reason: str,
    overseer_answer: str | None,
) -> str:
    """Emit the approval event (what the overseer saw and concluded) and return the node's answer."""
    evidence = [
        {"subquestion": e.question, "answer": e.answer, "child_id": e.child_id, "status": e.status} for e in ws.history
    ]
    ws.node.emit(
        Approval(
            node_id=ws.node.node_id,
            question=shown[0],
            candidate=shown[1],
            approval=approval,
            verdict=verdict,
            reason=reason,
            evidence=evidence,
            overseer_answer=overseer_answer,
        )
    )
    return format_approval(approval)


@dataclass(frozen=True)
class TaskApprover:
    """H rating a candidate on an algorithmic task by checking it (see the module docstring)."""

    rules: Rules[Any]
    name: str = "task-approver"

    async def __call__(self, ws: Workspace) -> str:
        shown = parse_rating_question(ws.question)
        if shown is None:
            return UNKNOWN  # not a rating question: nothing to approve
        question, candidate = shown
        claimed = parse_answer(candidate)
        if claimed is None:
            return record(ws, shown, 0.0, "refuted", "the candidate is not an integer answer", None)
        query = self.rules.parse(question)
        if query is None:
            return record(ws, shown, 0.0, "refuted", "the question does not parse for this fact table", None)
        rules = self.rules
        if rules.is_simple(query):
            own = await lookup(ws.node, question, lambda: rules.look_up(query))
        else:
            own = await rules.decompose(ws, query)
        found = parse_answer(own)
        if found is None:
            why = "M could not answer what the check needs within the tree's bounds" if own == UNKNOWN else own
            return record(ws, shown, UNCERTAIN, "uncertain", f"cannot tell: {why}", own)
        if found == claimed:
            return record(ws, shown, 1.0, "confirmed", f"the check gives {found}, as the candidate says", own)
        return record(ws, shown, 0.0, "refuted", f"the check gives {found}, not {claimed}", own)


@dataclass(frozen=True)
class LLMApprover:
    """The LLM overseer working the rating question; its reply's score is the approval."""

    inner: Overseer

    @property
    def name(self) -> str:
        return f"approver:{self.inner.name}"

    async def __call__(self, ws: Workspace) -> str:
        shown = parse_rating_question(ws.question)
        if shown is None:
            return await self.inner(ws)  # not a rating question: work it as the overseer would
        reply = await self.inner(ws)
        score = parse_rating(reply)
        if score is None:
            return record(ws, shown, UNCERTAIN, "uncertain", f"no score from 0 to {RATING_SCALE} in the reply", reply)
        return record(ws, shown, score, "rated", f"rated {score * RATING_SCALE:g} of {RATING_SCALE}", reply)


def task_approval_tree(task: Task, facts: dict[str, Any], depth: int, consulted: Model | None = None) -> Model:
    """Amp(M) rating candidates on a task: the approver over ``consulted`` (default: the task's depth-1 tree)."""
    if depth < 1:
        raise UsageError(f"an approval is Amp(M): the rating tree needs depth 1 or more, got {depth}")
    program = task.overseer(facts)
    if not isinstance(program, ProgrammaticOverseer):
        raise UsageError(f"task {task.name} has no programmatic overseer to check candidates with")
    if consulted is None:
        consulted = hch_tree(program, task.oracle(facts), depth - 1)
    return Amp(TaskApprover(program.rules), consulted)


def build_approval_tree(spec: RunSpec, llm: LLMClient | None) -> Model:
    """Amp(M) with the approver at the root and M a depth ``spec.depth - 1`` tree of the usual kind."""
    approval = spec.approval
    assert approval is not None
    if spec.question != rating_question(approval.question, approval.candidate):
        raise UsageError("an approval run's question must be the rating question of its question and candidate")
    if spec.depth < 1:
        raise UsageError(f"an approval is Amp(M): the rating tree needs depth 1 or more, got {spec.depth}")
    from hch.app.spec import build_model

    # M: the tree the spec would build for the question one level down, without the approval.
    inner_spec = spec.model_copy(update={"approval": None, "depth": spec.depth - 1, "question": approval.question})
    consulted = build_model(inner_spec, llm=llm)
    if spec.task is not None:
        task, facts = spec.task.checked(approval.question)
        return task_approval_tree(task, facts, spec.depth, consulted)
    if llm is None:
        raise needs_model("rating free-text answers")
    from hch.llm.overseer import LLMOverseer
    from hch.llm.prompts import DEFAULT_PROMPTS

    name = f"llm:{llm.settings.model}"
    inner = LLMOverseer(llm, DEFAULT_PROMPTS, spec.max_subquestions, output=spec.structured_output, name=name)
    return Amp(LLMApprover(inner), consulted)
