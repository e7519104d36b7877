"""MACE's symmetric contraction (the ACE product basis), with mace-torch's parameters and basis.

Each node's features ``x[c, i]`` (channel c; i over the components of irreps_in, one copy of each
irrep) are raised to the powers 1 to ``correlation`` channel by channel and coupled to each output
irrep L by generalized Clebsch-Gordan tensors U_nu[m, i_1, ..., i_nu, k], with weights per
element (one-hot attributes ``y``) and path k::

    out[c, m] = sum_nu sum_{i, k} U_nu[m, i_1..i_nu, k] W_nu[e, k, c] x[c, i_1] ... x[c, i_nu]

The U tensors are built here, by coupling the input irreps one after the other with e3core's
Wigner 3j symbols in mace-torch's order, so that its weights load unchanged. They are not what
runs: every power of x coupled to the outputs is a chain of e3core tensor products ("uuu", channel
by channel: x with x, then with x again, ...; a constant 1 appended to x carries the lower
powers), and the weights of the last product are linear maps alpha of mace-torch's weights,
fitted once per module so that the two polynomials are equal. The chains run on the tensor
product kernels (backward and double backward included), sparse where U is dense.

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
from e3core._dtype import default_dtype
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
    """The weights of the contraction to one output irrep (mace-torch's ``Contraction``: its
    parameter and buffer names), and ``alpha``: the tensor-product paths' coefficients as
    linear maps of those weights (see ``SymmetricContraction``)."""

    def __init__(
        self,
        bases: list[torch.Tensor],
        alpha: torch.Tensor,
        num_elements: int,
        channels: int,
    ) -> None:
        """``bases``: ``coupling_basis`` of the powers 1, 2, ... (float64); ``alpha``: the
        paths' coefficients (paths, weights of every power, highest first), not in the
        state_dict, as they follow from the irreps."""
        super().__init__()
        self.num_features = channels
        correlation = len(bases)
        self.correlation = correlation
        dtype = torch.get_default_dtype()
        self.weights = torch.nn.ParameterList()
        for nu, basis in enumerate(bases, start=1):
            self.register_buffer(f"U_matrix_{nu}", basis.to(dtype))
        # weights_max for the highest power, then weights[j] for power correlation - 1 - j.
        for nu in range(correlation, 0, -1):
            paths = getattr(self, f"U_matrix_{nu}").shape[-1]
            w = torch.nn.Parameter(torch.randn(num_elements, paths, self.num_features) / paths)
            if nu == correlation:
                self.weights_max = w
            else:
                self.weights.append(w)
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
        self.register_buffer("alpha", alpha.to(dtype), persistent=False)

    def path_weights(self) -> torch.Tensor:
        """(elements, paths, channels): each path's weight per element and channel."""
        weights = torch.cat([self.weights_max] + [w for w in self.weights], dim=1)
        # A batched matrix product: an einsum's permuted output made TorchInductor fail to
        # view the concatenation of these as (elements, paths * channels).
        return torch.matmul(self.alpha, weights)


# A term of the chain's operands: (irrep, degree), degree counting the factors of x (0: the
# constant 1 appended to x, through which lower powers pass).
_Term = tuple[o3.Irrep, int]
_Path = tuple[int, int, int, int]  # (left term, right term, output term, degree)


def _couplings(
    left: list[_Term], right: list[_Term], full: int, first: bool
) -> list[tuple[int, int, o3.Irrep, int]]:
    """The couplings of ``left``'s terms with ``right``'s (x and the constant): a factor of x
    only onto terms of the full degree ``full`` (lower powers take their factors of 1 after
    the last x, so each monomial comes once); in the first product (``left`` is x too) each
    pair once, without the products of an irrep with itself that vanish by symmetry."""
    out = []
    for i, (a, da) in enumerate(left):
        for j, (b, db) in enumerate(right):
            if da == 0 or (db == 1 and da != full) or (first and j < i):
                continue
            for ir in a * b:
                if first and i == j and (a.l + b.l + ir.l) % 2 == 1:
                    continue
                out.append((i, j, ir, da + db))
    return out


def _chain_plan(
    single: o3.Irreps, outputs: list[o3.Irrep], correlation: int
) -> tuple[list[tuple[list[_Term], list[_Path]]], list[tuple[int, int, int, int]]]:
    """The tensor products that compute every power of x up to ``correlation`` coupled to the
    ``outputs``: ``correlation - 2`` unweighted products of the running operand with x (each
    its terms and paths), then the weighted one, its paths (left, right, output, power) sorted
    by output and by power from the highest down (the order of the weights)."""
    x_terms: list[_Term] = [(ir, 1) for _, ir in single] + [(o3.Irrep("0e"), 0)]

    def reachable(ir: o3.Irrep, factors: int) -> bool:
        """Whether ir times at most ``factors`` more factors of x reaches an output."""
        reach = {ir}
        for _ in range(factors):
            reach |= {o for a in reach for _, b in single for o in a * b}
        return any(o in reach for o in outputs)

    stages = []
    left = x_terms
    for stage in range(correlation - 2):
        full = stage + 1
        terms: list[_Term] = []
        paths: list[_Path] = []
        for i, j, ir, degree in _couplings(left, x_terms, full, stage == 0):
            # A term that took a factor of 1 takes only 1s after it.
            if reachable(ir, correlation - degree if degree == full + 1 else 0):
                paths.append((i, j, len(terms), degree))
                terms.append((ir, degree))
        stages.append((terms, paths))
        left = terms
    full = correlation - 1 if correlation > 1 else 1
    final = [
        (i, j, k, degree)
        for i, j, ir, degree in _couplings(left, x_terms, full, correlation <= 2)
        for k, o in enumerate(outputs)
        if ir == o and degree <= correlation
    ]
    final.sort(key=lambda path: (path[2], -path[3]))
    return stages, final


def _products(
    single: o3.Irreps, outputs: list[o3.Irrep], correlation: int, channels: int
) -> tuple[list[o3.TensorProduct], o3.TensorProduct, list[tuple[int, int, int, int]]]:
    """The plan's tensor products at ``channels`` ("uuu": channel by channel, raw Wigner 3j
    couplings) and the weighted paths (left, right, output, power)."""
    stages, final = _chain_plan(single, outputs, correlation)
    x = o3.Irreps([(channels, ir) for _, ir in single] + [(channels, "0e")])
    options = {"irrep_normalization": "none", "path_normalization": "none"}
    unweighted, left = [], x
    for terms, paths in stages:
        out = o3.Irreps([(channels, ir) for ir, _ in terms])
        instructions = [(i, j, k, "uuu", False) for i, j, k, _ in paths]
        unweighted.append(o3.TensorProduct(left, x, out, instructions, **options))
        left = out
    out = o3.Irreps([(channels, ir) for ir in outputs])
    weighted = o3.TensorProduct(
        left,
        x,
        out,
        [(i, j, k, "uuu", True) for i, j, k, _ in final],
        internal_weights=False,
        shared_weights=False,
        **options,
    )
    return unweighted, weighted, final


def _contract(u: torch.Tensor, dim_out: int, power: int, x: torch.Tensor) -> torch.Tensor:
    """A coupling basis U (``coupling_basis``'s layout) contracted with each sample of ``x``
    (samples, dim) in each of its ``power`` input slots: (samples, dim_out, paths)."""
    dim, paths = x.shape[1], u.shape[-1]
    t = torch.einsum("mjik,si->smjk", u.reshape(dim_out, -1, dim, paths), x)
    for _ in range(power - 1):
        t = torch.einsum("smjik,si->smjk", t.reshape(x.shape[0], dim_out, -1, dim, paths), x)
    return t.reshape(x.shape[0], dim_out, paths)


def _fit_alpha(
    single: o3.Irreps, outputs: list[o3.Irrep], bases: list[list[torch.Tensor]]
) -> list[torch.Tensor]:
    """For each output, the matrix alpha (its paths, the weights of every power) with
    sum_k alpha[p, k] W[k] on path p giving, as polynomials in x, sum_k W[k] U[..., k]
    contracted with x: a least-squares fit on random samples in float64, checked on others
    (the chains span every coupling, so the fit is exact to rounding)."""
    correlation = len(bases[0])
    # Highest power first, the order of the weights.
    bases = [basis[::-1] for basis in bases]
    with default_dtype(torch.float64):
        unweighted, weighted, final = _products(single, outputs, correlation, 1)
        columns_of = [k for _, _, k, _ in final]
        degrees = [degree for _, _, _, degree in final]
        widths = [sum(u.shape[-1] for u in basis) for basis in bases]
        samples = 64 + 4 * (weighted.weight_numel + max(widths))
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(2 * samples, single.dim, generator=gen, dtype=torch.float64)
        xt = torch.cat([x, torch.ones(2 * samples, 1, dtype=torch.float64)], dim=1)
        left = xt
        for tp in unweighted:
            left = tp(left, xt)
        columns = torch.zeros(2 * samples, sum(ir.dim for ir in outputs), 0)
        if weighted.weight_numel > 0:
            columns = torch.stack(
                [weighted(left, xt, torch.eye(weighted.weight_numel)[p].expand(2 * samples, -1))
                 for p in range(weighted.weight_numel)],
                dim=-1,
            )  # fmt: skip
        alphas = []
        start = 0
        for k, ir in enumerate(outputs):
            paths = [p for p, kk in enumerate(columns_of) if kk == k]
            block = columns[:, start : start + ir.dim][:, :, paths]
            start += ir.dim
            alpha = torch.zeros(len(paths), widths[k], dtype=torch.float64)
            column = 0
            for power, u in zip(range(correlation, 0, -1), bases[k], strict=True):
                rows = [r for r, p in enumerate(paths) if degrees[p] == power]
                value = _contract(u, ir.dim, power, x)
                if rows:
                    a = block[:samples, :, rows].reshape(-1, len(rows))
                    b = value[:samples].reshape(-1, u.shape[-1])
                    solution = torch.linalg.lstsq(a, b, driver="gelsd").solution
                    alpha[rows, column : column + u.shape[-1]] = solution
                column += u.shape[-1]
            check = torch.einsum("smp,pk->smk", block, alpha)
            expected = torch.cat(
                [_contract(u, ir.dim, power, x)
                 for power, u in zip(range(correlation, 0, -1), bases[k], strict=True)],
                dim=-1,
            )  # fmt: skip
            error = float((check - expected).abs().max())
            if error > 1e-8 * (1.0 + float(expected.abs().max())):
                raise RuntimeError(
                    f"SymmetricContraction: the tensor products do not reproduce the coupling "
                    f"basis of {ir} (deviation {error:.1e})"
                )
            alphas.append(alpha)
        return alphas


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
        single = o3.Irreps([(1, ir) for _, ir in self.irreps_in])
        outputs = [ir for _, ir in self.irreps_out]
        # float64: alpha is fitted to them; the buffers take the default dtype.
        bases = [
            [coupling_basis(single, ir, nu) for nu in range(1, self.correlation + 1)]
            for ir in outputs
        ]
        self.contractions = torch.nn.ModuleList(
            _Contraction(basis, alpha, self.num_elements, self.channels)
            for basis, alpha in zip(bases, _fit_alpha(single, outputs, bases), strict=True)
        )
        unweighted, self.weighted, _ = _products(single, outputs, self.correlation, self.channels)
        self.unweighted = torch.nn.ModuleList(unweighted)
        # The products' buffers follow from the irreps: out of the state_dict, which stays
        # mace-torch's.
        for product in [self.weighted, *unweighted]:
            for name, buffer in list(product.named_buffers(recurse=False)):
                product.register_buffer(name, buffer, persistent=False)
        # The components of each irrep in a channel's row of x (nodes, channels, dim).
        self._dims = [ir.dim for _, ir in self.irreps_in]

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
        n = x.shape[0]
        # split, not narrow: a split's backward is one concatenation, a narrow's a zero-filled
        # copy of the whole input per irrep.
        pieces = x.split(self._dims, dim=2)
        flat = [p.reshape(n, self.channels * d) for p, d in zip(pieces, self._dims)]  # noqa: B905
        return self.contract(torch.cat(flat, dim=1), y)

    def contract(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The contraction of ``x`` in e3nn's layout (nodes, irreps_in.dim), unchecked: for
        callers that hold the features so (e3core's MACE). ``y``: the one-hot elements
        (nodes, num_elements), or each node's element index (nodes,) int64, which selects its
        weights instead of a matrix product with the one-hot rows."""
        ones = torch.ones((x.shape[0], self.channels), dtype=x.dtype, device=x.device)
        xt = torch.cat([x, ones], dim=1)
        left = xt
        for product in self.unweighted:
            left = product(left, xt)
        weights = torch.cat([c.path_weights() for c in self.contractions], dim=1)
        weights = weights.reshape(weights.shape[0], -1)
        if y.dim() == 1:
            per_node = weights.index_select(0, y)
        else:
            per_node = y @ weights
        return self.weighted(left, xt, per_node)


__all__ = ["SymmetricContraction", "coupling_basis"]
