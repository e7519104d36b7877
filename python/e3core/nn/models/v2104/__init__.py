"""e3nn's ``nn.models.v2104`` (April 2021): equivariant convolution on voxels.

Example::

    >>> import torch
    >>> from e3core.nn.models.v2104.voxel_convolution import Convolution
    >>> conv = Convolution("0e", "0e+1o", "0e+1o", diameter=3.0, num_radial_basis=2)
    >>> conv(torch.randn(1, 1, 4, 4, 4)).shape
    torch.Size([1, 4, 4, 4, 4])
"""

from e3core.nn.models.v2104 import voxel_convolution

__all__ = ["voxel_convolution"]
