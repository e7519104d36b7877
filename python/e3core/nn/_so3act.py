"""SO3Activation: a pointwise nonlinearity on the signal on SO(3), as
``e3nn.nn.SO3Activation`` (e3nn/nn/_so3act.py)."""

from collections.abc import Callable

import torch

from e3core.math._normalize_activation import normalize2mom
from e3core.o3._so3grid import SO3Grid
from e3core.util.jit import compile_mode


@compile_mode("script")
class SO3Activation(torch.nn.Module):
    """A nonlinearity applied pointwise to the signal on SO(3) whose coefficients on the Wigner
    D matrices are the input, then projected back, as ``e3nn.nn.SO3Activation``:
    (..., sum (2l + 1)^2 for l ≤ lmax_in) → (..., sum (2l + 1)^2 for l ≤ lmax_out).
    Equivariant (to the left and right action of SO(3)) only up to the grid's resolution.

    Args:
        lmax_in, lmax_out: the degrees of the input and the output.
        act: the function, rescaled to unit second moment.
        resolution: of the ``SO3Grid`` (2 resolution betas).
        normalization: only ``"component"``, as e3nn.
        aspect_ratio: the grid's ratio of resolutions in alpha and beta.

    Children ``grid_in`` and ``grid_out`` (``o3.SO3Grid``) are e3nn's (its state_dicts load).

    Example::

        >>> m = SO3Activation(1, 1, torch.tanh, 6)
        >>> m(torch.randn(2, 10)).shape
        torch.Size([2, 10])
    """

    lmax_in: int
    lmax_out: int

    def __init__(
        self,
        lmax_in: int,
        lmax_out: int,
        act: Callable[[torch.Tensor], torch.Tensor],
        resolution: int,
        *,
        normalization: str = "component",
        aspect_ratio: int = 2,
    ) -> None:
        super().__init__()
        self.grid_in = SO3Grid(
            lmax_in, resolution, normalization=normalization, aspect_ratio=aspect_ratio
        )
        self.grid_out = SO3Grid(
            lmax_out, resolution, normalization=normalization, aspect_ratio=aspect_ratio
        )
        self.act = normalize2mom(act)
        self.lmax_in = lmax_in
        self.lmax_out = lmax_out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__} ({self.lmax_in} -> {self.lmax_out})"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Coefficients (..., dim out) of act of the signal ``features`` (..., dim in)."""
        return self.grid_out.from_grid(self.act(self.grid_in.to_grid(features)))
