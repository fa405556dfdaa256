"""Terminal output for runs: a live progress line while a tree grows."""

from __future__ import annotations

from rich.console import Console
from rich.live import Live
from rich.text import Text

from transcripts.events import Event, ModelCall, NodeAnswer, NodeStart, OracleCall, Reuse


class ProgressLine:
    """A one-line live view of a run (nodes started/answered, calls, deepest level).

    Used as a transcript listener: it sees every event as it is emitted.
    """

    def __init__(self, console: Console) -> None:
        self.started = 0
        self.answered = 0
        self.calls = 0
        self.reused = 0
        self.latest = ""
        self._live = Live(self._render(), console=console, transient=True, refresh_per_second=8)

    def __enter__(self) -> ProgressLine:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def __call__(self, event: Event) -> None:
        if isinstance(event, NodeStart):
            self.started += 1
            self.latest = event.question
        elif isinstance(event, NodeAnswer):
            self.answered += 1
        elif isinstance(event, ModelCall | OracleCall):
            self.calls += 1
        elif isinstance(event, Reuse):
            self.reused += 1
        else:
            return
        self._live.update(self._render())

    def _render(self) -> Text:
        line = Text()
        line.append(f"nodes {self.answered}/{self.started}", style="bold")
        line.append(f" · calls {self.calls} · reused {self.reused}  ")
        line.append(self.latest[:80], style="dim")
        return line
