"""Approval-based amplification: Amp(M) rates candidate answers that M proposes.

See :mod:`operators.approval.approver` (the rating overseers),
:mod:`operators.approval.policy` (the best-of-n policy),
:mod:`operators.approval.measure` (approval against ground truth) and
:mod:`operators.approval.operator` (running it all through the engine).
"""
