"""Answer policies for the fault server that speak the LLM overseer's protocol.

A policy maps a chat request's messages to the reply text (see
:data:`hch.testing.fault_server.AnswerPolicy`). :class:`BranchingPolicy` makes an
LLM tree (:class:`~hch.llm.overseer.LLMOverseer` over
:class:`~hch.llm.overseer.LLMBaseModel`) take a known shape, so tests and
benchmarks can run the real LLM path against a real HTTP server and know what
it must produce. It reads the default prompts' wording (``"ask simpler
subquestions"``, ``"answers are below"``), so it follows :mod:`hch.llm.prompts`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any


def _question_in(messages: list[dict[str, Any]]) -> str:
    """The question of the node making this call (the last "Question: ..." line of a user turn)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            found = re.findall(r"^Question: (.*)$", str(message.get("content", "")), re.MULTILINE)
            if found:
                return str(found[-1]).strip()
    return ""


@dataclass
class BranchingPolicy:
    """Replies in the LLM overseer's JSON protocol so that the tree has a known shape.

    A question ``Q`` of generation g (``Q`` has g ``/``) is decomposed into
    ``fanout[g]`` subquestions ``Q/0``, ``Q/1``, ... while g < len(fanout);
    combine replies with a short digest of the sub-answers; a direct answer is
    ``ans(Q)``. Every successful request's messages are logged (``log``), so a
    test can tell which calls reached the server.
    """

    fanout: tuple[int, ...] = (4, 3, 3, 3)
    log: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, messages: list[dict[str, Any]]) -> str:
        with self._lock:
            self.log.append(request_key(messages))
        system = str(messages[0].get("content", "")) if messages else ""
        question = _question_in(messages)
        generation = question.count("/")
        if "ask simpler subquestions" in system:
            if generation < len(self.fanout):
                subquestions = [f"{question}/{i}" for i in range(self.fanout[generation])]
                return json.dumps({"action": "ask", "subquestions": subquestions})
            return json.dumps({"action": "answer", "answer": f"direct({question})"})
        if "answers are below" in system:
            answers = re.findall(r"^   answer: (\".*\")$", str(messages[-1].get("content", "")), re.MULTILINE)
            digest = hashlib.sha256("|".join(answers).encode()).hexdigest()[:10]
            return json.dumps({"answer": f"combined {len(answers)} answers of {question}: {digest}"})
        return json.dumps({"answer": f"ans({question})"})


def request_key(messages: list[dict[str, Any]]) -> str:
    """What identifies a model request in the server's log and in a transcript's ``request.messages``."""
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
