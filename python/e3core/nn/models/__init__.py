"""e3nn's ``nn.models``: the gate_points networks of January and February 2021 and the voxel
convolution of April 2021, with e3nn's constructors and parameter names (e3nn state_dicts load
unchanged), on e3core's modules.

Example::

    >>> import torch
    >>> from e3core.nn.models import gate_points_2101
    >>> net = gate_points_2101.Network(None, "4x0e+2x1o", "0e", None, "0e+1o", 1, 2.0, 4, 1, 8,
    ...                                2.0, 3.0)
    >>> net({"pos": torch.randn(3, 3)}).shape
    torch.Size([1, 1])
"""

from e3core.nn.models import gate_points_2101, gate_points_2102, v2104

__all__ = ["gate_points_2101", "gate_points_2102", "v2104"]
