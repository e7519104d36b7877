"""Helpers of e3nn's ``e3nn.util`` namespace: default dtype and device, compile modes
(``e3core.util.jit``) and, imported explicitly as in e3nn, test helpers (``e3core.util.test``).

Example::

    >>> from e3core.util.jit import get_compile_mode
    >>> from e3core import o3
    >>> get_compile_mode(o3.Linear("2x0e", "2x0e"))
    'script'
"""

from e3core.util import jit
from e3core.util._default_type import (
    explicit_default_types,
    prod,
    torch_get_default_device,
    torch_get_default_tensor_type,
)

__all__ = [
    "explicit_default_types",
    "jit",
    "prod",
    "torch_get_default_device",
    "torch_get_default_tensor_type",
]
