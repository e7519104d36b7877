"""Irreps of O(3) with e3nn 0.6's Python API; parsing and the algebra run in e3core's C++ core.

``Irrep``, ``_MulIr`` and ``Irreps`` are tuple subclasses like e3nn's, so they compare, hash and
convert to and from e3nn's classes as plain tuples::

    >>> Irreps("16x0e + 8x1o")
    16x0e+8x1o
"""

from __future__ import annotations

import collections
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from e3core import _core
from e3core._errors import ArgumentError

_Sort = collections.namedtuple("sort", ["irreps", "p", "inv"])


def _is_irrep(x: object) -> bool:
    # By class name so that e3nn's Irrep (and torch.package copies) are recognised too.
    return isinstance(x, tuple) and type(x).__name__ == "Irrep"


def _is_mul_ir(x: object) -> bool:
    return isinstance(x, tuple) and type(x).__name__ == "_MulIr"


def _as_int(value: Any, what: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise ArgumentError(f"{what} must be an integer, got {value!r}") from None


def _ascii(text: str, what: str) -> str:
    """``text`` if it is ASCII, as irreps strings are; else a ValueError naming the character
    (lone surrogates included, which could not reach the C++ parser)."""
    if not text.isascii():
        i, ch = next((i, ch) for i, ch in enumerate(text) if not ch.isascii())
        raise ArgumentError(
            f"{what}({text!r}): character {ch!r} at position {i} is not ASCII; irreps strings "
            'are made of digits, "x", "e", "o", "y", "+" and spaces ("16x0e+8x1o")'
        )
    return text


# The _core functions return plain tuples that are already valid: wrap them without re-checking.
def _irrep(data: tuple[int, int]) -> Irrep:
    return tuple.__new__(Irrep, data)


def _mul_ir(data: tuple[int, tuple[int, int]]) -> _MulIr:
    return tuple.__new__(_MulIr, (data[0], _irrep(data[1])))


def _irreps(data: Iterable[tuple[int, tuple[int, int]]]) -> Irreps:
    return tuple.__new__(Irreps, [_mul_ir(t) for t in data])


def _rotation_fn(name: str) -> Callable[..., Any]:
    # Imported on use, so that irreps load without the rotation and Wigner modules.
    from e3core.o3 import _rotation

    return getattr(_rotation, name)


def _angles_and_parity(R: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Euler angles of R / det(R) and k = 1 where det(R) < 0 (parity applied once)."""
    d = torch.det(R).sign()
    R = d[..., None, None] * R
    k = (1 - d) / 2
    return (*_rotation_fn("matrix_to_angles")(R), k)


class Irrep(tuple):
    r"""Irreducible representation of O(3): degree ``l`` and parity ``p`` (1 even, -1 odd).

    Built from ``(l, p)``, a string ``"1o"`` (``"y"`` means the parity ``(-1)**l`` of the
    spherical harmonics), a tuple ``(l, p)`` or another Irrep (e3nn's included).

    >>> Irrep(2, -1), Irrep("1y"), Irrep("2o").dim
    (2o, 1o, 5)
    >>> Irrep("2e") in Irrep("1o") * Irrep("1o")
    True
    """

    def __new__(cls, l: int | str | tuple | Irrep, p: int | None = None) -> Irrep:
        if p is None:
            if isinstance(l, Irrep):
                return l
            if _is_mul_ir(l):
                return Irrep(l[1])
            if isinstance(l, str):
                return tuple.__new__(cls, _core.irrep_parse(_ascii(l, "Irrep")))
            if isinstance(l, tuple):
                l, p = l
        # e3nn accepts any parity equal to 1 or -1 (1.0, numpy integers, ...).
        if p in (-1, 1):
            p = int(p)
        what = f"Irrep(l={l!r}, p={p!r}):"
        return tuple.__new__(cls, _core.irrep_new(_as_int(l, f"{what} l"), _as_int(p, f"{what} p")))

    @property
    def l(self) -> int:  # noqa: E743
        """The degree l = 0, 1, 2, ...

        >>> Irrep("2o").l
        2
        """
        return self[0]

    @property
    def p(self) -> int:
        """The parity, 1 or -1.

        >>> Irrep("2o").p
        -1
        """
        return self[1]

    def __repr__(self) -> str:
        return _core.irrep_str(self)

    @classmethod
    def iterator(cls, lmax: int | None = None) -> Iterator[Irrep]:
        """All irreps in e3nn's order 0e, 0o, 1o, 1e, 2e, 2o, ..., up to ``lmax`` or forever.

        >>> list(Irrep.iterator(1))
        [0e, 0o, 1o, 1e]
        """
        if lmax is not None:
            yield from (_irrep(ir) for ir in _core.irrep_iterator(lmax))
            return
        for l in itertools.count():
            yield from (_irrep(ir) for ir in _core.irrep_iterator(l)[2 * l :])

    def D_from_angles(
        self,
        alpha: torch.Tensor,
        beta: torch.Tensor,
        gamma: torch.Tensor,
        k: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r"""Matrix :math:`p^k D^l(\alpha, \beta, \gamma)` of shape ``(..., 2l+1, 2l+1)``.

        Angles are e3nn's Y-X-Y Euler angles; ``k`` counts how many times parity is applied.

        >>> Irrep("1o").D_from_angles(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(0.0),
        ...                           torch.tensor(1.0)).diagonal().tolist()
        [-1.0, -1.0, -1.0]
        """
        from e3core.o3._wigner import wigner_D

        if k is None:
            k = torch.zeros_like(alpha)
        alpha, beta, gamma, k = torch.broadcast_tensors(alpha, beta, gamma, k)
        return wigner_D(self.l, alpha, beta, gamma) * self.p ** k[..., None, None]

    def D_from_quaternion(self, q: torch.Tensor, k: torch.Tensor | None = None) -> torch.Tensor:
        """Matrix of the representation for the rotation of quaternion ``q`` of shape (..., 4).

        >>> Irrep("2e").D_from_quaternion(torch.tensor([1.0, 0, 0, 0])).shape
        torch.Size([5, 5])
        """
        return self.D_from_angles(*_rotation_fn("quaternion_to_angles")(q), k)

    def D_from_matrix(self, R: torch.Tensor) -> torch.Tensor:
        """Matrix of the representation for ``R`` of shape (..., 3, 3); det(R) < 0 applies parity.

        >>> Irrep("1o").D_from_matrix(-torch.eye(3)).long().diagonal().tolist()
        [-1, -1, -1]
        """
        return self.D_from_angles(*_angles_and_parity(R))

    def D_from_axis_angle(self, axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
        """Matrix of the representation for the rotation by ``angle`` around ``axis`` (..., 3).

        >>> Irrep("0e").D_from_axis_angle(torch.tensor([0.0, 1, 0]), torch.tensor(1.0))
        tensor([[1.]])
        """
        return self.D_from_angles(*_rotation_fn("axis_angle_to_angles")(axis, angle))

    @property
    def dim(self) -> int:
        """2l + 1.

        >>> Irrep("3o").dim
        7
        """
        return _core.irrep_dim(self)

    def is_scalar(self) -> bool:
        """True for 0e only.

        >>> Irrep("0e").is_scalar(), Irrep("0o").is_scalar()
        (True, False)
        """
        return _core.irrep_is_scalar(self)

    def __mul__(self, other: Irrep | str | tuple) -> Iterator[Irrep]:
        """The irreps of the product, l = |l1 - l2| .. l1 + l2 with parity p1 * p2 (a generator).

        >>> list(Irrep("1o") * Irrep("1o"))
        [0e, 1e, 2e]
        """
        other = Irrep(other)
        yield from (_irrep(ir) for ir in _core.irrep_product(self, other))

    def __rmul__(self, other: int) -> Irreps:
        """``mul * Irrep`` is ``mul`` copies.

        >>> 3 * Irrep("1e")
        3x1e
        """
        if not isinstance(other, int):
            return NotImplemented
        return Irreps([(other, self)])

    def __add__(self, other: Any) -> Irreps:
        """Direct sum with another irrep or irreps.

        >>> Irrep("1o") + Irrep("2o")
        1x1o+1x2o
        """
        return Irreps(self) + Irreps(other)

    # Like e3nn: an Irrep is a tuple for comparison and hashing only, not a container.
    def count(self, _value: Any) -> int:
        raise NotImplementedError

    def index(self, _value: Any) -> int:
        raise NotImplementedError

    def __contains__(self, _object: Any) -> bool:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class _MulIr(tuple):
    """``mul`` copies of the irrep ``ir``: a tuple ``(mul, ir)``.

    >>> _MulIr(3, Irrep("1o")).dim
    9
    """

    def __new__(cls, mul: int | tuple, ir: Irrep | str | tuple | None = None) -> _MulIr:
        if ir is None:
            mul, ir = mul
        ir = Irrep(ir)
        m = _core.mul_ir_new(_as_int(mul, f"_MulIr(mul={mul!r}, ir={ir}): mul"), ir)[0]
        return tuple.__new__(cls, (m, ir))

    @property
    def mul(self) -> int:
        """The multiplicity.

        >>> _MulIr(3, Irrep("1o")).mul
        3
        """
        return self[0]

    @property
    def ir(self) -> Irrep:
        """The irrep.

        >>> _MulIr(3, Irrep("1o")).ir
        1o
        """
        return self[1]

    @property
    def dim(self) -> int:
        """mul * (2l + 1).

        >>> _MulIr(2, Irrep("2e")).dim
        10
        """
        return _core.mul_ir_dim(self)

    def __repr__(self) -> str:
        return _core.mul_ir_str(self)

    def count(self, _value: Any) -> int:
        raise NotImplementedError

    def index(self, _value: Any) -> int:
        raise NotImplementedError


class Irreps(tuple):
    """Direct sum of irreps of O(3): a tuple of ``(mul, ir)`` terms, kept in the given order.

    Built from a string ``"16x0e + 8x1o"`` (blank for none), an Irrep, another Irreps (e3nn's
    included), or an iterable of strings, irreps and ``(mul, ir)`` pairs.

    >>> x = Irreps([(100, (0, 1)), (50, (1, 1))])
    >>> x, x.dim, Irreps("100x0e + 50x1e + 0x2e").lmax
    (100x0e+50x1e, 250, 1)
    >>> Irrep("2e") in Irreps("0e + 2e"), Irreps("")
    (True, )
    """

    # e3nn recognises irreps by this marker (e3nn.util._argtools), e.g. in assert_equivariant.
    _e3nn_irreps_marker = True

    def __new__(cls, irreps: Any = None) -> Irreps:
        if isinstance(irreps, Irreps):
            return tuple.__new__(cls, irreps)
        if irreps is None:
            return tuple.__new__(cls)
        if _is_irrep(irreps):
            return tuple.__new__(cls, [_MulIr(1, irreps)])
        if isinstance(irreps, str):
            return tuple.__new__(cls, _irreps(_core.irreps_parse(_ascii(irreps, "Irreps"))))
        terms = []
        for mul_ir in irreps:
            if isinstance(mul_ir, str) or _is_irrep(mul_ir):
                terms.append(_MulIr(1, mul_ir))
            elif _is_mul_ir(mul_ir) or len(mul_ir) == 2:
                terms.append(_MulIr(*mul_ir))
            else:
                raise ArgumentError(f'Unable to interpret "{mul_ir}" as an irrep.')
        return tuple.__new__(cls, terms)

    @staticmethod
    def spherical_harmonics(lmax: int, p: int = -1) -> Irreps:
        """The irreps of the spherical harmonics up to ``lmax``: parity ``p**l``.

        >>> Irreps.spherical_harmonics(3), Irreps.spherical_harmonics(2, p=1)
        (1x0e+1x1o+1x2e+1x3o, 1x0e+1x1e+1x2e)
        """
        return _irreps(_core.irreps_spherical_harmonics(lmax, p))

    def slices(self) -> list[slice]:
        """The feature slice of each term.

        >>> Irreps("2x0e + 1e").slices()
        [slice(0, 2, None), slice(2, 5, None)]
        """
        return [slice(start, stop) for start, stop in _core.irreps_slices(self)]

    def randn(
        self,
        *size: int,
        normalization: str = "component",
        requires_grad: bool = False,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Random features of shape ``size`` with the one ``-1`` replaced by ``dim``.

        ``"component"``: every component standard normal; ``"norm"``: every irrep of unit norm.

        >>> Irreps("5x0e + 10x1o").randn(5, -1, 5, normalization="norm").shape
        torch.Size([5, 35, 5])
        """
        di = size.index(-1)
        lsize = size[:di]
        rsize = size[di + 1 :]
        kwargs = {"dtype": dtype, "device": device}
        if normalization == "component":
            return torch.randn(*lsize, self.dim, *rsize, requires_grad=requires_grad, **kwargs)
        if normalization != "norm":
            raise ArgumentError("Normalization needs to be 'norm' or 'component'")
        x = torch.zeros(*lsize, self.dim, *rsize, requires_grad=requires_grad, **kwargs)
        with torch.no_grad():
            for s, (mul, ir) in zip(self.slices(), self, strict=True):
                r = torch.randn(*lsize, mul, ir.dim, *rsize, **kwargs)
                r.div_(r.norm(2, dim=di + 1, keepdim=True))
                x.narrow(di, s.start, mul * ir.dim).copy_(r.reshape(*lsize, -1, *rsize))
        return x

    def __getitem__(self, i: int | slice) -> _MulIr | Irreps:
        x = super().__getitem__(i)
        if isinstance(i, slice):
            return tuple.__new__(Irreps, x)
        return x

    def __contains__(self, ir: Any) -> bool:
        return _core.irreps_contains(self, Irrep(ir))

    def count(self, ir: Irrep | str | tuple) -> int:
        """Total multiplicity of ``ir``.

        >>> Irreps("2x0e + 1o + 3x0e").count("0e")
        5
        """
        return _core.irreps_count(self, Irrep(ir))

    def index(self, _object: Any) -> int:
        raise NotImplementedError

    def __add__(self, irreps: Any) -> Irreps:
        """Concatenation.

        >>> Irreps("0e") + "2x1o"
        1x0e+2x1o
        """
        return tuple.__new__(Irreps, super().__add__(Irreps(irreps)))

    def __mul__(self, other: int) -> Irreps:
        """Repetition of the list (not of the multiplicities).

        >>> (Irreps("2x1e") * 3).simplify()
        6x1e
        """
        if isinstance(other, Irreps):
            raise NotImplementedError("Use o3.TensorProduct for this, see the documentation")
        x = super().__mul__(other)
        return x if x is NotImplemented else tuple.__new__(Irreps, x)

    def __rmul__(self, other: int) -> Irreps:
        """Repetition of the list.

        >>> 2 * Irreps("0e + 1e")
        1x0e+1x1e+1x0e+1x1e
        """
        x = super().__rmul__(other)
        return x if x is NotImplemented else tuple.__new__(Irreps, x)

    def simplify(self) -> Irreps:
        """Merges adjacent equal irreps and drops zero multiplicities; does not sort.

        >>> Irreps("1e + 1e + 0e + 1e").simplify()
        2x1e+1x0e+1x1e
        """
        return _irreps(_core.irreps_simplify(self))

    def remove_zero_multiplicities(self) -> Irreps:
        """Drops the terms of multiplicity 0.

        >>> Irreps("4x0e + 0x1o + 2x3e").remove_zero_multiplicities()
        4x0e+2x3e
        """
        return _irreps(_core.irreps_remove_zero_multiplicities(self))

    def sort(self) -> _Sort:
        """Stable sort by irrep (0o < 0e < 1o < 1e ...): ``(irreps, p, inv)``.

        ``inv[j]`` is the original index of sorted term j; ``p[i]`` the sorted position of term i.

        >>> Irreps("2o + 1e + 0e + 1e").sort()
        sort(irreps=1x0e+1x1e+1x1e+1x2o, p=(3, 1, 0, 2), inv=(2, 1, 3, 0))
        """
        irreps, p, inv = _core.irreps_sort(self)
        return _Sort(_irreps(irreps), tuple(p), tuple(inv))

    def regroup(self) -> Irreps:
        """``sort()`` then ``simplify()``: each irrep once, in order.

        >>> Irreps("1e + 0e + 1e + 0x2e").regroup()
        1x0e+2x1e
        """
        return _irreps(_core.irreps_regroup(self))

    def filter(
        self,
        keep: Irreps | Iterable | Callable[[_MulIr], bool] | str | Irrep | None = None,
        *,
        drop: Irreps | Iterable | Callable[[_MulIr], bool] | str | Irrep | None = None,
        lmax: int | None = None,
    ) -> Irreps:
        """The terms whose irrep is in ``keep``, or not in ``drop``, or has l <= ``lmax``.

        ``keep``/``drop`` are irreps (a string, Irreps, Irrep or list of irreps) or a predicate
        on ``(mul, ir)``; at most one of the three may be given.

        >>> x = Irreps("1e + 2e + 0e")
        >>> x.filter(keep=["0e", "1e"]), x.filter(keep="2e + 2x1e"), x.filter(drop="2e + 2x1e")
        (1x1e+1x0e, 1x1e+1x2e, 1x0e)
        >>> x.filter(lmax=1), x.filter(keep=lambda mul_ir: mul_ir.ir.l == 2)
        (1x1e+1x0e, 1x2e)
        """
        given = [n for n, v in (("keep", keep), ("drop", drop), ("lmax", lmax)) if v is not None]
        if not given:
            return self
        if len(given) > 1:
            raise ArgumentError(f"Cannot specify both {given[0]} and {given[1]}")
        if lmax is not None:
            return _irreps(_core.irreps_filter_lmax(self, lmax))
        selector = keep if keep is not None else drop
        if isinstance(selector, str):
            selector = Irreps(selector)
        if _is_irrep(selector):
            selector = [selector]
        if _is_mul_ir(selector):
            selector = [selector[1]]
        if callable(selector):
            return tuple.__new__(
                Irreps, [t for t in self if bool(selector(t)) == (keep is not None)]
            )
        irs = [Irrep(ir) for ir in selector]
        if keep is not None:
            return _irreps(_core.irreps_filter_keep(self, irs))
        return _irreps(_core.irreps_filter_drop(self, irs))

    @property
    def slice_by_mul(self) -> _MulIndexSliceHelper:
        """Slicing by copies rather than terms: ``irreps.slice_by_mul[start:stop]``.

        >>> Irreps("3x0e + 2x1o").slice_by_mul[1:4]
        2x0e+1x1o
        """
        return _MulIndexSliceHelper(self)

    @property
    def dim(self) -> int:
        """Total dimension.

        >>> Irreps("16x0e + 8x1o").dim
        40
        """
        return _core.irreps_dim(self)

    @property
    def num_irreps(self) -> int:
        """Sum of multiplicities.

        >>> Irreps("16x0e + 8x1o").num_irreps
        24
        """
        return _core.irreps_num_irreps(self)

    @property
    def ls(self) -> list[int]:
        """The l of every copy.

        >>> Irreps("2x0e + 1o").ls
        [0, 0, 1]
        """
        return _core.irreps_ls(self)

    @property
    def lmax(self) -> int:
        """Largest l of a term with non-zero multiplicity (ValueError if there is none).

        >>> Irreps("2x0e + 1o + 0x3e").lmax
        1
        """
        return _core.irreps_lmax(self)

    def __repr__(self) -> str:
        return _core.irreps_str(self)

    def D_from_angles(
        self,
        alpha: torch.Tensor,
        beta: torch.Tensor,
        gamma: torch.Tensor,
        k: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Block-diagonal matrix of the representation, shape ``(..., dim, dim)``.

        >>> z = torch.tensor(0.0)
        >>> Irreps("0e + 1o").D_from_angles(z, z, z, torch.tensor(1.0)).diagonal().tolist()
        [1.0, -1.0, -1.0, -1.0]
        """
        if k is None:
            k = torch.zeros_like(alpha)
        alpha, beta, gamma, k = torch.broadcast_tensors(alpha, beta, gamma, k)
        out = alpha.new_zeros(*alpha.shape, self.dim, self.dim)
        blocks: dict[Irrep, torch.Tensor] = {}
        for s, (_, ir) in zip(self.slices(), self, strict=True):
            if ir not in blocks:
                blocks[ir] = ir.D_from_angles(alpha, beta, gamma, k)
            for i in range(s.start, s.stop, ir.dim):
                out[..., i : i + ir.dim, i : i + ir.dim] = blocks[ir]
        return out

    def D_from_quaternion(self, q: torch.Tensor, k: torch.Tensor | None = None) -> torch.Tensor:
        """Block-diagonal matrix for the rotation of quaternion ``q`` of shape (..., 4).

        >>> Irreps("2x1o").D_from_quaternion(torch.tensor([1.0, 0, 0, 0])).shape
        torch.Size([6, 6])
        """
        return self.D_from_angles(*_rotation_fn("quaternion_to_angles")(q), k)

    def D_from_matrix(self, R: torch.Tensor) -> torch.Tensor:
        """Block-diagonal matrix for ``R`` of shape (..., 3, 3); det(R) < 0 applies parity.

        >>> Irreps("1o + 1e").D_from_matrix(-torch.eye(3)).diagonal().long().tolist()
        [-1, -1, -1, 1, 1, 1]
        """
        return self.D_from_angles(*_angles_and_parity(R))

    def D_from_axis_angle(self, axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
        """Block-diagonal matrix for the rotation by ``angle`` around ``axis`` (..., 3).

        >>> Irreps("3x0e").D_from_axis_angle(torch.tensor([0.0, 0, 1]), torch.tensor(2.0))
        tensor([[1., 0., 0.],
                [0., 1., 0.],
                [0., 0., 1.]])
        """
        return self.D_from_angles(*_rotation_fn("axis_angle_to_angles")(axis, angle))


class _MulIndexSliceHelper:
    """``Irreps.slice_by_mul``: indexing by copies, e.g. ``[1:4]``.

    >>> _MulIndexSliceHelper(Irreps("2x1o"))[1:]
    1x1o
    """

    def __init__(self, irreps: Irreps) -> None:
        self.irreps = irreps

    def __getitem__(self, index: slice) -> Irreps:
        if not isinstance(index, slice):
            raise IndexError("Irreps.slice_by_mul only supports slices.")
        start, stop, stride = index.indices(self.irreps.num_irreps)
        if stride != 1:
            raise NotImplementedError("Irreps.slice_by_mul does not support strides.")
        return _irreps(_core.irreps_slice_by_mul(self.irreps, start, stop))
