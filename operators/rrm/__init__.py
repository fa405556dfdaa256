"""Recursive reward modeling (RRM): feedback from an overseer assisted by the
previous round's agent, a Bradley-Terry reward model fitted on it, and an agent
that optimises the reward model (best-of-n). See docs/operators.md.
"""
