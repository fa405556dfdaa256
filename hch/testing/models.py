"""Doubles of the engine's pluggable parts: base models, overseers and a chat client.

Each is a real :class:`~hch.protocols.Model`, :class:`~hch.protocols.Overseer` or
:class:`~hch.llm.overseer.ChatClient`, so a tree built from them runs through the
engine like any other (bounds, single-flight, transcript); none needs a network
except :class:`LLMLeaf`, which asks a real client.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hch.llm.overseer import ChatClient
    from hch.node import Node
    from hch.workspace import Workspace


@dataclass
class CountingLeaf:
    """A base model that answers the length of the question, counting calls per question."""

    delay: float = 0.0
    """Seconds each answer takes (an ``asyncio.sleep``: a stand-in for a model's latency)."""
    calls: Counter[str] = field(default_factory=Counter)
    name: str = "counting-leaf"
    level: int = 0

    async def answer(self, node: Node) -> str:
        self.calls[node.question] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return str(len(node.question))


@dataclass
class FunctionModel:
    """A base model whose answer is ``function(node)``, sync or async.

    The shortest way to put your own rule (a lookup, a regex, a call to a library)
    at the leaves of a tree: ``hch_tree(overseer, FunctionModel(lambda n: n.question[::-1]), 3)``.
    """

    function: Callable[[Node], str | Awaitable[str]]
    name: str = "function-model"
    level: int = 0

    async def answer(self, node: Node) -> str:
        result = self.function(node)
        return await result if isinstance(result, Awaitable) else result


@dataclass
class RandomOverseer:
    """Asks a pseudo-random batch of subquestions, a pure function of the question.

    It sometimes repeats a subquestion (to exercise single-flight) and sometimes
    asks its own question (to exercise cycle refusal); it respects its bounds
    the way any overseer must, by asking only what ``room`` allows.
    """

    fanout: int = 4
    name: str = "random-overseer"

    async def __call__(self, ws: Workspace) -> str:
        rng = random.Random(hashlib.sha256(ws.question.encode()).digest())
        total = 0
        for _batch in range(rng.randint(0, 2)):
            want = min(rng.randint(1, self.fanout), ws.room())
            if not want:
                break
            questions = []
            for i in range(want):
                roll = rng.random()
                if roll < 0.1:
                    questions.append(ws.question)
                elif roll < 0.3:
                    questions.append("shared leaf question")
                else:
                    questions.append(f"{ws.question}/{rng.randint(0, 3)}{i}")
            answers = await ws.ask(*questions)
            total += sum(int(a) for a in answers if a.isdigit())
        return str(total)


@dataclass
class FanOut:
    """Asks ``n`` distinct subquestions at once (``"<question> part <i>"``) and joins the answers with `` | ``.

    ``hch_tree(FanOut(b), leaf, d)`` is the complete tree of branching ``b`` and
    depth ``d``: the shape benchmarks use, with ``b**d`` leaf calls.
    """

    n: int
    name: str = "fan-out"

    async def __call__(self, ws: Workspace) -> str:
        answers = await ws.ask(*(f"{ws.question} part {i}" for i in range(self.n)))
        return " | ".join(answers)


@dataclass
class LLMLeaf:
    """A base model that sends the question as one user message through a chat client (purpose ``answer``)."""

    client: ChatClient
    name: str = "llm-leaf"
    level: int = 0

    async def answer(self, node: Node) -> str:
        return await self.client.chat(node, [{"role": "user", "content": node.question}], purpose="answer")


@dataclass
class ChatCall:
    """One call a :class:`ScriptedChat` received."""

    node_id: str
    purpose: str
    messages: list[dict[str, str]]
    response_format: dict[str, Any] | None

    @property
    def user(self) -> str:
        """The last message's text."""
        return self.messages[-1]["content"]


@dataclass
class ScriptedChat:
    """A chat client (what :class:`~hch.llm.overseer.LLMOverseer` needs) replying ``script(call)``.

    Every call is kept in ``calls``. It stands in for :class:`~hch.llm.client.LLMClient`
    in unit tests of overseers: nothing is sent, cached or recorded as a model call.
    """

    script: Callable[[ChatCall], str]
    calls: list[ChatCall] = field(default_factory=list)

    async def chat(
        self,
        node: Node,
        messages: list[dict[str, str]],
        *,
        purpose: str,
        response_format: dict[str, Any] | None = None,
        sample: int = 0,
    ) -> str:
        call = ChatCall(node.node_id, purpose, [dict(m) for m in messages], response_format)
        self.calls.append(call)
        return self.script(call)

    def reservation(self, messages: list[dict[str, str]], *, response_format: dict[str, Any] | None = None) -> int:
        """Nothing: a scripted call spends no tokens."""
        return 0

    def purposes(self, node_id: str | None = None) -> list[str]:
        """The purposes of the calls so far (of one node's, if given), in order."""
        return [c.purpose for c in self.calls if node_id is None or c.node_id == node_id]
