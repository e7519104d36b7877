"""SphericalTensor: the irreps of a signal on the sphere, with e3nn.io's methods to build,
evaluate and inspect such signals (e3nn/io/_spherical_tensor.py)."""

import math
from collections import namedtuple

import numpy as np
import torch

from e3core._errors import ArgumentError, ShapeError
from e3core.o3._irreps import Irreps
from e3core.o3._rotation import angles_to_matrix
from e3core.o3._s2grid import FromS2Grid, ToS2Grid
from e3core.o3._spherical_harmonics import spherical_harmonics

SignalOnGrid = namedtuple("Return", "grid, values")


def _peaks_1d(x: list[float]) -> list[int]:
    """Indices of the local maxima of x, flat ones at their middle, the ends excluded: the
    peaks of ``scipy.signal.find_peaks(x)`` (e3nn's), without scipy."""
    peaks = []
    i = 1
    while i < len(x) - 1:
        if x[i - 1] < x[i]:
            ahead = i + 1
            while ahead < len(x) - 1 and x[ahead] == x[i]:
                ahead += 1
            if x[ahead] < x[i]:
                peaks.append((i + ahead - 1) // 2)
                i = ahead
        i += 1
    return peaks


def _find_peaks_2d(x: torch.Tensor) -> list[tuple[int, int]]:
    """The (i, j) that are peaks both along their row and along their column."""
    rows = np.asarray(x.detach().cpu(), dtype=np.float64)
    in_rows = {(i, j) for i in range(rows.shape[0]) for j in _peaks_1d(rows[i].tolist())}
    in_columns = {(i, j) for j in range(rows.shape[1]) for i in _peaks_1d(rows[:, j].tolist())}
    return sorted(in_rows & in_columns)


class SphericalTensor(Irreps):
    r"""The irreps ``1x0 + 1x1 + ... + 1xlmax`` of the coefficients A^l of a signal on the sphere
    f(x) = Σ_l A^l · Y^l(x), as ``e3nn.io.SphericalTensor``. Under parity the signal becomes
    (P f)(x) = p_val f(p_arg x), so the irrep of degree l has parity p_val p_arg^l.

    Args:
        lmax: the highest degree.
        p_val: +1 or -1, the parity of the values.
        p_arg: +1 or -1, the parity of the argument.

    Example::

        >>> SphericalTensor(3, 1, 1)
        1x0e+1x1e+1x2e+1x3e
        >>> SphericalTensor(3, 1, -1)
        1x0e+1x1o+1x2e+1x3o
    """

    def __new__(cls, lmax: int, p_val: int, p_arg: int) -> "SphericalTensor":
        if p_val not in (1, -1) or p_arg not in (1, -1):
            raise ArgumentError(f"p_val and p_arg must be +1 or -1, got {p_val} and {p_arg}")
        return super().__new__(cls, [(1, (l, p_val * p_arg**l)) for l in range(lmax + 1)])

    def _harmonics(self, r: torch.Tensor) -> torch.Tensor:
        """The harmonics of degree 0 .. lmax of r (..., 3), normalized, "integral"; the parity
        of the input is not checked, so that odd p_val works too."""
        return spherical_harmonics(self.ls, r, True)

    def with_peaks_at(
        self, vectors: torch.Tensor, values: torch.Tensor | None = None
    ) -> torch.Tensor:
        r"""The signal (self.dim,) of least norm whose value at each direction of ``vectors``
        (N, 3) is ``values`` (N,), by default the vectors' norms (p_val must be +1).

        Example::

            >>> s = SphericalTensor(4, 1, -1)
            >>> pos = torch.tensor([[1.0, 0.0, 0.0], [3.0, 4.0, 0.0]])
            >>> s.signal_xyz(s.with_peaks_at(pos), pos).round()
            tensor([1., 5.])
            >>> x = s.with_peaks_at(pos, torch.tensor([-1.5, 2.0]))
            >>> s.signal_xyz(x, pos)
            tensor([-1.5000,  2.0000])
        """
        if values is not None:
            vectors, values = torch.broadcast_tensors(vectors, values[..., None])
            values = values[..., 0]
        if vectors.numel() == 0:
            return torch.zeros(vectors.shape[:-2] + (self.dim,))
        if self[0].ir.p != 1:
            raise ArgumentError(
                "with_peaks_at: p_val must be +1, since the values are set by radii (even)"
            )
        if vectors.dim() != 2 or vectors.shape[1] != 3:
            raise ShapeError(f"with_peaks_at: vectors must be (N, 3), got {list(vectors.shape)}")
        if values is None:
            values = vectors.norm(dim=1)
        vectors = vectors[values != 0]
        values = values[values != 0]
        coeff = self._harmonics(vectors)  # [N, dim]
        gram = coeff @ coeff.T
        # Y(v_a) . Y(v_b) solution_b = value_a
        solution = torch.linalg.lstsq(gram, values).solution.reshape(-1)
        if (values - gram @ solution).abs().max() >= 1e-5 * values.abs().max():
            raise ArgumentError(
                f"with_peaks_at: lmax = {self.lmax} cannot take these values at these "
                f"{len(values)} directions; raise lmax"
            )
        return solution @ coeff

    def sum_of_diracs(self, positions: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        r"""Σ_i values_i δ^L(positions_i), δ^L the approximate Dirac delta of degree lmax:
        positions (..., N, 3), values (..., N) → (..., self.dim).

        Example::

            >>> s = SphericalTensor(7, 1, -1)
            >>> pos = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
            >>> x = s.sum_of_diracs(pos, torch.tensor([-1.0, 1.0]))
            >>> s.signal_xyz(x, torch.eye(2, 3)).mul(10.0).round()
            tensor([-10.,  10.])
            >>> s.sum_of_diracs(torch.randn(1, 3, 2, 3), torch.randn(2, 1, 1)).shape
            torch.Size([2, 3, 64])
        """
        positions, values = torch.broadcast_tensors(positions, values[..., None])
        values = values[..., 0]
        if positions.numel() == 0:
            return torch.zeros(values.shape[:-1] + (self.dim,))
        y = self._harmonics(positions)  # [..., N, dim]
        return 4 * math.pi / (self.lmax + 1) ** 2 * (y * values[..., None]).sum(-2)

    def from_samples_on_s2(
        self, positions: torch.Tensor, values: torch.Tensor, res: int = 100
    ) -> torch.Tensor:
        r"""The signal (..., self.dim) whose values on a grid of resolution ``res`` are those
        of the nearest of the samples (``positions`` (..., N, 3), ``values`` (..., N)).

        Example::

            >>> s = SphericalTensor(2, 1, 1)
            >>> pos = torch.tensor([[[0.0, 0, 1], [0, 0, -1]], [[0, 1, 0], [0, -1, 0]]]).double()
            >>> val = torch.tensor([[1.0, -1.0], [1.0, -1.0]]).double()
            >>> s.from_samples_on_s2(pos, val, res=200).long()
            tensor([[0, 0, 0, 3, 0, 0, 0, 0, 0],
                    [0, 0, 3, 0, 0, 0, 0, 0, 0]])
        """
        positions, values = torch.broadcast_tensors(positions, values[..., None])
        values = values[..., 0]
        if positions.numel() == 0:
            return torch.zeros(values.shape[:-1] + (self.dim,))
        positions = torch.nn.functional.normalize(positions, dim=-1)  # zero radius: 0, not NaN
        size = positions.shape[:-2]
        n = positions.shape[-2]
        positions = positions.reshape(-1, n, 3)
        values = values.reshape(-1, n)
        s2 = FromS2Grid(
            res=res,
            lmax=self.lmax,
            normalization="integral",
            dtype=values.dtype,
            device=values.device,
        )
        grid = s2.grid.reshape(1, -1, 3)
        nearest = torch.cdist(grid, positions).argmin(2)  # [batch, beta * alpha]
        batch = torch.arange(len(values), device=values.device).view(-1, 1)
        return s2(values[batch, nearest].reshape(*size, s2.res_beta, s2.res_alpha))

    def norms(self, signal: torch.Tensor) -> torch.Tensor:
        r"""The norm of each degree: signal (..., dim) → (..., lmax + 1).

        Example::

            >>> SphericalTensor(1, 1, -1).norms(torch.tensor([1.5, 0.0, 3.0, 4.0]))
            tensor([1.5000, 5.0000])
        """
        return torch.stack([signal[..., s].norm(dim=-1) for s in self.slices()], dim=-1)

    def signal_xyz(self, signal: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        r"""The signal at the directions r: signal (*A, dim), r (*B, 3) → (*A, *B).

        Example::

            >>> s = SphericalTensor(3, 1, -1)
            >>> s.signal_xyz(s.randn(2, 1, 3, -1), torch.randn(2, 4, 3)).shape
            torch.Size([2, 1, 3, 2, 4])
        """
        sh = self._harmonics(r).reshape(-1, self.dim)
        output = signal.reshape(-1, self.dim) @ sh.T
        return output.reshape(signal.shape[:-1] + r.shape[:-1])

    def signal_on_grid(
        self, signal: torch.Tensor, res: int = 100, normalization: str = "integral"
    ) -> SignalOnGrid:
        r"""The named tuple ``(grid, values)``: the points (res_beta, res_alpha, 3) of
        ``ToS2Grid(lmax, res)`` and the signal there (..., res_beta, res_alpha).

        Example::

            >>> grid, values = SphericalTensor(2, 1, 1).signal_on_grid(torch.randn(9), res=10)
            >>> grid.shape, values.shape
            (torch.Size([10, 9, 3]), torch.Size([10, 9]))
        """
        s2 = ToS2Grid(
            lmax=self.lmax,
            res=res,
            normalization=normalization,
            dtype=signal.dtype,
            device=signal.device,
        )
        return SignalOnGrid(s2.grid, s2(signal))

    def plotly_surface(
        self,
        signals: torch.Tensor,
        centers: torch.Tensor | None = None,
        res: int = 100,
        radius: bool = True,
        relu: bool = False,
        normalization: str = "integral",
    ) -> list[dict[str, np.ndarray]]:
        r"""One dict per signal (..., dim) with the keys x, y, z and surfacecolor (numpy arrays)
        of ``plot``, the arguments of ``plotly.graph_objects.Surface`` (plotly itself is not
        needed here).

        Example::

            >>> s = SphericalTensor(4, 1, 1)
            >>> traces = s.plotly_surface(s.randn(2, -1), res=20)
            >>> len(traces), sorted(traces[0]), traces[0]["x"].shape
            (2, ['surfacecolor', 'x', 'y', 'z'], (20, 20))
        """
        signals = signals.reshape(-1, self.dim)
        centers_list = [None] * len(signals) if centers is None else list(centers.reshape(-1, 3))
        traces = []
        for signal, center in zip(signals, centers_list, strict=True):
            r, f = self.plot(signal, center, res, radius, relu, normalization)
            r, f = r.detach().cpu(), f.detach().cpu()
            traces.append(
                {
                    "x": r[:, :, 0].numpy(),
                    "y": r[:, :, 1].numpy(),
                    "z": r[:, :, 2].numpy(),
                    "surfacecolor": f.numpy(),
                }
            )
        return traces

    def plot(
        self,
        signal: torch.Tensor,
        center: torch.Tensor | None = None,
        res: int = 100,
        radius: bool = True,
        relu: bool = False,
        normalization: str = "integral",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""A closed surface for plotting one signal (dim,): points r (res_beta, res_alpha + 1,
        3), at distance |f| from ``center`` when ``radius``, and the values f there (the poles
        averaged, relu applied when ``relu``).

        Example::

            >>> r, f = SphericalTensor(2, 1, 1).plot(torch.randn(9), res=10)
            >>> r.shape, f.shape
            (torch.Size([10, 10, 3]), torch.Size([10, 10]))
        """
        if signal.dim() != 1:
            raise ShapeError(f"plot: signal must be one vector (dim,), got {list(signal.shape)}")
        r, f = self.signal_on_grid(signal, res, normalization)
        f = f.relu() if relu else f
        # beta: the first and last rows become the poles
        r[0] = r.new_tensor([0.0, 1.0, 0.0])
        r[-1] = r.new_tensor([0.0, -1.0, 0.0])
        f[0] = f[0].mean()
        f[-1] = f[-1].mean()
        # alpha: close the surface
        r = torch.cat([r, r[:, :1]], dim=1)
        f = torch.cat([f, f[:, :1]], dim=1)
        if radius:
            r = r * f.abs().unsqueeze(-1)
        if center is not None:
            r = r + center
        return r, f

    def find_peaks(self, signal: torch.Tensor, res: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
        r"""The directions (P, 3) and values (P,) of the local maxima of the signal (dim,), from
        two grids rotated one to the other (so that no peak sits at a pole of both).

        Example::

            >>> s = SphericalTensor(4, 1, -1)
            >>> x = s.with_peaks_at(torch.tensor([[4.0, 0.0, 4.0], [0.0, 5.0, 0.0]]))
            >>> pos, val = s.find_peaks(x)
            >>> pos[val > 4.0].mul(10).round().abs()
            tensor([[ 7.,  0.,  7.],
                    [ 0., 10.,  0.]])
            >>> val[val > 4.0].mul(10).round().abs()
            tensor([57., 50.])
        """
        x1, f1 = self.signal_on_grid(signal, res)
        abc = torch.full((3,), math.pi / 2, dtype=signal.dtype, device=signal.device)
        rotation = angles_to_matrix(*abc)
        rx2, f2 = self.signal_on_grid(self.D_from_matrix(rotation) @ signal, res)
        x2 = torch.einsum("ij,baj->bai", rotation.T, rx2)

        ij = _find_peaks_2d(f1)
        x1p = torch.stack([x1[i, j] for i, j in ij])
        f1p = torch.stack([f1[i, j] for i, j in ij])
        ij = _find_peaks_2d(f2)
        x2p = torch.stack([x2[i, j] for i, j in ij])
        f2p = torch.stack([f2[i, j] for i, j in ij])

        # The union: the first grid's peaks that the second did not find, then the second's.
        new = (torch.cdist(x1p, x2p) < 2 * math.pi / res).sum(1) == 0
        return torch.cat([x1p[new], x2p]), torch.cat([f1p[new], f2p])
