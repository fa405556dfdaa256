"""What an overseer works with: its question, its bounds, and ``ask``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from hch.admission import Admission
from hch.budget import Budget
from hch.errors import BoundExceeded
from hch.executor import run_node
from hch.node import Node
from hch.protocols import Model
from hch.sharing import Bounds, Shared
from transcripts.events import Ask, Refusal, Reuse

Status = Literal["worked", "reused", "refused"]
"""What became of a subquestion: worked by a new child of the node, sharing
another node's subtree (single-flight), or refused (its answer says why)."""

Bound = Literal["subquestions", "budget", "tokens"]
"""Which of a node's bounds a batch would exceed: the per-node cap on
subquestions, the calls of budget it can hand down, or the tokens it keeps."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """A subquestion the node asked and the answer it got."""

    question: str
    answer: str
    child_id: str
    status: Status


@dataclass(frozen=True, slots=True)
class Planned:
    """What asking one subquestion of a batch does (or, from :meth:`Workspace.check`, would do)."""

    question: str
    """As it is asked: stripped of surrounding whitespace."""
    child_id: str
    """Its place in the tree: the node's id, a dot, and how many subquestions the node posed before it."""
    status: Status
    reason: str = ""
    """Why it is refused (also its answer); empty otherwise."""
    source_id: str | None = None
    """The node whose subtree a reused subquestion shares."""


@dataclass(frozen=True, slots=True)
class BatchCheck:
    """A batch as :meth:`Workspace.ask` would take it, predicted without asking anything."""

    questions: tuple[Planned, ...]
    """One per subquestion, in order. While ``problem`` is set nothing would be
    asked, and the questions not refused are listed as ``worked``."""
    problem: str | None = None
    """Why :meth:`Workspace.ask` would raise :class:`BoundExceeded` (None: it would ask the batch)."""
    bound: Bound | None = None
    """The bound that ``problem`` is about."""

    @property
    def ok(self) -> bool:
        """Whether :meth:`Workspace.ask` would ask this batch (refused questions included: they answer why)."""
        return self.problem is None

    @property
    def refused(self) -> tuple[Planned, ...]:
        """The questions the engine would refuse."""
        return tuple(p for p in self.questions if p.status == "refused")


@dataclass(frozen=True, slots=True)
class Arrival:
    """One answer of a batch as it arrives (see :meth:`Workspace.ask_each`)."""

    index: int
    """Its question's position in the batch."""
    exchange: Exchange


@dataclass(slots=True)
class _Pending:
    question: str
    child_id: str
    status: Status
    shared: Shared | None = None
    reason: str = ""


@dataclass(slots=True)
class _Batch:
    """A batch being asked: its subquestions, what each child was handed, and the tokens kept back."""

    pending: list[_Pending]
    children: list[tuple[_Pending, bool]]
    bounds: Bounds
    keep_tokens: int


class Workspace:
    """One node's workspace: the question, the bounds left, and the model to consult.

    Every subquestion goes to a fresh copy of ``model`` (a subtree of its own),
    except that a subquestion identical to one already asked in this run under
    budgets no larger than this node would hand down shares that computation
    (see :mod:`hch.sharing`), and one identical to the question of this node or
    an ancestor is refused (its answer says why) because asking it would
    recurse forever.

    Overseers learn the engine's rules from here rather than re-deriving them:
    :meth:`room` says how many subquestions fit now, :meth:`check` what asking
    a batch would do, and :meth:`ask_each` gives answers as they arrive.
    """

    def __init__(self, node: Node, model: Model) -> None:
        self.node = node
        self.model = model
        self.history: list[Exchange] = []
        """Every exchange of this node, batch by batch, each batch in the order it was asked."""
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
        """Subquestions this node may still pose under the run's per-node cap (refused ones count)."""
        return self.node.run.max_subquestions - self._asked

    def room(self, *, tokens_each: int = 0, keep_tokens: int = 0) -> int:
        """The most subquestions one batch can ask now (0: none).

        It is what the per-node cap leaves, what the budget split allows (each
        subquestion asked needs at least one call; see :mod:`hch.budget`) and,
        under a token budget, how many can each be handed ``tokens_each`` once
        the node keeps ``keep_tokens`` for its own calls after the batch (see
        :meth:`ask`). :meth:`ask` accepts a batch by the same rule.
        """
        room = self.subquestions_left
        for limit in (
            self.node.budget.room(),
            self.node.tokens.room(tokens_each, keeping=keep_tokens),
        ):
            if limit is not None:
                room = min(room, limit)
        return max(room, 0)

    def can_ask(self, count: int = 1, *, tokens_each: int = 0, keep_tokens: int = 0) -> bool:
        """Whether ``count`` more subquestions fit in this node's bounds (``0 < count <= room(...)``)."""
        return 0 < count <= self.room(tokens_each=tokens_each, keep_tokens=keep_tokens)

    def check(self, *questions: str, keep_tokens: int = 0) -> BatchCheck:
        """What :meth:`ask` would do with this batch, without doing any of it.

        Nothing is asked, reserved, shared or recorded: the budgets, the run's
        single-flight table and the transcript are left as they were.
        """
        pending = self._classify(questions)
        asked = sum(1 for p in pending if p.status != "refused")
        problem = self._problem(len(pending), asked, keep_tokens)
        if problem is not None:
            planned = tuple(Planned(p.question, p.child_id, p.status, p.reason) for p in pending)
            return BatchCheck(planned, problem[0], problem[1])
        bounds: Bounds = (None, None)
        if asked:
            bounds = (self.node.budget.share(asked), self.node.tokens.share(asked, keeping=keep_tokens))
        earlier: dict[str, str] = {}
        """Questions of this batch already placed: the node whose subtree a repeat would share."""
        plans = []
        for p in pending:
            if p.status == "refused":
                plans.append(Planned(p.question, p.child_id, "refused", p.reason))
                continue
            existing, _ = self._existing(p, bounds)
            source = existing.node_id if existing is not None else earlier.get(p.question)
            if source == p.child_id:
                source = None  # a placeholder this subquestion takes over: it works it
            earlier.setdefault(p.question, source or p.child_id)
            status: Status = "worked" if source is None else "reused"
            plans.append(Planned(p.question, p.child_id, status, source_id=source))
        return BatchCheck(tuple(plans))

    async def ask(self, *questions: str, keep_tokens: int = 0) -> list[str]:
        """Ask subquestions concurrently; return their answers in order.

        The calls and tokens this node has left are split evenly among the
        subquestions asked, except ``keep_tokens``, which the node keeps for its
        own calls after the batch (a combining model call, say): what the
        subquestions do not spend comes back to it. Raises
        :class:`BoundExceeded` if the batch does not fit (check :meth:`room`
        or :meth:`check` first).
        """
        if not questions:
            return []
        return await self._collect(self._begin(questions, keep_tokens))

    def ask_each(self, *questions: str, keep_tokens: int = 0) -> Arrivals:
        """Ask subquestions as one concurrent batch, and receive each answer as it arrives.

        The batch is asked (checked, recorded, shared, budgeted) at once,
        exactly as :meth:`ask` would ask it; iterate the result for
        :class:`Arrival` s in the order the answers come. ``history`` gets the
        batch, in question order, before the iteration ends. Raises
        :class:`BoundExceeded` if the batch does not fit.
        """
        batch = self._begin(questions, keep_tokens) if questions else _Batch([], [], (None, None), 0)
        arrivals = Arrivals(tuple(Planned(p.question, p.child_id, p.status, p.reason) for p in batch.pending))
        arrivals._start(self._collect(batch, arrivals._arrived))
        return arrivals

    # -- the rules -----------------------------------------------------------

    def _classify(self, questions: Sequence[str]) -> list[_Pending]:
        """Each question as it would be asked, with its child id; refused if it repeats the lineage."""
        pending = []
        for index, question in enumerate(questions, self._asked):
            # Child ids count every subquestion this node has posed, so they are
            # stable tree positions across batches.
            question = question.strip()
            child_id = f"{self.node.node_id}.{index}"
            if self.node.in_lineage(question):
                own = question == self.node.question.strip()
                where = "this node's own question" if own else "an ancestor's question"
                reason = f"refused: identical to {where}; asking it again would recurse forever"
                pending.append(_Pending(question, child_id, "refused", reason=reason))
            else:
                pending.append(_Pending(question, child_id, "worked"))
        return pending

    def _problem(self, total: int, asked: int, keep_tokens: int) -> tuple[str, Bound] | None:
        """Why a batch of ``total`` subquestions, ``asked`` of them not refused, does not fit (None: it does)."""
        node = self.node
        if total > self.subquestions_left:
            return (
                f"node {node.node_id} asked {total} subquestion(s), but this node can ask only "
                f"{self.subquestions_left} more (at most {node.run.max_subquestions} per node)",
                "subquestions",
            )
        calls = node.budget.room()
        if asked and calls is not None and asked > calls:
            return (
                f"node {node.node_id} asked {asked} subquestion(s) with {calls} call(s) of budget left "
                "(each needs at least one)",
                "budget",
            )
        if keep_tokens < 0:
            raise ValueError(f"cannot keep {keep_tokens} token(s)")
        if not node.tokens.can_spend(keep_tokens):
            return (f"node {node.node_id} kept {keep_tokens} token(s) with {self.tokens_left} token(s) left", "tokens")
        return None

    def _existing(self, p: _Pending, bounds: Bounds) -> tuple[Shared | None, bool]:
        """The subtree ``p`` would share or take over, if any, and whether it is a new placeholder.

        Nothing is added to the run's table here (:meth:`_register` adds a new
        placeholder), so :meth:`check` can ask the same question.
        """
        memo = self.node.run.memo
        level = self.model.level
        playback = self.node.run.playback
        if playback is None:
            return memo.affordable(p.question, level, bounds), False
        # Replay/resume: share as the recorded run did (who worked a shared
        # subquestion depended on timing). A recorded reuse whose source has not
        # registered yet gets a placeholder the source takes over when it does
        # (see _register); until then reusers wait, or get its recorded answer.
        # Where the recording is silent only an exact match of budgets is
        # shared, as the recorded run would have shared it.
        own = memo.named(p.question, level, p.child_id)
        if own is not None:
            return own, False
        plan = playback.reuse_plan(p.child_id)
        if plan is None:
            return memo.exact(p.question, level, bounds), False
        source = memo.named(p.question, level, plan[0])
        if source is None:
            return Shared(plan[0], plan[1], bounds), True
        return source, False

    # -- asking --------------------------------------------------------------

    def _begin(self, questions: Sequence[str], keep_tokens: int) -> _Batch:
        """Check, record and register a batch (no awaiting: the batch is asked when this returns)."""
        pending = self._classify(questions)
        asked = sum(1 for p in pending if p.status != "refused")
        problem = self._problem(len(pending), asked, keep_tokens)
        if problem is not None:
            raise BoundExceeded(problem[0])
        tokens = self.node.tokens
        tokens.reserve(keep_tokens)  # fits: _problem said so
        try:
            self._asked += len(pending)
            self.node.emit(Ask(node_id=self.node.node_id, questions=[p.question for p in pending]))
            bounds: Bounds = (None, None)
            if asked:
                bounds = (self.node.budget.split(asked), tokens.split(asked, minimum=0))
            children = [(p, self._register(p, bounds)) for p in pending]
        except BaseException:
            tokens.settle(keep_tokens, 0)
            raise
        return _Batch(pending, children, bounds, keep_tokens)

    def _register(self, p: _Pending, bounds: Bounds) -> bool:
        """Decide whether ``p`` is computed here or shared; True: a child of this node works it."""
        if p.status == "refused":
            self.node.emit(
                Refusal(node_id=self.node.node_id, child_id=p.child_id, question=p.question, reason=p.reason)
            )
            return False
        memo = self.node.run.memo
        level = self.model.level
        existing, placeholder = self._existing(p, bounds)
        if placeholder:
            assert existing is not None
            memo.add(p.question, level, existing)
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

    async def _collect(self, batch: _Batch, arrived: _OnAnswer | None = None) -> list[str]:
        """Wait for a batch's answers (each handed to ``arrived`` as it comes), then record them in ``history``."""
        try:
            answers = await self._gather(batch, arrived)
        finally:
            self.node.tokens.settle(batch.keep_tokens, 0)
        for p, answer in zip(batch.pending, answers, strict=True):
            self.history.append(Exchange(p.question, answer, p.child_id, p.status))
        return answers

    async def _gather(self, batch: _Batch, arrived: _OnAnswer | None) -> list[str]:
        budget, tokens = self.node.budget, self.node.tokens
        bounds = batch.bounds
        share, token_share = bounds
        admission = self.node.run.admission
        # This node now waits on others: give its working slot back first
        # (holding it while children wait for slots could deadlock).
        admission.release(self.node.node_id)
        results: list[asyncio.Task[str]] = []
        try:
            async with asyncio.TaskGroup() as tg:
                for p, works in batch.children:
                    if p.status == "refused":
                        task = tg.create_task(_const(p.reason))
                    elif not works:
                        assert p.shared is not None
                        budget.settle(share, 0)
                        tokens.settle(token_share, 0)
                        # shield: a waiter being cancelled must not cancel the
                        # computation that another branch owns.
                        task = tg.create_task(_await_shared(p.shared))
                    else:
                        assert p.shared is not None
                        # The child (its Node and task) exists only once admitted,
                        # so a wide tree with slow calls holds only what is working.
                        await admission.enter(p.child_id, self.node.depth + 1)
                        task = tg.create_task(self._work(self._child(p, bounds), p.shared, bounds))
                        # A callback, not a finally in _work: a task cancelled
                        # before its first step never runs its body.
                        task.add_done_callback(partial(_release, admission, p.child_id))
                    if arrived is not None:
                        # Done callbacks run in the order tasks finish: the order answers arrive.
                        task.add_done_callback(partial(arrived, len(results)))
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


_OnAnswer = Callable[[int, "asyncio.Task[str]"], None]
"""Called with a subquestion's position in its batch and its finished task."""


class Arrivals:
    """The answers of one batch, in the order they arrive (see :meth:`Workspace.ask_each`).

    The batch runs whether or not it is iterated. Cancelling the task that
    iterates it, or :meth:`aclose`, stops what is left of it (as cancelling
    :meth:`Workspace.ask` would); an error in the batch is raised by the
    iteration, as :meth:`Workspace.ask` would raise it.
    """

    def __init__(self, plan: tuple[Planned, ...]) -> None:
        self.plan = plan
        """The batch as it was asked: questions, child ids, refusals (reuse is decided as it is asked)."""
        self._queue: asyncio.Queue[Arrival | BaseException | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._answers: Coroutine[Any, Any, list[str]] | None = None

    @classmethod
    def at_once(cls, plan: tuple[Planned, ...], answers: Sequence[str]) -> Arrivals:
        """Answers known when the batch is asked, arriving in question order.

        For a workspace whose subquestions are not subtrees (a debater's
        claims, a test double): its :meth:`Workspace.ask_each` keeps the
        answers its ``ask`` gives.
        """
        arrivals = cls(plan)
        for index, (p, answer) in enumerate(zip(plan, answers, strict=True)):
            arrivals._queue.put_nowait(Arrival(index, Exchange(p.question, answer, p.child_id, p.status)))
        arrivals._queue.put_nowait(None)
        return arrivals

    def _start(self, answers: Coroutine[Any, Any, list[str]]) -> None:
        self._answers = answers
        self._task = asyncio.ensure_future(self._drive(answers))

    async def _drive(self, answers: Coroutine[Any, Any, list[str]]) -> None:
        try:
            await answers
        except BaseException as exc:
            self._queue.put_nowait(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            self._queue.put_nowait(None)  # every answer is in, and in the workspace's history

    def _arrived(self, index: int, task: asyncio.Task[str]) -> None:
        if task.cancelled() or task.exception() is not None:
            return  # the batch fails with it: the iteration raises that
        p = self.plan[index]
        self._queue.put_nowait(Arrival(index, Exchange(p.question, task.result(), p.child_id, p.status)))

    def __aiter__(self) -> Arrivals:
        return self

    async def __anext__(self) -> Arrival:
        try:
            item = await self._queue.get()
        except asyncio.CancelledError:
            await self.aclose()
            raise
        if item is None:
            self._queue.put_nowait(None)  # a finished iteration stays finished
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._queue.put_nowait(item)
            raise item
        return item

    async def aclose(self) -> None:
        """Stop what is left of the batch (its unfinished subtrees are recorded as stopped)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._answers is not None:
            self._answers.close()  # a batch stopped before it began: nothing awaits it now


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
