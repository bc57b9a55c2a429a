"""Sequencing: transition costs and the solver that orders a set."""

from segue.sequencing.plan import plan_order

__all__ = ["plan_order"]
