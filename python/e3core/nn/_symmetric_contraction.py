"""MACE's symmetric contraction (the ACE product basis), with mace-torch's parameters and basis.

Each node's features ``x[c, i]`` (channel c; i over the components of irreps_in, one copy of each
irrep) are raised to the powers 1 to ``correlation`` channel by channel and coupled to each output
irrep L by generalized Clebsch-Gordan tensors U_nu[m, i_1, ..., i_nu, k], with weights per
element (one-hot attributes ``y``) and path k::

    out[c, m] = sum_nu sum_{i, k} U_nu[m, i_1..i_nu, k] W_nu[e, k, c] x[c, i_1] ... x[c, i_nu]

evaluated from the highest power down (Horner's scheme), as mace-torch does. The U tensors are
built here, by coupling the input irreps one after the other with e3core's Wigner 3j symbols in
mace-torch's order, so that its weights load unchanged.

Example::

    >>> import torch
    >>> from e3core.nn import SymmetricContraction
    >>> sc = SymmetricContraction("8x0e+8x1o", "8x0e+8x1o", correlation=3, num_elements=2)
    >>> x = torch.randn(5, 8, 4)  # (nodes, channels, 1 + 3 components)
    >>> sc(x, torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 0, 1]), 2).float()).shape
    torch.Size([5, 32])
"""

from __future__ import annotations

from typing import Any

import torch

from e3core import o3
from e3core._checks import check_int
from e3core._errors import ArgumentError, ShapeError
from e3core.o3._reduce import _wigner_nj


def coupling_basis(irreps_in: Any, ir_out: Any, correlation: int) -> torch.Tensor:
    """The generalized Clebsch-Gordan tensor U of ``correlation`` copies of ``irreps_in`` coupled
    to ``ir_out``, in mace-torch's layout and order (its ``U_matrix_real`` without
    cuequivariance): shape (ir_out.dim, irreps_in.dim, ..., irreps_in.dim, paths) with its
    size-1 dimensions dropped, float64; where no coupling reaches ir_out, zeros of shape
    ([ir_out.dim,] irreps_in.dim, ..., irreps_in.dim, 1) (only ir_out's dimension dropped when
    1). At correlation 4 the intermediate irreps are those of mace-torch, (l, (-1)^l) for l < 12.

    Example::

        >>> coupling_basis("0e+1o", "0e", 2).shape
        torch.Size([4, 4, 2])
    """
    irreps_in, ir_out = o3.Irreps(irreps_in), o3.Irrep(ir_out)
    correlation = check_int("coupling_basis", "correlation", correlation, 1)
    middle = tuple(o3.Irrep(l, (-1) ** l) for l in range(12)) if correlation == 4 else None
    # The chains of couplings (e3nn's, as ReducedTensorProducts builds them), one path each.
    chains = _wigner_nj([irreps_in] * correlation, middle)
    found = [c.squeeze().unsqueeze(-1) for ir, c in chains if ir == ir_out]
    if not found:
        shape = [ir_out.dim] if ir_out.dim != 1 else []
        return torch.zeros(shape + [irreps_in.dim] * correlation + [1], dtype=torch.float64)
    return torch.cat(found, dim=-1)


class _FrozenZeros(torch.nn.Parameter):
    """A parameter of zeros that stays out of training: ``requires_grad_`` does nothing (as
    mace-torch's EmptyParam), so that ``model.requires_grad_(True)`` cannot train it."""

    def __new__(cls, like: torch.Tensor) -> _FrozenZeros:
        return super().__new__(cls, torch.zeros_like(like), requires_grad=False)

    def requires_grad_(self, requires_grad: bool = True) -> _FrozenZeros:
        del requires_grad
        return self


class _Contraction(torch.nn.Module):
    """The contraction to one output irrep (mace-torch's ``Contraction``: its parameter and
    buffer names)."""

    def __init__(
        self,
        irreps_in: o3.Irreps,
        ir_out: o3.Irrep,
        correlation: int,
        num_elements: int,
        channels: int,
    ) -> None:
        super().__init__()
        self.num_features = channels
        coupling = o3.Irreps([(1, ir) for _, ir in irreps_in])
        self.correlation = correlation
        self.dim_in = coupling.dim
        self.dim_out = ir_out.dim
        # dim_in ** k for k < correlation (TorchScript's int ** int is a float).
        self.powers: list[int] = [coupling.dim**k for k in range(correlation)]
        dtype = torch.get_default_dtype()
        self.weights = torch.nn.ParameterList()
        for nu in range(1, correlation + 1):
            self.register_buffer(f"U_matrix_{nu}", coupling_basis(coupling, ir_out, nu).to(dtype))
        # weights_max for the highest power, then weights[j] for power correlation - 1 - j.
        for nu in range(correlation, 0, -1):
            paths = getattr(self, f"U_matrix_{nu}").shape[-1]
            w = torch.nn.Parameter(torch.randn(num_elements, paths, self.num_features) / paths)
            if nu == correlation:
                self.weights_max = w
            else:
                self.weights.append(w)
        self.weights_first = num_elements < getattr(self, f"U_matrix_{correlation}").shape[-1]
        # Where U_(idx + 1) is zero, mace-torch freezes weights[idx] at zero (its EmptyParam;
        # weights_max for the highest power), whichever power that list entry multiplies: kept
        # as is, so that its models load and compute the same.
        for idx in range(correlation):
            zero = not bool(getattr(self, f"U_matrix_{idx + 1}").any())
            if idx < correlation - 1:
                if zero:
                    self.weights[idx] = _FrozenZeros(self.weights[idx])
                self.register_buffer(f"weights_{idx}_zeroed", torch.tensor(zero))
            else:
                if zero:
                    self.weights_max = _FrozenZeros(self.weights_max)
                self.register_buffer("weights_max_zeroed", torch.tensor(zero))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[0], x.shape[1]
        buffers = dict(self.named_buffers())
        u = buffers["U_matrix_" + str(self.correlation)]
        # The highest power, in the cheaper of two exact orders (einsums of two operands, so
        # that torch.export keeps the node count symbolic): with fewer elements than paths,
        # the weights and basis contracted first, once per call, then with each node's
        # elements and features (nodes x channels x elements x components x the rest); else
        # each node's weights first (nodes x channels x paths x components x the rest).
        u = u.reshape(self.dim_out, self.powers[self.correlation - 1], self.dim_in, -1)
        if self.weights_first:
            uw = torch.tensordot(self.weights_max, u, dims=([1], [3]))
            t = torch.einsum("beci,ecmpi->bcmp", torch.einsum("be,bci->beci", y, x), uw)
        else:
            w = torch.einsum("ekc,be->bkc", self.weights_max, y)
            t = torch.einsum("mpik,bcik->bcmp", u, torch.einsum("bkc,bci->bcik", w, x))
        nu = self.correlation - 1
        for w in self.weights:
            u = buffers["U_matrix_" + str(nu)]
            t = t + torch.einsum(
                "mqk,bkc->bcmq",
                u.reshape(self.dim_out, self.powers[nu], -1),
                torch.einsum("ekc,be->bkc", w, y),
            )
            t = t.reshape(b, c, self.dim_out, self.powers[nu - 1], self.dim_in)
            t = torch.einsum("bcmri,bci->bcmr", t, x)
            nu -= 1
        return t.reshape(b, c * self.dim_out)


class SymmetricContraction(torch.nn.Module):
    """MACE's symmetric contraction: for each irrep of ``irreps_out``, the polynomial of degree
    up to ``correlation`` in each channel's features, coupled by the generalized Clebsch-Gordan
    tensors (``coupling_basis``), with weights per element. mace-torch's
    ``SymmetricContraction`` (irrep and path normalization "component" and "element", the
    default) as built without cuequivariance's reduced basis: the same parameters and buffers
    (its basis tensors equal in float64, to rounding in float32, as they are built in float64
    here) and outputs, so its state_dicts load unchanged. Models built with cuequivariance
    installed and ``use_reduced_cg=True`` have another basis, with fewer paths, and do not load.

    ``forward(x, y)``: x of shape (nodes, channels, irreps_in's dimension per channel), every
    irrep of irreps_in with the same number of channels; y the one-hot elements, (nodes,
    num_elements). Returns (nodes, irreps_out.dim), each output irrep's block (channel,
    component).

    Example::

        >>> import torch
        >>> sc = SymmetricContraction("4x0e+4x1o+4x2e", "4x0e+4x1o", 2, num_elements=3)
        >>> sc(torch.randn(2, 4, 9), torch.eye(3)[[0, 2]]).shape
        torch.Size([2, 16])
    """

    def __init__(
        self,
        irreps_in: Any,
        irreps_out: Any,
        correlation: int,
        num_elements: int,
    ) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_out = o3.Irreps(irreps_out)
        if len(self.irreps_in) == 0 or len(self.irreps_out) == 0:
            raise ArgumentError(
                f"irreps_in is {self.irreps_in!r} and irreps_out {self.irreps_out!r}: "
                "both need at least one irrep"
            )
        muls = sorted({mul for mul, _ in self.irreps_in})
        if len(muls) != 1:
            raise ArgumentError(
                f"irreps_in is {self.irreps_in}: every irrep needs the same number of channels, "
                f"found {muls}"
            )
        if not all(mul == muls[0] for mul, _ in self.irreps_out):
            raise ArgumentError(
                f"irreps_out is {self.irreps_out}: every irrep needs irreps_in's {muls[0]} channels"
            )
        self.correlation = check_int("SymmetricContraction", "correlation", correlation, 1)
        self.num_elements = check_int("SymmetricContraction", "num_elements", num_elements, 1)
        self.channels = muls[0]
        self._dim_in = sum(ir.dim for _, ir in self.irreps_in)
        self.contractions = torch.nn.ModuleList(
            _Contraction(self.irreps_in, ir, self.correlation, self.num_elements, self.channels)
            for _, ir in self.irreps_out
        )

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.irreps_in} -> {self.irreps_out}, "
            f"correlation={self.correlation}, num_elements={self.num_elements})"
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The contraction of ``x`` (nodes, channels, dim) with elements ``y`` (nodes,
        num_elements)."""
        if x.dim() != 3 or x.shape[1] != self.channels or x.shape[2] != self._dim_in:
            raise ShapeError(
                f"x has shape {list(x.shape)}, expected (nodes, {self.channels}, "
                f"{self._dim_in}) for irreps_in {self.irreps_in}"
            )
        if y.dim() != 2 or y.shape[0] != x.shape[0] or y.shape[1] != self.num_elements:
            raise ShapeError(
                f"y has shape {list(y.shape)}, expected ({x.shape[0]}, {self.num_elements})"
            )
        return torch.cat([contraction(x, y) for contraction in self.contractions], dim=-1)


__all__ = ["SymmetricContraction", "coupling_basis"]
