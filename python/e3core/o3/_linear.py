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
from e3core.o3._tensor_product import _as_rows, _broadcast, _check_columns
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

    Example::

        >>> lin = Linear("4x0e+2x1o", "3x0e+1x1o", biases=True)
        >>> lin(torch.randn(10, 10)).shape
        torch.Size([10, 6])
    """

    __jit_ignored_attributes__ = ["irreps_in", "irreps_out", "instructions"]

    shared_weights: bool
    internal_weights: bool
    weight_numel: int
    bias_numel: int
    _in_dim: int
    _out_dim: int

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
        if f_in is not None or f_out is not None:
            raise NotImplementedError("Linear with f_in/f_out (feature batches) is not supported")
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

        with refused_as_argument_error():
            plan, weight_numel, coefficients = _core.tensor_product_plan(
                str(self.irreps_in),
                "1x0e",
                str(self.irreps_out),
                [(i_in, 0, i_out, "uvw", True, 1.0) for i_in, i_out in instructions],
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
            for (i_in, i_out), coefficient in zip(instructions, coefficients, strict=True)
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
        self.weight_numel = int(weight_numel)
        self.bias_numel = len(bias_columns)
        self._in_dim = self.irreps_in.dim
        self._out_dim = self.irreps_out.dim

        self.register_buffer("plan", torch.from_numpy(plan), persistent=False)
        self.register_buffer("_one", torch.ones(1, 1), persistent=False)
        self.register_buffer(
            "_bias_columns", torch.tensor(bias_columns, dtype=torch.long), persistent=False
        )
        if self.internal_weights and self.weight_numel > 0:
            self.weight = torch.nn.Parameter(torch.randn(self.weight_numel))
        else:
            self.register_buffer("weight", torch.Tensor())
        if self.internal_weights and self.bias_numel > 0:
            self.bias = torch.nn.Parameter(torch.zeros(self.bias_numel))
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
        """The map applied to ``features`` (..., irreps_in.dim).

        ``weight`` (and ``bias``) are required without internal weights: shape (weight_numel,)
        or, with shared_weights=False, (..., weight_numel).
        """
        _check_columns(features, "features", "irreps_in", self._in_dim)
        if weight is None:
            if self.weight_numel > 0 and not self.internal_weights:
                raise MissingWeightError("weight is required when internal_weights=False")
            weight = self.weight
        if bias is None:
            if self.bias_numel > 0 and not self.internal_weights:
                raise MissingWeightError("bias is required when internal_weights=False")
            bias = self.bias
        if weight.shape[-1] != self.weight_numel:
            raise ShapeError(
                "weight has shape "
                + str(list(weight.shape))
                + ", expected (..., "
                + str(self.weight_numel)
                + ")"
            )
        batch = list(features.shape[:-1])
        if weight.dim() > 1:
            batch = _broadcast(batch, list(weight.shape[:-1]))
        n = 1
        for s in batch:
            n *= s
        w = _as_rows(weight, batch, n) if weight.dim() > 1 else weight
        out = torch.ops.e3core.tensor_product(
            _as_rows(features, batch, n), self._one, w, self.plan, None, None, [n, self._out_dim]
        ).reshape(batch + [self._out_dim])
        if self.bias_numel > 0:
            if bias.shape[-1] != self.bias_numel:
                raise ShapeError(
                    "bias has shape "
                    + str(list(bias.shape))
                    + ", expected (..., "
                    + str(self.bias_numel)
                    + ")"
                )
            out = out.index_add(
                out.dim() - 1, self._bias_columns, bias.expand(batch + [self.bias_numel])
            )
        return out

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
