"""Text from outside (models, servers, files, people) made safe to show on a terminal.

A model answer or a server's error body may hold terminal control sequences:
ESC ``[2J`` clears the screen, ESC ``]0;...`` BEL retitles the window, C1
codes such as U+009B act as CSI on some terminals, and bidi overrides reorder
what is shown. Printed raw, they let a model or a server rewrite the user's
screen. :func:`visible` shows every such character as an escape (``\\x1b``,
``\\u202e``) instead. It is the one function every print path calls on text it
did not write itself; the consoles it is printed on have markup and emoji codes
off (rich would otherwise turn ``[red]`` into colour and ``:100:`` into an emoji).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 controls but tab and newline, DEL, C1 controls
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides and isolates
    "\ud800-\udfff]"  # lone surrogates (undecodable bytes carried by surrogateescape)
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str, *, one_line: bool = False) -> str:
    """``text`` with every control character shown as an escape (and, if ``one_line``, newlines and tabs too)."""
    shown = _UNSAFE.sub(_escape, text)
    if one_line:
        shown = shown.replace("\n", "\\n").replace("\t", "\\t")
    return shown


class TextConsole(Console):
    """A rich Console on which nothing printed can control the terminal.

    Every string it renders, and every segment of every renderable (tables,
    trees, Text objects), goes through :func:`visible`; its own styling and
    cursor control (live progress lines) are untouched. Emoji codes are off,
    and so is highlighting (it would colour numbers and paths in answers).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("emoji", False)
        kwargs.setdefault("highlight", False)
        super().__init__(**kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        # Before layout, so a shown escape takes the width it is printed in.
        return super().render_str(visible(text), **kwargs)

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        # Nested renderables come back through here too: a Text (an answer in a panel, a tree
        # label) is made visible before layout, and any other segment after it, as a safety net.
        if isinstance(renderable, Text) and _UNSAFE.search(renderable.plain):
            renderable = _visible_text(renderable)
        for segment in super().render(renderable, options):
            if segment.control or not _UNSAFE.search(segment.text):
                yield segment
            else:
                yield Segment(visible(segment.text), segment.style)


def _visible_text(text: Text) -> Text:
    """``text`` made visible; styles of its parts are dropped (offsets move), its own style kept."""
    return Text(
        visible(text.plain),
        style=text.style,
        justify=text.justify,
        overflow=text.overflow,
        no_wrap=text.no_wrap,
        end=text.end,
        tab_size=text.tab_size,
    )
