"""e3nn's ``nn.models.v2104.voxel_convolution``: an equivariant 3D convolution whose kernel is
a tensor product of the input with the spherical harmonics of the lattice points, and a
Gaussian low-pass filter. e3nn's constructors and parameter names.

Example::

    >>> conv = Convolution("0e+1e", "0e+1e+1o", "0e+1o+2e", diameter=3.0, num_radial_basis=3)
    >>> conv(torch.randn(2, 4, 5, 5, 5)).shape
    torch.Size([2, 7, 5, 5, 5])
"""

import math
from typing import Any

import torch

from e3core import o3
from e3core._errors import ArgumentError
from e3core.math import soft_one_hot_linspace
from e3core.util.jit import compile_mode

__all__ = ["Convolution", "LowPassFilter"]


def _axis(radius: float, step: float) -> torch.Tensor:
    s = math.floor(radius / step)
    return torch.arange(-s, s + 1.0) * step


@compile_mode("script")
class Convolution(torch.nn.Module):
    """Convolution on voxels, as e3nn's: a self connection ``sc`` (o3.Linear) plus
    ``conv3d`` with the kernel ``tp.right(sh, emb @ weight / points)``, where ``sh`` are the
    spherical harmonics ``irreps_sh`` of the lattice points within ``diameter / 2`` (spacing
    ``steps``), and ``emb`` their ``num_radial_basis`` smooth radial functions. Extra keyword
    arguments go to ``torch.nn.functional.conv3d`` (``padding`` defaults to half the kernel).

    Example::

        >>> conv = Convolution("0e", "0e", "0e+1o", diameter=2.0, num_radial_basis=2)
        >>> conv.kernel().shape
        torch.Size([1, 1, 3, 3, 3])
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_out: o3.Irreps,
        irreps_sh: o3.Irreps,
        diameter: float,
        num_radial_basis: int,
        steps: tuple[float, float, float] = (1.0, 1.0, 1.0),
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_out = o3.Irreps(irreps_out)
        self.irreps_sh = o3.Irreps(irreps_sh)
        self.num_radial_basis = num_radial_basis
        self.sc = o3.Linear(self.irreps_in, self.irreps_out)

        r = diameter / 2
        axes = [_axis(r, step) for step in steps]
        lattice = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # [x, y, z, R^3]
        self.register_buffer("lattice", lattice)
        if "padding" not in kwargs:
            kwargs["padding"] = tuple(s // 2 for s in lattice.shape[:3])
        self.kwargs = kwargs
        unknown = set(kwargs) - {"stride", "padding", "dilation", "groups"}
        if unknown:
            raise ArgumentError(
                f"kwargs has {sorted(unknown)}, expected arguments of conv3d (stride, padding, "
                "dilation, groups)"
            )
        self._stride = kwargs.get("stride", 1)
        self._padding = kwargs["padding"]
        self._dilation = kwargs.get("dilation", 1)
        self._groups = kwargs.get("groups", 1)

        emb = soft_one_hot_linspace(
            lattice.norm(dim=-1), 0.0, r, self.num_radial_basis, "smooth_finite", True
        )
        self.register_buffer("emb", emb)
        sh = o3.spherical_harmonics(self.irreps_sh, lattice, True, "component")
        self.register_buffer("sh", sh)  # [x, y, z, irreps_sh.dim]
        self.tp = o3.FullyConnectedTensorProduct(
            self.irreps_in, self.irreps_sh, self.irreps_out, shared_weights=False
        )
        self.weight = torch.nn.Parameter(torch.randn(self.num_radial_basis, self.tp.weight_numel))

    def kernel(self) -> torch.Tensor:
        """The conv3d kernel (irreps_out.dim, irreps_in.dim, x, y, z)."""
        weight = self.emb @ self.weight
        weight = weight / (self.sh.shape[0] * self.sh.shape[1] * self.sh.shape[2])
        kernel = self.tp.right(self.sh, weight)  # [x, y, z, irreps_in.dim, irreps_out.dim]
        return kernel.permute(4, 3, 0, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution of ``x`` (batch, irreps_in.dim, x, y, z): (batch,
        irreps_out.dim, x', y', z')."""
        sc = self.sc(x.transpose(1, 4)).transpose(1, 4)
        return sc + torch.nn.functional.conv3d(
            x, self.kernel(), None, self._stride, self._padding, self._dilation, self._groups
        )


@compile_mode("script")
class LowPassFilter(torch.nn.Module):
    """A Gaussian blur of images (..., x, y, z) for a change of resolution by ``scale``, with
    ``stride`` (or its transpose), as e3nn's; the identity for ``scale <= 1``.

    Example::

        >>> LowPassFilter(2.0, stride=2)(torch.randn(3, 8, 8, 8)).shape
        torch.Size([3, 4, 4, 4])
    """

    scale: float
    stride: int
    size: int
    transposed: bool

    def __init__(
        self,
        scale: float,
        stride: int = 1,
        transposed: bool = False,
        steps: tuple[float, float, float] = (1, 1, 1),
    ) -> None:
        super().__init__()
        sigma = 0.5 * (scale**2 - 1) ** 0.5
        size = int(1 + 2 * 2.5 * sigma)
        if size % 2 == 0:
            size += 1
        r = torch.linspace(-1, 1, size)
        axes = [r * step / min(steps) for step in steps]
        axes = [a[a.abs() <= 1] for a in axes]
        lattice = (size // 2) * torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
        kernel = torch.exp(-lattice.norm(dim=-1).pow(2) / (2 * sigma**2))
        kernel = kernel / kernel.sum()
        if transposed:
            kernel = kernel * stride**3
        self.register_buffer("kernel", kernel[None, None])
        self.scale = float(scale)
        self.stride = int(stride)
        self.size = size
        self.transposed = transposed

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """The filtered ``image`` (..., x, y, z)."""
        if self.scale <= 1:
            if self.stride != 1:
                raise ArgumentError("LowPassFilter: stride must be 1 when scale <= 1")
            return image
        out = image.reshape([-1, 1] + list(image.shape[-3:]))
        if self.transposed:
            out = torch.nn.functional.conv_transpose3d(
                out, self.kernel, padding=self.size // 2, stride=self.stride
            )
        else:
            out = torch.nn.functional.conv3d(
                out, self.kernel, padding=self.size // 2, stride=self.stride
            )
        return out.reshape(list(image.shape[:-3]) + list(out.shape[-3:]))
