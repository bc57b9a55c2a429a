"""Sequencing: transition costs, energy arcs, solvers and the listener's preference model."""

from segue.sequencing.arcs import ARCS
from segue.sequencing.costs import TERMS, CostWeights
from segue.sequencing.plan import cost_matrix, plan_order, weights_from_settings

__all__ = ["ARCS", "TERMS", "CostWeights", "cost_matrix", "plan_order", "weights_from_settings"]
