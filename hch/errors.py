"""Errors the engine raises on purpose. Each message is one line a user can act on."""

from __future__ import annotations

from collections.abc import Callable

Label = Callable[[str], str]
"""How a message names an option, given its name in the library (``base_url``).

The library names options as its own APIs do (:class:`hch.app.options.RunOptions`,
:class:`hch.app.options.ModelOptions`); the command line passes its own label, so
that its errors show its flags (``--base-url``) without the library knowing them.
"""


def by_name(name: str) -> str:
    """The default :data:`Label`: an option is named as it is in the library."""
    return name


class HCHError(Exception):
    """Base class: anything the CLI reports as a one-line error."""


class UsageError(HCHError):
    """Bad input from the user: an unknown task, a malformed facts file, a bad flag value."""


class BoundExceeded(HCHError):
    """An overseer asked for more than its node's bounds allow.

    Overseers are told their bounds (``Workspace.can_ask``) before they ask, so
    this signals a bug in the overseer, not a run that ran out of budget.
    """


def validation_summary(exc: ValueError) -> str:
    """Pydantic's errors in one line (``where: what; ...``), without the input values it would quote.

    Not ``str(exc)``: the input may be a URL with a key in it.
    """
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for error in errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


class TokensExhausted(HCHError):
    """A model call does not fit in what its node has left of the run's token budget.

    The call was not made. Like a node out of calls, the node answers without
    it (see docs/budgets.md); an overseer that plans its calls with
    ``Workspace.can_ask`` meets this only when a reply made it need more calls
    than planned (a repair).
    """


def how_to_name_a_model(label: Label = by_name) -> str:
    """How a user names a model and its server, for a message: the options, else the environment.

    The rule it states is :func:`hch.llm.embedded.resolve_settings`'s (neither given: the embedded model).
    """
    return f"give {label('model')} and {label('base_url')} (or set HCH_MODEL and HCH_BASE_URL)"


def needs_model(what: str, *, label: Label = by_name) -> UsageError:
    """The one-line error when ``what`` (``"this run"``, ``"a debate"``) needs a model and has none."""
    return UsageError(f"{what} needs a model: {how_to_name_a_model(label)}, or use the embedded model")
