"""Timing and machine facts shared by the benchmarks."""

import importlib.metadata
import platform
import time
from collections.abc import Callable


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of fn in milliseconds over repeats runs, after one warm-up run.

    Example::

        >>> best_time(lambda: sum(range(100)), 3) >= 0
        True
    """
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def cpu_model() -> str:
    """The first "model name" of /proc/cpuinfo, or the platform's processor string.

    Example::

        >>> isinstance(cpu_model(), str)
        True
    """
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def version(package: str) -> str:
    """The installed version of a distribution, or "?" when unknown.

    Example::

        >>> version("no-such-distribution")
        '?'
    """
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"
