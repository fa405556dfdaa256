"""The ``hch`` command: run questions through HCH trees, evaluate, audit, train.

Each command is a thin layer (its module under ``commands/``): it turns flags
into library calls, prints the result (or one JSON object with ``--json``),
and turns the library's errors into a one-line message and an exit code: 2 for
bad input, 1 for a run that failed, 130 for an interrupted one. This module
only assembles them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

from commands import approval, audit, cache, dataset, debate, imitative, rrm, run
from commands.common import APP

Source = Callable[..., Any] | typer.Typer
"""A command's function, or a group of commands (an app of its own)."""

_COMMANDS: tuple[tuple[str, Source], ...] = (
    # Questions through trees.
    ("run", run.run),
    ("eval", run.eval_),
    ("tasks", run.tasks),
    # Audit.
    ("schema", audit.schema),
    ("replay", audit.replay),
    ("verify", audit.verify),
    ("show", audit.show),
    ("diff", audit.diff),
    ("export", audit.export),
    # Operators: imitative amplification (amplify, distill, iterate; and dataset, below).
    ("amplify", imitative.amplify),
    ("distill", imitative.distill),
    ("iterate", imitative.iterate),
    # Operators: approval-based amplification and recursive reward modeling.
    ("approve", approval.approve_command),
    ("rrm", rrm.rrm),
    # Operators: debate.
    ("debate", debate.debate),
    # Groups of commands: the model-call cache, and the operators' datasets.
    ("cache", cache.cache_app),
    ("dataset", dataset.dataset_app),
)
"""Every command, in the order ``hch --help`` lists them."""


def _click_command(name: str, source: Source) -> Any:
    """The Click command typer builds for ``source``, named ``name``."""
    if isinstance(source, typer.Typer):
        return typer.main.get_command(source)
    one = typer.Typer(**APP)  # one command, as an app of its own: typer builds it alone
    one.command(name)(source)
    return typer.main.get_command(one)


class _OnFirstUse(MutableMapping[str, Any]):
    """The commands by name, each built for Click when it is first looked up.

    Building a command reads its function's signature and evaluates the annotation
    of each of its flags: for all the commands, 20 ms of every ``hch`` process, of
    which a process needs one command (``hch --help`` lists them all, and builds them all).
    """

    def __init__(self, sources: tuple[tuple[str, Source], ...]) -> None:
        self._sources: dict[str, Source | None] = dict(sources)
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        built = self._built.get(name)
        if built is None:
            source = self._sources[name]
            assert source is not None  # (only a command set as built has none)
            built = self._built[name] = _click_command(name, source)
        return built

    def __setitem__(self, name: str, command: Any) -> None:
        self._sources.setdefault(name, None)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._sources[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)


class _Commands(TyperGroup):
    """hch's command group, its commands built on first use (:class:`_OnFirstUse`)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _OnFirstUse(_COMMANDS)


app = typer.Typer(
    name="hch",
    help="Amplification and HCH (Humans Consulting HCH): run, evaluate and audit question trees.",
    no_args_is_help=True,
    cls=_Commands,
    **APP,
)


@app.callback()
def _group() -> None:
    # A callback makes typer build a group; its commands are _Commands' own.
    pass


def main() -> None:
    app()


if __name__ == "__main__":
    main()
