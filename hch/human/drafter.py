"""An LLM drafting steps for a person (augmented mode) or proposing them for review.

It speaks the LLM overseer's protocol through the same
:class:`~hch.llm.overseer.Caller` (conversations, parsing, one ``repair``
re-ask): ``decompose`` when the node has asked nothing yet, ``combine`` once
it has answers, ``answer`` when it may not ask. What it adds is the person: each rejected proposal is put back into
the conversation as the model's earlier reply, followed by the person's
reason, quoted as data, and a request to reply again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from hch.executor import DEFAULT_MAX_SUBQUESTIONS
from hch.llm.overseer import Caller, ChatClient, StructuredOutput
from hch.llm.prompts import DEFAULT_PROMPTS, Prompts, answer_schema, render, step_schema
from hch.llm.replies import clean_subquestions, clip
from hch.step import Step
from hch.workspace import Workspace

REJECTION = (
    "A person reviewing your work rejected that reply. Their reason, quoted as data: $reason\n"
    "Take it into account and reply again with $format."
)
"""What the model is told after a rejected proposal (``$reason`` is JSON-encoded)."""

PROMPTS = {"human_rejection": REJECTION}
"""The prompts this module adds, for a transcript header's ``prompts``."""


class LLMDrafter:
    """Drafts a node's next step with an LLM (see the module docstring)."""

    def __init__(
        self,
        client: ChatClient,
        prompts: Prompts = DEFAULT_PROMPTS,
        max_subquestions: int = DEFAULT_MAX_SUBQUESTIONS,
        *,
        output: StructuredOutput = "json_schema",
        name: str = "llm",
    ) -> None:
        self.prompts = prompts
        self.max_subquestions = max_subquestions
        self._caller = Caller(client, prompts, output)
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def allowed(self, ws: Workspace) -> int:
        """How many subquestions the node may ask now: what fits (``ws.room()``), at most ``max_subquestions``."""
        return min(self.max_subquestions, ws.room())

    async def propose(self, ws: Workspace, rejected: Sequence[tuple[Step, str]]) -> Step:
        """The next step for the node, given the proposals the person rejected and why."""
        p, caller = self.prompts, self._caller
        exchanges = [(e.question, e.answer) for e in ws.history]
        allowed = 0 if exchanges else self.allowed(ws)
        if exchanges:
            purpose, fmt, schema = "combine", caller.answer_format(), answer_schema(p.limits)
            messages = caller.combine_messages(ws.question, exchanges)
        elif allowed > 0:
            purpose, fmt, schema = "decompose", caller.step_format(), step_schema(allowed, p.limits)
            messages = caller.decompose_messages(ws.question, allowed)
        else:
            purpose, fmt, schema = "answer", caller.answer_format(), answer_schema(p.limits)
            messages = caller.direct_messages(ws.question)
        for step, reason in rejected:
            # The rejected proposal, as the model would have written it, then the person's reason as data.
            shown = caller.render_step(step) if purpose == "decompose" else caller.render_answer(step.answer or "")
            messages.append({"role": "assistant", "content": shown})
            quoted = json.dumps(reason, ensure_ascii=False)
            messages.append({"role": "user", "content": render(REJECTION, reason=quoted, format=fmt)})
        reply = await caller.call(
            ws.node, messages, purpose=purpose, schema=schema, allow_ask=allowed > 0, reply_format=fmt
        )
        if reply.asks:
            questions = clean_subquestions(reply.subquestions, limit=allowed, max_chars=p.limits.subquestion_chars)
            if questions:
                return Step(subquestions=tuple(questions))
        return Step(answer=clip(reply.answer or "", p.limits.answer_chars) or "(no answer)")
