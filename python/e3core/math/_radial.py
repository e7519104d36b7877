"""Radial bases for interatomic distances: NequIP's Bessel basis and polynomial cutoff."""

import math

import torch

from e3core._errors import ArgumentError
from e3core.util.jit import compile_mode


def sin_over_r(
    r: torch.Tensor, frequencies: torch.Tensor, r_max: float, prefactor: float
) -> torch.Tensor:
    """``prefactor * sin(frequencies * r / r_max) / r``, shape (..., n), finite at r = 0.

    At r = 0 it takes its limit ``prefactor * frequencies / r_max``; its gradient with respect to
    r is then 0 (the function is even), not NaN.

    Example::

        >>> sin_over_r(torch.tensor([0.0, 1.0]), torch.tensor([math.pi]), 2.0, 1.0)
        tensor([[1.5708],
                [1.0000]])
    """
    r = r[..., None]
    at_zero = r == 0
    # Divide by 1 where r = 0 so that neither branch of the where (nor its gradient) is NaN.
    safe_r = torch.where(at_zero, torch.ones_like(r), r)
    out = prefactor * torch.sin(frequencies * safe_r / r_max) / safe_r
    return torch.where(at_zero, prefactor * frequencies / r_max, out)


def bessel(x: torch.Tensor, n: int, x_max: float = 1.0) -> torch.Tensor:
    r"""e3nn's Bessel basis :math:`\sqrt{2 / x_{max}} \sin(k \pi x / x_{max}) / x`, k = 1 .. n,
    shape (..., n), orthonormal with the weight :math:`x^2` on [0, x_max]; x = 0 gives the limit.

    Example::

        >>> bessel(torch.tensor([0.0, 0.25]), 2)
        tensor([[4.4429, 8.8858],
                [4.0000, 5.6569]])
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ArgumentError(f"bessel: n is {n!r}, expected an int >= 1")
    frequencies = torch.arange(1, n + 1, dtype=x.dtype, device=x.device) * math.pi
    return sin_over_r(x, frequencies, x_max, math.sqrt(2.0 / x_max))


@compile_mode("script")
class BesselBasis(torch.nn.Module):
    r"""NequIP's radial Bessel basis :math:`\frac{2}{r_{max}} \frac{\sin(w_n r / r_{max})}{r}`.

    The frequencies start at :math:`w_n = n \pi` (n = 1 .. num_basis) and are a parameter
    ``bessel_weights`` when ``trainable`` (a buffer otherwise), so NequIP state_dicts load. The
    prefactor is NequIP's ``2 / r_max`` (DimeNet's paper and e3nn's ``"bessel"`` basis use
    ``sqrt(2 / r_max)``). r = 0 gives the limit, not NaN.

    Args:
        r_max: cutoff radius.
        num_basis: number of functions.
        trainable: learn the frequencies.

    Example::

        >>> basis = BesselBasis(r_max=2.0, num_basis=2, trainable=False)
        >>> basis(torch.tensor([0.0, 0.5]))
        tensor([[1.5708, 3.1416],
                [1.4142, 2.0000]])
    """

    r_max: float
    prefactor: float

    def __init__(self, r_max: float, num_basis: int = 8, trainable: bool = True) -> None:
        super().__init__()
        if not r_max > 0:
            raise ArgumentError(f"BesselBasis: r_max must be positive, got {r_max}")
        if num_basis < 1:
            raise ArgumentError(f"BesselBasis: num_basis must be at least 1, got {num_basis}")
        self.r_max = float(r_max)
        self.num_basis = num_basis
        self.trainable = trainable
        self.prefactor = 2.0 / self.r_max
        weights = torch.linspace(1.0, num_basis, num_basis) * math.pi
        if trainable:
            self.bessel_weights = torch.nn.Parameter(weights)
        else:
            self.register_buffer("bessel_weights", weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Basis values of the distances ``x`` (...): shape (..., num_basis)."""
        return sin_over_r(x, self.bessel_weights, self.r_max, self.prefactor)

    def extra_repr(self) -> str:
        """Shown by print(module)."""
        return f"r_max={self.r_max}, num_basis={self.num_basis}, trainable={self.trainable}"


@compile_mode("script")
class PolynomialCutoff(torch.nn.Module):
    r"""NequIP's polynomial envelope of order p, 1 at r = 0 and 0 from r_max on.

    With :math:`u = r / r_{max}`, :math:`f(u) = 1 - \frac{(p+1)(p+2)}{2} u^p + p(p+2) u^{p+1}
    - \frac{p(p+1)}{2} u^{p+2}` for u < 1 and 0 beyond; its first and second derivatives
    vanish at r_max.

    Example::

        >>> PolynomialCutoff(r_max=2.0)(torch.tensor([0.0, 1.0, 2.0]))
        tensor([1.0000, 0.8555, 0.0000])
    """

    p: float
    _factor: float

    def __init__(self, r_max: float, p: float = 6) -> None:
        super().__init__()
        if not r_max > 0:
            raise ArgumentError(f"PolynomialCutoff: r_max must be positive, got {r_max}")
        if not p >= 2:
            raise ArgumentError(f"PolynomialCutoff: p must be at least 2, got {p}")
        self.p = float(p)
        self._factor = 1.0 / float(r_max)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Envelope of the distances ``x``, same shape."""
        u = x * self._factor
        p = self.p
        out = 1.0 - ((p + 1.0) * (p + 2.0) / 2.0) * torch.pow(u, p)
        out = out + (p * (p + 2.0)) * torch.pow(u, p + 1.0)
        out = out - (p * (p + 1.0) / 2.0) * torch.pow(u, p + 2.0)
        return out * (u < 1.0)

    def extra_repr(self) -> str:
        """Shown by print(module)."""
        return f"r_max={1.0 / self._factor}, p={self.p}"


@compile_mode("script")
class RadialBasis(torch.nn.Module):
    """Bessel basis times polynomial cutoff: NequIP's radial edge embedding.

    Example::

        >>> rb = RadialBasis(r_max=3.0, num_basis=4)
        >>> rb(torch.rand(10) * 3).shape, rb(torch.tensor([3.5])).abs().max().item()
        (torch.Size([10, 4]), 0.0)
    """

    def __init__(
        self, r_max: float, num_basis: int = 8, p: float = 6, trainable: bool = True
    ) -> None:
        super().__init__()
        self.basis = BesselBasis(r_max, num_basis, trainable)
        self.cutoff = PolynomialCutoff(r_max, p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embedding of the distances ``x`` (...): shape (..., num_basis)."""
        return self.basis(x) * self.cutoff(x)[..., None]
