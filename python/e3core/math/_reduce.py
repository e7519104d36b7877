"""Index-symmetry formulas ("ij=-ji") as groups of signed permutations, and the orthonormal
basis of the tensors that obey them: e3nn.math's germinate_formulas and reduce_permutation."""

import itertools
from collections.abc import Iterable
from typing import TypeVar

import torch

from e3core._errors import ArgumentError
from e3core.math import perm

__all__ = ["FormulaError", "germinate_formulas", "reduce_permutation"]

SignedPerm = tuple[int, tuple[int, ...]]
V = TypeVar("V")


class FormulaError(ArgumentError, RuntimeError):
    """A symmetry formula, or the sizes given for its indices, that e3core refuses (e3nn raises
    RuntimeError).

    Example::

        >>> issubclass(FormulaError, RuntimeError), issubclass(FormulaError, ValueError)
        (True, True)
    """


def germinate_formulas(formula: str) -> tuple[str, set[SignedPerm]]:
    """The indices of ``formula`` ("ij=-ji": equal tensors, "-" a sign) and the group of signed
    permutations its equalities generate: ``(sign, p)`` means that the tensor with its indices
    permuted by ``p`` equals ``sign`` times itself.

    Example::

        >>> f0, formulas = germinate_formulas("ij=-ji")
        >>> f0, sorted(formulas)
        ('ij', [(-1, (1, 0)), (1, (0, 1))])
    """
    terms = [(-1 if f.startswith("-") else 1, f.replace("-", "")) for f in formula.split("=")]
    s0, f0 = terms[0]
    if s0 != 1:
        raise ArgumentError(f"formula: the first term must have no sign, got {formula!r}")
    for _, f in terms:
        if len(set(f)) != len(f) or set(f) != set(f0):
            raise FormulaError(f"formula: {f} is not a permutation of {f0}")
    generators = {(s, tuple(f.index(i) for i in f0)) for s, f in terms}
    # Close the generators under inverse and composition: "ijk=jik=ikj" implies "ijk=jki".
    while True:
        n = len(generators)
        generators |= {(s, perm.inverse(p)) for s, p in generators}
        generators |= {
            (s1 * s2, perm.compose(p1, p2)) for s1, p1 in generators for s2, p2 in generators
        }
        if len(generators) == n:
            return f0, generators


def index_values(
    f0: str, formulas: Iterable[SignedPerm], values: dict[str, V], what: str
) -> list[V]:
    """The value (dimension, irreps) of every index of ``f0``, from ``values`` and the indices
    that ``formulas`` exchange (which must have equal values).

    Example::

        >>> index_values(*germinate_formulas("ij=ji"), {"i": 3}, "dimension")
        [3, 3]
    """
    values = dict(values)
    for _, p in formulas:
        for i, j in zip(f0, (f0[k] for k in p), strict=True):
            if i in values and j in values and values[i] != values[j]:
                raise FormulaError(f"{what} of {i} and {j} should be the same")
            if i in values:
                values[j] = values[i]
            if j in values:
                values[i] = values[j]
    for i in f0:
        if i not in values:
            raise FormulaError(f"index {i} has no {what} associated to it")
    return [values[i] for i in f0]


def reduce_permutation(
    f0: str,
    formulas: Iterable[SignedPerm],
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    **dims: int,
) -> tuple[torch.Tensor, list[list[tuple[int, tuple[int, ...]]]]]:
    """The orthonormal basis ``Q`` (d_sym, *dims) of the tensors with the symmetries of
    ``formulas``, and for each basis tensor the signed entries it sets (e3nn's order and signs).

    Each basis tensor is one orbit of entries under the group, with entries ``sign/sqrt(size)``;
    orbits whose entries must equal their own opposite are zero and dropped.

    Example::

        >>> Q, ret = reduce_permutation(*germinate_formulas("ij=-ji"), i=2)
        >>> Q.shape, len(ret)
        (torch.Size([1, 2, 2]), 1)
    """
    formulas = list(formulas)
    shape = index_values(f0, formulas, dims, "dimension")
    seen = set()
    base = []
    for x in itertools.product(*(range(d) for d in shape)):
        if x in seen:
            continue
        orbit = {(s, tuple(x[i] for i in p)) for s, p in formulas}
        seen.update(y for _, y in orbit)
        if (-1, x) not in orbit:
            # The overall sign is arbitrary: e3nn keeps both and picks one after sorting.
            base.append(sorted([sorted(orbit), sorted((-s, y) for s, y in orbit)]))
    base.sort()
    ret = [max(pair, key=lambda xs: sum(s for s, _ in xs)) for pair in base]
    Q = torch.zeros(len(ret), *shape, dtype=dtype, device=device)
    for i, xs in enumerate(ret):
        for s, y in xs:
            Q[(i, *y)] = s / len(xs) ** 0.5
    return Q, ret
