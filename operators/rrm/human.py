"""A person giving RRM feedback at the terminal.

The person works the root of a comparison tree: the question and the two
candidate answers are shown side by side, they may ask the assistant (the
previous round's agent, amplified) subquestions as at any human node (``ask
Q``), and they choose with ``answer A`` or ``answer B``. Everything they type
goes through :class:`~hch.human.console.HumanConsole`, so it is recorded as
``human_input`` events, replayed by ``hch replay``, and Ctrl-C stops the run
keeping the feedback given so far (see :mod:`operators.rrm.loop`).
"""

from __future__ import annotations

from rich.markup import escape
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from hch.human.commands import Answer, Command, Edit
from hch.human.console import HumanConsole
from hch.human.session import NodeSession
from hch.workspace import Workspace
from operators.rrm.comparison import Choice, Comparison, parse_comparison, record

CHOOSE = "choose with: answer A  or  answer B   ·   ask Q consults the assistant   ·   ? for the commands"


def side_by_side(cmp: Comparison) -> Table:
    """The two candidates in two columns (their text shown as text, never as markup)."""
    table = Table(show_header=True, header_style="bold", expand=True)
    table.add_column("A")
    table.add_column("B")
    table.add_row(Text(cmp.a), Text(cmp.b))
    return table


def parse_choice(text: str) -> Choice | None:
    word = text.strip().upper()
    return word if word in ("A", "B") else None  # type: ignore[return-value]


class ComparisonSession(NodeSession):
    """A person comparing two answers (a :class:`NodeSession` whose answer must be A or B)."""

    def __init__(self, console: HumanConsole, ws: Workspace, cmp: Comparison) -> None:
        super().__init__(console, ws.node, ws)
        self.cmp = cmp

    def present(self) -> None:
        out = self.console
        out.show(None, Rule(f"feedback · node {self.node.node_id} · which answer is better?", align="left"))
        out.show(None, f"[bold]question[/]  {escape(self.cmp.question)}")
        out.show(None, side_by_side(self.cmp))
        out.show(None, self.bounds_line())
        if self.subs:
            out.show(None, "[bold]the assistant's answers so far[/]")
            for sub in self.subs:
                out.show(None, self._sub_line(sub))
        out.show(None, f"[dim]{escape(CHOOSE)}[/]")

    async def _execute(self, command: Command) -> str | None:
        if isinstance(command, Answer) and command.text is not None and parse_choice(command.text) is None:
            self.hint(f"{command.text.strip()!r} is not a choice: answer A or answer B")
            return None
        if isinstance(command, Edit) and command.target == "answer":
            self.hint("the answer is a choice, not a text: answer A or answer B")
            return None
        if isinstance(command, Answer) and command.text is None:
            self.hint("answer A or answer B")
            return None
        return await super()._execute(command)


class HumanComparator:
    """The overseer of a comparison is a person at the terminal."""

    name = "human"

    def __init__(self, console: HumanConsole) -> None:
        self.console = console

    async def __call__(self, ws: Workspace) -> str:
        cmp = parse_comparison(ws.question)
        if cmp is None:
            raise ValueError(f"not a comparison: {ws.question!r}")
        typed = await ComparisonSession(self.console, ws, cmp).run()
        choice = parse_choice(typed)
        assert choice is not None  # the session only answers with A or B
        return record(ws, cmp, choice, "person")
