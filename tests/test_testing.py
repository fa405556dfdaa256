"""The doubles of hch.testing behave as documented, and the fault server keeps a burst of connections."""

from __future__ import annotations

import asyncio
import select
import socket
from pathlib import Path

from hch import Node, hch_tree, run_question
from hch.testing import ChatCall, CountingLeaf, FanOut, FunctionModel, ScriptedChat
from hch.testing.fault_server import FaultServer
from transcripts import read_transcript
from transcripts.events import NodeAnswer


async def test_function_model_answers_with_sync_and_async_functions(tmp_path: Path) -> None:
    async def slow_reverse(node: Node) -> str:
        await asyncio.sleep(0)
        return node.question[::-1]

    for i, function in enumerate([lambda node: node.question[::-1], slow_reverse]):
        result = await run_question(hch_tree(FanOut(2), FunctionModel(function), 1), "ab", transcript=tmp_path / f"{i}")
        assert result.answer == "0 trap ba | 1 trap ba"


async def test_fan_out_builds_the_complete_tree(tmp_path: Path) -> None:
    leaf = CountingLeaf()
    result = await run_question(hch_tree(FanOut(3), leaf, 2), "q", transcript=tmp_path / "t.jsonl")
    assert result.nodes == 1 + 3 + 9
    assert sum(leaf.calls.values()) == 9 and set(leaf.calls.values()) == {1}
    answers = [e for e in read_transcript(tmp_path / "t.jsonl").events if isinstance(e, NodeAnswer)]
    assert len(answers) == 13


async def test_scripted_chat_replies_and_keeps_every_call(tmp_path: Path) -> None:
    from hch.testing import LLMLeaf

    chat = ScriptedChat(lambda call: f"{call.purpose}: {call.user}")
    result = await run_question(hch_tree(FanOut(2), LLMLeaf(chat), 1), "q", transcript=tmp_path / "t.jsonl")
    assert result.answer == "answer: q part 0 | answer: q part 1"
    assert chat.purposes() == ["answer", "answer"]
    assert all(isinstance(c, ChatCall) and c.response_format is None for c in chat.calls)


def test_the_listen_backlog_holds_a_burst_of_connections_nobody_accepts_yet() -> None:
    """The backlog must reach listen(): set after it, it stays at 5 and a burst stalls in SYN retries."""
    burst = 64
    with FaultServer() as server:
        httpd = server._httpd
        assert httpd is not None
        # Stop accepting (the serving thread ends; the listening socket stays open).
        httpd.shutdown()
        sockets = [socket.socket() for _ in range(burst)]
        try:
            for s in sockets:
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", server.port))
            connected: set[socket.socket] = set()
            pending = list(sockets)
            while pending:
                _, writable, _ = select.select([], pending, [], 2.0)
                if not writable:
                    break
                for s in writable:
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                        connected.add(s)
                    pending.remove(s)
            assert len(connected) == burst
        finally:
            for s in sockets:
                s.close()
