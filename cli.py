"""The ``hch`` command: run questions through HCH trees, evaluate, audit, train.

Each command is a thin layer (its module under ``commands/``): it turns flags
into library calls, prints the result (or one JSON object with ``--json``),
and turns the library's errors into a one-line message and an exit code: 2 for
bad input, 1 for a run that failed, 130 for an interrupted one. This module
only assembles them.
"""

from __future__ import annotations

import typer

from commands import approval, audit, cache, dataset, debate, imitative, rrm, run

app = typer.Typer(
    name="hch",
    help="Amplification and HCH (Humans Consulting HCH): run, evaluate and audit question trees.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help and usage errors: rendering them with rich loads rich's markdown
    # parser, a third of `hch --help`'s time.
    rich_markup_mode=None,
)

# Questions through trees.
app.command()(run.run)
app.command("eval")(run.eval_)
app.command()(run.tasks)

# Audit.
app.command()(audit.schema)
app.command()(audit.replay)
app.command()(audit.verify)
app.command()(audit.show)
app.command()(audit.diff)
app.command()(audit.export)

# The model-call cache.
app.add_typer(cache.cache_app)

# Operators: imitative amplification (amplify, distill, iterate, dataset).
app.command()(imitative.amplify)
app.command()(imitative.distill)
app.command()(imitative.iterate)
app.add_typer(dataset.dataset_app)

# Operators: approval-based amplification and recursive reward modeling.
app.command("approve")(approval.approve_command)
app.command()(rrm.rrm)

# Operators: debate.
app.command()(debate.debate)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
