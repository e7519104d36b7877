"""Dropout of whole irrep copies."""

import torch

from e3core._checks import check_columns
from e3core.o3._irreps import Irreps
from e3core.o3._norm import irrep_copy_index
from e3core.util.jit import compile_mode


@compile_mode("script")
class Dropout(torch.nn.Module):
    r"""Equivariant dropout, as ``e3nn.nn.Dropout``: drops whole irrep copies.

    In training, each irrep copy of each sample (first dimension) is zeroed with probability
    ``p`` and the others multiplied by :math:`1 / (1 - p)`, the same for all middle dimensions.
    The random draws are e3nn's, so both give the same masks from the same seed.

    Example::

        >>> d = Dropout("2x1o", p=0.5)
        >>> y = d(torch.ones(4, 6))
        >>> bool(((y == 0) | (y == 2)).all()), bool((y.reshape(4, 2, 3).std(-1) == 0).all())
        (True, True)
    """

    p: float
    _dim: int
    _muls: list[int]

    def __init__(self, irreps: Irreps | str, p: float) -> None:
        super().__init__()
        self.irreps = Irreps(irreps)
        self.p = p
        self._dim = self.irreps.dim
        self._muls = [mul for mul, _ in self.irreps]
        self.register_buffer("_copy", irrep_copy_index(self.irreps), persistent=False)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__} ({self.irreps}, p={self.p})"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, ..., irreps.dim) with copies dropped in training; ``x`` itself in eval."""
        check_columns("Dropout", x, self._dim, "irreps.dim")
        if not self.training:
            return x
        batch = x.shape[0]
        noises: list[torch.Tensor] = []
        # One draw per term, as e3nn, so that a seed gives e3nn's masks.
        for mul in self._muls:
            noise = x.new_empty(batch, mul)
            if self.p >= 1:
                noise.fill_(0)
            elif self.p <= 0:
                noise.fill_(1)
            else:
                noise.bernoulli_(1 - self.p).div_(1 - self.p)
            noises.append(noise)
        noise = torch.cat(noises, dim=-1).index_select(-1, self._copy)
        while noise.dim() < x.dim():
            noise = noise[:, None]
        return x * noise
