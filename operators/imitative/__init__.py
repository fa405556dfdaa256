"""Imitative amplification: amplify (Amp(M_t) over questions), distill (M_{t+1}), iterate.

See docs/operators.md. Every call goes through the engine, every example of
every dataset cites the tree that produced it.
"""
