"""Smooth step and e3nn's soft one-hot encodings of a scalar on a grid of basis functions."""

import math

import torch

from e3core._errors import ArgumentError
from e3core.math._radial import sin_over_r


def soft_unit_step(x: torch.Tensor) -> torch.Tensor:
    r"""Smooth (:math:`C^\infty`) unit step :math:`\theta(x) e^{-1/x}`, as e3nn's.

    Example::

        >>> soft_unit_step(torch.tensor([-1.0, 0.0, 1.0]))
        tensor([0.0000, 0.0000, 0.3679])
    """
    positive = x > 0.0
    # exp(-1/x) of 1 where x <= 0: no inf in the unused branch, so no NaN in the gradient.
    safe_x = torch.where(positive, x, torch.ones_like(x))
    return torch.where(positive, torch.exp(-1.0 / safe_x), torch.zeros_like(x))


def soft_one_hot_linspace(
    x: torch.Tensor,
    start: float,
    end: float,
    number: int,
    basis: str | None = None,
    cutoff: bool | None = None,
) -> torch.Tensor:
    r"""Projection of ``x`` (...) on ``number`` basis functions spread over [start, end]: (..., N).

    As ``e3nn.math.soft_one_hot_linspace``: ``basis`` is ``"gaussian"``, ``"cosine"``,
    ``"smooth_finite"``, ``"fourier"`` or ``"bessel"``, and ``cutoff`` must be given: with
    ``cutoff=True`` every function vanishes outside (start, end). The functions are scaled so
    that the sum of their squares averages about 1 over the interval (``"bessel"`` cannot be).
    ``"bessel"`` at x = start gives its limit (``cutoff=False``) or 0 (``cutoff=True``) where e3nn
    gives NaN.

    Example::

        >>> soft_one_hot_linspace(torch.tensor([0.5]), 0.0, 1.0, 3, "gaussian", cutoff=False)
        tensor([[0.3285, 0.8929, 0.3285]])
    """
    if cutoff is None:
        raise ArgumentError("cutoff must be specified")
    # A literal list: TorchScript cannot read a global one.
    if basis is None or basis not in ["gaussian", "cosine", "smooth_finite", "fourier", "bessel"]:
        raise ArgumentError(
            f'basis="{basis}" is not a valid entry; expected one of gaussian, cosine, '
            "smooth_finite, fourier, bessel"
        )
    if number < 1:
        raise ArgumentError(f"soft_one_hot_linspace: number must be at least 1, got {number}")

    if basis == "fourier":
        u = (x[..., None] - start) / (end - start)
        if not cutoff:
            i = torch.arange(0, number, dtype=x.dtype, device=x.device)
            return torch.cos(math.pi * i * u) / math.sqrt(0.25 + number / 2)
        i = torch.arange(1, number + 1, dtype=x.dtype, device=x.device)
        return torch.sin(math.pi * i * u) / math.sqrt(0.25 + number / 2) * (0 < u) * (u < 1)

    if basis == "bessel":
        c = end - start
        roots = torch.arange(1, number + 1, dtype=x.dtype, device=x.device) * math.pi
        out = sin_over_r(x - start, roots, c, math.sqrt(2 / c))
        if not cutoff:
            return out
        u = (x[..., None] - start) / c
        return out * (u < 1) * (0 < u)

    # The grid: with a cutoff, its two end points carry no function.
    if not cutoff and number < 2:
        raise ArgumentError(
            f'soft_one_hot_linspace: basis="{basis}" without cutoff needs number >= 2'
        )
    values = torch.linspace(
        start, end, number + 2 if cutoff else number, dtype=x.dtype, device=x.device
    )
    step = values[1] - values[0]
    if cutoff:
        values = values[1:-1]
    diff = (x[..., None] - values) / step

    if basis == "gaussian":
        return diff.pow(2).neg().exp().div(1.12)
    if basis == "cosine":
        return torch.cos(math.pi / 2 * diff) * (diff < 1) * (-1 < diff)
    # smooth_finite
    return 1.14136 * math.exp(2.0) * soft_unit_step(diff + 1) * soft_unit_step(1 - diff)
