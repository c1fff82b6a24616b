"""The graph IR both modes share: nodes, graphs, topological order, verification, export."""

from . import control  # noqa: F401  (defines the while and cond ops)
from .ir import KINDS, ROLES, Graph, IRError, Node, freeze, subgraph, to_networkx, toposort, verify

__all__ = ["KINDS", "ROLES", "Graph", "IRError", "Node", "freeze", "subgraph", "to_networkx",
           "toposort", "verify"]
