"""A debate's moves and verdict as ``hch show`` draws them (see :mod:`operators.debate`)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from transcripts.events import DebateTurn, DebateVerdict, Event

_SIDE_STYLE = {"honest": "green", "liar": "red"}


def turn_line(event: DebateTurn) -> Text:
    """One move: ``[2] B (liar) step: s^4(3) = 9 because ...``, quotes marked verified or not."""
    line = Text()
    line.append(f"[{event.turn}] {event.debater}", style="bold")
    line.append(f" ({event.side}) ", style=_SIDE_STYLE[event.side])
    line.append(f"{event.move}: ", style="dim")
    line.append(event.text)
    if event.quotes:
        verified = sum(bool(q.get("verified")) for q in event.quotes)
        line.append(f"  [{verified}/{len(event.quotes)} quotes verified]", style="dim")
    return line


def verdict_line(event: DebateVerdict) -> Text:
    """The verdict: who won, whose side, the rewards, the fact checked, the reason."""
    line = Text()
    line.append("verdict ", style="bold")
    if event.winner is None:
        line.append("no winner", style="yellow")
    else:
        line.append(f"{event.winner} wins", style="bold")
        line.append(f" ({event.winner_side})", style=_SIDE_STYLE.get(event.winner_side or "", "yellow"))
    rewards = ", ".join(f"{p} {r:+d}" for p, r in sorted(event.rewards.items()))
    line.append(f" · rewards {rewards} · judge {event.judge} · {event.turns} turn(s)", style="dim")
    if event.fact is not None:
        line.append(f"\n  fact checked: {event.fact.get('question')} = {event.fact.get('answer')}")
    line.append(f"\n  reason: {event.reason}")
    return line


def render_debate(events: Iterable[Event]) -> RenderableType | None:
    """The debate in a transcript as a panel (None if the run is not a debate)."""
    rows: list[RenderableType] = []
    answers: dict[str, str] = {}
    for event in events:
        if isinstance(event, DebateTurn):
            rows.append(turn_line(event))
        elif isinstance(event, DebateVerdict):
            answers = event.answers
            rows.append(verdict_line(event))
    if not rows:
        return None
    head = Text(" · ".join(f"{p} argues {a}" for p, a in sorted(answers.items())), style="bold") if answers else Text()
    return Panel(Group(head, *rows), title="debate", title_align="left", border_style="magenta")
