"""ReducedTensorProducts timings: e3core against e3nn, construction and forward.

Run from the repository root, with e3core installed and e3nn (the bench extra)::

    python bench/bench_reduced_tensor_products.py
    python bench/bench_reduced_tensor_products.py --batch 10000 --rounds 9

Construction is timed without e3core's cache (cleared before each build) and with it (a second
build of the same formula); e3nn builds its tensor products and generated code every time.
Forward is a float32 batch of ``--batch`` inputs, forward plus backward. Cases run in turn
round by round and the medians are reported; the ratio is e3core's time over e3nn's (below 1
means e3core is faster). The output is a markdown table preceded by the machine, thread count,
date and versions.
"""

from __future__ import annotations

import argparse

import e3nn.o3
import torch
from e3core import o3
from e3core.o3._reduce import _basis
from timing import RESULTS, alternating_times, medians, print_header, print_row

CASES = [
    ("ij=ji", {"i": "1o"}),
    ("ij=-ji", {"i": "1o"}),
    ("ijk=jik=ikj", {"i": "1o"}),
    ("ijkl=jikl=ijlk=klij", {"i": "1o"}),
    ("ij=ji", {"i": "1e+2o"}),
    ("ijk=jik", {"i": "0e+1o", "k": "1e"}),
]


def uncached(formula: str, kwargs: dict[str, str]) -> o3.ReducedTensorProducts:
    _basis.cache_clear()
    return o3.ReducedTensorProducts(formula, **kwargs)


def forward_backward(module: torch.nn.Module, xs: list[torch.Tensor]) -> None:
    module(*xs).sum().backward()


def bench_case(formula: str, kwargs: dict[str, str], batch: int, rounds: int) -> list[tuple]:
    """(case, e3core ms, e3nn ms) rows for construction and forward of one formula."""
    build = medians(
        alternating_times(
            {
                "e3core": lambda: uncached(formula, kwargs),
                "e3core cached": lambda: o3.ReducedTensorProducts(formula, **kwargs),
                "e3nn": lambda: e3nn.o3.ReducedTensorProducts(formula, **kwargs),
            },
            rounds,
        )
    )
    ours = o3.ReducedTensorProducts(formula, **kwargs)
    theirs = e3nn.o3.ReducedTensorProducts(formula, **kwargs)
    xs = [torch.randn(batch, irreps.dim, requires_grad=True) for irreps in ours.irreps_in]
    run = medians(
        alternating_times(
            {
                "e3core": lambda: forward_backward(ours, xs),
                "e3nn": lambda: forward_backward(theirs, xs),
            },
            rounds,
        )
    )
    return [
        ("construction", build["e3core"], build["e3nn"]),
        ("construction (cached)", build["e3core cached"], build["e3nn"]),
        ("forward+backward", run["e3core"], run["e3nn"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000, help="inputs per forward")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (median kept)")
    args = parser.parse_args()
    print_header(
        f"batch {args.batch} float32, median of {args.rounds} alternating rounds",
        ["formula", "irreps", "case", *RESULTS],
    )
    for formula, kwargs in CASES:
        irreps = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        for case, ours, ref in bench_case(formula, kwargs, args.batch, args.rounds):
            print_row([f"`{formula}`", irreps, case], ours, ref, ratio_digits=3)


if __name__ == "__main__":
    main()
