"""What an overseer works with: its question, its bounds, and ``ask``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import Literal

from hch.admission import Admission
from hch.budget import Budget
from hch.context import Shared
from hch.errors import BoundExceeded
from hch.executor import run_node
from hch.node import Node
from hch.protocols import Model
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
    the same bound shares that computation, and one identical to the question
    of this node or an ancestor is refused (its answer says why) because
    asking it would recurse forever.
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
    def subquestions_left(self) -> int:
        return self.node.run.max_subquestions - self._asked

    def can_ask(self, count: int = 1) -> bool:
        """Whether ``count`` more subquestions fit in this node's bounds."""
        return 0 < count <= self.subquestions_left and self.node.budget.can_spend(count)

    async def ask(self, *questions: str) -> list[str]:
        """Ask subquestions concurrently; return their answers in order.

        Raises :class:`BoundExceeded` if the batch does not fit
        (check :meth:`can_ask` first).
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
        self._asked += len(questions)
        self.node.emit(Ask(node_id=self.node.node_id, questions=[p.question for p in pending]))
        share = self.node.budget.split(len(asked)) if asked else None
        children: list[tuple[_Pending, bool]] = []
        for p in pending:
            children.append((p, self._register(p, share)))
        answers = await self._gather(children, share)
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

    def _register(self, p: _Pending, share: int | None) -> bool:
        """Decide whether ``p`` is computed here or shared; True: a child of this node works it."""
        if p.status == "refused":
            self.node.emit(
                Refusal(node_id=self.node.node_id, child_id=p.child_id, question=p.question, reason=p.reason)
            )
            return False
        key = (p.question, self.model.level, share)
        memo = self.node.run.memo
        playback = self.node.run.playback
        plan = playback.reuse_plan(p.child_id) if playback is not None and key not in memo else None
        if plan is not None:
            # Replay/resume: share as the recorded run did (who worked a shared
            # subquestion depended on timing). The source, when it registers,
            # takes over this entry (see below); until then reusers wait, or get
            # its recorded answer.
            memo[key] = Shared(plan[0], plan[1])
        existing = memo.get(key)
        if existing is not None and existing.node_id != p.child_id:
            p.status, p.shared = "reused", existing
            self.node.emit(
                Reuse(node_id=self.node.node_id, child_id=p.child_id, question=p.question, source_id=existing.node_id)
            )
            return False
        if existing is not None and not existing.done():
            existing.node_id = p.child_id  # the source takes over a placeholder its reusers wait on
            p.shared = existing
        else:
            p.shared = Shared(p.child_id)
            memo[key] = p.shared
        return True

    async def _gather(self, children: list[tuple[_Pending, bool]], share: int | None) -> list[str]:
        budget = self.node.budget
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
                        # shield: a waiter being cancelled must not cancel the
                        # computation that another branch owns.
                        results.append(tg.create_task(_await_shared(p.shared)))
                    else:
                        assert p.shared is not None
                        # The child (its Node and task) exists only once admitted,
                        # so a wide tree with slow calls holds only what is working.
                        await admission.enter(p.child_id, self.node.depth + 1)
                        task = tg.create_task(self._work(self._child(p, share), p.shared, share))
                        # A callback, not a finally in _work: a task cancelled
                        # before its first step never runs its body.
                        task.add_done_callback(partial(_release, admission, p.child_id))
                        results.append(task)
        except BaseExceptionGroup as group:
            raise _first_cause(group) from None
        return [task.result() for task in results]

    def _child(self, p: _Pending, share: int | None) -> Node:
        return Node(
            node_id=p.child_id,
            parent_id=self.node.node_id,
            question=p.question,
            level=self.model.level,
            parent=self.node,
            budget=Budget(share),
            run=self.node.run,
        )

    async def _work(self, child: Node, shared: Shared, share: int | None) -> str:
        try:
            answer = await run_node(self.model, child)
        except BaseException as exc:
            shared.set_failure(exc)
            raise
        finally:
            self.node.budget.settle(share, child.budget.spent)
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
