"""People in the tree: a person as overseer or base model, at a terminal shared by the run.

- :class:`hch.human.console.HumanConsole`: the run's terminal; human nodes queue
  for it, and every input is recorded (and played back on replay and resume).
- :class:`hch.human.workers.HumanOverseer`, :class:`hch.human.workers.HumanBaseModel`:
  a person working a node, directly, or in augmented / review mode with an LLM
  :class:`hch.human.session.Drafter`.
- :mod:`hch.human.commands`: what can be typed at a prompt (``?`` lists it).
- :mod:`hch.human.modes`: how a person works a node (direct, augmented, review).
- :mod:`hch.human.build`: where people sit in a tree.

The package imports none of them: a run without people (a replay of an LLM run,
say) never loads the terminal's side (rich).
"""
