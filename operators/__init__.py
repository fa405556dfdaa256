"""Training operators built on the engine: imitative amplification, approval-based
amplification and recursive reward modeling (see shared/reference/concepts.md).

Nothing is implemented here yet; the engine (:mod:`hch`), its transcripts and
the algorithmic tasks are what these operators will build on.
"""
