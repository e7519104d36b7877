"""Electron densities: per-element Gaussian bases on irreps, PySCF's component order, densities
at arbitrary points and the error metrics epsilon_total, epsilon_l and epsilon_mae (see
docs/density.md).

Example::

    >>> import torch
    >>> from e3core import density
    >>> basis = density.DensityBasis({1: [(0, 1.0)], 8: [(0, 4.0), (1, 2.0)]})
    >>> str(basis.irreps)
    '1x0e+1x1o'
    >>> rho = density.density_at(basis, torch.ones(2, 4), torch.eye(2, 3), torch.tensor([8, 1]),
    ...                          torch.zeros(5, 3))
    >>> rho.shape
    torch.Size([5])
"""

from e3core.density._basis import DensityBasis, irreps_mask, pyscf_to_e3nn, pyscf_to_e3nn_matrix
from e3core.density._evaluate import (
    atom_point_edges,
    atom_point_pairs,
    density_at,
    density_error,
    density_errors_by_l,
    density_mae_error,
)

__all__ = [
    "DensityBasis",
    "atom_point_edges",
    "atom_point_pairs",
    "density_at",
    "density_error",
    "density_errors_by_l",
    "density_mae_error",
    "irreps_mask",
    "pyscf_to_e3nn",
    "pyscf_to_e3nn_matrix",
]
