"""Graphs of atoms: neighbour search and message passing over edges.

Example::

    >>> import torch
    >>> from e3core import graph
    >>> graph.radius_graph(torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), 2.0)
    tensor([[1, 0],
            [0, 1]])
    >>> graph.TensorProductConv("2x0e", "0e", "2x0e", [(0, 0, 0, "uvu", True)]).weight_numel
    2
"""

from e3core.graph._conv import TensorProductConv
from e3core.graph._edges import edge_vectors
from e3core.graph._neighbor_list import neighbor_list, radius_graph

__all__ = ["TensorProductConv", "edge_vectors", "neighbor_list", "radius_graph"]
