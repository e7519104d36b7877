"""e3nn's normalized associated Legendre functions, as ``e3nn.o3.Legendre``."""

import math

import torch

from e3core._checks import check_degree
from e3core._errors import ArgumentError
from e3core.util.jit import compile_mode


@compile_mode("script")
class Legendre(torch.nn.Module):
    """The Legendre factors P^l_|m| of e3nn's harmonics of angles, as ``e3nn.o3.Legendre``:
    ``forward(z, y)`` gives (..., sum of 2l + 1) with, for each l of ``ls`` and m = -l .. l,

        sqrt((2l+1)/(4 pi) (l-|m|)!/(l+|m|)!) y^|m| d^|m| P_l(z) / dz^|m|

    (P_l the Legendre polynomial), so that with z = cos(beta) and y = sin(beta) times e3nn's
    alpha factor they are the "integral" harmonics. The polynomials in z come from the stable
    three-term recurrence in l (e3nn expands them symbolically); any z and y are accepted, as
    e3nn's.

    Example::

        >>> Legendre([0, 1])(torch.tensor([1.0]), torch.tensor([0.0]))
        tensor([[0.2821, 0.0000, 0.4886, 0.0000]])
    """

    ls: list[int]
    _lmax: int
    _mm: list[float]
    _a: list[float]
    _b: list[float]

    def __init__(self, ls: list[int]) -> None:
        super().__init__()
        ls = [check_degree("Legendre", f"ls[{i}]", l) for i, l in enumerate(ls)]
        if not ls:
            raise ArgumentError("Legendre: ls is empty, expected at least one degree")
        self.ls = ls
        self._lmax = lmax = max(ls)
        # \bar P_mm from \bar P_{m-1,m-1}, and the recurrence coefficients of each (l, m),
        # flattened in the order m = 0 .. lmax, l = m .. lmax, the order of the values below.
        self._mm = [1 / math.sqrt(4 * math.pi)] + [
            math.sqrt((2 * m + 1) / (2 * m)) for m in range(1, lmax + 1)
        ]
        self._a, self._b = [], []
        position: dict[tuple[int, int], int] = {}
        for m in range(lmax + 1):
            for l in range(m, lmax + 1):
                position[(l, m)] = len(self._a)
                if l <= m + 1:
                    self._a.append(math.sqrt(2 * m + 3) if l == m + 1 else 1.0)
                    self._b.append(0.0)
                else:
                    self._a.append(math.sqrt((4 * l * l - 1) / (l * l - m * m)))
                    self._b.append(math.sqrt(((l - 1) ** 2 - m * m) / (4 * (l - 1) ** 2 - 1)))
        columns = [position[(l, abs(m))] for l in ls for m in range(-l, l + 1)]
        self.register_buffer("_columns", torch.tensor(columns), persistent=False)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The factors (..., sum of 2l + 1) at ``z`` and ``y`` (..., broadcast)."""
        z, y = torch.broadcast_tensors(z, y)
        values: list[torch.Tensor] = []
        diagonal = torch.full_like(z, self._mm[0])
        y_power = torch.ones_like(y)
        for m in range(self._lmax + 1):
            if m > 0:
                diagonal = diagonal * self._mm[m]
                y_power = y_power * y
            # Each column carries its y^m: d^m P_l / dz^m is a polynomial in z alone.
            start = len(values)
            previous = diagonal
            values.append(previous * y_power)
            before = torch.zeros_like(z)
            for l in range(m + 1, self._lmax + 1):
                k = start + l - m
                current = self._a[k] * (z * previous - self._b[k] * before)
                before, previous = previous, current
                values.append(current * y_power)
        return torch.stack(values, dim=-1).index_select(-1, self._columns)

    def extra_repr(self) -> str:
        """Shown by print(module)."""
        return f"ls={self.ls}"
