"""Conversions between tensor layouts and irreps, with e3nn.io's names: Cartesian tensors with
index symmetries ("ij=ji") to and from their irreps.

Example::

    >>> import torch
    >>> from e3core.io import CartesianTensor
    >>> stress = CartesianTensor("ij=ji")
    >>> stress
    1x0e+1x2e
    >>> stress.from_cartesian(torch.eye(3))
    tensor([1.7321, 0.0000, 0.0000, 0.0000, 0.0000, 0.0000])
"""

from e3core.io._cartesian_tensor import CartesianTensor
from e3core.io._spherical_tensor import SphericalTensor

__all__ = ["CartesianTensor", "SphericalTensor"]
