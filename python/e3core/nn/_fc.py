"""FullyConnectedNet: e3nn's scalar MLP with weights N(0, 1) scaled in forward."""

from collections.abc import Callable, Sequence

import torch

from e3core._checks import check_columns
from e3core._errors import ArgumentError
from e3core.math._normalize_activation import normalize2mom
from e3core.util.jit import compile_mode


@compile_mode("script")
class _Layer(torch.nn.Module):
    """One layer of FullyConnectedNet: x @ (weight / sqrt(h_in * var_in)), then act (e3nn's)."""

    h_in: int
    h_out: int
    var_in: float
    var_out: float

    def __init__(
        self, h_in: int, h_out: int, act: torch.nn.Module | None, var_in: float, var_out: float
    ) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(h_in, h_out))
        self.act = act
        self.h_in = h_in
        self.h_out = h_out
        self.var_in = float(var_in)
        self.var_out = float(var_out)

    def __repr__(self) -> str:
        f = None if self.act is None else self.act.f
        name = None if f is None else getattr(f, "__name__", type(f).__name__)
        return f"Layer({self.h_in}->{self.h_out}, act={name})"

    def forward(self, x: torch.Tensor, scale: float = 1.0) -> tuple[torch.Tensor, float]:
        """The layer applied to ``scale * x`` (..., h_in), as ``(y, c)``: the output is
        ``c * y``. Scalar factors are matrices' business: ``scale`` goes into the weights, and
        the activation's constant (``normalize2mom``) and sqrt(var_out) are handed on as ``c``
        for the next layer's weights, instead of multiplying a tensor with a row per edge."""
        if self.act is not None:
            w = self.weight * (scale / (self.h_in * self.var_in) ** 0.5)
            y, c = self.act.unscaled(x @ w)
            return y, c * self.var_out**0.5
        w = self.weight * (scale / (self.h_in * self.var_in / self.var_out) ** 0.5)
        return x @ w, 1.0


@compile_mode("script")
class FullyConnectedNet(torch.nn.Sequential):
    r"""Multilayer perceptron on scalars, as ``e3nn.nn.FullyConnectedNet``.

    Layer i maps ``hs[i]`` to ``hs[i+1]`` features with a weight ``layer{i}.weight`` drawn from
    N(0, 1) and divided by sqrt(fan-in) in forward. ``act`` is rescaled to unit second moment
    (``e3core.math.normalize2mom``) and follows every layer but the last (that one too with
    ``out_act``); ``variance_in``/``variance_out`` are the input and output variances aimed at.

    Example::

        >>> net = FullyConnectedNet([4, 16, 2], torch.nn.functional.silu)
        >>> net
        FullyConnectedNet[4, 16, 2]
        >>> net(torch.randn(10, 4)).shape
        torch.Size([10, 2])
    """

    hs: list[int]

    def __init__(
        self,
        hs: Sequence[int],
        act: Callable[[torch.Tensor], torch.Tensor] | None = None,
        variance_in: float = 1,
        variance_out: float = 1,
        out_act: bool = False,
    ) -> None:
        super().__init__()
        self.hs = list(hs)
        if not self.hs or min(self.hs) < 0:
            raise ArgumentError(
                f"FullyConnectedNet: hs must be a non-empty list of sizes, got {hs}"
            )
        normalized = normalize2mom(act) if act is not None else None
        var_in = variance_in
        for i, (h1, h2) in enumerate(zip(self.hs, self.hs[1:], strict=False)):
            last = i == len(self.hs) - 2
            var_out = variance_out if last else 1
            layer_act = normalized if (out_act or not last) else None
            setattr(self, f"layer{i}", _Layer(h1, h2, layer_act, var_in, var_out))
            var_in = var_out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}{self.hs}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network applied to ``x`` (..., hs[0])."""
        check_columns("FullyConnectedNet", x, self.hs[0], "hs[0]")
        scale = 1.0
        for layer in self:
            x, scale = layer(x, scale)
        return x if scale == 1.0 else x * scale
