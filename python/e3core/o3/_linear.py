"""e3nn's equivariant Linear layer on e3core's tensor-product kernels.

A linear map between irreps is a fully connected tensor product with the constant scalar 1: the
path 0e x ir -> ir has Clebsch-Gordan I / sqrt(2l+1), which "component" normalization cancels.
So Linear reuses the tensor-product plan and its C++ gradients.
"""

import math
from typing import Any, NamedTuple, Union

import torch

from e3core import _core
from e3core._e3nn_compat import ignore_e3nn_generated_constants
from e3core._errors import ArgumentError, MissingWeightError, ShapeError, refused_as_argument_error
from e3core.o3._irreps import Irreps
from e3core.o3._tensor_product import _as_rows, _broadcast, _check_columns, _shape_error
from e3core.util.jit import compile_mode


class LinearInstruction(NamedTuple):
    """One block of a Linear, as ``e3nn.o3.Linear.instructions`` holds it (i_in = -1: a bias).

    Example::

        >>> LinearInstruction(0, 0, (4, 2), 0.5).path_shape
        (4, 2)
    """

    i_in: int
    i_out: int
    path_shape: tuple
    path_weight: float


@compile_mode("script")
class Linear(torch.nn.Module):
    r"""Equivariant linear map between irreps features, as ``e3nn.o3.Linear``.

    Only equal irreps are connected; each output is normalised by 1/sqrt(sum of the input
    multiplicities feeding it) ("element") or per path ("path"); biases only on scalar (0e)
    outputs, initialised to zero. Weights are laid out as in e3nn, so e3nn state dicts load.

    With ``f_in`` and ``f_out`` (given together) the input holds ``f_in`` features of
    ``irreps_in`` (..., f_in, irreps_in.dim) and the output ``f_out`` of ``irreps_out``, mixed
    by weights (f_in, f_out, weight_numel) (biases (f_out, bias_numel)), and the normalization
    counts the ``f_in`` features in the fan-in, as e3nn's.

    Example::

        >>> lin = Linear("4x0e+2x1o", "3x0e+1x1o", biases=True)
        >>> lin(torch.randn(10, 10)).shape
        torch.Size([10, 6])
        >>> Linear("4x0e", "2x0e", f_in=3, f_out=5)(torch.randn(10, 3, 4)).shape
        torch.Size([10, 5, 2])
    """

    __jit_ignored_attributes__ = ["irreps_in", "irreps_out", "instructions"]

    shared_weights: bool
    internal_weights: bool
    weight_numel: int
    bias_numel: int
    _in_dim: int
    _out_dim: int
    _f_in: int
    _f_out: int
    _all_weight_numel: int
    _all_bias_numel: int

    def __init__(
        self,
        irreps_in: Any,
        irreps_out: Any,
        *,
        f_in: int | None = None,
        f_out: int | None = None,
        internal_weights: bool | None = None,
        shared_weights: bool | None = None,
        instructions: list[tuple[int, int]] | None = None,
        biases: Union[bool, list[bool]] = False,
        path_normalization: str = "element",
        _optimize_einsums: bool | None = None,
    ) -> None:
        super().__init__()
        del _optimize_einsums  # steers e3nn's code generation only
        if (f_in is None) != (f_out is None):
            raise ArgumentError(f"f_in is {f_in} and f_out {f_out}: give both or neither")
        if f_in is not None and not (int(f_in) >= 1 and int(f_out) >= 1):
            raise ArgumentError(f"f_in and f_out must be positive ints, got {f_in} and {f_out}")
        # Without f_in/f_out: one feature in, one out.
        n_f_in, n_f_out = (int(f_in), int(f_out)) if f_in is not None else (1, 1)
        if path_normalization not in ("element", "path"):
            raise ArgumentError(
                f"path_normalization is {path_normalization!r}, expected 'element' or 'path'"
            )
        self.irreps_in = Irreps(irreps_in)
        self.irreps_out = Irreps(irreps_out)
        if instructions is None:
            instructions = [
                (i_in, i_out)
                for i_in, (_, ir_in) in enumerate(self.irreps_in)
                for i_out, (_, ir_out) in enumerate(self.irreps_out)
                if ir_in == ir_out
            ]
        for i_in, i_out in instructions:
            if not 0 <= i_in < len(self.irreps_in):
                raise IndexError(f"{i_in} is not a valid index for irreps_in")
            if not 0 <= i_out < len(self.irreps_out):
                raise IndexError(f"{i_out} is not a valid index for irreps_out")
            if self.irreps_in[i_in].ir != self.irreps_out[i_out].ir:
                raise ArgumentError(f"{i_in} and {i_out} do not have the same irrep")

        # f_in features in and f_out out are the irreps repeated f_in and f_out times, every
        # instruction repeated for each pair (x, y) of features: in this order the flat weights
        # are e3nn's (f_in, f_out, weight_numel), and the normalization counts f_in in the fan-in.
        n_in, n_out = len(self.irreps_in), len(self.irreps_out)
        with refused_as_argument_error():
            plan, all_weight_numel, coefficients = _core.tensor_product_plan(
                str(n_f_in * self.irreps_in),
                "1x0e",
                str(n_f_out * self.irreps_out),
                [
                    (x * n_in + i_in, 0, y * n_out + i_out, "uvw", True, 1.0)
                    for x in range(n_f_in)
                    for y in range(n_f_out)
                    for i_in, i_out in instructions
                ],
                "component",
                path_normalization,
            )
        # The plan's coefficient also cancels the Clebsch-Gordan 1/sqrt(2l+1); e3nn lists the
        # rest, 1/sqrt(fan-in).
        self.instructions = [
            LinearInstruction(
                i_in,
                i_out,
                (self.irreps_in[i_in].mul, self.irreps_out[i_out].mul),
                coefficient / math.sqrt(self.irreps_out[i_out].ir.dim),
            )
            for (i_in, i_out), coefficient in zip(
                instructions, coefficients[: len(instructions)], strict=True
            )
        ]

        if biases is None:
            biases = len(self.irreps_out) * [False]
        if isinstance(biases, bool):
            biases = [biases and ir.is_scalar() for _, ir in self.irreps_out]
        if len(biases) != len(self.irreps_out):
            raise ArgumentError(
                f"biases has {len(biases)} entries but irreps_out has {len(self.irreps_out)} terms"
            )
        bias_columns: list[int] = []
        for i_out, (bias, slice_, (mul, ir)) in enumerate(
            zip(biases, self.irreps_out.slices(), self.irreps_out, strict=True)
        ):
            if not bias:
                continue
            if not ir.is_scalar():
                raise ArgumentError(f"biases asks for a bias on {mul}x{ir}; only 0e can have one")
            self.instructions.append(LinearInstruction(-1, i_out, (mul * ir.dim,), 1.0))
            bias_columns.extend(range(slice_.start, slice_.stop))
        # The bias columns of each of the f_out output features, in e3nn's (f_out, bias_numel).
        bias_columns = [y * self.irreps_out.dim + c for y in range(n_f_out) for c in bias_columns]

        if shared_weights is False and internal_weights is None:
            internal_weights = False
        if shared_weights is None:
            shared_weights = True
        if internal_weights is None:
            internal_weights = True
        if internal_weights and not shared_weights:
            raise ArgumentError("internal_weights=True needs shared_weights=True")
        self.internal_weights = bool(internal_weights)
        self.shared_weights = bool(shared_weights)
        self._f_in = n_f_in if f_in is not None else 0
        self._f_out = n_f_out if f_out is not None else 0
        self._all_weight_numel = int(all_weight_numel)
        self._all_bias_numel = len(bias_columns)
        self.weight_numel = self._all_weight_numel // (n_f_in * n_f_out)
        self.bias_numel = self._all_bias_numel // n_f_out
        self._in_dim = self.irreps_in.dim
        self._out_dim = self.irreps_out.dim
        f_shape = (n_f_in, n_f_out) if f_in is not None else ()

        self.register_buffer("plan", torch.from_numpy(plan), persistent=False)
        self.register_buffer("_one", torch.ones(1, 1), persistent=False)
        self.register_buffer(
            "_bias_columns", torch.tensor(bias_columns, dtype=torch.long), persistent=False
        )
        if self.internal_weights and self.weight_numel > 0:
            self.weight = torch.nn.Parameter(torch.randn(*f_shape, self.weight_numel))
        else:
            self.register_buffer("weight", torch.Tensor())
        if self.internal_weights and self.bias_numel > 0:
            self.bias = torch.nn.Parameter(torch.zeros(*f_shape[1:], self.bias_numel))
        else:
            self.register_buffer("bias", torch.Tensor())
        mask = [
            torch.ones(mul_ir.dim)
            if any(ins.i_out == i_out and 0 not in ins.path_shape for ins in self.instructions)
            else torch.zeros(mul_ir.dim)
            for i_out, mul_ir in enumerate(self.irreps_out)
        ]
        self.register_buffer("output_mask", torch.cat(mask) if mask else torch.ones(0))
        ignore_e3nn_generated_constants(self)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.irreps_in} -> {self.irreps_out} | "
            f"{self.weight_numel} weights)"
        )

    def forward(
        self,
        features: torch.Tensor,
        weight: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The map applied to ``features`` (..., irreps_in.dim), or (..., f_in, irreps_in.dim).

        ``weight`` (and ``bias``) are required without internal weights: shape (weight_numel,)
        or, with shared_weights=False, (..., weight_numel); with f_in/f_out, (..., f_in,
        f_out, weight_numel) and (..., f_out, bias_numel).
        """
        if self._f_in > 0:
            features = self._flatten_features(features, "features", [self._f_in])
        _check_columns(features, "features", "irreps_in", max(self._f_in, 1) * self._in_dim)
        if weight is None:
            if self.weight_numel > 0 and not self.internal_weights:
                raise MissingWeightError("weight is required when internal_weights=False")
            weight = self.weight
        if bias is None:
            if self.bias_numel > 0 and not self.internal_weights:
                raise MissingWeightError("bias is required when internal_weights=False")
            bias = self.bias
        if self._f_in > 0 and self.weight_numel > 0:
            weight = self._flatten_features(weight, "weight", [self._f_in, self._f_out])
        if self._f_in > 0 and self.bias_numel > 0:
            bias = self._flatten_features(bias, "bias", [self._f_out])
        if weight.shape[-1] != self._all_weight_numel:
            raise ShapeError(
                "weight has shape "
                + str(list(weight.shape))
                + ", expected (..., "
                + str(self._all_weight_numel)
                + ")"
            )
        batch = list(features.shape[:-1])
        if weight.dim() > 1:
            batch = _broadcast(batch, list(weight.shape[:-1]))
        n = 1
        for s in batch:
            n *= s
        w = _as_rows(weight, batch, n) if weight.dim() > 1 else weight
        out_dim = max(self._f_out, 1) * self._out_dim
        out = torch.ops.e3core.tensor_product(
            _as_rows(features, batch, n), self._one, w, self.plan, None, None, [n, out_dim]
        ).reshape(batch + [out_dim])
        if self.bias_numel > 0:
            if bias.shape[-1] != self._all_bias_numel:
                raise ShapeError(
                    "bias has shape "
                    + str(list(bias.shape))
                    + ", expected (..., "
                    + str(self._all_bias_numel)
                    + ")"
                )
            out = out.index_add(
                out.dim() - 1, self._bias_columns, bias.expand(batch + [self._all_bias_numel])
            )
        if self._f_out > 0:
            out = out.unflatten(-1, [self._f_out, self._out_dim])
        return out

    def _flatten_features(self, t: torch.Tensor, name: str, features: list[int]) -> torch.Tensor:
        """``t`` (..., *features, n) as (..., prod(features) * n)."""
        k = len(features)
        if t.dim() <= k or list(t.shape[-k - 1 : -1]) != features:
            raise ShapeError(
                _shape_error(name, t, "(..., " + ", ".join([str(f) for f in features]) + ", n)")
            )
        return t.flatten(-k - 1)

    def weight_view_for_instruction(
        self, instruction: int, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The weights of one (non-bias) instruction, shaped (..., mul_in, mul_out), as e3nn's
        (with f_in/f_out the internal weights give (f_in, f_out, mul_in, mul_out)).

        Example::

            >>> Linear("4x0e+1x1o", "2x0e+1x1o").weight_view_for_instruction(1).shape
            torch.Size([1, 1])
        """
        ins = self.instructions[instruction]
        if ins.i_in == -1:
            raise ArgumentError(f"instruction {instruction} is a bias: it has no weights")
        if weight is None:
            if not self.internal_weights:
                raise MissingWeightError("weight is required when internal_weights=False")
            weight = self.weight
        offset = sum(math.prod(i.path_shape) for i in self.instructions[:instruction])
        size = math.prod(ins.path_shape)
        return weight.narrow(-1, offset, size).view(weight.shape[:-1] + ins.path_shape)

    def weight_views(self, weight: torch.Tensor | None = None, yield_instruction: bool = False):
        """Views of the weights of each (non-bias) instruction, shaped (..., mul_in, mul_out).

        Example::

            >>> [w.shape for w in Linear("4x0e", "2x0e").weight_views()]
            [torch.Size([4, 2])]
        """
        if weight is None:
            if not self.internal_weights:
                raise MissingWeightError("weight is required when internal_weights=False")
            weight = self.weight
        lead = weight.shape[:-1]
        offset = 0
        for i, ins in enumerate(self.instructions):
            if ins.i_in == -1:
                continue
            size = ins.path_shape[0] * ins.path_shape[1]
            view = weight.narrow(-1, offset, size).view(lead + ins.path_shape)
            offset += size
            yield (i, ins, view) if yield_instruction else view
