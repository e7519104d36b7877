"""``default_dtype``: torch's default dtype set for a block, as e3nn's modules build their
constants in it."""

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Within it, torch's default dtype is ``dtype``; the previous one is restored after.

    Example::

        >>> with default_dtype(torch.float64):
        ...     torch.zeros(1).dtype
        torch.float64
        >>> torch.zeros(1).dtype
        torch.float32
    """
    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)
