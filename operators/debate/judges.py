"""Who decides a debate: the program (task debates), an LLM, or a person at the terminal.

Each judge sees only the :class:`~operators.debate.record.DebateRecord`: the
question, the two answers and the moves (plus, in a task debate, the one fact
checked). Its calls go through the engine at the debate's node: an LLM judge's
through :meth:`LLMClient.chat`, a person's through :meth:`HumanConsole.input`,
so both are recorded and replayed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from hch.errors import UsageError
from hch.human.console import HumanConsole
from hch.node import Node
from operators.debate.record import DebateRecord, Decision, other
from operators.debate.spec import Position

if TYPE_CHECKING:
    from hch.llm.client import LLMClient
    from hch.llm.overseer import StructuredOutput


@dataclass(frozen=True)
class ProgramJudge:
    """Decides a task debate by the protocol's rules and the one fact checked."""

    name: str = "program"

    async def decide(self, node: Node, record: DebateRecord) -> Decision:
        if record.ending == "fact":
            assert record.fact is not None
            fact = record.fact
            right = [p for p in ("A", "B") if record.at_stake.get(p) == fact.answer]
            if len(right) == 1:
                winner: Position = "A" if right[0] == "A" else "B"
                return Decision(winner, f"the facts table says {fact.render()}, as {winner} claimed")
            return Decision(None, f"the facts table says {fact.render()}: neither claim matches")
        if record.ending == "inconsistent" and record.lost_by_rule is not None:
            loser = record.lost_by_rule
            return Decision(other(loser), f"{loser}'s step does not conclude its own claim")
        if record.ending == "conceded" and record.lost_by_rule is not None:
            loser = record.lost_by_rule
            return Decision(other(loser), f"{loser} disputed none of {other(loser)}'s sub-claims")
        if record.ending == "argued":
            raise UsageError("the program judge decides task debates only: use the judge llm or human for free text")
        return Decision(None, f"no winner: {record.ending.replace('_', ' ')} before one fact was at stake")


JUDGE_SYSTEM = (
    "You judge a debate between two debaters, A and B, who argue for different answers to a question. "
    "Exactly one answer is correct, and you see only the debate. Quotes of the source text are marked "
    "<v_quote> if they were checked to appear in it word for word and <u_quote> if not: trust verified "
    "quotes, distrust unverified ones. A fact marked as checked against the facts table is true. "
    "Decide which answer is correct."
)
JUDGE_INSTRUCTION = (
    'Reply with one JSON object with two keys: "winner", the letter of the correct answer (A or B), '
    'and "reason", why, in one sentence.'
)
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"winner": {"type": "string", "enum": ["A", "B"]}, "reason": {"type": "string"}},
    "required": ["winner", "reason"],
}
PROMPTS = {"debate_judge_system": JUDGE_SYSTEM, "debate_judge_instruction": JUDGE_INSTRUCTION}
"""The judge's prompts, as recorded in transcript headers."""

_WINNER_KEY = re.compile(r'"winner"\s*:\s*"\s*([AB])\b', re.IGNORECASE)
_LONE_LETTER = re.compile(r"\b([AB])\b")


def parse_verdict(reply: str) -> Decision | None:
    """The judge's pick from its reply: a JSON ``winner``, else a lone A or B; None if neither."""
    text = reply.strip()
    reason = ""
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        try:
            obj = json.loads(text[start : end + 1])
        except ValueError:
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("reason"), str):
            reason = obj["reason"]
    found = _WINNER_KEY.search(text) or _LONE_LETTER.search(text)
    if found is None:
        return None
    winner: Position = "A" if found.group(1).upper() == "A" else "B"
    return Decision(winner, reason or text[:200])


@dataclass
class LLMJudge:
    """An LLM reads the debate and names the winner (one recorded call, purpose ``judge``)."""

    client: LLMClient
    output: StructuredOutput

    @property
    def name(self) -> str:
        return f"llm:{self.client.settings.model}"

    def messages(self, record: DebateRecord) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": f"{record.render()}\n\n{JUDGE_INSTRUCTION}"},
        ]

    def response_format(self) -> dict[str, Any] | None:
        if self.output == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "verdict", "schema": VERDICT_SCHEMA}}
        if self.output == "json_object_schema":
            return {"type": "json_object", "schema": VERDICT_SCHEMA}
        if self.output == "json_object":
            return {"type": "json_object"}
        return None

    async def decide(self, node: Node, record: DebateRecord) -> Decision:
        reply = await self.client.chat(
            node, self.messages(record), purpose="judge", response_format=self.response_format()
        )
        decision = parse_verdict(reply)
        if decision is None:
            return Decision(None, f"unreadable verdict: {reply[:200]!r}")
        return decision


@dataclass(eq=False)
class _Seat:
    """The judge's seat at the terminal (a console owner, compared by identity): the node and what it shows."""

    node: Node
    console: HumanConsole
    record: DebateRecord

    def present(self) -> None:
        self.console.show(self, f"[bold]Judge this debate[/] (node {escape(self.node.node_id)})")
        self.console.show(self, self.record.render(), markup=False)


@dataclass
class HumanJudge:
    """A person at the terminal reads the debate, picks the winner and gives a reason (both recorded)."""

    console: HumanConsole

    @property
    def name(self) -> str:
        return "human"

    async def decide(self, node: Node, record: DebateRecord) -> Decision:
        seat = _Seat(node, self.console, record)
        try:
            request = {"debate": record.render()}
            while True:
                typed = await self.console.input(
                    seat, kind="debate-winner", request=request, prompt="winner (A or B): "
                )
                choice = typed.strip().upper()
                if choice in ("A", "B"):
                    break
                self.console.show(seat, f"{typed.strip()!r} is not A or B; type A or B", markup=False)
            reason = await self.console.input(
                seat, kind="debate-reason", request={**request, "winner": choice}, prompt="reason: "
            )
        finally:
            self.console.release(seat)
        winner: Position = "A" if choice == "A" else "B"
        return Decision(winner, reason.strip())
