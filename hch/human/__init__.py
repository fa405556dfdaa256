"""People in the tree: a person as overseer or base model, at a terminal shared by the run.

- :class:`HumanConsole`: the run's terminal; human nodes queue for it, and
  every input is recorded (and played back on replay and resume).
- :class:`HumanOverseer`, :class:`HumanBaseModel`: a person working a node,
  directly, or in augmented / review mode with an LLM :class:`Drafter`.
- :mod:`hch.human.commands`: what can be typed at a prompt (``?`` lists it).
"""

from hch.human.commands import MODES, Mode, help_text, parse_command
from hch.human.console import HumanConsole, HumanStopped
from hch.human.session import Drafter, NodeSession
from hch.human.workers import HumanBaseModel, HumanOverseer

__all__ = [
    "MODES",
    "Drafter",
    "HumanBaseModel",
    "HumanConsole",
    "HumanOverseer",
    "HumanStopped",
    "Mode",
    "NodeSession",
    "help_text",
    "parse_command",
]
