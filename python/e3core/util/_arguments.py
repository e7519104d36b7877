"""Irreps of a function's inputs and outputs, and random inputs from them (for the test and
jit helpers)."""

import random
from collections.abc import Sequence
from typing import Any

import torch

from e3core._errors import ArgumentError
from e3core.o3._irreps import Irreps


def is_special(value: Any) -> bool:
    """Whether ``value`` is ``"cartesian_points"`` or None (compared without parsing irreps)."""
    return value is None or (isinstance(value, str) and value == "cartesian_points")


def _as_list(irreps: Any) -> list[Any]:
    if isinstance(irreps, Irreps) or is_special(irreps):
        return [irreps]
    if isinstance(irreps, list):
        return [i if is_special(i) else Irreps(i) for i in irreps]
    return [Irreps(irreps)]


def io_irreps(func: Any, irreps_in: Any, irreps_out: Any) -> tuple[list[Any], list[Any]]:
    """``irreps_in`` and ``irreps_out`` as lists (one entry per argument and output), read from
    ``func``'s attributes where None.

    Example::

        >>> io_irreps(None, "2x0e", ["1x1o", "cartesian_points"])
        ([2x0e], [1x1o, 'cartesian_points'])
    """
    if irreps_in is None:
        if hasattr(func, "irreps_in"):
            irreps_in = func.irreps_in
        elif hasattr(func, "irreps_in1"):
            irreps_in = [func.irreps_in1, func.irreps_in2]
        else:
            raise ArgumentError(f"Cannot infer irreps_in for {func!r}; provide them explicitly")
    if irreps_out is None:
        if not hasattr(func, "irreps_out"):
            raise ArgumentError(f"Cannot infer irreps_out for {func!r}; provide them explicitly")
        irreps_out = func.irreps_out
    return _as_list(irreps_in), _as_list(irreps_out)


def random_args(irreps_in: Sequence[Any], batch: int | None = None) -> list[torch.Tensor]:
    """Random inputs (batch, dim) for ``irreps_in`` (a batch of 1 to 4 when None).

    Example::

        >>> [tuple(x.shape) for x in random_args([Irreps("1x1o"), "cartesian_points"], 2)]
        [(2, 3), (2, 3)]
    """
    if not all(isinstance(i, Irreps) or (is_special(i) and i is not None) for i in irreps_in):
        raise ArgumentError(
            "random inputs need every argument to be irreps or 'cartesian_points'; give args_in"
        )
    batch = random.randint(1, 4) if batch is None else batch
    return [torch.randn(batch, 3) if is_special(i) else i.randn(batch, -1) for i in irreps_in]
