"""Scalar functions for equivariant networks, with e3nn.math's names: soft one-hot encodings,
the smooth unit step, normalised activations, Bessel functions and Gram-Schmidt bases; plus
NequIP's radial basis and SiLU with a fused second derivative.

Example::

    >>> import torch
    >>> from e3core import math
    >>> math.soft_one_hot_linspace(torch.rand(5), 0.0, 1.0, 8, "smooth_finite", True).shape
    torch.Size([5, 8])
"""

from e3core.math import perm
from e3core.math._linalg import complete_basis, direct_sum, orthonormalize
from e3core.math._normalize_activation import moment, normalize2mom
from e3core.math._radial import BesselBasis, PolynomialCutoff, RadialBasis, bessel
from e3core.math._reduce import germinate_formulas, reduce_permutation
from e3core.math._silu import silu
from e3core.math._soft_one_hot_linspace import soft_one_hot_linspace, soft_unit_step

__all__ = [
    "BesselBasis",
    "PolynomialCutoff",
    "RadialBasis",
    "bessel",
    "complete_basis",
    "direct_sum",
    "germinate_formulas",
    "moment",
    "normalize2mom",
    "orthonormalize",
    "perm",
    "reduce_permutation",
    "silu",
    "soft_one_hot_linspace",
    "soft_unit_step",
]
