"""What an overseer works with: its question, its bounds, and ``ask``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import Literal

from hch.admission import Admission
from hch.budget import Budget
from hch.errors import BoundExceeded
from hch.executor import run_node
from hch.node import Node
from hch.protocols import Model
from hch.sharing import Bounds, Shared
from transcripts.events import Ask, Refusal, Reuse


@dataclass(frozen=True, slots=True)
class Exchange:
    """A subquestion the node asked and the answer it got."""

    question: str
    answer: str
    child_id: str
    status: Literal["worked", "reused", "refused"]


@dataclass(slots=True)
class _Pending:
    question: str
    child_id: str
    status: Literal["worked", "reused", "refused"]
    shared: Shared | None = None
    reason: str = ""


class Workspace:
    """One node's workspace: the question, the bounds left, and the model to consult.

    Every subquestion goes to a fresh copy of ``model`` (a subtree of its own),
    except that a subquestion identical to one already asked in this run under
    budgets no larger than this node would hand down shares that computation
    (see :mod:`hch.sharing`), and one identical to the question of this node or
    an ancestor is refused (its answer says why) because asking it would
    recurse forever.
    """

    def __init__(self, node: Node, model: Model) -> None:
        self.node = node
        self.model = model
        self.history: list[Exchange] = []
        self._asked = 0

    @property
    def question(self) -> str:
        return self.node.question

    @property
    def level(self) -> int:
        """Amplification levels left: subquestions go to level ``level - 1``."""
        return self.node.level

    @property
    def budget_left(self) -> int | None:
        """Calls this node may still hand to subquestions (None: unbounded)."""
        return self.node.budget.left

    @property
    def tokens_left(self) -> int | None:
        """Model tokens this node may still spend or hand to subquestions (None: unbounded)."""
        return self.node.tokens.left

    @property
    def subquestions_left(self) -> int:
        return self.node.run.max_subquestions - self._asked

    def can_ask(self, count: int = 1, *, tokens_each: int = 0, keep_tokens: int = 0) -> bool:
        """Whether ``count`` more subquestions fit in this node's bounds.

        With a token budget, ``keep_tokens`` is what this node keeps for its own
        calls after the batch (see :meth:`ask`) and ``tokens_each`` the least
        each subquestion should be handed (what its node needs to answer at all):
        the batch fits when both are left.
        """
        if not (0 < count <= self.subquestions_left and self.node.budget.can_spend(count)):
            return False
        return self.node.tokens.can_spend(keep_tokens + count * tokens_each)

    async def ask(self, *questions: str, keep_tokens: int = 0) -> list[str]:
        """Ask subquestions concurrently; return their answers in order.

        The calls and tokens this node has left are split evenly among the
        subquestions asked, except ``keep_tokens``, which the node keeps for its
        own calls after the batch (a combining model call, say): what the
        subquestions do not spend comes back to it. Raises
        :class:`BoundExceeded` if the batch does not fit (check :meth:`can_ask`
        first).
        """
        if not questions:
            return []
        if len(questions) > self.subquestions_left:
            raise BoundExceeded(
                f"node {self.node.node_id} asked {len(questions)} subquestion(s) "
                f"with {self.subquestions_left} left of {self.node.run.max_subquestions}"
            )
        # Child ids count every subquestion this node has posed, so they are
        # stable tree positions across batches.
        pending = [self._classify(q, self._asked + i) for i, q in enumerate(questions)]
        asked = [p for p in pending if p.status != "refused"]
        if asked and not self.node.budget.can_spend(len(asked)):
            raise BoundExceeded(
                f"node {self.node.node_id} asked {len(asked)} subquestion(s) "
                f"with {self.budget_left} call(s) of budget left"
            )
        tokens = self.node.tokens
        if not tokens.reserve(keep_tokens):
            raise BoundExceeded(
                f"node {self.node.node_id} kept {keep_tokens} token(s) with {self.tokens_left} token(s) left"
            )
        try:
            self._asked += len(questions)
            self.node.emit(Ask(node_id=self.node.node_id, questions=[p.question for p in pending]))
            bounds: Bounds = (None, None)
            if asked:
                bounds = (self.node.budget.split(len(asked)), tokens.split(len(asked), minimum=0))
            children = [(p, self._register(p, bounds)) for p in pending]
            answers = await self._gather(children, bounds)
        finally:
            tokens.settle(keep_tokens, 0)
        for p, answer in zip(pending, answers, strict=True):
            self.history.append(Exchange(p.question, answer, p.child_id, p.status))
        return answers

    def _classify(self, question: str, index: int) -> _Pending:
        question = question.strip()
        child_id = f"{self.node.node_id}.{index}"
        if self.node.in_lineage(question):
            own = question == self.node.question.strip()
            where = "this node's own question" if own else "an ancestor's question"
            reason = f"refused: identical to {where}; asking it again would recurse forever"
            return _Pending(question, child_id, "refused", reason=reason)
        return _Pending(question, child_id, "worked")

    def _register(self, p: _Pending, bounds: Bounds) -> bool:
        """Decide whether ``p`` is computed here or shared; True: a child of this node works it."""
        if p.status == "refused":
            self.node.emit(
                Refusal(node_id=self.node.node_id, child_id=p.child_id, question=p.question, reason=p.reason)
            )
            return False
        memo = self.node.run.memo
        level = self.model.level
        if self.node.run.playback is None:
            existing = memo.affordable(p.question, level, bounds)
        else:
            existing = self._as_recorded(p, bounds)
        if existing is not None and existing.node_id != p.child_id:
            p.status, p.shared = "reused", existing
            self.node.emit(
                Reuse(node_id=self.node.node_id, child_id=p.child_id, question=p.question, source_id=existing.node_id)
            )
            return False
        if existing is not None and not existing.done():
            existing.bounds = bounds  # the source takes over a placeholder its reusers wait on
            p.shared = existing
        else:
            p.shared = Shared(p.child_id, bounds=bounds)
            if existing is None:
                memo.add(p.question, level, p.shared)
            else:
                memo.replace(p.question, level, existing, p.shared)
        return True

    def _as_recorded(self, p: _Pending, bounds: Bounds) -> Shared | None:
        """Replay/resume: share as the recorded run did (who worked a shared subquestion depended on timing).

        A recorded reuse makes a placeholder for its source when the source has
        not registered yet; the source, when it registers, takes it over (see
        :meth:`_register`), and until then reusers wait, or get its recorded
        answer. Where the recording is silent only an exact match of budgets is
        shared, as the recorded run would have shared it.
        """
        memo = self.node.run.memo
        level = self.model.level
        own = memo.named(p.question, level, p.child_id)
        if own is not None:
            return own
        playback = self.node.run.playback
        plan = playback.reuse_plan(p.child_id) if playback is not None else None
        if plan is None:
            return memo.exact(p.question, level, bounds)
        source = memo.named(p.question, level, plan[0])
        if source is None:
            source = Shared(plan[0], plan[1], bounds)
            memo.add(p.question, level, source)
        return source

    async def _gather(self, children: list[tuple[_Pending, bool]], bounds: Bounds) -> list[str]:
        budget, tokens = self.node.budget, self.node.tokens
        share, token_share = bounds
        admission = self.node.run.admission
        # This node now waits on others: give its working slot back first
        # (holding it while children wait for slots could deadlock).
        admission.release(self.node.node_id)
        results: list[asyncio.Task[str]] = []
        try:
            async with asyncio.TaskGroup() as tg:
                for p, works in children:
                    if p.status == "refused":
                        results.append(tg.create_task(_const(p.reason)))
                    elif not works:
                        assert p.shared is not None
                        budget.settle(share, 0)
                        tokens.settle(token_share, 0)
                        # shield: a waiter being cancelled must not cancel the
                        # computation that another branch owns.
                        results.append(tg.create_task(_await_shared(p.shared)))
                    else:
                        assert p.shared is not None
                        # The child (its Node and task) exists only once admitted,
                        # so a wide tree with slow calls holds only what is working.
                        await admission.enter(p.child_id, self.node.depth + 1)
                        task = tg.create_task(self._work(self._child(p, bounds), p.shared, bounds))
                        # A callback, not a finally in _work: a task cancelled
                        # before its first step never runs its body.
                        task.add_done_callback(partial(_release, admission, p.child_id))
                        results.append(task)
        except BaseExceptionGroup as group:
            raise _first_cause(group) from None
        return [task.result() for task in results]

    def _child(self, p: _Pending, bounds: Bounds) -> Node:
        return Node(
            node_id=p.child_id,
            parent_id=self.node.node_id,
            question=p.question,
            level=self.model.level,
            parent=self.node,
            budget=Budget(bounds[0]),
            run=self.node.run,
            tokens=Budget(bounds[1]),
        )

    async def _work(self, child: Node, shared: Shared, bounds: Bounds) -> str:
        try:
            answer = await run_node(self.model, child)
        except BaseException as exc:
            shared.set_failure(exc)
            raise
        finally:
            self.node.budget.settle(bounds[0], child.budget.spent)
            self.node.tokens.settle(bounds[1], child.tokens.spent)
        shared.set_result(answer)
        return answer


def _release(admission: Admission, node_id: str, _task: asyncio.Task[str]) -> None:
    admission.release(node_id)


async def _const(value: str) -> str:
    return value


async def _await_shared(shared: Shared) -> str:
    return await shared.wait()


def _first_cause(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that stopped a batch, rather than the cancellations it caused."""
    flat: list[BaseException] = []

    def collect(g: BaseExceptionGroup[BaseException]) -> None:
        for exc in g.exceptions:
            if isinstance(exc, BaseExceptionGroup):
                collect(exc)
            else:
                flat.append(exc)

    collect(group)
    for exc in flat:
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return flat[0]
