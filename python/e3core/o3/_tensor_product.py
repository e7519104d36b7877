"""e3nn's TensorProduct on e3core's C++ kernels.

The constructor resolves the instructions once, in C++, into a plan kept as an int64 buffer;
forward is one op call, with a C++ backward and double backward.
"""

import math
import warnings
from typing import Any, NamedTuple, Union

import torch

from e3core import _core
from e3core._e3nn_compat import ignore_e3nn_generated_constants
from e3core._errors import ArgumentError, MissingWeightError, ShapeError, refused_as_argument_error
from e3core.o3._irreps import Irreps
from e3core.util.jit import compile_mode

_MODES = ("uvw", "uvu", "uvv", "uuw", "uuu", "uvuv", "uvu<v", "u<vw")


class Instruction(NamedTuple):
    """One path of a tensor product, as ``e3nn.o3.TensorProduct.instructions`` holds it.

    ``path_weight`` is the path's normalization coefficient once the product is built.

    Example::

        >>> Instruction(0, 0, 0, "uvw", True, 1.0, (2, 1, 3)).path_shape
        (2, 1, 3)
    """

    i_in1: int
    i_in2: int
    i_out: int
    connection_mode: str
    has_weight: bool
    path_weight: float
    path_shape: tuple


def _path_shape(mode: str, mul1: int, mul2: int, mul_out: int) -> tuple:
    return {
        "uvw": (mul1, mul2, mul_out),
        "uvu": (mul1, mul2),
        "uvv": (mul1, mul2),
        "uuw": (mul1, mul_out),
        "uuu": (mul1,),
        "uvuv": (mul1, mul2),
        "uvu<v": (mul1 * (mul2 - 1) // 2,),
        "u<vw": (mul1 * (mul2 - 1) // 2, mul_out),
    }[mode]


def _variances(values: Any, irreps: Irreps, name: str) -> list[float] | None:
    if values is None:
        return None
    values = [float(v) for v in values]
    if len(values) != len(irreps):
        raise ArgumentError(f"{name} has {len(values)} values but {irreps} has {len(irreps)} terms")
    return values


def _broadcast(a: list[int], b: list[int]) -> list[int]:
    """numpy broadcasting of two shapes, in a form TorchScript compiles."""
    n = max(len(a), len(b))
    out: list[int] = []
    for i in range(n):
        ia = i - n + len(a)
        ib = i - n + len(b)
        da = a[ia] if ia >= 0 else 1
        db = b[ib] if ib >= 0 else 1
        if da != db and da != 1 and db != 1:
            raise ArgumentError(
                "batch shapes " + str(a) + " and " + str(b) + " do not broadcast together"
            )
        out.append(db if da == 1 else da)
    return out


def _as_rows(t: torch.Tensor, batch: list[int], n: int) -> torch.Tensor:
    """t as a 2-D tensor of one row per sample, or a single row shared by all."""
    d = t.shape[-1]
    lead = list(t.shape[:-1])
    if lead == batch:
        return t.reshape(n, d)
    count = 1
    for s in lead:
        count *= s
    if count == 1:
        return t.reshape(1, d)
    return t.expand(batch + [d]).reshape(n, d)


def _shape_error(name: str, t: torch.Tensor, expected: str) -> str:
    """The message for a tensor of the wrong shape (TorchScript compiles it)."""
    return name + " has shape " + str(list(t.shape)) + ", expected " + expected


def _check_columns(t: torch.Tensor, name: str, irreps_name: str, dim: int) -> None:
    if t.dim() < 1 or t.shape[-1] != dim:
        raise ShapeError(
            _shape_error(
                name, t, "(..., " + str(dim) + ") as " + irreps_name + " has dim " + str(dim)
            )
        )


@compile_mode("script")
class TensorProduct(torch.nn.Module):
    r"""Tensor product of two irreps features with weighted paths, as ``e3nn.o3.TensorProduct``.

    Same arguments, defaults, normalizations and flat weight layout as e3nn 0.6, so that e3nn
    weights and state dicts load unchanged. ``instructions`` are tuples
    ``(i_in1, i_in2, i_out, mode, has_weight[, path_weight])`` with the modes ``"uvw"``,
    ``"uvu"``, ``"uvv"``, ``"uuw"``, ``"uuu"``, ``"uvuv"``, ``"uvu<v"`` and ``"u<vw"``.

    The product runs in e3core's C++ kernels, with C++ gradients of every order: forces (a
    gradient of the output) can be trained through it.

    Example::

        >>> tp = TensorProduct("2x1o", "1x1o", "2x0e", [(0, 0, 0, "uvu", True)])
        >>> tp(torch.randn(5, 6), torch.randn(5, 3)).shape
        torch.Size([5, 2])
    """

    __jit_ignored_attributes__ = ["irreps_in1", "irreps_in2", "irreps_out", "instructions"]

    shared_weights: bool
    internal_weights: bool
    weight_numel: int
    _in1_dim: int
    _in2_dim: int
    _out_dim: int

    def __init__(
        self,
        irreps_in1: Any,
        irreps_in2: Any,
        irreps_out: Any,
        instructions: list[tuple],
        in1_var: Union[list[float], torch.Tensor] | None = None,
        in2_var: Union[list[float], torch.Tensor] | None = None,
        out_var: Union[list[float], torch.Tensor] | None = None,
        irrep_normalization: str | None = None,
        path_normalization: str | None = None,
        internal_weights: bool | None = None,
        shared_weights: bool | None = None,
        compile_left_right: bool = True,
        compile_right: bool = False,
        normalization: str | None = None,
        _specialized_code: bool | None = None,
        _optimize_einsums: bool | None = None,
    ) -> None:
        super().__init__()
        # compile_left_right, compile_right and the two private flags steer e3nn's code
        # generation; e3core has one kernel family, so they are accepted and have no effect.
        del compile_left_right, compile_right, _specialized_code, _optimize_einsums
        if normalization is not None:
            warnings.warn(
                "`normalization` is deprecated. Use `irrep_normalization` instead.",
                DeprecationWarning,
                stacklevel=2,
            )
            irrep_normalization = normalization
        irrep_normalization = irrep_normalization or "component"
        path_normalization = path_normalization or "element"

        self.irreps_in1 = Irreps(irreps_in1)
        self.irreps_in2 = Irreps(irreps_in2)
        self.irreps_out = Irreps(irreps_out)
        full: list[tuple] = []
        for n, ins in enumerate(instructions):
            if len(ins) not in (5, 6):
                raise ArgumentError(
                    f"instruction {n} is {ins!r}, expected (i_in1, i_in2, i_out, mode, "
                    "has_weight[, path_weight])"
                )
            i1, i2, io, mode, has_weight = ins[:5]
            path_weight = float(ins[5]) if len(ins) == 6 else 1.0
            if mode not in _MODES:
                raise ArgumentError(
                    f"instruction {n} has connection mode {mode!r}, expected one of "
                    + ", ".join(_MODES)
                )
            full.append((int(i1), int(i2), int(io), str(mode), bool(has_weight), path_weight))

        with refused_as_argument_error():
            plan, weight_numel, coefficients = _core.tensor_product_plan(
                str(self.irreps_in1),
                str(self.irreps_in2),
                str(self.irreps_out),
                full,
                irrep_normalization,
                path_normalization,
                _variances(in1_var, self.irreps_in1, "in1_var"),
                _variances(in2_var, self.irreps_in2, "in2_var"),
                _variances(out_var, self.irreps_out, "out_var"),
            )
        self.instructions = [
            Instruction(
                i1,
                i2,
                io,
                mode,
                has_weight,
                coefficient,
                _path_shape(
                    mode, self.irreps_in1[i1].mul, self.irreps_in2[i2].mul, self.irreps_out[io].mul
                ),
            )
            for (i1, i2, io, mode, has_weight, _), coefficient in zip(
                full, coefficients, strict=True
            )
        ]
        self.weight_numel = int(weight_numel)
        self._in1_dim = self.irreps_in1.dim
        self._in2_dim = self.irreps_in2.dim
        self._out_dim = self.irreps_out.dim

        if shared_weights is False and internal_weights is None:
            internal_weights = False
        if shared_weights is None:
            shared_weights = True
        if internal_weights is None:
            internal_weights = shared_weights and any(i.has_weight for i in self.instructions)
        if internal_weights and not shared_weights:
            raise ArgumentError("internal_weights=True needs shared_weights=True")
        self.internal_weights = bool(internal_weights)
        self.shared_weights = bool(shared_weights)

        # The plan is not part of the state dict, so that e3nn's state dicts load unchanged.
        self.register_buffer("plan", torch.from_numpy(plan), persistent=False)
        if self.internal_weights and self.weight_numel > 0:
            self.weight = torch.nn.Parameter(torch.randn(self.weight_numel))
        else:
            self.register_buffer("weight", torch.Tensor())
        mask = [
            torch.ones(mul_ir.dim)
            if any(
                ins.i_out == i_out and ins.path_weight != 0 and 0 not in ins.path_shape
                for ins in self.instructions
            )
            else torch.zeros(mul_ir.dim)
            for i_out, mul_ir in enumerate(self.irreps_out)
        ]
        self.register_buffer("output_mask", torch.cat(mask) if mask else torch.ones(0))
        ignore_e3nn_generated_constants(self)

    def __repr__(self) -> str:
        npath = sum(math.prod(i.path_shape) for i in self.instructions)
        return (
            f"{self.__class__.__name__}"
            f"({self.irreps_in1.simplify()} x {self.irreps_in2.simplify()} "
            f"-> {self.irreps_out.simplify()} | {npath} paths | {self.weight_numel} weights)"
        )

    @torch.jit.unused
    def _prep_weights_python(self, weight: Any) -> torch.Tensor | None:
        # e3nn also takes the weights as a list of per-instruction tensors.
        if isinstance(weight, (list, tuple)):
            shapes = [ins.path_shape for ins in self.instructions if ins.has_weight]
            if len(weight) != len(shapes):
                raise ArgumentError(
                    f"weight is a list of {len(weight)} tensors but {len(shapes)} instructions "
                    "have weights"
                )
            lead = () if self.shared_weights else (-1,)
            return torch.cat(
                [w.reshape(lead + (math.prod(s),)) for w, s in zip(weight, shapes, strict=True)],
                dim=-1,
            )
        return weight

    def _get_weights(self, weight: torch.Tensor | None) -> torch.Tensor:
        if not torch.jit.is_scripting():
            weight = self._prep_weights_python(weight)
        if weight is None:
            if self.weight_numel > 0 and not self.internal_weights:
                raise MissingWeightError(
                    "weight is required: this tensor product has no internal weights "
                    "(internal_weights=False); pass " + str(self.weight_numel) + " weights"
                )
            return self.weight
        if self.shared_weights:
            if weight.shape != (self.weight_numel,):
                raise ShapeError(
                    _shape_error("weight", weight, "(" + str(self.weight_numel) + ",) (shared)")
                )
        elif weight.dim() < 2 or weight.shape[-1] != self.weight_numel:
            raise ShapeError(
                _shape_error(
                    "weight", weight, "(..., " + str(self.weight_numel) + ") (shared_weights=False)"
                )
            )
        return weight

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The product of ``x`` (..., irreps_in1.dim) and ``y`` (..., irreps_in2.dim).

        Leading dimensions broadcast as in e3nn; ``weight`` is required without internal
        weights, of shape (weight_numel,) or (..., weight_numel) with shared_weights=False.
        """
        return self._product(x, y, weight)

    def _product(
        self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None
    ) -> torch.Tensor:
        _check_columns(x, "x", "irreps_in1", self._in1_dim)
        _check_columns(y, "y", "irreps_in2", self._in2_dim)
        return self._run(x, y, self._get_weights(weight))

    def _run(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The product with checked inputs and resolved weights ``w``."""
        batch = _broadcast(list(x.shape[:-1]), list(y.shape[:-1]))
        if w.dim() > 1:
            batch = _broadcast(batch, list(w.shape[:-1]))
        n = 1
        for s in batch:
            n *= s
        if w.dim() > 1:
            w = _as_rows(w, batch, n)
        out = torch.ops.e3core.tensor_product(
            _as_rows(x, batch, n),
            _as_rows(y, batch, n),
            w,
            self.plan,
            None,
            None,
            [n, self._out_dim],
        )
        return out.reshape(batch + [self._out_dim])

    def right(self, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """The product as a linear map of its first input: a tensor (..., irreps_in1.dim,
        irreps_out.dim) ``b`` with ``tp(x, y, weight) = einsum("...ik,...i->...k", b, x)``.

        As e3nn's ``TensorProduct.right``, which needs ``compile_right=True``; here it is
        always available, and computed by the product kernel on the basis vectors of
        ``irreps_in1`` (gradients of every order included).

        Example::

            >>> tp = TensorProduct("2x1o", "1o", "2x0e", [(0, 0, 0, "uvu", True)])
            >>> x, y = torch.randn(6), torch.randn(3)
            >>> torch.allclose(x @ tp.right(y), tp(x, y), atol=1e-6)
            True
        """
        _check_columns(y, "y", "irreps_in2", self._in2_dim)
        w = self._get_weights(weight)
        # Row i of the map is the product of the i-th basis vector of irreps_in1 with y.
        basis = torch.eye(self._in1_dim, dtype=y.dtype, device=y.device)
        if w.dim() > 1:
            w = w.unsqueeze(-2)
        return self._run(basis, y.unsqueeze(-2), w)

    @torch.jit.unused
    def visualize(
        self,
        weight: torch.Tensor | None = None,
        plot_weight: bool = True,
        aspect_ratio: float | str = 1,
        ax: Any = None,
    ) -> tuple[Any, Any]:
        """Draws the paths of the product as e3nn's ``TensorProduct.visualize`` does (a hexagon
        with irreps_in1, irreps_in2 and irreps_out on three sides, one line per instruction,
        coloured by its mean squared weight), on ``ax`` or the current matplotlib axes.
        Returns (figure, axes). Needs matplotlib (the ``train`` extra).

        Example::

            >>> import matplotlib
            >>> matplotlib.use("Agg")
            >>> import matplotlib.pyplot as plt
            >>> tp = TensorProduct("2x1o", "1o", "2x0e", [(0, 0, 0, "uvu", True)])
            >>> fig, ax = tp.visualize(ax=plt.figure().gca())
            >>> len(ax.patches)  # the hexagon and one path
            2
        """
        from e3core.o3._tensor_product_visualize import visualize

        return visualize(self, weight, plot_weight, aspect_ratio, ax)

    def weight_view_for_instruction(
        self, instruction: int, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The weights of one instruction, shaped (..., *path_shape).

        Example::

            >>> tp = TensorProduct("2x0e", "0e", "3x0e", [(0, 0, 0, "uvw", True)])
            >>> tp.weight_view_for_instruction(0).shape
            torch.Size([2, 1, 3])
        """
        if not self.instructions[instruction].has_weight:
            raise ArgumentError(f"Instruction {instruction} has no weights.")
        offset = sum(
            math.prod(ins.path_shape) for ins in self.instructions[:instruction] if ins.has_weight
        )
        ins = self.instructions[instruction]
        weight = self._get_weights(weight)
        lead = weight.shape[:-1]
        return weight.narrow(-1, offset, math.prod(ins.path_shape)).view(lead + ins.path_shape)

    def weight_views(self, weight: torch.Tensor | None = None, yield_instruction: bool = False):
        """Views of the weights of each weighted instruction, in order.

        Yields ``(index, instruction, view)`` with ``yield_instruction``, else the views.

        Example::

            >>> tp = TensorProduct("2x0e", "0e", "3x0e", [(0, 0, 0, "uvw", True)])
            >>> [w.shape for w in tp.weight_views()]
            [torch.Size([2, 1, 3])]
        """
        weight = self._get_weights(weight)
        lead = weight.shape[:-1]
        offset = 0
        for i, ins in enumerate(self.instructions):
            if ins.has_weight:
                size = math.prod(ins.path_shape)
                view = weight.narrow(-1, offset, size).view(lead + ins.path_shape)
                offset += size
                yield (i, ins, view) if yield_instruction else view
