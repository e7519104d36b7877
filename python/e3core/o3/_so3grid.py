"""Signals on SO(3): between coefficients on the Wigner D matrices up to lmax and values on a
grid of Euler angles, as ``e3nn.o3.SO3Grid`` (e3nn/o3/_so3grid.py)."""

import torch

from e3core._checks import check_degree
from e3core._errors import ArgumentError, ShapeError
from e3core.o3._s2grid import _quadrature_weights, s2_grid
from e3core.o3._wigner import wigner_D
from e3core.util.jit import compile_mode


def _flat_wigner(
    lmax: int, alpha: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor
) -> torch.Tensor:
    """sqrt(2l + 1) D^l(alpha, beta, gamma), flattened and concatenated for l = 0 .. lmax."""
    return torch.cat(
        [(2 * l + 1) ** 0.5 * wigner_D(l, alpha, beta, gamma).flatten(-2) for l in range(lmax + 1)],
        dim=-1,
    )


@compile_mode("script")
class SO3Grid(torch.nn.Module):
    """A grid on SO(3) and the transforms to and from it, as ``e3nn.o3.SO3Grid``: features
    (..., sum of (2l + 1)^2 for l = 0 .. lmax), the coefficients of sqrt(2l + 1) D^l (flattened
    row-major), ↔ values (..., res_alpha, res_beta, res_gamma) at the Euler angles
    (alpha_i, beta_j, gamma_k) of ``s2_grid(2 resolution, 2 aspect_ratio resolution)`` (alpha and
    gamma share the grid in alpha).

    Args:
        lmax: the highest degree.
        resolution: res_beta = 2 resolution, res_alpha = res_gamma = round(2 aspect_ratio
            resolution).
        normalization: only ``"component"``, as e3nn.
        aspect_ratio: the ratio of the resolutions in alpha and in beta.

    Buffers ``D``, ``qw``, ``alpha``, ``beta``, ``gamma`` are e3nn's, built in torch's default
    dtype (e3nn's state_dicts load).

    Example::

        >>> grid = SO3Grid(2, 4)
        >>> x = torch.randn(3, 35)
        >>> grid.to_grid(x).shape
        torch.Size([3, 16, 8, 16])
        >>> bool((grid.from_grid(grid.to_grid(x)) - x).abs().max() < 1e-4)
        True
    """

    lmax: int
    res_alpha: int
    res_beta: int
    res_gamma: int

    def __init__(
        self,
        lmax: int,
        resolution: int,
        *,
        normalization: str = "component",
        aspect_ratio: int = 2,
    ) -> None:
        super().__init__()
        lmax = check_degree("SO3Grid", "lmax", lmax)
        if normalization != "component":
            raise ArgumentError(
                f"SO3Grid: normalization must be 'component' (e3nn's only one), got "
                f"{normalization!r}"
            )
        if not (isinstance(resolution, int) and resolution > 0):
            raise ArgumentError(f"SO3Grid: resolution must be a positive int, got {resolution!r}")
        nb = 2 * resolution
        na = round(2 * aspect_ratio * resolution)
        if na < 1:
            raise ArgumentError(f"SO3Grid: aspect_ratio must be positive, got {aspect_ratio!r}")
        dtype = torch.get_default_dtype()
        b, a = s2_grid(nb, na, dtype=torch.float64)
        d = _flat_wigner(lmax, a[:, None, None], b[None, :, None], a[None, None, :])
        self.register_buffer("D", d.to(dtype))
        self.register_buffer("qw", (_quadrature_weights(nb // 2) * nb**2 / na**2).to(dtype))
        self.register_buffer("alpha", a.to(dtype))
        self.register_buffer("beta", b.to(dtype))
        self.register_buffer("gamma", a.to(dtype))
        self.lmax = lmax
        self.res_alpha = na
        self.res_beta = nb
        self.res_gamma = na

    def __repr__(self) -> str:
        return f"{self.__class__.__name__} ({self.lmax})"

    @torch.jit.export
    def to_grid(self, features: torch.Tensor) -> torch.Tensor:
        """Values (..., res_alpha, res_beta, res_gamma) of the coefficients ``features``
        (..., dim)."""
        dim = self.D.shape[-1]
        if features.shape[-1] != dim:
            raise ShapeError(
                f"SO3Grid.to_grid: input has {features.shape[-1]} columns, expected {dim}"
            )
        out = torch.matmul(features, self.D.flatten(0, 2).T) / dim**0.5
        return out.reshape(features.shape[:-1] + (self.res_alpha, self.res_beta, self.res_gamma))

    @torch.jit.export
    def from_grid(self, features: torch.Tensor) -> torch.Tensor:
        """Coefficients (..., dim) of the values ``features`` (..., res_alpha, res_beta,
        res_gamma), by the quadrature."""
        grid = [self.res_alpha, self.res_beta, self.res_gamma]
        if features.dim() < 3 or list(features.shape[-3:]) != grid:
            raise ShapeError(
                f"SO3Grid.from_grid: input of shape {list(features.shape)} does not end with "
                f"(res_alpha, res_beta, res_gamma) = {grid}"
            )
        weighted = features * self.qw[:, None]
        return torch.matmul(weighted.flatten(-3), self.D.flatten(0, 2)) * self.D.shape[-1] ** 0.5
