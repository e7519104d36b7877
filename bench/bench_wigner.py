"""Wigner D matrices of a batch of rotations: e3core's op against e3nn's matrix exponentials.

Run from the repository root, with e3core installed and e3nn (the bench extra)::

    python bench/bench_wigner.py
    python bench/bench_wigner.py --batch 100000 --rounds 9

For each degree l: D^l of ``--batch`` random Euler angles (forward), and forward plus backward
of a loss of D (the gradients in the three angles, as a model rotating edge features into
their frames needs). Cases run in turn round by round and the medians are reported; the ratio
is e3core's time over e3nn's (below 1 means e3core is faster). e3nn builds its so(3) generators
in the default dtype, so the default dtype is set to each run's dtype. The output is a markdown
table preceded by the machine, thread count, date and versions.
"""

from __future__ import annotations

import argparse

import e3nn.o3
import torch
from e3core import o3
from timing import RESULTS, alternating_times, medians, print_header, print_row


def forward_backward(wigner_D, l: int, angles: list[torch.Tensor]) -> None:
    wigner_D(l, *angles).pow(2).sum().backward()


def rows(l: int, batch: int, dtype: torch.dtype, rounds: int) -> list[tuple[str, float, float]]:
    """(case, e3core ms, e3nn ms) for the forward and the forward plus backward at degree l."""
    angles = [a.requires_grad_() for a in o3.rand_angles(batch, dtype=dtype)]
    plain = [a.detach() for a in angles]
    forward = medians(
        alternating_times(
            {
                "e3core": lambda: o3.wigner_D(l, *plain),
                "e3nn": lambda: e3nn.o3.wigner_D(l, *plain),
            },
            rounds,
        )
    )
    backward = medians(
        alternating_times(
            {
                "e3core": lambda: forward_backward(o3.wigner_D, l, angles),
                "e3nn": lambda: forward_backward(e3nn.o3.wigner_D, l, angles),
            },
            rounds,
        )
    )
    return [
        ("forward", forward["e3core"], forward["e3nn"]),
        ("forward+backward", backward["e3core"], backward["e3nn"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=10000, help="rotations per call")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (median kept)")
    parser.add_argument("--lmax", type=int, default=6, help="largest degree timed")
    args = parser.parse_args()
    print_header(
        f"batch {args.batch}, median of {args.rounds} alternating rounds",
        ["dtype", ">l", "case", *RESULTS],
    )
    saved = torch.get_default_dtype()
    for dtype in (torch.float32, torch.float64):
        torch.set_default_dtype(dtype)
        for l in range(1, args.lmax + 1):
            for case, ours, ref in rows(l, args.batch, dtype, args.rounds):
                name = str(dtype).removeprefix("torch.")
                print_row([name, l, case], ours, ref, ratio_digits=3)
    torch.set_default_dtype(saved)


if __name__ == "__main__":
    main()
