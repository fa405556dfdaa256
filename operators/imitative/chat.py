"""Chat fine-tuning files: an imitation dataset as ``messages`` records, and the cookbook's checks.

The format is the one OpenAI's fine-tuning and TRL's SFT trainer read: one
JSON object a line, ``{"messages": [{"role": "system", ...}, {"role": "user",
"content": QUESTION}, {"role": "assistant", "content": ANSWER}]}``.

:func:`validate_chat_file` checks a file the way OpenAI's cookbook ("Data
preparation and analysis for chat model fine-tuning") does, naming each bad
line: a ``messages`` list per line; known roles; only the keys role, content,
name, function_call, weight; no empty content; an assistant message, last;
``weight`` 0 or 1; and at least 10 examples in the file. It reports token
counts per example (:class:`TokenCounter`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from operators.imitative.examples import ImitationExample

SYSTEM = "Answer the question directly and concisely."
"""The system message of every exported record (what the distilled model will be prompted with)."""

ROLES = ("system", "user", "assistant", "function")
KEYS = ("role", "content", "name", "function_call", "weight")
MIN_EXAMPLES = 10
"""Fewer are refused by OpenAI's fine-tuning; 50 to 100 are typical."""


def chat_record(example: ImitationExample, system: str = SYSTEM) -> dict[str, Any]:
    """One example as a chat record: the question asked, Amp(M_t)'s answer as the assistant's reply."""
    return {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": example.question},
            {"role": "assistant", "content": example.answer},
        ]
    }


def write_chat_file(examples: Iterable[ImitationExample], path: Path, system: str = SYSTEM) -> int:
    """Write the records to ``path`` (which must not exist); return how many."""
    lines = [json.dumps(chat_record(e, system), ensure_ascii=False) + "\n" for e in examples]
    with path.open("x", encoding="utf-8") as handle:
        handle.writelines(lines)
    return len(lines)


TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class BadLine:
    """A line the fine-tuning API would reject, and why."""

    line: int
    kind: str
    """What is wrong, in the cookbook's words: ``format_error``, ``missing_messages_list``,
    ``message_unrecognized_key``, ``unrecognized_role``, ``missing_content``,
    ``missing_assistant_message``, ``assistant_not_last``, ``invalid_weight``."""
    message: str


@dataclass
class ChatReport:
    """What :func:`validate_chat_file` found."""

    path: Path
    examples: int = 0
    bad: list[BadLine] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """File-level problems (too few examples)."""
    tokens: list[int] = field(default_factory=list)
    """Tokens of each good example (every message's content)."""
    tokenizer: str = ""

    @property
    def ok(self) -> bool:
        return not self.bad and not self.problems

    def summary(self) -> str:
        if self.ok:
            return (
                f"{self.path}: valid: {self.examples} examples, {sum(self.tokens)} tokens "
                f"(max {max(self.tokens, default=0)} per example; {self.tokenizer})"
            )
        if self.bad:
            first = f"{self.path}:{self.bad[0].line}: {self.bad[0].kind}: {self.bad[0].message}"
        else:
            first = f"{self.path}: {self.problems[0]}"
        more = len(self.bad) + len(self.problems) - 1
        return first + (f" (and {more} more problem(s))" if more else "")

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "examples": self.examples,
            "bad_lines": [{"line": b.line, "kind": b.kind, "message": b.message} for b in self.bad],
            "problems": self.problems,
            "tokens": {
                "total": sum(self.tokens),
                "max": max(self.tokens, default=0),
                "mean": sum(self.tokens) / len(self.tokens) if self.tokens else 0.0,
                "tokenizer": self.tokenizer,
            },
        }


def check_record(data: Any) -> tuple[str, str] | None:
    """The first problem of one parsed line, as (kind, message), or None."""
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list) or not data["messages"]:
        return "missing_messages_list", "no 'messages' list (each line must be {\"messages\": [...]})"
    messages = data["messages"]
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            return "format_error", f"message {i} needs 'role' and 'content'"
        unknown = [k for k in message if k not in KEYS]
        if unknown:
            return "message_unrecognized_key", f"message {i} has key {unknown[0]!r} (allowed: {', '.join(KEYS)})"
        if message["role"] not in ROLES:
            return "unrecognized_role", f"message {i} has role {message['role']!r} (allowed: {', '.join(ROLES)})"
        content = message["content"]
        if (not isinstance(content, str) or not content.strip()) and "function_call" not in message:
            return "missing_content", f"message {i} ({message['role']}) has empty or non-text content"
        if "weight" in message and message["weight"] not in (0, 1):
            return "invalid_weight", f"message {i} has weight {message['weight']!r} (must be 0 or 1)"
    if not any(m["role"] == "assistant" for m in messages):
        return "missing_assistant_message", "no assistant message: nothing to learn from this example"
    if messages[-1]["role"] != "assistant":
        return "assistant_not_last", f"the last message is the {messages[-1]['role']}'s, not the assistant's"
    return None


def validate_chat_file(path: Path, count_tokens: TokenCounter | None = None, tokenizer: str = "") -> ChatReport:
    """Check every line of a chat JSONL file; name each bad one. Raises OSError if it cannot be read."""
    counter = count_tokens or estimate_tokens
    report = ChatReport(path, tokenizer=tokenizer if count_tokens else "estimate: 4 characters a token")
    blob = path.read_bytes()
    lines = blob.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            report.bad.append(BadLine(lineno, "format_error", "empty line"))
            continue
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            report.bad.append(BadLine(lineno, "format_error", f"not JSON ({exc})"))
            continue
        problem = check_record(data)
        if problem is not None:
            report.bad.append(BadLine(lineno, *problem))
            continue
        report.examples += 1
        report.tokens.append(sum(counter(str(m.get("content") or "")) + 4 for m in data["messages"]))
    if report.examples + len(report.bad) < MIN_EXAMPLES:
        report.problems.append(
            f"{report.examples + len(report.bad)} example(s): fine-tuning needs at least {MIN_EXAMPLES} "
            "(50 to 100 are typical)"
        )
    return report


def estimate_tokens(text: str) -> int:
    """A rough count (4 characters a token) when no tokenizer is at hand; reports say which was used."""
    return max(1, (len(text) + 3) // 4)


def embedded_tokenizer() -> tuple[TokenCounter, str] | None:
    """The embedded model's own tokenizer (SmolLM2's, read from its GGUF file, no weights loaded), if installed."""
    try:
        from llama_cpp import Llama

        from hch.llm.embedded import GGUF_NAME, find_gguf

        with _quiet_stderr():  # llama.cpp writes context warnings to fd 2 even when not verbose
            vocab = Llama(model_path=str(find_gguf()), vocab_only=True, verbose=False, n_ctx=0)
    except Exception:  # not installed, or the file is missing: the caller falls back to the estimate
        return None

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    return count, f"{GGUF_NAME.removesuffix('.gguf')} tokenizer"


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (C libraries' own writes) for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
