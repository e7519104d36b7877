"""e3nn's experimental weightless tensor products (FullTensorProductv2,
ElementwiseTensorProductv2): e3core against e3nn, side by side.

Run from the repository root, with e3core installed and e3nn (the bench extras)::

    python bench/bench_tensor_product_v2.py
    python bench/bench_tensor_product_v2.py --batch 4096 --rounds 15

Each case times a forward pass and a forward + backward pass (gradients of both inputs) on a
batch of float32 inputs, for e3core and e3nn in turn, round after round (medians of
``--rounds``); the ratio column is e3core's time over e3nn's (below 1 means e3core is faster).
The output is a markdown table preceded by the machine, thread count, date and versions.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import e3nn.o3
import e3nn.o3.experimental
import torch
from e3core.o3 import experimental
from timing import RESULTS, alternating_times, medians, print_header, print_row

# (class, irreps_in1, irreps_in2): small and wide channels, l up to 2 and 3.
CASES = [
    ("FullTensorProductv2", "4x0e+4x1o+4x2e", "0e+1o+2e"),
    ("FullTensorProductv2", "8x0e+8x1o+8x2e+8x3o", "0e+1o+2e+3o"),
    ("ElementwiseTensorProductv2", "32x0e+32x1o+32x2e", "32x0e+32x1o+32x2e"),
    ("ElementwiseTensorProductv2", "64x0e+64x1o", "128x1o"),
]


def forward(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    """A closure running the module forward without gradients."""

    def run() -> None:
        with torch.no_grad():
            module(x, y)

    return run


def forward_backward(
    module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor
) -> Callable[[], None]:
    """A closure running the module on fresh leaf copies of x, y and back-propagating ones."""

    def run() -> None:
        module(x.detach().requires_grad_(), y.detach().requires_grad_()).sum().backward()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1024, help="samples per pass")
    parser.add_argument("--rounds", type=int, default=9, help="alternating rounds (medians)")
    args = parser.parse_args()

    print_header(
        f"batch {args.batch}, float32, medians of {args.rounds} alternating rounds",
        ["module", "irreps_in1 x irreps_in2", "case", *RESULTS],
    )
    for name, a, b in CASES:
        ours = getattr(experimental, name)(a, b)
        theirs = getattr(e3nn.o3.experimental, name)(e3nn.o3.Irreps(a), e3nn.o3.Irreps(b))
        x = torch.randn(args.batch, ours.irreps_in1.dim)
        y = torch.randn(args.batch, ours.irreps_in2.dim)
        torch.testing.assert_close(ours(x, y), theirs(x, y), rtol=1e-4, atol=1e-4)
        for case, make in (("forward", forward), ("forward + backward", forward_backward)):
            fns = {"e3core": make(ours, x, y), "e3nn": make(theirs, x, y)}
            t = medians(alternating_times(fns, args.rounds))
            print_row([name, f"{a} x {b}", case], t["e3core"], t["e3nn"])


if __name__ == "__main__":
    main()
