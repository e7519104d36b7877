"""Loads the torch op library libe3core_torch, installed beside the nanobind module."""

from pathlib import Path

import torch

from e3core import _core


def library_path() -> Path:
    """Path of libe3core_torch.so, the library that registers ``torch.ops.e3core``.

    Example::

        >>> library_path().name
        'libe3core_torch.so'
    """
    return Path(_core.__file__).parent / "libe3core_torch.so"


def load_ops() -> None:
    """Registers e3core's ops with torch (idempotent).

    Example::

        >>> load_ops()
        >>> hasattr(torch.ops.e3core, "spherical_harmonics")
        True
    """
    path = library_path()
    if not path.is_file():
        raise ImportError(
            f"e3core's torch op library is missing: expected {path}; reinstall e3core"
        )
    torch.ops.load_library(str(path))
