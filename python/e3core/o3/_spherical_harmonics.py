"""Real spherical harmonics with e3nn's conventions, computed by e3core's C++ kernels."""

import math
from collections.abc import Sequence

import torch

from e3core._checks import check_degree
from e3core._errors import ArgumentError
from e3core.o3._irreps import Irreps
from e3core.o3._rotation import angles_to_xyz
from e3core.util.jit import compile_mode

_NORMALIZATIONS = ("integral", "component", "norm")


def _degrees(irreps_out: int | Sequence[int] | str | Irreps, input_parity: int) -> list[int]:
    """The degrees asked for, in order, checking the parities of an Irreps request; as in
    e3nn, any sequence of degrees (a list, a tuple, a range) is a request."""
    if isinstance(irreps_out, str):
        irreps_out = Irreps(irreps_out)
    if isinstance(irreps_out, Irreps):
        ls: list[int] = []
        for mul, (l, p) in irreps_out:
            if p != input_parity**l:
                raise ArgumentError(
                    f"irreps_out {irreps_out} asks for l = {l} with parity {p}, but an input of "
                    f"parity {input_parity} gives parity {input_parity**l} at that degree"
                )
            ls.extend([l] * mul)
        return ls
    if not isinstance(irreps_out, Sequence):
        return [check_degree("spherical_harmonics", "l", irreps_out)]
    return [check_degree("spherical_harmonics", f"l[{i}]", l) for i, l in enumerate(irreps_out)]


@compile_mode("script")
class SphericalHarmonics(torch.nn.Module):
    """Spherical harmonics of the input vectors, as ``e3nn.o3.SphericalHarmonics``.

    Args:
        irreps_out: degrees to compute: an int, a sequence of ints (list, tuple, range) or irreps
            such as ``"0e+1o+2e"``.
        normalize: scale the inputs to unit length first (zero vectors give zeros beyond l = 0).
        normalization: ``"integral"``, ``"component"`` or ``"norm"``.
        irreps_in: ``"1o"`` (vectors, default) or ``"1e"`` (pseudovectors).

    Example::

        >>> sh = SphericalHarmonics("0e+1o+2e", normalize=True, normalization="component")
        >>> sh(torch.tensor([[0.0, 0.0, 2.0]])).shape
        torch.Size([1, 9])
    """

    normalize: bool
    normalization: str
    _lmax: int
    _is_range_lmax: bool

    def __init__(
        self,
        irreps_out: int | Sequence[int] | str | Irreps,
        normalize: bool,
        normalization: str = "integral",
        irreps_in: str | Irreps | None = None,
    ) -> None:
        super().__init__()
        if normalization not in _NORMALIZATIONS:
            raise ArgumentError(
                f"normalization is {normalization!r}, expected one of {', '.join(_NORMALIZATIONS)}"
            )
        if isinstance(irreps_out, str):
            irreps_out = Irreps(irreps_out)
        if irreps_in is None:
            odd_even = isinstance(irreps_out, Irreps) and any(
                l % 2 == 1 and p == 1 for _, (l, p) in irreps_out
            )
            irreps_in = "1e" if odd_even else "1o"
        irreps_in = Irreps(irreps_in)
        if irreps_in not in (Irreps("1x1o"), Irreps("1x1e")):
            raise ArgumentError(
                f"irreps_in is {irreps_in}, expected a vector (1x1o) or a pseudovector (1x1e)"
            )
        input_parity = irreps_in[0].ir.p
        ls = _degrees(irreps_out, input_parity)
        if not ls:
            raise ArgumentError("irreps_out asks for no degree; give at least one")

        self.normalize = normalize
        self.normalization = normalization
        self.irreps_in = irreps_in
        self.irreps_out = Irreps([(1, (l, input_parity**l)) for l in ls]).simplify()
        self._ls_list = ls
        self._lmax = max(ls)
        self._is_range_lmax = ls == list(range(self._lmax + 1))
        columns = [torch.arange(l * l, (l + 1) * (l + 1)) for l in ls]
        self.register_buffer("_columns", torch.cat(columns), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Harmonics of ``x`` (..., 3): a tensor (..., irreps_out.dim)."""
        sh = torch.ops.e3core.spherical_harmonics(x, self._lmax, self.normalize, self.normalization)
        if not self._is_range_lmax:
            sh = sh.index_select(-1, self._columns)
        return sh

    def extra_repr(self) -> str:
        """Shown by print(module)."""
        return f"{self.irreps_out}, normalize={self.normalize}, normalization={self.normalization}"


def spherical_harmonics(
    l: int | Sequence[int] | str | Irreps,
    x: torch.Tensor,
    normalize: bool,
    normalization: str = "integral",
) -> torch.Tensor:
    """Spherical harmonics of degree(s) ``l`` of ``x`` (..., 3), as ``e3nn.o3.spherical_harmonics``.

    They are the real harmonics with y as the polar axis (the l = 1 block is proportional to
    (x, y, z)); e3core computes any degree up to 128, with gradients and second derivatives.

    Example::

        >>> spherical_harmonics(1, torch.tensor([0.0, 0.0, 1.0]), True, "component")
        tensor([0.0000, 0.0000, 1.7321])
    """
    return SphericalHarmonics(l, normalize, normalization)(x)


@compile_mode("script")
class SphericalHarmonicsAlphaBeta(torch.nn.Module):
    """Spherical harmonics of the point at angles (alpha, beta), as
    ``e3nn.o3.SphericalHarmonicsAlphaBeta``: those of ``angles_to_xyz(alpha, beta)`` (the
    vector R_y(alpha) R_x(beta) e_y), of degree(s) ``l`` (an int, a list, or irreps whose
    parities are ignored, each degree repeated by its multiplicity).

    Example::

        >>> sh = SphericalHarmonicsAlphaBeta([0, 1], normalization="component")
        >>> sh(torch.tensor([0.0]), torch.tensor([0.0]))
        tensor([[1.0000, 0.0000, 1.7321, 0.0000]])
    """

    def __init__(self, l: int | list[int] | Irreps, normalization: str = "integral") -> None:
        super().__init__()
        if isinstance(l, Irreps):
            ls = [ir.l for mul, ir in l for _ in range(mul)]
        elif isinstance(l, int):
            ls = [l]
        else:
            ls = list(l)
        self.sh = SphericalHarmonics(ls, normalize=True, normalization=normalization)
        self.normalization = normalization

    def forward(self, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """Harmonics (..., dim) of the angles ``alpha`` and ``beta`` (..., broadcast)."""
        return self.sh(angles_to_xyz(alpha, beta))


def spherical_harmonics_alpha_beta(
    l: int | list[int] | Irreps,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    *,
    normalization: str = "integral",
) -> torch.Tensor:
    """``SphericalHarmonicsAlphaBeta(l, normalization)(alpha, beta)``, as
    ``e3nn.o3.spherical_harmonics_alpha_beta``.

    Example::

        >>> spherical_harmonics_alpha_beta(0, torch.zeros(2), torch.zeros(2)).shape
        torch.Size([2, 1])
    """
    return SphericalHarmonicsAlphaBeta(l, normalization=normalization)(alpha, beta)


def spherical_harmonics_alpha(l: int, alpha: torch.Tensor) -> torch.Tensor:
    """The alpha part S^l(alpha) of e3nn's harmonics of angles, (..., 2l+1): sqrt(2) sin(m alpha)
    for m = l .. 1, then 1, then sqrt(2) cos(m alpha) for m = 1 .. l.

    Example::

        >>> spherical_harmonics_alpha(1, torch.tensor([0.0]))
        tensor([[0.0000, 1.0000, 1.4142]])
    """
    l = check_degree("spherical_harmonics_alpha", "l", l)
    alpha = alpha.unsqueeze(-1)
    m = torch.arange(1, l + 1, dtype=alpha.dtype, device=alpha.device)
    return torch.cat(
        [
            math.sqrt(2) * torch.sin(m.flip(0) * alpha),
            torch.ones_like(alpha),
            math.sqrt(2) * torch.cos(m * alpha),
        ],
        dim=-1,
    )
