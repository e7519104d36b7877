"""The identity on irreps features."""

import torch

from e3core._checks import check_columns
from e3core._errors import ArgumentError
from e3core.o3._irreps import Irreps
from e3core.util.jit import compile_mode


@compile_mode("script")
class Identity(torch.nn.Module):
    """Returns its input, as ``e3nn.nn.Identity``: ``irreps_in`` and ``irreps_out`` must be equal
    once simplified. Like e3nn's it holds an ``output_mask`` of ones, so e3nn state_dicts load.

    Example::

        >>> identity = Identity("2x0e+1x1o", "1x0e+1x0e+1x1o")
        >>> identity(torch.ones(3, 5)).shape
        torch.Size([3, 5])
    """

    _dim: int

    def __init__(self, irreps_in: Irreps | str, irreps_out: Irreps | str) -> None:
        super().__init__()
        self.irreps_in = Irreps(irreps_in).simplify()
        self.irreps_out = Irreps(irreps_out).simplify()
        if self.irreps_in != self.irreps_out:
            raise ArgumentError(
                f"Identity: irreps_in {self.irreps_in} and irreps_out {self.irreps_out} differ"
            )
        self._dim = self.irreps_in.dim
        self.register_buffer("output_mask", torch.ones(self._dim))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.irreps_in} -> {self.irreps_out})"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features`` (..., irreps_in.dim), unchanged."""
        check_columns("Identity", features, self._dim, "irreps_in.dim")
        return features
