"""Each model-call request is serialised once: the canonical JSON hashed for its cache key
is spliced into its transcript line, which is byte for byte the line it would otherwise be."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from hch.budget import Budget
from hch.context import RunContext
from hch.llm import CallCache, LLMClient, LLMSettings
from hch.node import Node
from transcripts import read_transcript
from transcripts.chain import canonical_bytes, request_hash, seal
from transcripts.events import Header, ModelCall
from transcripts.verify import verify_transcript
from transcripts.writer import TranscriptWriter

SLOT_TEXT = "\x00hch-serialised\x00"  # what the splice stands in with; content holding it must not confuse it

REQUESTS: list[Any] = [
    {"model": "m", "messages": [{"role": "user", "content": "2 + 2?"}], "temperature": 0.0, "seed": None},
    {"messages": [{"role": "user", "content": 'déjà vu \u2028 "quoted" \\ back\nslash \x00 \U0001f600'}]},
    {"messages": [{"role": "user", "content": SLOT_TEXT}]},
    {"messages": [{"role": "user", "content": f'"{SLOT_TEXT}"'}], "n": [1, 2.5, True, None]},
    {},
]


@pytest.mark.parametrize("request_", REQUESTS)
@pytest.mark.parametrize("content", ["plain", SLOT_TEXT, f'"{SLOT_TEXT}"', f'x"{SLOT_TEXT}'])
def test_a_line_with_a_serialised_field_is_the_line_without_it(request_: Any, content: str) -> None:
    # Fields sorted before and after "request", one of them holding text that looks like the slot.
    fields = {"attempts": [{"detail": content}], "kind": "model_call", "response": content, "seq": 3, "time": 1.5}
    plain = seal("prev", {**fields, "request": request_})
    spliced = seal("prev", fields, ("request", canonical_bytes(request_)))
    assert spliced == plain


async def test_the_request_recorded_is_the_request_hashed(tmp_path: Path) -> None:
    def server(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"choices": [{"index": 0, "message": {"role": "assistant", "content": "4"}}]})

    writer = TranscriptWriter(tmp_path / "t.jsonl", Header(run_id="r", created="now", hch_version="t", question="q"))
    node = Node("0", None, "q", 0, None, Budget(None), RunContext(writer=writer, max_subquestions=2))
    settings = LLMSettings(base_url="http://llm.test/v1", model="m", seed=3)
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(server))
    messages = [{"role": "system", "content": f"ünïcode {SLOT_TEXT}"}, {"role": "user", "content": "2 + 2?"}]
    async with LLMClient(settings, cache=CallCache(tmp_path / "cache"), http_client=http, environ={}) as client:
        for _ in range(2):  # from the network, then from the cache
            assert await client.chat(node, messages, purpose="answer", response_format={"type": "json_object"}) == "4"
    writer.close()
    # The chain holds (the only finding: a bare node with no run_end line).
    assert [p.kind for p in verify_transcript(writer.path).problems] == ["truncated"]
    calls = [e for e in read_transcript(writer.path).events if isinstance(e, ModelCall)]
    assert [c.source for c in calls] == ["network", "cache"]
    for call in calls:
        assert call.request["messages"] == messages and call.request["seed"] == 3
        assert call.request_hash == request_hash(call.request)


def test_an_event_carrying_its_request_text_equals_one_without() -> None:
    def call(request: dict[str, Any]) -> ModelCall:
        return ModelCall(node_id="0", purpose="answer", request=request, request_hash="h", response="r")

    request = {"messages": [{"role": "user", "content": "2 + 2?"}]}
    assert call(request).with_request_json(canonical_bytes(request)) == call(request)
    assert call(request).with_request_json(canonical_bytes(request)) != call({"messages": []})


def test_a_copy_of_an_event_is_written_as_the_event_is(tmp_path: Path) -> None:
    request = {"messages": [{"role": "user", "content": "2 + 2?"}], "temperature": 0.0}
    event = ModelCall(node_id="0", purpose="answer", request=request, request_hash="h", response="r")
    carrying = event.with_request_json(canonical_bytes(request))
    copied = carrying.model_copy()
    assert carrying.serialised_field() == ("request", canonical_bytes(request))
    assert copied.serialised_field() is None  # the copy serialises its request again
    written = []
    for name, which in (("carrying", carrying), ("copied", copied)):
        writer = TranscriptWriter(
            tmp_path / f"{name}.jsonl", Header(run_id="r", created="now", hch_version="t", question="q")
        )
        writer.emit(which)
        writer.close()
        assert [p.kind for p in verify_transcript(writer.path).problems] == ["truncated"]  # only: no run_end
        line = json.loads(writer.path.read_bytes().splitlines()[1])
        written.append({k: v for k, v in line.items() if k not in ("time", "hash")})
    assert written[0] == written[1] and written[0]["request"] == request
