"""The model-call tests' mock server and harness: a client on a scripted transport, recording into a transcript."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from hch.budget import Budget
from hch.context import RunContext
from hch.llm import CallCache, LLMClient, LLMSettings
from hch.node import Node
from hch.playback import Playback
from transcripts.events import Event, Header, ModelCall
from transcripts.writer import TranscriptWriter

SECRET = "sk-test-SECRET-0123456789"
BASE = "http://llm.test/v1"
MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]


def ok_body(text: str = "4", usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage or {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
    }


def ok(text: str = "4") -> httpx2.Response:
    return httpx2.Response(200, json=ok_body(text))


def error(
    status: int, message: str = "nope", code: str | None = None, type_: str = "invalid_request_error", **h: str
) -> httpx2.Response:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return httpx2.Response(status, json=body, headers=h)


Reply = httpx2.Response | Exception | Callable[[httpx2.Request], httpx2.Response | Awaitable[httpx2.Response]]


@dataclass
class Script:
    """A mock server that plays back replies in order (the last one repeats)."""

    script: Sequence[Reply]
    requests: list[httpx2.Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.replies = list(self.script)

    def __call__(self, request: httpx2.Request) -> httpx2.Response | Awaitable[httpx2.Response]:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx2.Response):
            return reply(request)
        return reply

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


@dataclass
class Harness:
    node: Node
    events: list[Event]
    sleeps: list[float]
    tmp_path: Path
    transcript: Path

    def client(self, script: Script, *, cache: bool = False, env: dict[str, str] | None = None, **kw: Any) -> LLMClient:
        settings = LLMSettings(base_url=BASE, model="m", cache=cache, max_attempts=kw.pop("max_attempts", 4), **kw)

        async def fake_sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        return LLMClient(
            settings,
            cache=CallCache(self.tmp_path / "cache") if cache else None,
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(script)),  # type: ignore[arg-type]
            environ={"OPENAI_API_KEY": SECRET} if env is None else env,
            sleep=fake_sleep,
        )

    @property
    def calls(self) -> list[ModelCall]:
        return [e for e in self.events if isinstance(e, ModelCall)]


def make_node(tmp_path: Path, events: list[Event], playback: Playback | None = None) -> tuple[Node, TranscriptWriter]:
    path = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}.jsonl"
    writer = TranscriptWriter(path, Header(run_id="r", created="now", hch_version="test", question="q"))
    writer.subscribe(events.append)
    run = RunContext(writer=writer, max_subquestions=4, playback=playback)
    return Node("0", None, "q", 0, None, Budget(None), run), writer


@asynccontextmanager
async def open_harness(tmp_path: Path) -> AsyncIterator[Harness]:
    """A node recording into a fresh transcript under ``tmp_path``, and clients to call from it."""
    events: list[Event] = []
    node, writer = make_node(tmp_path, events)
    yield Harness(node=node, events=events, sleeps=[], tmp_path=tmp_path, transcript=writer.path)
    writer.close()
