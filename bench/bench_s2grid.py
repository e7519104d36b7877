"""Sphere-grid transforms (ToS2Grid, FromS2Grid): e3core against e3nn, side by side.

Run from the repository root, with e3core installed and e3nn (the bench extras)::

    python bench/bench_s2grid.py
    python bench/bench_s2grid.py --batch 256 --rounds 15 --threads 1

Each case times the construction of the module and a forward + backward pass on a batch of
float32 signals, for e3core and e3nn in turn, round after round (medians of ``--rounds``); the
ratio column is e3core's time over e3nn's (below 1 means e3core is faster). The output is a
markdown table preceded by the machine, thread count, date and versions.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import e3nn.o3
import torch
from e3core import o3
from timing import RESULTS, alternating_times, medians, print_header, print_row

# (lmax, res): e3nn's docstring example and the default grids (e3nn's construction takes
# seconds from lmax 20 on).
CASES = [(6, (100, 101)), (10, None), (20, None)]


def forward_backward(module: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """A closure running module forward on a fresh leaf copy of x and back-propagating ones."""

    def run() -> None:
        module(x.detach().requires_grad_()).sum().backward()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="signals per forward pass")
    parser.add_argument("--rounds", type=int, default=9, help="alternating rounds (medians)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (its default)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    print_header(
        f"batch {args.batch}, float32, medians of {args.rounds} alternating rounds",
        ["module", ">lmax", "res (beta x alpha)", "case", *RESULTS],
    )
    for lmax, res in CASES:
        for name in ("ToS2Grid", "FromS2Grid"):

            def build(lib: object, name: str = name, lmax: int = lmax, res: object = res):
                cls = getattr(lib, name)
                return cls(lmax, res) if name == "ToS2Grid" else cls(res, lmax)

            ours, theirs = build(o3), build(e3nn.o3)
            if name == "ToS2Grid":
                x = torch.randn(args.batch, (lmax + 1) ** 2)
            else:
                x = torch.randn(args.batch, ours.res_beta, ours.res_alpha)
            rows = {
                "construction": {
                    "e3core": lambda b=build: b(o3),
                    "e3nn": lambda b=build: b(e3nn.o3),
                },
                "forward + backward": {
                    "e3core": forward_backward(ours, x),
                    "e3nn": forward_backward(theirs, x),
                },
            }
            for case, fns in rows.items():
                t = medians(alternating_times(fns, args.rounds))
                grid = f"{ours.res_beta} x {ours.res_alpha}"
                print_row([name, lmax, grid, case], t["e3core"], t["e3nn"])


if __name__ == "__main__":
    main()
