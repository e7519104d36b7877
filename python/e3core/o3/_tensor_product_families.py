"""e3nn's ready-made tensor products: fully connected, full, elementwise and square.

Each only chooses instructions (and output irreps) the way e3nn 0.6 does; the work is
TensorProduct's.
"""

from collections.abc import Iterable
from typing import Any

import torch

from e3core._errors import ArgumentError
from e3core.o3._irreps import Irrep, Irreps
from e3core.o3._tensor_product import TensorProduct


def _filter(filter_ir_out: Iterable[Any] | None) -> list[Irrep] | None:
    if filter_ir_out is None:
        return None
    try:
        return [Irrep(ir) for ir in filter_ir_out]
    except ValueError as exc:
        raise ArgumentError(
            f"filter_ir_out (={filter_ir_out}) must be an iterable of e3core.o3.Irrep"
        ) from exc


def _irrep_alpha(irrep_normalization: str, ir1: Irrep, ir2: Irrep, ir_out: Irrep) -> float:
    return {"component": ir_out.dim, "norm": ir1.dim * ir2.dim, "none": 1}[irrep_normalization]


class FullyConnectedTensorProduct(TensorProduct):
    r"""Every path ``ir1 x ir2 -> ir_out`` allowed by the irreps, each fully connected ("uvw").

    As ``e3nn.o3.FullyConnectedTensorProduct``.

    Example::

        >>> tp = FullyConnectedTensorProduct("2x0e+1x1o", "1x1o", "3x1o")
        >>> tp.weight_numel
        6
    """

    def __init__(
        self,
        irreps_in1: Any,
        irreps_in2: Any,
        irreps_out: Any,
        irrep_normalization: str | None = None,
        path_normalization: str | None = None,
        **kwargs: Any,
    ) -> None:
        irreps_in1, irreps_in2, irreps_out = (
            Irreps(irreps_in1),
            Irreps(irreps_in2),
            Irreps(irreps_out),
        )
        instructions = [
            (i1, i2, io, "uvw", True, 1.0)
            for i1, (_, ir1) in enumerate(irreps_in1)
            for i2, (_, ir2) in enumerate(irreps_in2)
            for io, (_, ir_out) in enumerate(irreps_out)
            if ir_out in ir1 * ir2
        ]
        super().__init__(
            irreps_in1,
            irreps_in2,
            irreps_out,
            instructions,
            irrep_normalization=irrep_normalization,
            path_normalization=path_normalization,
            **kwargs,
        )


def align_irreps(irreps_in1: Irreps, irreps_in2: Irreps) -> tuple[Irreps, Irreps]:
    """The two irreps with multiplicities split so that they line up term by term (the same
    number of irreps in each term).

    Example::

        >>> align_irreps(Irreps("5x1o+5x1e"), Irreps("10x1e"))
        (5x1o+5x1e, 5x1e+5x1e)
    """
    if irreps_in1.num_irreps != irreps_in2.num_irreps:
        raise ArgumentError(
            f"irreps_in1 ({irreps_in1}) has {irreps_in1.num_irreps} irreps but irreps_in2 "
            f"({irreps_in2}) has {irreps_in2.num_irreps}: an elementwise product pairs them"
        )
    terms1: list[tuple[int, Irrep]] = [(mul, ir) for mul, ir in irreps_in1]
    terms2: list[tuple[int, Irrep]] = [(mul, ir) for mul, ir in irreps_in2]
    i = 0
    while i < len(terms1):
        (mul1, ir1), (mul2, ir2) = terms1[i], terms2[i]
        if mul1 < mul2:
            terms2[i] = (mul1, ir2)
            terms2.insert(i + 1, (mul2 - mul1, ir2))
        if mul2 < mul1:
            terms1[i] = (mul2, ir1)
            terms1.insert(i + 1, (mul1 - mul2, ir1))
        i += 1
    return Irreps(terms1), Irreps(terms2)


def elementwise_paths(
    terms1: Irreps, terms2: Irreps, keep: list[Irrep] | None
) -> tuple[list[tuple[int, Irrep]], list[tuple]]:
    """The output terms and "uuu" instructions of the elementwise product of aligned irreps,
    in input order, outputs limited to ``keep`` unless it is None.

    Example::

        >>> elementwise_paths(Irreps("2x1o"), Irreps("2x1o"), [Irrep("0e")])
        ([(2, 0e)], [(0, 0, 0, 'uuu', False)])
    """
    out: list[tuple[int, Irrep]] = []
    instructions = []
    for i, ((mul, ir1), (_, ir2)) in enumerate(zip(terms1, terms2, strict=True)):
        for ir in ir1 * ir2:
            if keep is not None and ir not in keep:
                continue
            instructions.append((i, i, len(out), "uuu", False))
            out.append((mul, ir))
    return out, instructions


def sorted_outputs(
    out: list[tuple[int, Irrep]], instructions: list[tuple]
) -> tuple[Irreps, list[tuple]]:
    """The output irreps sorted (stably, not simplified) and the instructions pointing to them.

    Example::

        >>> sorted_outputs([(1, Irrep("1o")), (2, Irrep("0e"))], [(0, 0, 0, "uuu", False)])
        (2x0e+1x1o, [(0, 0, 1, 'uuu', False)])
    """
    irreps_out, p, _ = Irreps(out).sort()
    return irreps_out, [(i1, i2, p[io], *rest) for i1, i2, io, *rest in instructions]


class ElementwiseTensorProduct(TensorProduct):
    r"""``z_u = x_u (x) y_u``: the u-th irrep of x with the u-th of y, without weights.

    As ``e3nn.o3.ElementwiseTensorProduct``: multiplicities are split so that the two inputs line
    up irrep by irrep.

    Example::

        >>> ElementwiseTensorProduct("5x1o + 5x1e", "10x1e", ["0e", "0o"])
        ElementwiseTensorProduct(5x1o+5x1e x 10x1e -> 5x0o+5x0e | 10 paths | 0 weights)
    """

    def __init__(
        self,
        irreps_in1: Any,
        irreps_in2: Any,
        filter_ir_out: Iterable[Any] | None = None,
        irrep_normalization: str | None = None,
        **kwargs: Any,
    ) -> None:
        terms1, terms2 = align_irreps(Irreps(irreps_in1).simplify(), Irreps(irreps_in2).simplify())
        out, instructions = elementwise_paths(terms1, terms2, _filter(filter_ir_out))
        super().__init__(
            terms1,
            terms2,
            Irreps(out),
            instructions,
            irrep_normalization=irrep_normalization,
            **kwargs,
        )


class FullTensorProduct(TensorProduct):
    r"""``z_uv = x_u (x) y_v``: every pair of irreps into every allowed output, without weights.

    As ``e3nn.o3.FullTensorProduct``; the output irreps are sorted.

    Example::

        >>> FullTensorProduct("1x1o", "1x1o").irreps_out
        1x0e+1x1e+1x2e
    """

    def __init__(
        self,
        irreps_in1: Any,
        irreps_in2: Any,
        filter_ir_out: Iterable[Any] | None = None,
        irrep_normalization: str | None = None,
        **kwargs: Any,
    ) -> None:
        irreps_in1, irreps_in2 = Irreps(irreps_in1).simplify(), Irreps(irreps_in2).simplify()
        keep = _filter(filter_ir_out)
        out: list[tuple[int, Irrep]] = []
        instructions = []
        for i1, (mul1, ir1) in enumerate(irreps_in1):
            for i2, (mul2, ir2) in enumerate(irreps_in2):
                for ir_out in ir1 * ir2:
                    if keep is not None and ir_out not in keep:
                        continue
                    instructions.append((i1, i2, len(out), "uvuv", False))
                    out.append((mul1 * mul2, ir_out))
        irreps_out, instructions = sorted_outputs(out, instructions)
        super().__init__(
            irreps_in1,
            irreps_in2,
            irreps_out,
            instructions,
            irrep_normalization=irrep_normalization,
            **kwargs,
        )


def _square_alpha(irrep_normalization: str, ir: Irrep, ir_out: Irrep) -> float:
    # The diagonal (u, u) paths of an even output: e3nn's own normalization for them.
    if irrep_normalization == "component":
        return ir_out.dim / (ir.dim + 2) if ir_out.l == 0 else ir_out.dim / 2
    if irrep_normalization == "norm":
        return ir_out.dim * ir.dim if ir_out.l == 0 else ir.dim * (ir.dim + 2) / 2
    return 1.0


class TensorSquare(TensorProduct):
    r"""The tensor product of x with itself, each unordered pair of channels once.

    As ``e3nn.o3.TensorSquare``: without ``irreps_out`` it has no weights and outputs every
    allowed irrep (sorted); with ``irreps_out`` it is fully connected.

    Example::

        >>> TensorSquare("2x1o").irreps_out
        1x0e+2x0e+1x1e+1x2e+2x2e
    """

    __jit_ignored_attributes__ = TensorProduct.__jit_ignored_attributes__ + ["irreps_in"]

    def __init__(
        self,
        irreps_in: Any,
        irreps_out: Any = None,
        filter_ir_out: Iterable[Any] | None = None,
        irrep_normalization: str | None = None,
        **kwargs: Any,
    ) -> None:
        irrep_normalization = irrep_normalization or "component"
        if irrep_normalization not in ("component", "norm", "none"):
            raise ArgumentError(
                f"irrep_normalization is {irrep_normalization!r}, expected 'component', 'norm' "
                "or 'none'"
            )
        irreps_in = Irreps(irreps_in).simplify()
        keep = _filter(filter_ir_out)
        instructions: list[tuple] = []
        if irreps_out is None:
            out: list[tuple[int, Irrep]] = []
            for i1, (mul1, ir1) in enumerate(irreps_in):
                for i2, (mul2, ir2) in enumerate(irreps_in):
                    for ir_out in ir1 * ir2:
                        if keep is not None and ir_out not in keep:
                            continue
                        alpha = _irrep_alpha(irrep_normalization, ir1, ir2, ir_out)
                        if i1 < i2:
                            instructions.append((i1, i2, len(out), "uvuv", False, alpha))
                            out.append((mul1 * mul2, ir_out))
                        elif i1 == i2:
                            if mul1 > 1:
                                instructions.append((i1, i1, len(out), "uvu<v", False, alpha))
                                out.append((mul1 * (mul1 - 1) // 2, ir_out))
                            if ir_out.l % 2 == 0:
                                alpha = _square_alpha(irrep_normalization, ir1, ir_out)
                                instructions.append((i1, i1, len(out), "uuu", False, alpha))
                                out.append((mul1, ir_out))
            irreps_out, p, _ = Irreps(out).sort()
            instructions = [(a, b, p[io], m, w, al) for a, b, io, m, w, al in instructions]
        else:
            if keep is not None:
                raise ArgumentError(
                    "Both `irreps_out` and `filter_ir_out` are not None, this is ambiguous."
                )
            irreps_out = Irreps(irreps_out).simplify()
            for i1, (mul1, ir1) in enumerate(irreps_in):
                for i2, (_, ir2) in enumerate(irreps_in):
                    for io, (_, ir_out) in enumerate(irreps_out):
                        if ir_out not in ir1 * ir2:
                            continue
                        alpha = _irrep_alpha(irrep_normalization, ir1, ir2, ir_out)
                        if i1 < i2:
                            instructions.append((i1, i2, io, "uvw", True, alpha))
                        elif i1 == i2:
                            if mul1 > 1:
                                instructions.append((i1, i1, io, "u<vw", True, alpha))
                            if ir_out.l % 2 == 0:
                                alpha = _square_alpha(irrep_normalization, ir1, ir_out)
                                instructions.append((i1, i1, io, "uuw", True, alpha))
        self.irreps_in = irreps_in
        super().__init__(
            irreps_in, irreps_in, irreps_out, instructions, irrep_normalization="none", **kwargs
        )

    def __repr__(self) -> str:
        return (
            super()
            .__repr__()
            .replace(f"{self.irreps_in} x {self.irreps_in} ", f"{self.irreps_in} ")
        )

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The square of ``x`` (..., irreps_in.dim)."""
        return self._product(x, x, weight)
