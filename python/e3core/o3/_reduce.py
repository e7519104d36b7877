"""Reduced tensor products: the change of basis from tensors with index symmetries ("ij=ji",
"ijkl=jikl=ijlk=klij") to irreps, and e3nn's ReducedTensorProducts module that applies it."""

import functools
from collections.abc import Iterable
from typing import Any

import torch

from e3core._errors import ArgumentError, ShapeError
from e3core.math import germinate_formulas, orthonormalize, reduce_permutation
from e3core.math._reduce import FormulaError, index_values
from e3core.o3._irreps import Irrep, Irreps
from e3core.o3._wigner import wigner_3j
from e3core.util._default_type import explicit_default_types
from e3core.util.jit import compile_mode

__all__ = ["ReducedTensorProducts", "reduced_tensor_products_basis"]


def _wigner_nj(
    irrepss: list[Irreps], filter_ir_mid: tuple[Irrep, ...] | None
) -> list[tuple[Irrep, torch.Tensor]]:
    """Every chain of couplings ((x1 ⊗ x2) ⊗ x3) ... of the irreps copies of ``irrepss`` as
    (output irrep, C of shape (ir.dim, d1, ..., dn)) in float64, component-normalized, in
    e3nn's order (sorted by output irrep, stably), which fixes the basis chosen below."""
    *left, right = irrepss
    if not left:
        eye = torch.eye(right.dim, dtype=torch.float64)
        out = []
        i = 0
        for mul, ir in right:
            for _ in range(mul):
                out.append((ir, eye[i : i + ir.dim]))
                i += ir.dim
        return out
    left_dims = [irreps.dim for irreps in left]
    out = []
    for ir_left, c_left in _wigner_nj(left, filter_ir_mid):
        i = 0
        for mul, ir in right:
            for ir_out in ir_left * ir:
                if filter_ir_mid is not None and ir_out not in filter_ir_mid:
                    continue
                w = wigner_3j(ir_out.l, ir_left.l, ir.l, dtype=torch.float64) * ir_out.dim**0.5
                c = torch.einsum("jk,ijl->ikl", c_left.flatten(1), w)
                c = c.reshape(ir_out.dim, *left_dims, ir.dim)
                for u in range(mul):
                    e = c.new_zeros(ir_out.dim, *left_dims, right.dim)
                    e[..., i + u * ir.dim : i + (u + 1) * ir.dim] = c
                    out.append((ir_out, e))
            i += mul * ir.dim
    return sorted(out, key=lambda x: x[0])


@functools.lru_cache(maxsize=64)
def _basis(
    formula: str,
    irreps: tuple[tuple[str, Irreps], ...],
    filter_ir_out: tuple[Irrep, ...] | None,
    filter_ir_mid: tuple[Irrep, ...] | None,
    eps: float,
) -> tuple[list[Irreps], Irreps, torch.Tensor]:
    f0, formulas = germinate_formulas(formula)
    irreps_in = index_values(f0, formulas, dict(irreps), "irreps")
    for i, _ in irreps:
        if i not in f0:
            raise FormulaError(f"index {i} has an irreps but does not appear in the formula")
    base_perm, _ = reduce_permutation(
        f0,
        formulas,
        dtype=torch.float64,
        **{i: irs.dim for i, irs in zip(f0, irreps_in, strict=True)},
    )
    P = base_perm.flatten(1)  # (a, omega): orthonormal rows spanning the symmetric tensors
    blocks: dict[Irrep, list[torch.Tensor]] = {}
    for ir, c in _wigner_nj(irreps_in, filter_ir_mid):
        if filter_ir_out is None or ir in filter_ir_out:
            blocks.setdefault(ir, []).append(c)
    change_of_basis = []
    irreps_out = []
    for ir, cs in blocks.items():
        base_o3 = torch.stack(cs)  # (u, ir.dim, *dims)
        # e3nn solves x R0 = y P for (x, y) (R0: first component of each coupling) with an
        # eigendecomposition of [[R0 R0^T, -R0 P^T], [-P R0^T, P P^T]] and orthonormalizes the
        # x-block of the projector on its null space. P's rows are orthonormal, so y = x R0 P^T
        # and x spans the null space B of R0 (1 - P^T P) R0^T; that block is
        # B (B^T (1 + R0 P^T P R0^T) B)^-1 B^T: the same matrix from two small problems.
        R0 = base_o3[:, 0].flatten(1)
        RP = R0 @ P.T
        eigenvalues, eigenvectors = torch.linalg.eigh(R0 @ R0.T - RP @ RP.T)
        B = eigenvectors[:, eigenvalues < eps]
        G = B.T @ B + (RP.T @ B).T @ (RP.T @ B)
        X, _ = orthonormalize(B @ torch.linalg.solve(G, B.T), eps)
        for x in X:
            C = torch.einsum("u,u...->...", x, base_o3)
            change_of_basis.append(C * (ir.dim / C.pow(2).sum()) ** 0.5)
            irreps_out.append((1, ir))
    dims = [irs.dim for irs in irreps_in]
    Q = (
        torch.cat(change_of_basis)
        if change_of_basis
        else torch.zeros(0, *dims, dtype=torch.float64)
    )
    return irreps_in, Irreps(irreps_out).simplify(), Q


def _irreps_filter(filter_ir: Iterable[Any] | None, name: str) -> tuple[Irrep, ...] | None:
    if filter_ir is None:
        return None
    try:
        return tuple(Irrep(ir) for ir in filter_ir)
    except (ValueError, TypeError) as error:
        raise ArgumentError(
            f"{name} (={filter_ir}) must be an iterable of e3core.o3.Irrep"
        ) from error


def reduced_tensor_products_basis(
    formula: str,
    filter_ir_out: Iterable[Any] | None = None,
    filter_ir_mid: Iterable[Any] | None = None,
    eps: float = 1e-9,
    **irreps: Any,
) -> tuple[list[Irreps], Irreps, torch.Tensor]:
    """``(irreps_in, irreps_out, change_of_basis)`` of ``ReducedTensorProducts`` with the same
    arguments, the change of basis in float64 with shape (irreps_out.dim, d_1, ..., d_n):
    ``change_of_basis`` maps a tensor with the symmetries of ``formula`` to its irreps,
    orthogonally, with each irrep of squared norm ir.dim. Results are cached on the arguments
    (a fresh copy is returned each call).

    Example::

        >>> irreps_in, irreps_out, Q = reduced_tensor_products_basis("ij=ji", i="1o")
        >>> irreps_in, irreps_out, Q.shape
        ([1x1o, 1x1o], 1x0e+1x2e, torch.Size([6, 3, 3]))
    """
    filter_out = _irreps_filter(filter_ir_out, "filter_ir_out")
    filter_mid = _irreps_filter(filter_ir_mid, "filter_ir_mid")
    for i in irreps:
        if len(i) != 1:
            raise TypeError(f"got an unexpected keyword argument '{i}'")
    key = tuple(sorted((i, Irreps(irs)) for i, irs in irreps.items()))
    irreps_in, irreps_out, Q = _basis(formula, key, filter_out, filter_mid, float(eps))
    return list(irreps_in), irreps_out, Q.clone()


@compile_mode("trace")
class ReducedTensorProducts(torch.nn.Module):
    """Reduces a tensor with index symmetries into irreps, as e3nn's: ``forward(x_1, ..., x_n)``
    gives the irreps of the symmetrised x_1 ⊗ ... ⊗ x_n,
    ``einsum("zij...,...i,...j...->...z", change_of_basis, x_1, x_2, ...)``.

    ``formula`` is made of letters, ``=`` and ``-``: "ij=ji" is a symmetric tensor, "ij=-ji" an
    antisymmetric one; ``irreps`` give each letter's irreps (those of letters the formula
    exchanges can be left out); ``filter_ir_out`` and ``filter_ir_mid`` restrict the output
    irreps and those of the intermediate couplings. The buffer ``change_of_basis`` (shape
    (irreps_out.dim, irreps_in[0].dim, ..., irreps_in[-1].dim), torch's default dtype at
    construction) is e3nn's, value for value; e3nn's state_dicts load (their entries for
    e3nn's generated tensor products are constants and are skipped).

    Example::

        >>> tp = ReducedTensorProducts("ij=-ji", i="1o")
        >>> x, y = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
        >>> tp.irreps_out, tp(x, y) + tp(y, x)
        (1x1e, tensor([0., 0., 0.]))
        >>> ReducedTensorProducts("ijkl=jikl=ikjl=ijlk", i="1e").irreps_out
        1x0e+1x2e+1x4e
    """

    irreps_in: list[Irreps]
    irreps_out: Irreps

    def __init__(
        self,
        formula: str,
        filter_ir_out: Iterable[Any] | None = None,
        filter_ir_mid: Iterable[Any] | None = None,
        eps: float = 1e-9,
        **irreps: Any,
    ) -> None:
        super().__init__()
        self.irreps_in, self.irreps_out, change_of_basis = reduced_tensor_products_basis(
            formula, filter_ir_out, filter_ir_mid, eps, **irreps
        )
        dtype, _ = explicit_default_types(None, None)
        self.register_buffer("change_of_basis", change_of_basis.to(dtype))
        self._register_load_state_dict_pre_hook(_skip_e3nn_codegen)

    def __repr__(self) -> str:
        return (
            "ReducedTensorProducts(\n"
            f"    in: {' times '.join(map(repr, self.irreps_in))}\n"
            f"    out: {self.irreps_out}\n"
            ")"
        )

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing():
            _check_inputs(xs, self.irreps_in)
        # The outer product x_1 ⊗ ... ⊗ x_n (prod d_k per sample, small), then one matmul.
        out = xs[0]
        for x in xs[1:]:
            out = (out.unsqueeze(-1) * x.unsqueeze(-2)).flatten(-2)
        return out @ self.change_of_basis.flatten(1).T


def _check_inputs(xs: tuple[torch.Tensor, ...], irreps_in: list[Irreps]) -> None:
    if len(xs) != len(irreps_in):
        raise ArgumentError(
            f"ReducedTensorProducts: expected {len(irreps_in)} inputs, got {len(xs)}"
        )
    for k, (x, irreps) in enumerate(zip(xs, irreps_in, strict=True)):
        if x.dim() == 0 or x.shape[-1] != irreps.dim:
            raise ShapeError(
                f"ReducedTensorProducts: input {k} has shape {list(x.shape)}, "
                f"expected (..., {irreps.dim})"
            )


def _skip_e3nn_codegen(state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Drops the entries of e3nn's generated tensor products (``main.*``): constants that
    e3core does not need."""
    for key in [k for k in state_dict if k.startswith(prefix + "main.")]:
        del state_dict[key]
