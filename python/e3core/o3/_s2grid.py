r"""Signals on the sphere: between spherical tensors (coefficients of the harmonics up to lmax)
and their values on e3nn's (beta, alpha) grid, as ``e3nn.o3`` (e3nn/o3/_s2grid.py).

The grid of ``res_beta`` x ``res_alpha`` points is beta_i = pi (i + 1/2) / res_beta and
alpha_j = 2 pi j / res_alpha, the point ``angles_to_xyz(alpha_j, beta_i)``; integrals over the
sphere use the quadrature of Kostelec and Rockmore (SOFT), exact for degrees below res_beta / 2.

Example::

    >>> x = torch.randn(3, 49)  # lmax = 6
    >>> back = FromS2Grid((100, 101), 6)(ToS2Grid(6, (100, 101))(x))
    >>> bool((back - x).abs().max() < 1e-4)
    True
"""

import math

import torch

from e3core._checks import check_degree
from e3core._errors import ArgumentError, ShapeError
from e3core.o3._rotation import angles_to_xyz
from e3core.o3._spherical_harmonics import spherical_harmonics, spherical_harmonics_alpha
from e3core.util._default_type import explicit_default_types
from e3core.util.jit import compile_mode

_NORMALIZATIONS = ("norm", "component", "integral")


def s2_grid(
    res_beta: int,
    res_alpha: int,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The grid's angles ``(betas, alphas)``, of shapes (res_beta,) and (res_alpha,), as
    ``e3nn.o3.s2_grid``.

    Example::

        >>> betas, alphas = s2_grid(2, 4)
        >>> betas
        tensor([0.7854, 2.3562])
        >>> alphas
        tensor([0.0000, 1.5708, 3.1416, 4.7124])
    """
    dtype, device = explicit_default_types(dtype, device)
    i = torch.arange(res_beta, dtype=torch.float64, device=device)
    betas = (i + 0.5) / res_beta * math.pi
    i = torch.arange(res_alpha, dtype=torch.float64, device=device)
    alphas = i / res_alpha * 2 * math.pi
    return betas.to(dtype), alphas.to(dtype)


def _lm(lmax: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Degree and order of each of the (lmax + 1)^2 harmonics, in e3nn's order."""
    ls = torch.cat([torch.full((2 * l + 1,), l) for l in range(lmax + 1)])
    ms = torch.cat([torch.arange(-l, l + 1) for l in range(lmax + 1)])
    return ls, ms


def _legendre_table(lmax: int, betas: torch.Tensor) -> torch.Tensor:
    """e3nn's Legendre factor P^l_|m|(cos beta) of the harmonics, (res_beta, (lmax + 1)^2), from
    e3core's harmonics at alpha = 0, where S^l_m(0) is 1 for m = 0, sqrt(2) for m > 0 and 0 for
    m < 0 (and e3nn's P^l_m = P^l_-m)."""
    b = betas.to(torch.float64)
    points = torch.stack([torch.zeros_like(b), b.cos(), b.sin()], dim=-1)
    sh = spherical_harmonics(list(range(lmax + 1)), points, False, "integral")
    ls, ms = _lm(lmax)
    scale = torch.full(ms.shape, 1 / math.sqrt(2), dtype=sh.dtype, device=sh.device)
    scale[ms == 0] = 1.0
    return (sh[:, ls * ls + ls + ms.abs()] * scale).to(betas.dtype)


def spherical_harmonics_s2_grid(
    lmax: int,
    res_beta: int,
    res_alpha: int,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(betas, alphas, shb, sha)``, as ``e3nn.o3.spherical_harmonics_s2_grid``: the grid's angles,
    the Legendre factors shb (res_beta, (lmax + 1)^2) and the alpha factors sha
    (res_alpha, 2 lmax + 1), so that the "integral" harmonic (l, m) at (beta_i, alpha_j) is
    ``shb[i, l*l + l + m] * sha[j, lmax + m]``.

    Example::

        >>> betas, alphas, shb, sha = spherical_harmonics_s2_grid(2, 4, 5)
        >>> shb.shape, sha.shape
        (torch.Size([4, 9]), torch.Size([5, 5]))
    """
    lmax = check_degree("spherical_harmonics_s2_grid", "lmax", lmax)
    betas, alphas = s2_grid(res_beta, res_alpha, dtype=dtype, device=device)
    shb = _legendre_table(lmax, betas)
    sha = spherical_harmonics_alpha(lmax, alphas.to(torch.float64)).to(alphas.dtype)
    return betas, alphas, shb, sha


def _quadrature_weights(b: int, device: torch.device | None = None) -> torch.Tensor:
    """The 2b weights in beta of Kostelec and Rockmore's quadrature (e3nn's, from lie_learn), in
    float64."""
    k = torch.arange(b, dtype=torch.float64, device=device)
    j = torch.arange(2 * b, dtype=torch.float64, device=device)[:, None]
    inner = (torch.sin((2 * j + 1) * (2 * k + 1) * math.pi / (4 * b)) / (2 * k + 1)).sum(-1)
    w = (2.0 / b) * torch.sin(math.pi * (2 * j[:, 0] + 1) / (4 * b)) * inner
    return w / (2 * (2 * b) ** 2)


def _complete_lmax_res(
    lmax: int | None, res_beta: int | None, res_alpha: int | None
) -> tuple[int, int, int]:
    """lmax and the resolutions, the missing ones filled as e3nn does (res_alpha = 2 lmax + 1
    where possible, so that the transform in alpha is an FFT)."""
    if res_beta is None:
        if lmax is not None:
            res_beta = 2 * (lmax + 1)  # the fewest betas that go to the sphere and back
        elif res_alpha is not None:
            res_beta = 2 * ((res_alpha + 1) // 2)
        else:
            raise ArgumentError("give lmax or a resolution: lmax, res_beta and res_alpha are None")
    if res_alpha is None:
        res_alpha = res_beta - 1 if lmax is None else max(2 * lmax + 1, res_beta - 1)
    if lmax is None:
        lmax = min(res_beta // 2 - 1, (res_alpha - 1) // 2)  # the most that goes there and back
    lmax = check_degree("S2 grid", "lmax", lmax)
    if res_beta % 2 != 0:
        raise ArgumentError(f"res_beta must be even (the quadrature's), got {res_beta}")
    if lmax + 1 > res_beta // 2:
        raise ArgumentError(
            f"res_beta must be at least 2 (lmax + 1) = {2 * (lmax + 1)} for lmax = {lmax}, "
            f"got {res_beta}"
        )
    if res_alpha < 1:
        raise ArgumentError(f"res_alpha must be positive, got {res_alpha}")
    return lmax, res_beta, res_alpha


def _resolutions(
    lmax: int | None, res: int | tuple[int, int] | list[int] | None
) -> tuple[int, int, int]:
    """lmax, res_beta, res_alpha from e3nn's ``res`` (an int for beta, or (beta, alpha))."""
    if res is None or isinstance(res, int):
        return _complete_lmax_res(lmax, res, None)
    if not (isinstance(res, tuple | list) and len(res) == 2):
        raise ArgumentError(f"res must be an int or a (res_beta, res_alpha) pair, got {res!r}")
    return _complete_lmax_res(lmax, res[0], res[1])


def _degree_weights(
    normalization: str | torch.Tensor, lmax: int, lmax_in: int, forward: bool
) -> torch.Tensor:
    """The factor of each degree, (lmax + 1,) in float64: ToS2Grid's (``forward``) or
    FromS2Grid's, its inverse up to the quadrature."""
    if isinstance(normalization, torch.Tensor):
        return normalization.to(torch.float64)
    if normalization not in _NORMALIZATIONS:
        raise ArgumentError(
            f"normalization must be 'norm', 'component', 'integral' or a tensor, got "
            f"{normalization!r}"
        )
    degree = torch.arange(lmax + 1, dtype=torch.float64)
    if normalization == "integral":
        return torch.ones_like(degree) * (1.0 if forward else 4 * math.pi)
    # "component": every degree has the same variance on the sphere when the components have
    # variance 1; "norm": the same when each degree has norm 1.
    per_degree = (
        (2 * degree + 1).sqrt() if normalization == "component" else torch.ones_like(degree)
    )
    if forward:
        return math.sqrt(4 * math.pi) / per_degree / math.sqrt(lmax + 1)
    return math.sqrt(4 * math.pi) * per_degree * math.sqrt(lmax_in + 1)


def _grid_matrix(legendre: torch.Tensor, weights: torch.Tensor, lmax: int) -> torch.Tensor:
    """e3nn's ``shb`` buffer (2 lmax + 1, res_beta, (lmax + 1)^2): the Legendre column of (l, m)
    times the weights of degree l (per beta if ``weights`` is (res_beta, lmax + 1)) in row
    lmax + m, zero elsewhere."""
    ls, ms = _lm(lmax)
    out = legendre.new_zeros(2 * lmax + 1, legendre.shape[0], legendre.shape[1])
    columns = torch.arange(legendre.shape[1])
    weights = weights.to(legendre).expand(legendre.shape[0], -1)
    out[lmax + ms, :, columns] = (legendre * weights[:, ls]).T
    return out


def _compact_index(lmax: int) -> torch.Tensor:
    """(2 lmax + 1, lmax + 1): the column i of (l, m) at [lmax + m, l], 0 where |m| > l (a
    column that the compact table below multiplies by zero there)."""
    m = torch.arange(-lmax, lmax + 1)[:, None]
    l = torch.arange(lmax + 1)[None, :]
    return torch.where(l >= m.abs(), l * l + l + m, 0)


def _compact(shb: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """shb (m, b, i) as (m, b, l): the only non-zero column of each (m, l), zero where |m| > l.
    The transforms are then one product per order m over the lmax + 1 degrees, not e3nn's
    over all (lmax + 1)^2 columns."""
    m = torch.arange(-(shb.shape[0] // 2), shb.shape[0] // 2 + 1, device=shb.device)[:, None]
    l = torch.arange(index.shape[1], device=shb.device)[None, :]
    table = shb.gather(2, index[:, None, :].expand(-1, shb.shape[1], -1))
    return table * (l >= m.abs())[:, None, :].to(shb.dtype)


def rfft(x: torch.Tensor, l: int) -> torch.Tensor:
    """Real Fourier transform in e3nn's basis: x (..., res) → (..., 2 l + 1), the same as
    ``x @ sha`` (sha of ``spherical_harmonics_s2_grid``), as ``e3nn.o3.rfft``.

    Example::

        >>> sha = spherical_harmonics_s2_grid(3, 8, 9)[3]
        >>> x = torch.randn(9)
        >>> bool((rfft(x, 3) - x @ sha).abs().max() < 1e-5)
        True
    """
    size = x.shape[:-1]
    x = torch.fft.rfft(x.reshape(-1, x.shape[-1]), dim=1)
    x = torch.cat(
        [
            x[:, 1 : l + 1].imag.flip(1).mul(-math.sqrt(2)),
            x[:, :1].real,
            x[:, 1 : l + 1].real.mul(math.sqrt(2)),
        ],
        dim=1,
    )
    return x.reshape(size + (2 * l + 1,))


def irfft(x: torch.Tensor, res: int) -> torch.Tensor:
    """Inverse of ``rfft``: x (..., 2 l + 1) → (..., res), the same as ``sha @ x``; ``res`` odd
    and at least 2 l + 1, as ``e3nn.o3.irfft``.

    Example::

        >>> sha = spherical_harmonics_s2_grid(3, 8, 9)[3]
        >>> x = torch.randn(7)
        >>> bool((irfft(x, 9) - sha @ x).abs().max() < 1e-5)
        True
    """
    sm = x.shape[-1]
    if res % 2 != 1 or res < sm:
        raise ArgumentError(f"res must be odd and at least {sm} (the input's size), got {res}")
    size = x.shape[:-1]
    x = x.reshape(-1, sm)
    l = sm // 2
    zero = torch.zeros_like(x[:, :1])
    x = torch.complex(
        torch.cat([x[:, l : l + 1], x[:, l + 1 :].div(math.sqrt(2))], dim=1),
        torch.cat([zero, x[:, :l].flip(-1).div(-math.sqrt(2))], dim=1),
    )
    # Frequencies above l are zero: irfft pads them.
    x = torch.fft.irfft(x, n=res, dim=1) * res
    return x.reshape(size + (res,))


def _refresh_after_load(module: "_S2GridBase", incompatible_keys: object) -> None:
    """Load-state-dict hook: the compact table follows a loaded ``shb``."""
    module._refresh_table()


class _S2GridBase(torch.nn.Module):
    """The buffers and attributes that ToS2Grid and FromS2Grid share (e3nn's)."""

    lmax: int
    res_beta: int
    res_alpha: int

    def _build(
        self,
        lmax: int,
        res_beta: int,
        res_alpha: int,
        weights: torch.Tensor,
        dtype: torch.dtype | None,
        device: torch.device | None,
    ) -> None:
        betas, alphas, shb, sha = spherical_harmonics_s2_grid(
            lmax, res_beta, res_alpha, dtype=torch.float64, device=device
        )
        dtype, _ = explicit_default_types(dtype, device)
        self.lmax, self.res_beta, self.res_alpha = lmax, res_beta, res_alpha
        self.register_buffer("alphas", alphas.to(dtype))
        self.register_buffer("betas", betas.to(dtype))
        self.register_buffer("sha", sha.to(dtype))
        self.register_buffer("shb", _grid_matrix(shb, weights, lmax).to(dtype))
        ls, ms = _lm(lmax)
        self.register_buffer("_index", _compact_index(lmax).to(device), persistent=False)
        # Where column i sits in the flattened (m, l) layout.
        self.register_buffer(
            "_position", ((lmax + ms) * (lmax + 1) + ls).to(device), persistent=False
        )
        self.register_buffer("_table", torch.empty(0), persistent=False)
        self._refresh_table()
        self.register_load_state_dict_post_hook(_refresh_after_load)

    def _refresh_table(self) -> None:
        """The compact (m, beta, l) form of ``shb``, kept with it (also after loading one)."""
        self._table = _compact(self.shb, self._index)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(lmax={self.lmax} "
            f"res={self.res_beta}x{self.res_alpha} (beta x alpha))"
        )

    @property
    def grid(self) -> torch.Tensor:
        """The grid's points (res_beta, res_alpha, 3)."""
        beta, alpha = torch.meshgrid(self.betas, self.alphas, indexing="ij")
        return angles_to_xyz(alpha, beta)


@compile_mode("script")
class ToS2Grid(_S2GridBase):
    """Values on the (beta, alpha) grid of the signal whose harmonic coefficients are the input,
    as ``e3nn.o3.ToS2Grid``: x (..., (lmax + 1)^2) → (..., res_beta, res_alpha).

    Args:
        lmax: the input's degree (filled from ``res`` if None).
        res: ``res_beta`` or ``(res_beta, res_alpha)``; by default the smallest grid with an
            FFT in alpha, 2 (lmax + 1) x (2 lmax + 1).
        normalization: ``"component"``, ``"norm"``, ``"integral"`` or a tensor of one factor
            per degree.
        dtype, device: of the buffers (torch's defaults if None).

    Buffers ``alphas``, ``betas``, ``sha``, ``shb`` are e3nn's (its state_dicts load); the
    forward is one product per order m over the degrees, then one with ``sha`` in alpha.

    Example::

        >>> ToS2Grid(6, (100, 101))(torch.randn(3, 49)).shape
        torch.Size([3, 100, 101])
    """

    def __init__(
        self,
        lmax: int | None = None,
        res: int | tuple[int, int] | None = None,
        normalization: str | torch.Tensor = "component",
        dtype: torch.dtype | None = None,
        device: torch.device | None = None,
    ) -> None:
        super().__init__()
        lmax, res_beta, res_alpha = _resolutions(lmax, res)
        weights = _degree_weights(normalization, lmax, lmax, forward=True)
        self._build(lmax, res_beta, res_alpha, weights, dtype, device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Grid values (..., res_beta, res_alpha) of the coefficients x (..., (lmax + 1)^2)."""
        dim = (self.lmax + 1) * (self.lmax + 1)
        if x.shape[-1] != dim:
            raise ShapeError(f"ToS2Grid: input has {x.shape[-1]} columns but (lmax + 1)^2 = {dim}")
        size = x.shape[:-1]
        x = x.reshape(-1, dim)[:, self._index]  # [z, m, l]
        x = torch.einsum("zml,mbl->zbm", x, self._table)
        # A product with sha rather than e3nn's FFT: as exact, faster at these sizes.
        x = torch.matmul(x, self.sha.T)
        return x.reshape(size + (self.res_beta, self.res_alpha))

    def _make_tracing_inputs(self, n: int) -> list[dict[str, tuple[torch.Tensor, ...]]]:
        return [{"forward": (torch.randn((self.lmax + 1) ** 2),)} for _ in range(n)]


@compile_mode("script")
class FromS2Grid(_S2GridBase):
    """Harmonic coefficients of the signal given by its values on the (beta, alpha) grid (the
    quadrature's projection), as ``e3nn.o3.FromS2Grid``: x (..., res_beta, res_alpha) →
    (..., (lmax + 1)^2); the inverse of ``ToS2Grid`` on signals of degree at most lmax.

    Args:
        res: ``res_beta`` or ``(res_beta, res_alpha)``; res_beta even.
        lmax: the output's degree (filled from ``res`` if None).
        normalization: ``"component"``, ``"norm"``, ``"integral"`` or a tensor of one factor
            per degree.
        lmax_in: the degree of the ``ToS2Grid`` this inverts (lmax if None), for the
            "component" and "norm" factors.
        dtype, device: of the buffers (torch's defaults if None).

    Example::

        >>> FromS2Grid((100, 101), 6)(torch.randn(3, 100, 101)).shape
        torch.Size([3, 49])
    """

    def __init__(
        self,
        res: int | tuple[int, int] | None = None,
        lmax: int | None = None,
        normalization: str | torch.Tensor = "component",
        lmax_in: int | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | None = None,
    ) -> None:
        super().__init__()
        lmax, res_beta, res_alpha = _resolutions(lmax, res)
        lmax_in = lmax if lmax_in is None else lmax_in
        weights = _degree_weights(normalization, lmax, lmax_in, forward=False)
        quadrature = _quadrature_weights(res_beta // 2, device)
        quadrature = quadrature * res_beta**2 / res_alpha
        self._build(lmax, res_beta, res_alpha, weights * quadrature[:, None], dtype, device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Coefficients (..., (lmax + 1)^2) of the grid values x (..., res_beta, res_alpha)."""
        if x.dim() < 2 or x.shape[-2] != self.res_beta or x.shape[-1] != self.res_alpha:
            raise ShapeError(
                f"FromS2Grid: input of shape {list(x.shape)} does not end with "
                f"(res_beta, res_alpha) = ({self.res_beta}, {self.res_alpha})"
            )
        size = x.shape[:-2]
        x = x.reshape(-1, self.res_beta, self.res_alpha)
        x = torch.matmul(x, self.sha)  # [z, beta, m]
        x = torch.einsum("zbm,mbl->zml", x, self._table)
        x = x.flatten(1)[:, self._position]  # [z, i]
        return x.reshape(size + (x.shape[1],))

    def _make_tracing_inputs(self, n: int) -> list[dict[str, tuple[torch.Tensor, ...]]]:
        return [{"forward": (torch.randn(self.res_beta, self.res_alpha),)} for _ in range(n)]
