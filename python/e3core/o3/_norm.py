"""Norm of every irrep copy in a direct sum of irreps, as e3nn.o3.Norm."""

import torch

from e3core._checks import check_columns
from e3core._e3nn_compat import ignore_e3nn_tensor_product_entries
from e3core.o3._irreps import Irreps
from e3core.util.jit import compile_mode


def irrep_copy_index(irreps: Irreps) -> torch.Tensor:
    """For each of the ``irreps.dim`` components, the index of the irrep copy it belongs to.

    Scaling copies by scalars ``s`` (..., num_irreps) is ``x * s[..., index]``; summing per copy
    is ``index_add`` along the last dimension.

    Example::

        >>> irrep_copy_index(Irreps("2x0e + 1o"))
        tensor([0, 1, 2, 2, 2])
    """
    dims = torch.tensor([2 * l + 1 for l in irreps.ls], dtype=torch.long)
    return torch.repeat_interleave(torch.arange(len(dims)), dims)


@compile_mode("script")
class Norm(torch.nn.Module):
    """The L2 norm of each irrep copy: (..., irreps_in.dim) -> (..., irreps_in.num_irreps).

    ``squared=True`` returns the squared norms. As in e3nn, the gradient of the norm at a zero
    irrep is 0, not NaN, and ``irreps_in`` is simplified; e3nn state_dicts load unchanged.

    Example::

        >>> norm = Norm("0e + 2x1o")
        >>> norm.irreps_out
        3x0e
        >>> norm(torch.tensor([-2.0, 3.0, 0.0, 4.0, 1.0, 0.0, 0.0]))
        tensor([2., 5., 1.])
    """

    squared: bool
    _dim: int
    _num_irreps: int

    def __init__(self, irreps_in: Irreps | str, squared: bool = False) -> None:
        super().__init__()
        irreps_in = Irreps(irreps_in).simplify()
        self.irreps_in = irreps_in
        self.irreps_out = Irreps([(mul, "0e") for mul, _ in irreps_in]).simplify()
        self.squared = squared
        self._dim = irreps_in.dim
        self._num_irreps = irreps_in.num_irreps
        self.register_buffer("_copy", irrep_copy_index(irreps_in), persistent=False)
        ignore_e3nn_tensor_product_entries(self, "tp")

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.irreps_in})"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Norms of the irreps in ``features`` (..., irreps_in.dim)."""
        check_columns("Norm", features, self._dim, "irreps_in.dim")
        shape = features.shape[:-1] + (self._num_irreps,)
        squares = features.new_zeros(shape).index_add(-1, self._copy, features * features)
        if self.squared:
            return squares
        # relu: at zero the sqrt's infinite gradient is multiplied out to 0, as in e3nn.
        return squares.relu().sqrt()
