"""Extract: copy chosen terms of an irreps feature vector into new feature vectors."""

from collections.abc import Sequence
from typing import Any

import torch

from e3core._checks import check_columns
from e3core._errors import ArgumentError
from e3core.o3._irreps import Irrep, Irreps
from e3core.util.jit import compile_mode


def extract_ranges(
    irreps_in: Irreps, irreps_outs: Sequence[Irreps], instructions: Sequence[Sequence[int]]
) -> list[list[tuple[int, int]]]:
    """For each output, the (start, length) column ranges of the input it is made of.

    Output i is the concatenation of the input terms ``instructions[i]``, which must have the
    dimensions of the terms of ``irreps_outs[i]``; adjacent ranges are merged.

    Example::

        >>> extract_ranges(Irreps("1e + 0e + 0e"), [Irreps("0e + 0e")], [(1, 2)])
        [[(3, 2)]]
    """
    if len(irreps_outs) != len(instructions):
        raise ArgumentError(
            f"Extract: {len(irreps_outs)} irreps_outs but {len(instructions)} instructions; "
            "give one instruction (a tuple of input term indices) per output"
        )
    slices = irreps_in.slices()
    all_ranges = []
    for irreps_out, ins in zip(irreps_outs, instructions, strict=True):
        if len(irreps_out) != len(ins):
            raise ArgumentError(
                f"Extract: instruction {tuple(ins)} has {len(ins)} input terms but irreps_out "
                f"{irreps_out} has {len(irreps_out)} terms"
            )
        ranges: list[tuple[int, int]] = []
        for mul_ir, i_in in zip(irreps_out, ins, strict=True):
            if not 0 <= i_in < len(irreps_in):
                raise ArgumentError(
                    f"Extract: instruction index {i_in} is out of range for irreps_in {irreps_in} "
                    f"({len(irreps_in)} terms)"
                )
            if mul_ir.dim != irreps_in[i_in].dim:
                raise ArgumentError(
                    f"Extract: output term {mul_ir} cannot hold input term {i_in} "
                    f"({irreps_in[i_in]}) of irreps_in {irreps_in}"
                )
            start, length = slices[i_in].start, mul_ir.dim
            if ranges and sum(ranges[-1]) == start:
                ranges[-1] = (ranges[-1][0], ranges[-1][1] + length)
            elif length > 0:
                ranges.append((start, length))
        all_ranges.append(ranges)
    return all_ranges


def extract(x: torch.Tensor, ranges: list[list[tuple[int, int]]]) -> list[torch.Tensor]:
    """The outputs of ``extract_ranges``: new tensors (..., length), never views of ``x``.

    Example::

        >>> extract(torch.arange(5.0), [[(3, 2)], []])
        [tensor([3., 4.]), tensor([])]
    """
    outs: list[torch.Tensor] = []
    for pieces in ranges:
        if len(pieces) == 0:
            outs.append(x.new_zeros(x.shape[:-1] + (0,)))
        else:
            outs.append(torch.cat([x.narrow(-1, start, length) for start, length in pieces], -1))
    return outs


@compile_mode("script")
class Extract(torch.nn.Module):
    """Splits features into several irreps feature vectors, as ``e3nn.nn.Extract``.

    Args:
        irreps_in: irreps of the input.
        irreps_outs: irreps of each output.
        instructions: for each output, the indices of the ``irreps_in`` terms it copies, one per
            term of its irreps.
        squeeze_out: with one output, return it rather than a 1-tuple.

    Returns a tuple of tensors (a list under TorchScript, which has no tuples of variable length).

    Example::

        >>> c = Extract("1e + 0e + 0e", ["0e", "0e"], [(1,), (2,)])
        >>> c(torch.tensor([0.0, 0.0, 0.0, 1.0, 2.0]))
        (tensor([1.]), tensor([2.]))
    """

    squeeze_out: bool
    _name: str
    _dim_in: int
    _ranges: list[list[tuple[int, int]]]

    def __init__(
        self,
        irreps_in: Irreps | str,
        irreps_outs: Sequence[Irreps | str],
        instructions: Sequence[Sequence[int]],
        squeeze_out: bool = False,
    ) -> None:
        super().__init__()
        self.irreps_in = Irreps(irreps_in)
        self.irreps_outs = tuple(Irreps(irreps) for irreps in irreps_outs)
        self.instructions = instructions
        self.squeeze_out = squeeze_out
        self._name = type(self).__name__  # for messages: TorchScript has no self.__class__
        self._dim_in = self.irreps_in.dim
        self._ranges = extract_ranges(self.irreps_in, self.irreps_outs, instructions)

    def forward(self, x: torch.Tensor) -> Any:
        """The outputs for ``x`` (..., irreps_in.dim): a tuple, or a tensor with ``squeeze_out``."""
        check_columns(self._name, x, self._dim_in, "irreps_in.dim")
        outs = extract(x, self._ranges)
        if self.squeeze_out and len(outs) == 1:
            return outs[0]
        if torch.jit.is_scripting():
            return outs
        return tuple(outs)


class ExtractIr(Extract):
    """The terms of one irrep, concatenated: a tensor (..., irreps_out.dim), as e3nn's.

    Example::

        >>> e = ExtractIr("0e + 1o + 2x0e", "0e")
        >>> e.irreps_out, e(torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0, 3.0]))
        (1x0e+2x0e, tensor([1., 2., 3.]))
    """

    def __init__(self, irreps_in: Irreps | str, ir: Irrep | str) -> None:
        ir = Irrep(ir)
        irreps_in = Irreps(irreps_in)
        irreps_out = Irreps([mul_ir for mul_ir in irreps_in if mul_ir.ir == ir])
        indices = tuple(i for i, mul_ir in enumerate(irreps_in) if mul_ir.ir == ir)
        super().__init__(irreps_in, [irreps_out], [indices], squeeze_out=True)
        self.irreps_out = irreps_out
