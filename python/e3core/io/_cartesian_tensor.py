"""Cartesian tensors with index symmetries as irreps: e3nn.io.CartesianTensor."""

import torch

from e3core._errors import ShapeError
from e3core.o3._irreps import Irreps
from e3core.o3._reduce import ReducedTensorProducts, reduced_tensor_products_basis

__all__ = ["CartesianTensor"]


class CartesianTensor(Irreps):
    """The irreps of a Cartesian tensor (every index a vector, ``1o``) with the index symmetries
    of ``formula`` ("ij=ji": symmetric, "ij=-ji": antisymmetric, "ijkl=jikl=ijlk=klij":
    elasticity), as e3nn's: an ``Irreps`` with conversions to and from the Cartesian layout
    through ``ReducedTensorProducts``' change of basis.

    ``from_cartesian`` projects onto the symmetric part, ``to_cartesian`` is its inverse there:
    ``to_cartesian(from_cartesian(t))`` is the part of ``t`` with the symmetries.

    Example::

        >>> import torch
        >>> CartesianTensor("ij=-ji")
        1x1e
        >>> x = CartesianTensor("ij=ji")
        >>> t = torch.arange(9.0).view(3, 3)
        >>> torch.allclose(x.to_cartesian(x.from_cartesian(t)), (t + t.T) / 2, atol=1e-5)
        True
    """

    formula: str
    indices: str

    def __new__(cls, formula: str) -> "CartesianTensor":
        indices = formula.split("=")[0].replace("-", "")
        _, irreps_out, _ = reduced_tensor_products_basis(formula, **{i: "1o" for i in indices})
        ret = super().__new__(cls, irreps_out)
        ret.formula = formula
        ret.indices = indices
        return ret

    def __getnewargs__(self) -> tuple[str]:
        # Copies and pickles rebuild from the formula, not from the irreps.
        return (self.formula,)

    def _change_of_basis(
        self, data: torch.Tensor, rtp: ReducedTensorProducts | None
    ) -> torch.Tensor:
        if rtp is not None:
            return rtp.change_of_basis
        _, _, Q = reduced_tensor_products_basis(self.formula, **{i: "1o" for i in self.indices})
        return Q.to(device=data.device, dtype=data.dtype)

    def from_cartesian(
        self, data: torch.Tensor, rtp: ReducedTensorProducts | None = None
    ) -> torch.Tensor:
        """The irreps (..., self.dim) of the Cartesian tensor ``data`` (..., 3, ..., 3) (its
        part with the symmetries of the formula); ``rtp``: a ``reduced_tensor_products()``
        to reuse.

        Example::

            >>> CartesianTensor("ijk=-jik=-ikj").from_cartesian(torch.ones(3, 3, 3))
            tensor([0.])
        """
        n = len(self.indices)
        if data.dim() < n or tuple(data.shape[-n:]) != (3,) * n:
            raise ShapeError(
                f"from_cartesian: data has shape {list(data.shape)}, expected (..., "
                + ", ".join(["3"] * n)
                + ")"
            )
        Q = self._change_of_basis(data, rtp).flatten(-n)
        return data.flatten(-n) @ Q.T

    def from_vectors(
        self, *xs: torch.Tensor, rtp: ReducedTensorProducts | None = None
    ) -> torch.Tensor:
        """The irreps (..., self.dim) of x_1 ⊗ x_2 ⊗ ... of the vectors ``xs`` (..., 3),
        symmetrised as the formula says.

        Example::

            >>> CartesianTensor("ij=-ji").from_vectors(torch.ones(3), torch.ones(3))
            tensor([0., 0., 0.])
        """
        if rtp is None:
            rtp = self.reduced_tensor_products(xs[0])
        return rtp(*xs)

    def to_cartesian(
        self, data: torch.Tensor, rtp: ReducedTensorProducts | None = None
    ) -> torch.Tensor:
        """The Cartesian tensor (..., 3, ..., 3) of the irreps ``data`` (..., self.dim): the
        inverse of ``from_cartesian`` on tensors with the formula's symmetries.

        Example::

            >>> x = CartesianTensor("ij=ji")
            >>> t = x.to_cartesian(torch.tensor([3**0.5, 0, 0, 0, 0, 0]))
            >>> torch.allclose(t, torch.eye(3))
            True
        """
        if data.dim() == 0 or data.shape[-1] != self.dim:
            raise ShapeError(
                f"to_cartesian: data has shape {list(data.shape)}, expected (..., {self.dim})"
            )
        Q = self._change_of_basis(data, rtp)
        return (data @ Q.flatten(1)).reshape(*data.shape[:-1], *Q.shape[1:])

    def reduced_tensor_products(self, data: torch.Tensor | None = None) -> ReducedTensorProducts:
        """The ``ReducedTensorProducts`` of the formula with every index ``1o``, on the device
        and dtype of ``data`` if given.

        Example::

            >>> CartesianTensor("ij=ji").reduced_tensor_products().irreps_out
            1x0e+1x2e
        """
        rtp = ReducedTensorProducts(self.formula, **{i: "1o" for i in self.indices})
        if data is not None:
            rtp = rtp.to(device=data.device, dtype=data.dtype)
        return rtp
