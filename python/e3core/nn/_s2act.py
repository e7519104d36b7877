"""S2Activation: a pointwise nonlinearity on the signal on the sphere, as
``e3nn.nn.S2Activation`` (e3nn/nn/_s2act.py)."""

from collections.abc import Callable

import torch

from e3core._checks import check_columns
from e3core._errors import ArgumentError
from e3core.math._normalize_activation import normalize2mom
from e3core.nn._activation import _parity
from e3core.o3._irreps import Irreps
from e3core.o3._s2grid import FromS2Grid, ToS2Grid
from e3core.util.jit import compile_mode


def _random_rotation(lmax: int, like: torch.Tensor) -> list[torch.Tensor]:
    """D^l (2l + 1, 2l + 1) for l = 0 .. lmax of one Haar-random rotation (e3nn's rand_angles)."""
    u = torch.rand(3, dtype=like.dtype, device=like.device)
    alpha, beta, gamma = 2 * torch.pi * u[0], u[1].mul(2).sub(1).acos(), 2 * torch.pi * u[2]
    # The op behind o3.wigner_D (whose argument checks TorchScript cannot compile).
    return [torch.ops.e3core.wigner_D(alpha, beta, gamma, l, [0, 0, 0]) for l in range(lmax + 1)]


def _rotate(x: torch.Tensor, blocks: list[torch.Tensor], transpose: bool) -> torch.Tensor:
    """x (..., sum 2l + 1) times the block-diagonal matrix (or its transpose) on the left."""
    pieces: list[torch.Tensor] = []
    start = 0
    for d in blocks:
        n = d.shape[0]
        pieces.append(x[..., start : start + n] @ (d if transpose else d.T))
        start += n
    return torch.cat(pieces, dim=-1)


@compile_mode("script")
class S2Activation(torch.nn.Module):
    """A nonlinearity applied pointwise to the signal on the sphere whose harmonic coefficients
    are the input, then projected back, as ``e3nn.nn.S2Activation``: {A^l} ↦
    {∫ act(Σ_l A^l · Y^l(x)) Y^j(x) dx}. Equivariant only up to the grid's resolution.

    Args:
        irreps: one copy of each l = 0 .. lmax with parities p_val (p_arg)^l, such as
            ``io.SphericalTensor(lmax, p_val, p_arg)``.
        act: the function, rescaled to unit second moment (odd or even when p_val = -1).
        res: the grid (``ToS2Grid``'s ``res``: res_beta or (res_beta, res_alpha)).
        normalization: ``"component"`` or ``"norm"`` (also ``"integral"``).
        lmax_out: the output's lmax (lmax if None).
        random_rot: rotate the grid randomly at each call (the rotation of the input, then its
            inverse on the output).

    Children ``to_s2`` (``ToS2Grid``), ``from_s2`` (``FromS2Grid``) and ``act`` are e3nn's
    (its state_dicts load).

    Example::

        >>> m = S2Activation("0e+1o+2e", torch.tanh, 20)
        >>> m(torch.randn(4, 9)).shape
        torch.Size([4, 9])
    """

    random_rot: bool
    _dim_in: int
    _lmax_in: int
    _lmax_out: int

    def __init__(
        self,
        irreps: Irreps | str,
        act: Callable[[torch.Tensor], torch.Tensor],
        res: int | tuple[int, int],
        normalization: str = "component",
        lmax_out: int | None = None,
        random_rot: bool = False,
    ) -> None:
        super().__init__()
        irreps = Irreps(irreps).simplify()
        if not irreps or any(mul != 1 for mul, _ in irreps):
            raise ArgumentError(f"S2Activation: irreps must hold one copy of each l, got {irreps}")
        _, (_, p_val) = irreps[0]
        lmax = irreps[-1].ir.l
        if irreps.ls != list(range(lmax + 1)):
            raise ArgumentError(f"S2Activation: irreps must be l = 0, 1, ..., lmax, got {irreps}")
        if all(p == p_val for _, (l, p) in irreps):
            p_arg = 1
        elif all(p == p_val * (-1) ** l for _, (l, p) in irreps):
            p_arg = -1
        else:
            raise ArgumentError(
                f"S2Activation: the parities of {irreps} are neither p_val nor p_val (-1)^l"
            )
        # The input transforms as A_l -> p_val p_arg^l A_l, the signal as f(r) -> p_val f(p_arg r).
        lmax_out = lmax if lmax_out is None else lmax_out
        self.act = normalize2mom(act)
        if p_val == -1:
            p_act = _parity(self.act)
            if p_act == 0:
                raise ArgumentError(
                    "S2Activation: an odd input (p_val = -1) needs an even or odd act"
                )
            p_val = p_act
        self.irreps_in = irreps
        self.irreps_out = Irreps([(1, (l, p_val * p_arg**l)) for l in range(lmax_out + 1)])
        self.to_s2 = ToS2Grid(lmax, res, normalization=normalization)
        self.from_s2 = FromS2Grid(res, lmax_out, normalization=normalization, lmax_in=lmax)
        self.random_rot = random_rot
        self._dim_in = irreps.dim
        self._lmax_in = lmax
        self._lmax_out = lmax_out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__} ({self.irreps_in} -> {self.irreps_out})"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Coefficients (..., irreps_out.dim) of act of the signal ``features``
        (..., irreps_in.dim)."""
        check_columns("S2Activation", features, self._dim_in, "irreps_in.dim")
        blocks: list[torch.Tensor] = []
        if self.random_rot:
            blocks = _random_rotation(max(self._lmax_in, self._lmax_out), features)
            features = _rotate(features, blocks[: self._lmax_in + 1], transpose=False)
        features = self.from_s2(self.act(self.to_s2(features)))
        if self.random_rot:
            features = _rotate(features, blocks[: self._lmax_out + 1], transpose=True)
        return features
