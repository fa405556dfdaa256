"""Small overseers and models for exercising the engine without any task (and, but for LLMLeaf, any network)."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field

from hch import Node, Workspace
from hch.llm.overseer import ChatClient


@dataclass
class CountingLeaf:
    """A base model that answers the length of the question, counting calls per question."""

    delay: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    name: str = "counting-leaf"
    depth: int = 0

    async def answer(self, node: Node) -> str:
        self.calls[node.question] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return str(len(node.question))


@dataclass
class RandomOverseer:
    """Asks a pseudo-random batch of subquestions, a pure function of the question.

    It sometimes repeats a subquestion (to exercise single-flight) and sometimes
    asks its own question (to exercise cycle refusal); it respects its bounds
    the way any overseer must, by asking only what ``can_ask`` allows.
    """

    fanout: int = 4
    name: str = "random-overseer"

    async def __call__(self, ws: Workspace) -> str:
        rng = random.Random(hashlib.sha256(ws.question.encode()).digest())
        total = 0
        for _batch in range(rng.randint(0, 2)):
            want = rng.randint(1, self.fanout)
            while want and not ws.can_ask(want):
                want -= 1
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
    """Asks ``n`` distinct subquestions at once and joins the answers."""

    n: int
    name: str = "fan-out"

    async def __call__(self, ws: Workspace) -> str:
        answers = await ws.ask(*(f"{ws.question} part {i}" for i in range(self.n)))
        return " | ".join(answers)


@dataclass
class LLMLeaf:
    """A base model that asks the LLM client for the answer."""

    client: ChatClient
    name: str = "llm-leaf"
    depth: int = 0

    async def answer(self, node: Node) -> str:
        return await self.client.chat(node, [{"role": "user", "content": node.question}], purpose="answer")
