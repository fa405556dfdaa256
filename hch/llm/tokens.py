"""What a model call reserves of a token budget before it starts, and what it is charged after.

**The reservation** is an upper bound on what the call can cost, computed
without a tokenizer: ``max_tokens`` (the server stops the reply there) plus
:func:`prompt_bound`, which is never below the prompt tokens a server counts:

- every token of a message's text stands for at least one byte of it (byte-level
  BPE, and SentencePiece with byte fallback), so a text has at most as many
  tokens as UTF-8 bytes: the bound counts the bytes of each message's content
  and role;
- the chat template wraps each message in markup (``<|im_start|>``, a newline,
  ``<|im_end|>``, a SentencePiece word-start marker): at most
  :data:`MESSAGE_OVERHEAD` tokens a message;
- a request adds a start-of-text token, the assistant turn's opening and, in
  some templates, a default system text or today's date: at most
  :data:`REQUEST_OVERHEAD` tokens;
- a server may put a ``response_format`` schema into the prompt: its JSON bytes
  are counted too.

**The charge** is what the call cost (see :func:`charged`): the usage the
server reported for a call made over the network; nothing for a cache hit (no
tokens were spent on it, and the cache reports no usage); for a call given
back from a transcript being replayed or resumed, what the recorded call was
charged, so that a replay's budgets flow exactly as the run's did. A network
call whose server reported no usage is charged its whole reservation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hch.errors import TokensExhausted, UsageError
from hch.node import Node

MESSAGE_OVERHEAD = 16
"""Tokens of chat-template markup a message may add to its text."""

REQUEST_OVERHEAD = 64
"""Tokens a request's template may add beyond its messages (start token, assistant opening, default system text)."""


def prompt_bound(request: Mapping[str, Any]) -> int:
    """An upper bound on the prompt tokens of ``request`` (see the module docstring)."""
    total = REQUEST_OVERHEAD
    for message in request["messages"]:
        total += MESSAGE_OVERHEAD + sum(len(value.encode("utf-8", "surrogatepass")) for value in message.values())
    response_format = request.get("response_format")
    if response_format is not None:
        total += len(json.dumps(response_format, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    return total


def reservation(request: Mapping[str, Any]) -> int:
    """The most ``request`` can cost: its ``max_tokens`` plus :func:`prompt_bound`.

    Raises :class:`UsageError` when the request sets no ``max_tokens``: its reply
    would have no bound.
    """
    max_tokens = request.get("max_tokens")
    if max_tokens is None:
        raise UsageError("a token budget needs max_tokens set for the model: without it a reply has no bound")
    return int(max_tokens) + prompt_bound(request)


def reserve(node: Node, request: Mapping[str, Any]) -> int:
    """Reserve what ``request`` may cost from ``node``'s token budget; return the amount (settle it after).

    Raises :class:`TokensExhausted` when it does not fit: the call must not be made.
    Without a token budget nothing is reserved (and a request may leave ``max_tokens`` unset).
    """
    budget = node.tokens
    if budget.allotted is None:
        return 0
    amount = reservation(request)
    if not budget.reserve(amount):
        raise TokensExhausted(
            f"node {node.node_id}: a model call may cost {amount} token(s), "
            f"and {budget.left} of the token budget are left"
        )
    return amount


def charged(usage: Mapping[str, int], reserved: int) -> int:
    """What a network call whose server reported ``usage`` is charged (its reservation if it reported none)."""
    total = usage.get("total_tokens")
    if total is not None:
        return total
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if prompt is not None and completion is not None:
        return prompt + completion
    return reserved
