"""Timing and machine facts shared by the benchmarks."""

import datetime
import importlib.metadata
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import torch


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


def matmul_rate() -> float:
    """Multiply-adds per second of a float32 2048^3 matrix product (torch's BLAS, on torch's
    threads): about the arithmetic peak that any implementation of a dense product can reach on
    this CPU.

    Example::

        >>> matmul_rate() > 0  # doctest: +SKIP
        True
    """
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    ms = best_time(lambda: torch.mm(a, b), 5)
    return 2048**3 / (ms / 1e3)


def alternating_times(
    cases: dict[str, Callable[[], object]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Wall times in milliseconds of every case, run in turn round by round (``warmup`` untimed
    calls each first), so that a change of the machine's load falls on every case alike.

    Example::

        >>> times = alternating_times({"a": lambda: None, "b": lambda: None}, 3)
        >>> sorted(times), len(times["a"])
        (['a', 'b'], 3)
    """
    for case in cases.values():
        for _ in range(warmup):
            case()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            start = time.perf_counter()
            case()
            times[name].append(1e3 * (time.perf_counter() - start))
    return times


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    """The median of each case's times.

    Example::

        >>> medians({"a": [3.0, 1.0, 2.0]})
        {'a': 2.0}
    """
    return {name: statistics.median(values) for name, values in times.items()}


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, e.g. "1.93 2.01 2.20", or "?" where unknown.

    Example::

        >>> isinstance(load_average(), str)
        True
    """
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


RESULTS = [">e3core (ms)", ">e3nn (ms)", ">ratio"]
"""The last columns of a comparison table, filled by ``print_row``."""


def print_header(setting: str, columns: Sequence[str]) -> None:
    """Prints the machine (date, CPU and load, threads, versions), the ``setting`` line and the
    head of a Markdown table of ``columns``; a column named with a leading ">" is right-aligned.

    Example::

        >>> print_header("batch 8", ["case", ">e3core (ms)"])  # doctest: +ELLIPSIS
        - date: ...
        - batch 8
        <BLANKLINE>
        | case | e3core (ms) |
        |---|---:|
    """
    print(f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"- CPU: {cpu_model()} ({os.cpu_count()} logical cores), load {load_average()}")
    print(f"- threads: {torch.get_num_threads()}")
    print(f"- torch {torch.__version__}, e3nn {version('e3nn')}, e3core {version('e3core')}")
    print(f"- {setting}")
    print()
    print("| " + " | ".join(c.removeprefix(">") for c in columns) + " |")
    print("|" + "".join("---:|" if c.startswith(">") else "---|" for c in columns))


def print_row(
    cells: Sequence[object], ours: float, theirs: float, digits: int = 2, ratio_digits: int = 2
) -> None:
    """Prints a table row: ``cells``, then e3core's and e3nn's times and e3core / e3nn.

    Example::

        >>> print_row(["forward"], 1.0, 4.0)
        | forward | 1.00 | 4.00 | 0.25 |
    """
    times = f"{ours:.{digits}f} | {theirs:.{digits}f} | {ours / theirs:.{ratio_digits}f}"
    print("| " + " | ".join(str(c) for c in cells) + f" | {times} |")
