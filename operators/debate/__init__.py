"""Debate: two copies argue for opposite answers in turns; a judge who sees only
the debate picks the winner (+1 to the winner, -1 to the loser).

- :mod:`operators.debate.recursive`: recursive debate on the algorithmic tasks,
  descending the task's own decomposition until one fact is at stake, which the
  judge checks (through :func:`hch.tasks.base.lookup`, so it is recorded).
- :mod:`operators.debate.free`: free-text debate between LLM debaters, with
  quotes from a source text verified by exact match.
- :mod:`operators.debate.judges`: who decides (the program, an LLM, a person).
- :mod:`operators.debate.model`: a debate as a :class:`~hch.protocols.Model`,
  so each debate is one engine run (``run_question``) that ``hch replay``
  rebuilds from the :class:`~operators.debate.spec.DebateSpec` in its header.

Nothing is imported here: :mod:`hch.app.spec` imports the spec module alone.
"""
