"""Activation: scalar nonlinearities on the scalar terms of an irreps feature vector."""

from collections.abc import Callable, Sequence

import torch

from e3core._checks import check_columns
from e3core._errors import ArgumentError
from e3core.math._normalize_activation import dtype_and_device, normalize2mom
from e3core.o3._irreps import Irreps
from e3core.util.jit import compile_mode


def _parity(act: torch.nn.Module) -> int:
    """1 for an even function, -1 for an odd one, 0 otherwise (e3nn's test on [0, 10])."""
    _, device = dtype_and_device(act)
    x = torch.linspace(0, 10, 256, device=device)
    a1, a2 = act(x), act(-x)
    if (a1 - a2).abs().max() < 1e-5:
        return 1
    if (a1 + a2).abs().max() < 1e-5:
        return -1
    return 0


@compile_mode("script")
class Activation(torch.nn.Module):
    """Scalar activations on the scalar terms of the input, as ``e3nn.nn.Activation``.

    Each function is rescaled to unit second moment under a standard normal input
    (``e3core.math.normalize2mom``). An odd scalar (0o) needs an even function (the output is
    then 0e) or an odd one (0o). ``None`` leaves a term unchanged.

    Args:
        irreps_in: irreps of the input.
        acts: one function (or None) per term of ``irreps_in``; functions must be scriptable
            (builtins such as ``torch.tanh``, functions of ``torch.nn.functional``, modules)
            for TorchScript.

    Example::

        >>> a = Activation("256x0o", [torch.abs])
        >>> a.irreps_out
        256x0e
        >>> Activation("256x0o+16x1e", [None, None]).irreps_out
        256x0o+16x1e
    """

    _dim: int
    _ranges: list[tuple[int, int]]

    def __init__(
        self,
        irreps_in: Irreps | str,
        acts: Sequence[Callable[[torch.Tensor], torch.Tensor] | None],
    ) -> None:
        super().__init__()
        irreps_in = Irreps(irreps_in)
        if len(irreps_in) != len(acts):
            raise ArgumentError(
                f"Activation: irreps_in {irreps_in} has {len(irreps_in)} terms but acts has "
                f"{len(acts)} entries; give one function (or None) per term"
            )
        irreps_out = []
        modules = []
        for mul_ir, act in zip(irreps_in, acts, strict=True):
            mul, (l, p) = mul_ir
            if act is None:
                # Identity rather than None: TorchScript cannot call a None entry of a ModuleList.
                modules.append(torch.nn.Identity())
                irreps_out.append((mul, (l, p)))
                continue
            if l != 0:
                raise ArgumentError(
                    f"Activation: acts gives a function for {mul_ir}, but only scalars (l = 0) "
                    "take an activation; give None for it"
                )
            act = normalize2mom(act)
            p_act = _parity(act)
            p_out = p_act if p == -1 else p
            if p_out == 0:
                raise ArgumentError(
                    f"Activation: the parity is violated! The input {mul_ir} is odd but its "
                    "activation is neither even nor odd."
                )
            modules.append(act)
            irreps_out.append((mul, (0, p_out)))

        self.irreps_in = irreps_in
        self.irreps_out = Irreps(irreps_out)
        self.acts = torch.nn.ModuleList(modules)
        self._active = [act is not None for act in acts]
        self._dim = irreps_in.dim
        self._ranges = [(s.start, s.stop - s.start) for s in irreps_in.slices()]

    def __repr__(self) -> str:
        acts = "".join("x" if active else " " for active in self._active)
        return f"{self.__class__.__name__} [{acts}] ({self.irreps_in} -> {self.irreps_out})"

    def forward(self, features: torch.Tensor, dim: int = -1) -> torch.Tensor:
        """Activated ``features``; ``dim`` is the dimension of the irreps (default the last)."""
        check_columns("Activation", features, self._dim, "irreps_in.dim", dim)
        output: list[torch.Tensor] = []
        for i, act in enumerate(self.acts):
            start, length = self._ranges[i]
            output.append(act(features.narrow(dim, start, length)))
        if len(output) > 1:
            return torch.cat(output, dim=dim)
        if len(output) == 1:
            return output[0]
        return torch.zeros_like(features)
