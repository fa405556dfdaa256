"""Defaults the engine and the command line share, in a module that imports nothing.

The command line reads them when it defines its flags, so they must not load the
engine (see ``tests/test_startup.py``).
"""

DEFAULT_MAX_SUBQUESTIONS = 8
"""Most subquestions one node may ask, unless the run says otherwise."""
