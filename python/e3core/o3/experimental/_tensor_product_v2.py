"""e3nn's ``FullTensorProductv2`` and ``ElementwiseTensorProductv2`` as e3core tensor products:
e3nn computes them path by path with einsums in Python, e3core in one kernel call."""

from typing import Any

import torch

from e3core._errors import ArgumentError
from e3core.o3._irreps import Irrep, Irreps
from e3core.o3._tensor_product import TensorProduct
from e3core.o3._tensor_product_families import (
    FullTensorProduct,
    align_irreps,
    elementwise_paths,
    sorted_outputs,
)
from e3core.util.jit import compile_mode


def _check_normalization(irrep_normalization: str) -> None:
    if irrep_normalization not in ("component", "norm"):
        raise ArgumentError(
            f"irrep_normalization is {irrep_normalization!r}, expected 'component' or 'norm'"
        )


def _filter(filter_ir_out: Any) -> list[Irrep] | None:
    """e3nn's v2 products test ``ir_out in filter_ir_out``: an Irreps, or a list of irreps."""
    if filter_ir_out is None:
        return None
    if isinstance(filter_ir_out, (str, Irreps)):
        return [ir for _, ir in Irreps(filter_ir_out)]
    return [Irrep(ir) for ir in filter_ir_out]


def _weightless(module: TensorProduct) -> None:
    """No state: neither e3core's empty weight and output mask nor e3nn's ``cg_*`` buffers (the
    plan holds the coefficients), so that e3nn's state_dicts load with ``strict=True``."""
    module._non_persistent_buffers_set.update({"weight", "output_mask"})
    module.register_load_state_dict_pre_hook(_drop_cg)


def _drop_cg(module: torch.nn.Module, state_dict: dict, prefix: str, *args: Any) -> None:
    for key in [k for k in state_dict if k.startswith(f"{prefix}cg_")]:
        del state_dict[key]


class _PromotingForward:
    """The v2 products' forward: the weightless product in the promoted dtype of the inputs
    (placed first among the bases, it overrides TensorProduct's forward)."""

    def forward(self, input1: torch.Tensor, input2: torch.Tensor) -> torch.Tensor:
        """The product of ``input1`` (..., irreps_in1.dim) and ``input2`` (...,
        irreps_in2.dim), leading dimensions broadcast, in the promoted dtype of the two."""
        dtype = torch.promote_types(input1.dtype, input2.dtype)
        return self._product(input1.to(dtype), input2.to(dtype), None)


@compile_mode("script")
class FullTensorProductv2(_PromotingForward, FullTensorProduct):
    """Every pair of irreps of the two inputs into every allowed output, without weights, as
    e3nn's ``o3.experimental.FullTensorProductv2``: with ``regroup_output`` the input irreps
    are regrouped (sorted and merged: the inputs are read in that layout); the output irreps are
    sorted, not merged; ``irrep_normalization`` is "component" or "norm".

    Example::

        >>> tp = FullTensorProductv2("1x1o", "1x1o+1x0e")
        >>> tp.irreps_in2, tp.irreps_out
        (1x0e+1x1o, 1x0e+1x1o+1x1e+1x2e)
    """

    def __init__(
        self,
        irreps_in1: Any,
        irreps_in2: Any,
        *,
        filter_ir_out: Any = None,
        irrep_normalization: str = "component",
        regroup_output: bool = True,
    ) -> None:
        _check_normalization(irrep_normalization)
        irreps_in1, irreps_in2 = Irreps(irreps_in1), Irreps(irreps_in2)
        if regroup_output:
            irreps_in1, irreps_in2 = irreps_in1.regroup(), irreps_in2.regroup()
        super().__init__(
            irreps_in1,
            irreps_in2,
            filter_ir_out=_filter(filter_ir_out),
            irrep_normalization=irrep_normalization,
        )
        _weightless(self)


@compile_mode("script")
class ElementwiseTensorProductv2(_PromotingForward, TensorProduct):
    """The u-th irrep of the first input with the u-th of the second, without weights, as
    e3nn's ``o3.experimental.ElementwiseTensorProductv2``: multiplicities are split so that
    the inputs line up (without merging them first, unlike ``ElementwiseTensorProduct``), and
    the output irreps are sorted, not merged.

    Example::

        >>> tp = ElementwiseTensorProductv2("2x1o+1x0e", "1x1o+2x0e")
        >>> tp.irreps_in2, tp.irreps_out
        (1x1o+1x0e+1x0e, 1x0e+1x0e+1x1o+1x1e+1x2e)
    """

    def __init__(
        self,
        irreps_in1: Any,
        irreps_in2: Any,
        *,
        filter_ir_out: Any = None,
        irrep_normalization: str = "component",
    ) -> None:
        _check_normalization(irrep_normalization)
        terms1, terms2 = align_irreps(Irreps(irreps_in1), Irreps(irreps_in2))
        out, instructions = elementwise_paths(terms1, terms2, _filter(filter_ir_out))
        irreps_out, instructions = sorted_outputs(out, instructions)
        super().__init__(
            terms1, terms2, irreps_out, instructions, irrep_normalization=irrep_normalization
        )
        _weightless(self)
