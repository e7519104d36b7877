"""The cache of torch's large CPU allocations that e3core installs when it is imported.

glibc gives large allocations fresh pages from the kernel on every call and returns them on
free; a model called again and again (molecular dynamics, training) then spends much of its
time faulting in and zeroing the same memory. e3core's op library replaces torch's CPU
allocator, when it loads, with one that keeps blocks of 256 KiB and more for reuse, as torch's
CUDA caching allocator does on the GPU; smaller allocations go to torch's allocator. The cache
keeps at most twice the peak memory in use (or a limit set here) until ``empty_cpu_cache``.
Set the environment variable ``E3CORE_CPU_MEMORY_CACHE=0`` before e3core loads to leave torch's
allocator alone, or call ``set_cpu_cache(False)``.

Example::

    >>> import torch
    >>> from e3core import memory
    >>> x = torch.zeros(1 << 20)
    >>> del x
    >>> memory.cpu_cache_stats()["enabled"]
    True
"""

import ctypes
from functools import cache

from e3core._ops import library_path

__all__ = ["cpu_cache_stats", "empty_cpu_cache", "set_cpu_cache"]


class _Stats(ctypes.Structure):
    # The layout of e3core_cpu_memory_cache_stats (include/e3core/torch/cpu_memory_cache.hpp).
    _fields_ = [
        ("enabled", ctypes.c_int32),
        ("in_use_bytes", ctypes.c_uint64),
        ("cached_bytes", ctypes.c_uint64),
        ("peak_in_use_bytes", ctypes.c_uint64),
        ("limit_bytes", ctypes.c_uint64),
        ("hits", ctypes.c_uint64),
        ("misses", ctypes.c_uint64),
        ("evictions", ctypes.c_uint64),
    ]


@cache
def _library() -> ctypes.CDLL:
    # The op library torch.ops.load_library loaded at import: dlopen returns the same handle.
    library = ctypes.CDLL(str(library_path()))
    library.e3core_cpu_memory_cache_set.argtypes = [ctypes.c_int, ctypes.c_uint64]
    library.e3core_cpu_memory_cache_set.restype = ctypes.c_int
    library.e3core_cpu_memory_cache_get_stats.argtypes = [ctypes.POINTER(_Stats)]
    library.e3core_cpu_memory_cache_get_stats.restype = None
    library.e3core_cpu_memory_cache_empty.argtypes = []
    library.e3core_cpu_memory_cache_empty.restype = None
    return library


def set_cpu_cache(enabled: bool = True, limit_bytes: int | None = None) -> bool:
    """Makes the cache torch's CPU allocator (``enabled``) or restores torch's own (and empties
    the cache); ``limit_bytes`` bounds the bytes kept for reuse (``None``: twice the peak in
    use). Returns whether the cache is torch's CPU allocator afterwards: an allocator another
    library installed with a higher priority stays.

    Example::

        >>> set_cpu_cache(True, limit_bytes=1 << 30)
        True
        >>> set_cpu_cache(True)
        True
    """
    if limit_bytes is not None and (isinstance(limit_bytes, bool) or limit_bytes <= 0):
        raise ValueError(
            f"limit_bytes must be a positive number of bytes or None, got {limit_bytes!r}"
        )
    return bool(_library().e3core_cpu_memory_cache_set(int(enabled), limit_bytes or 0))


def cpu_cache_stats() -> dict[str, int | bool]:
    """The cache's state: ``enabled``; ``in_use_bytes`` (cached-size blocks held by tensors),
    ``cached_bytes`` (kept for reuse), ``peak_in_use_bytes``, ``limit_bytes`` (0: twice the
    peak); counts of ``hits``, ``misses`` and ``evictions`` (blocks given back to the system).

    Example::

        >>> stats = cpu_cache_stats()
        >>> stats["cached_bytes"] >= 0
        True
    """
    stats = _Stats()
    _library().e3core_cpu_memory_cache_get_stats(ctypes.byref(stats))
    values: dict[str, int | bool] = {name: getattr(stats, name) for name, _ in _Stats._fields_}
    values["enabled"] = bool(stats.enabled)
    return values


def empty_cpu_cache() -> None:
    """Gives every block kept for reuse back to the system and resets the peak.

    Example::

        >>> empty_cpu_cache()
        >>> cpu_cache_stats()["cached_bytes"]
        0
    """
    _library().e3core_cpu_memory_cache_empty()
