"""Timing shared by the benchmarks."""

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
