"""The graph IR both modes share: nodes, graphs, topological order, verification, export."""

from .ir import KINDS, ROLES, Graph, IRError, Node, freeze, subgraph, to_networkx, toposort, verify

__all__ = ["KINDS", "ROLES", "Graph", "IRError", "Node", "freeze", "subgraph", "to_networkx",
           "toposort", "verify"]
