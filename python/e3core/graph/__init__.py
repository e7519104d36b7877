"""Graphs of atoms: message passing over edges.

Example::

    >>> from e3core import graph
    >>> graph.TensorProductConv("2x0e", "0e", "2x0e", [(0, 0, 0, "uvu", True)]).weight_numel
    2
"""

from e3core.graph._conv import TensorProductConv

__all__ = ["TensorProductConv"]
