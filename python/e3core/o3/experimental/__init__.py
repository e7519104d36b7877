"""e3nn's ``o3.experimental``: the weightless full and elementwise tensor products of e3nn-jax's
design (sorted, unsimplified outputs), on e3core's tensor-product kernels.

Example::

    >>> import torch
    >>> from e3core.o3.experimental import FullTensorProductv2
    >>> tp = FullTensorProductv2("2x0e+1x1o", "1x1o")
    >>> tp.irreps_out, tp(torch.randn(5, 5), torch.randn(5, 3)).shape
    (1x0e+2x1o+1x1e+1x2e, torch.Size([5, 15]))
"""

from e3core.o3.experimental._tensor_product_v2 import (
    ElementwiseTensorProductv2,
    FullTensorProductv2,
)

__all__ = ["ElementwiseTensorProductv2", "FullTensorProductv2"]
