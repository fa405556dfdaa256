"""An LLM working HCH nodes: the overseer (decompose, combine) and the base model (answer directly).

A node is worked like a person would work it (see :mod:`hch.llm.prompts` for
what the model is told):

1. ``decompose``: the model reads its question and how many subquestions it may
   ask, and replies with an answer or a list of subquestions. A node that may
   not ask (no budget, no subquestions left, or depth 0) is told so and
   answers directly instead (purpose ``answer``). Under a token budget a node
   may ask only as many as it can afford: its ``decompose`` and ``combine``
   calls, and for each subquestion the ``answer`` call of its node (see
   :meth:`Caller.plan`).
2. The subquestions (empty ones and duplicates dropped, cut to the allowed
   number) are asked through :meth:`Workspace.ask`, each answered by a fresh
   copy of the model one level down.
3. ``combine``: the model sees the subquestions and their answers, quoted as
   JSON strings under a heading that says they are data, and replies with the
   answer. Nothing a sub-answer says can make the node ask again or skip this
   step: the protocol is fixed by this code, not by the model's replies.

Replies are requested as JSON (constrained by a JSON schema where the server
supports it) and read by a tolerant parser (:mod:`hch.llm.replies`). An
unreadable reply is answered once with a ``repair`` request; if that reply is
unreadable too, the raw text is taken as the node's answer and the run's stats
count an ``llm_unparsed`` (the transcript shows both calls and the answer).
A call the node's token budget cannot afford is not made: a repair is then
skipped the same way, and a node that cannot afford to answer at all answers
:data:`NO_TOKENS_ANSWER` (the stats count a ``tokens_exhausted``).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from hch.errors import TokensExhausted
from hch.executor import DEFAULT_MAX_SUBQUESTIONS
from hch.llm.errors import ModelCallError
from hch.llm.prompts import DEFAULT_PROMPTS, Prompts, answer_schema, render, step_schema
from hch.llm.replies import Unparseable, clean_subquestions, clip, parse_reply, unfence
from hch.node import Node
from hch.step import Step
from hch.workspace import Workspace

StructuredOutput = Literal["json_schema", "json_object_schema", "json_object", "text"]
"""How replies are constrained:

- ``json_schema``: OpenAI's ``{"type": "json_schema", ...}`` (OpenAI, vLLM,
  llama.cpp's ``llama-server``, recent Ollama);
- ``json_object_schema``: ``{"type": "json_object", "schema": ...}``, the form
  llama-cpp-python's ``llama_cpp.server`` understands (the embedded model);
- ``json_object``: JSON mode without a schema;
- ``text``: no ``response_format`` at all; the model is asked for
  ``ANSWER:`` / ``SUBQUESTIONS:`` lines (any server).
"""

STRUCTURED_OUTPUTS: tuple[StructuredOutput, ...] = ("json_schema", "json_object_schema", "json_object", "text")

UNPARSED_STAT = "llm_unparsed"
"""Key counted in the run's stats (``run_end.stats``) when a raw reply became an answer."""

NO_TOKENS_STAT = "tokens_exhausted"
"""Key counted in the run's stats when a call did not fit in its node's token budget."""

NO_TOKENS_ANSWER = "(no answer: the token budget ran out before this node could ask the model)"
"""The answer of a node whose token budget cannot afford even a direct answer."""

_JSON = json.JSONEncoder(ensure_ascii=False)
"""``json.dumps(value, ensure_ascii=False)``, made once (``json.dumps`` with an option builds an encoder per call)."""

_WIDEST_RAW = "\U0010ffff"
"""The character with the most UTF-8 bytes (4): a question at its length limit, written in it,
is the most a question put in a prompt as is can cost."""

_WIDEST_QUOTED = "\x00"
"""The character whose JSON quotation is longest (``\\u0000``, 6 bytes): the same for quoted text."""


class ChatClient(Protocol):
    """What the overseer needs of :class:`hch.llm.client.LLMClient`."""

    async def chat(
        self,
        node: Node,
        messages: list[dict[str, str]],
        *,
        purpose: str,
        response_format: dict[str, Any] | None = None,
        sample: int = 0,
    ) -> str: ...

    def reservation(self, messages: list[dict[str, str]], *, response_format: dict[str, Any] | None = None) -> int:
        """What a call with ``messages`` reserves of a token budget (see :mod:`hch.llm.tokens`)."""
        ...


# -- the protocol ---------------------------------------------------------------------


@dataclass
class Caller:
    """The protocol's calls: their messages, the request, the reply's parse, one repair, the fallback.

    The LLM overseer, the base model and the drafter that assists a person
    (:mod:`hch.human.drafter`) all build their conversations here, so the model
    sees the same protocol whoever it works for.
    """

    client: ChatClient
    prompts: Prompts
    output: StructuredOutput
    stats: Counter[str] = field(default_factory=Counter)
    _openings: dict[str, tuple[dict[str, str], ...]] = field(default_factory=dict, init=False, repr=False)
    """The messages every conversation of a kind starts with, by kind, rendered once (see :meth:`_opening`)."""
    _openings_for: tuple[Prompts, StructuredOutput] | None = field(default=None, init=False, repr=False)

    def response_format(self, schema: dict[str, Any], name: str) -> dict[str, Any] | None:
        if self.output == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
        if self.output == "json_object_schema":
            return {"type": "json_object", "schema": schema}
        if self.output == "json_object":
            return {"type": "json_object"}
        return None

    def step_format(self) -> str:
        return self.prompts.format_text_step if self.output == "text" else self.prompts.format_json_step

    def answer_format(self) -> str:
        return self.prompts.format_text_answer if self.output == "text" else self.prompts.format_json_answer

    def render_step(self, step: Step) -> str:
        """An example reply in this run's format."""
        if self.output == "text":
            if step.asks:
                lines = [f"{i}. {q}" for i, q in enumerate(step.subquestions, 1)]
                return "SUBQUESTIONS:\n" + "\n".join(lines)
            return f"ANSWER: {step.answer}"
        if step.asks:
            return _JSON.encode({"action": "ask", "subquestions": list(step.subquestions)})
        return _JSON.encode({"action": "answer", "answer": step.answer})

    def render_answer(self, answer: str) -> str:
        if self.output == "text":
            return f"ANSWER: {answer}"
        return _JSON.encode({"answer": answer})

    async def call(
        self,
        node: Node,
        messages: list[dict[str, str]],
        *,
        purpose: str,
        schema: dict[str, Any],
        allow_ask: bool,
        reply_format: str,
    ) -> Step:
        response_format = self.response_format(schema, f"hch_{purpose}")
        plain_is_answer = self.output == "text" and not allow_ask
        try:
            reply = await self._chat(node, messages, purpose=purpose, response_format=response_format)
        except TokensExhausted:
            node.run.counts[NO_TOKENS_STAT] += 1
            return Step(answer=NO_TOKENS_ANSWER)
        try:
            step = parse_reply(reply, allow_ask=allow_ask, plain_is_answer=plain_is_answer)
        except Unparseable as exc:
            problem = str(exc)
        else:
            self.stats["parsed"] += 1
            return step
        limits = self.prompts.limits
        repair = [
            *messages,
            {"role": "assistant", "content": clip(reply, limits.repair_quote_chars)},
            {"role": "user", "content": render(self.prompts.repair, problem=problem, format=reply_format)},
        ]
        try:
            second = await self._chat(node, repair, purpose="repair", response_format=response_format)
        except TokensExhausted:  # no repair: the first reply stands, as an unreadable second one would
            node.run.counts[NO_TOKENS_STAT] += 1
            second = ""
        try:
            step = parse_reply(second, allow_ask=allow_ask, plain_is_answer=plain_is_answer)
        except Unparseable:
            pass
        else:
            self.stats["repaired"] += 1
            return step
        # Still unreadable: what the model wrote is its answer, and the run's stats say so.
        self.stats["unparsed"] += 1
        node.run.counts[UNPARSED_STAT] += 1
        raw = unfence(second) or unfence(reply)
        return Step(answer=raw or "(the model gave no answer)")

    async def _chat(
        self, node: Node, messages: list[dict[str, str]], *, purpose: str, response_format: dict[str, Any] | None
    ) -> str:
        try:
            return await self.client.chat(node, messages, purpose=purpose, response_format=response_format)
        except ModelCallError as exc:
            # A server that rejects the reply format says so with a 400 (or, llama-cpp-python, a 500
            # naming the field): point at the setting that turns it off.
            rejected = exc.cause == "bad_request" or "response_format" in str(exc)
            if response_format is None or not rejected:
                raise
            hint = (
                f" (if the server does not support response_format {response_format['type']!r}, "
                "set the structured_output option to json_object or text)"
            )
            raise ModelCallError(str(exc) + hint, cause=exc.cause, status=exc.status, attempts=exc.attempts) from None

    # -- what calls may cost (token budgets) -----------------------------------

    def cost(self, messages: list[dict[str, str]], *, purpose: str, schema: dict[str, Any]) -> int:
        """What a :meth:`call` with these messages reserves of a token budget."""
        return self.client.reservation(messages, response_format=self.response_format(schema, f"hch_{purpose}"))

    def answer_cost(self, question: str) -> int:
        """What the ``answer`` call of a node asking ``question`` reserves."""
        return self.cost(self.direct_messages(question), purpose="answer", schema=answer_schema(self.prompts.limits))

    def combine_cost(self, question: str, subquestions: list[str]) -> int:
        """The most the ``combine`` call after ``subquestions`` can reserve (every answer at its longest)."""
        limits = self.prompts.limits
        widest = _WIDEST_QUOTED * limits.quoted_answer_chars
        messages = self.combine_messages(question, [(q, widest) for q in subquestions])
        return self.cost(messages, purpose="combine", schema=answer_schema(limits))

    def plan(self, ws: Workspace, allowed: int) -> int:
        """The most subquestions, up to ``allowed``, that ``ws``'s token budget affords (``allowed`` without one).

        Asking ``n`` means a ``decompose`` call, then ``n`` subquestions each
        handed at least what the ``answer`` call of the longest subquestion
        reserves (so that every child can answer), then a ``combine`` call: the
        node asks only when it has all of that left.
        """
        if ws.tokens_left is None:
            return allowed
        limits = self.prompts.limits
        each = self.answer_cost(_WIDEST_RAW * limits.subquestion_chars)
        widest = _WIDEST_QUOTED * limits.subquestion_chars
        n = allowed
        while n > 0:
            decompose = self.cost(
                self.decompose_messages(ws.question, n), purpose="decompose", schema=step_schema(n, limits)
            )
            if ws.can_ask(n, tokens_each=each, keep_tokens=decompose + self.combine_cost(ws.question, [widest] * n)):
                break
            n -= 1
        return n

    def keep_for_combine(self, ws: Workspace, subquestions: list[str]) -> int:
        """What a node asking ``subquestions`` keeps back for its ``combine`` call (0 without a token budget)."""
        return 0 if ws.tokens_left is None else self.combine_cost(ws.question, subquestions)

    # -- the conversations -----------------------------------------------------

    def direct_messages(self, question: str) -> list[dict[str, str]]:
        """The ``answer`` conversation: the node may not ask, and is told so."""
        p = self.prompts
        messages = self._opening("answer")
        messages.append({"role": "user", "content": render(p.direct_user, question=question, budget=p.budget_none)})
        return messages

    def decompose_messages(self, question: str, allowed: int) -> list[dict[str, str]]:
        """The ``decompose`` conversation: answer, or ask at most ``allowed`` subquestions."""
        p = self.prompts
        messages = self._opening("decompose")
        budget = render(p.budget_some, n=allowed)
        messages.append({"role": "user", "content": render(p.decompose_user, question=question, budget=budget)})
        return messages

    def combine_messages(self, question: str, exchanges: list[tuple[str, str]]) -> list[dict[str, str]]:
        """The ``combine`` conversation: the sub-answers, quoted as data, and a request for the answer."""
        p = self.prompts
        messages = self._opening("combine")
        messages.append(
            {"role": "user", "content": render(p.combine_user, question=question, answers=quote_answers(p, exchanges))}
        )
        return messages

    def _opening(self, kind: Literal["answer", "decompose", "combine"]) -> list[dict[str, str]]:
        """The system message and worked examples that every ``kind`` conversation starts with, as new dicts.

        They depend only on the prompts and the reply format, so they are rendered
        once (again if either is replaced); rendering them for every call was a
        fifth of the client's time on a cached call.
        """
        if (
            self._openings_for is None
            or self._openings_for[0] is not self.prompts
            or self._openings_for[1] != self.output
        ):
            self._openings = {}
            self._openings_for = (self.prompts, self.output)
        opening = self._openings.get(kind)
        if opening is None:
            opening = self._openings[kind] = tuple(self._render_opening(kind))
        return [dict(message) for message in opening]  # the caller may change its messages

    def _render_opening(self, kind: Literal["answer", "decompose", "combine"]) -> list[dict[str, str]]:
        p = self.prompts
        messages: list[dict[str, str]] = []
        if kind == "answer":
            messages.append({"role": "system", "content": render(p.direct_system, format=self.answer_format())})
            for example in p.direct_examples:
                user = render(p.direct_user, question=example.question, budget=p.budget_none)
                messages.append({"role": "user", "content": user})
                messages.append({"role": "assistant", "content": self.render_answer(example.answer)})
        elif kind == "decompose":
            messages.append({"role": "system", "content": render(p.decompose_system, format=self.step_format())})
            example_budget = render(p.budget_some, n=p.decompose_example_budget)
            for example in p.decompose_examples:
                shown = (
                    Step(answer=example.answer) if not example.subquestions else Step(subquestions=example.subquestions)
                )
                user = render(p.decompose_user, question=example.question, budget=example_budget)
                messages.append({"role": "user", "content": user})
                messages.append({"role": "assistant", "content": self.render_step(shown)})
        else:
            messages.append({"role": "system", "content": render(p.combine_system, format=self.answer_format())})
            for combined in p.combine_examples:
                answers = quote_answers(p, list(combined.exchanges))
                user = render(p.combine_user, question=combined.question, answers=answers)
                messages.append({"role": "user", "content": user})
                messages.append({"role": "assistant", "content": self.render_answer(combined.answer)})
        return messages

    async def answer_directly(self, node: Node) -> str:
        """The ``answer`` call: the node cannot ask and is told so."""
        p = self.prompts
        step = await self.call(
            node,
            self.direct_messages(node.question),
            purpose="answer",
            schema=answer_schema(p.limits),
            allow_ask=False,
            reply_format=self.answer_format(),
        )
        return clip(step.answer or "", p.limits.answer_chars)


class LLMOverseer:
    """An overseer whose decisions are made by an LLM (see the module docstring)."""

    def __init__(
        self,
        client: ChatClient,
        prompts: Prompts = DEFAULT_PROMPTS,
        max_subquestions: int = DEFAULT_MAX_SUBQUESTIONS,
        *,
        output: StructuredOutput = "json_schema",
        name: str = "llm",
    ) -> None:
        if max_subquestions < 1:
            raise ValueError(f"max_subquestions must be at least 1, got {max_subquestions}")
        self._caller = Caller(client, prompts, output)
        self.prompts = prompts
        self.max_subquestions = max_subquestions
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def stats(self) -> Counter[str]:
        """Replies ``parsed`` at once, ``repaired`` by the re-ask, or ``unparsed`` (raw text used)."""
        return self._caller.stats

    def allowed(self, ws: Workspace) -> int:
        """How many subquestions this node may ask now: what fits (``ws.room()``), at most
        ``max_subquestions``, and what it can afford under a token budget."""
        return self._caller.plan(ws, min(self.max_subquestions, ws.room()))

    async def __call__(self, ws: Workspace) -> str:
        node = ws.node
        allowed = self.allowed(ws)
        caller = self._caller
        if allowed == 0:
            return await caller.answer_directly(node)
        p = self.prompts
        step = await caller.call(
            node,
            caller.decompose_messages(ws.question, allowed),
            purpose="decompose",
            schema=step_schema(allowed, p.limits),
            allow_ask=True,
            reply_format=caller.step_format(),
        )
        if not step.asks:
            return clip(step.answer or "", p.limits.answer_chars)
        questions = clean_subquestions(step.subquestions, limit=allowed, max_chars=p.limits.subquestion_chars)
        if not questions:  # parse_reply only returns an ask with a non-empty question; defensive
            return await caller.answer_directly(node)
        answers = await ws.ask(*questions, keep_tokens=caller.keep_for_combine(ws, questions))
        step = await caller.call(
            node,
            caller.combine_messages(node.question, list(zip(questions, answers, strict=True))),
            purpose="combine",
            schema=answer_schema(p.limits),
            allow_ask=False,
            reply_format=caller.answer_format(),
        )
        return clip(step.answer or "", p.limits.answer_chars)


def quote_answers(prompts: Prompts, exchanges: list[tuple[str, str]]) -> str:
    """The sub-answers as data: a heading, then each subquestion and answer as a JSON string.

    JSON encoding escapes quotes and newlines, so nothing in an answer can end
    its quotation or pass for the prompt's own text.
    """
    limit = prompts.limits.quoted_answer_chars
    quote = _JSON.encode
    items = [
        render(prompts.answers_item, i=i, subquestion=quote(question), answer=quote(clip(answer, limit)))
        for i, (question, answer) in enumerate(exchanges, 1)
    ]
    return "\n".join([prompts.answers_heading, *items])


class LLMBaseModel:
    """The base model M0: an LLM answering directly, without subquestions (depth 0)."""

    level = 0

    def __init__(
        self,
        client: ChatClient,
        prompts: Prompts = DEFAULT_PROMPTS,
        *,
        output: StructuredOutput = "json_schema",
        name: str = "llm",
    ) -> None:
        self._caller = Caller(client, prompts, output)
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def stats(self) -> Counter[str]:
        return self._caller.stats

    async def answer(self, node: Node) -> str:
        return await self._caller.answer_directly(node)
