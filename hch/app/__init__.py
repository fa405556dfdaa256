"""The application built on the engine: what a run is, how it is opened, replayed and evaluated.

The engine (``hch/`` root: amp, workspace, executor, budget, node, admission,
context, playback, ...) runs a tree of models and overseers and records it; it
knows nothing of run specs, command lines or terminals. This package is what
the ``hch`` command and the operators stand on:

- :mod:`hch.app.options`: building the runs a set of typed options asks for (what
  ``hch run`` does with its flags);
- :mod:`hch.app.spec`: a :class:`~hch.app.spec.RunSpec` (what a run is, stored in
  its transcript's header) and building the tree it describes;
- :mod:`hch.app.runtime`: opening a run's model client (and the embedded model), and running a spec;
- :mod:`hch.app.replay`: replaying and resuming a run from its transcript;
- :mod:`hch.app.integrity`: refusing to build on a transcript whose chain does not
  verify. It is here, not in the engine, because only replay and resume (this
  package) use it: the engine writes chains, it never reads them back;
- :mod:`hch.app.evaluate`: accuracy of trees of several depths on task instances;
- :mod:`hch.app.progress`: the live progress line a run shows in a terminal.

``hch.paths`` (where hch keeps its files) stays in the engine's root: the
executor's default transcript folder and the LLM cache use it, and the engine
must not import the application.

Nothing is imported here, so importing one module of the package loads only it.
"""
