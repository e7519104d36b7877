"""e3nn's nn.models (gate_points_2101 / 2102 networks, v2104 voxel convolution): e3core against
e3nn with the same weights, side by side.

Run from the repository root, with e3core installed and e3nn (the bench extras)::

    python bench/bench_nn_models.py
    python bench/bench_nn_models.py --nodes 200 --rounds 15

Each case times a forward pass and a forward + backward pass (gradients of the parameters and
of the positions or voxels) for e3core and e3nn in turn, round after round (medians of
``--rounds``); the ratio column is e3core's time over e3nn's (below 1 means e3core is faster).
The output is a markdown table preceded by the machine, thread count, date and versions.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import e3nn.nn.models.gate_points_2101
import e3nn.nn.models.gate_points_2102
import e3nn.nn.models.v2104.voxel_convolution
import torch
from e3core.nn.models import gate_points_2101, gate_points_2102
from e3core.nn.models.v2104 import voxel_convolution
from timing import RESULTS, alternating_times, medians, print_header, print_row

NETWORK = ("4x0e", "16x0e+16x0o+8x1o+8x1e+4x2e+4x2o", "4x0e+2x1o", "2x0e", "0e+1o+2e", 2, 2.5)
RADIAL = (8, 1, 32, 10.0, 20.0)


def exact_radius_graph(pos: torch.Tensor, r_max: float, batch: torch.Tensor) -> torch.Tensor:
    """e3nn's radius_graph with exact distances: torch.cdist's matrix-product path (above 25
    points) leaves some distances of a point to itself above 0, which e3nn keeps as self loops
    and e3core does not make."""
    r = torch.cdist(pos, pos, compute_mode="donot_use_mm_for_euclid_dist")
    index = ((r < r_max) & (r > 0)).nonzero().T
    return index[:, batch[index[0]] == batch[index[1]]]


def forward(module: torch.nn.Module, *inputs: object) -> Callable[[], None]:
    """A closure running the module forward without gradients."""

    def run() -> None:
        with torch.no_grad():
            module(*inputs)

    return run


def forward_backward(module: torch.nn.Module, run_once: Callable[[], torch.Tensor]):
    """A closure running ``run_once`` and back-propagating a sum of its output."""

    def run() -> None:
        module.zero_grad(set_to_none=True)
        run_once().sum().backward()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100, help="points per cloud (2 clouds)")
    parser.add_argument("--voxels", type=int, default=16, help="voxels per image side")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (medians)")
    args = parser.parse_args()

    print_header(
        f"float32, medians of {args.rounds} alternating rounds", ["model", "size", "case", *RESULTS]
    )
    n = 2 * args.nodes
    # Two clouds at about 6 neighbours within 2.5 per point.
    data = {
        "pos": torch.randn(n, 3) * (args.nodes / 12) ** (1 / 3) * 1.5,
        "x": torch.randn(n, 4),
        "z": torch.randn(n, 2),
        "batch": torch.arange(n) // args.nodes,
    }
    e3nn.nn.models.gate_points_2101.radius_graph = exact_radius_graph
    e3nn.nn.models.gate_points_2102.radius_graph = exact_radius_graph
    for name, ours_lib, theirs_lib in (
        ("gate_points_2101", gate_points_2101, e3nn.nn.models.gate_points_2101),
        ("gate_points_2102", gate_points_2102, e3nn.nn.models.gate_points_2102),
    ):
        theirs = theirs_lib.Network(*NETWORK, *RADIAL)
        ours = ours_lib.Network(*NETWORK, *RADIAL)
        ours.load_state_dict(theirs.state_dict())
        torch.testing.assert_close(ours(data), theirs(data), rtol=1e-4, atol=1e-4)

        def with_grad(net: torch.nn.Module) -> Callable[[], torch.Tensor]:
            return lambda: net({**data, "pos": data["pos"].detach().requires_grad_()})

        cases = {
            "forward": (forward(ours, data), forward(theirs, data)),
            "forward + backward": (
                forward_backward(ours, with_grad(ours)),
                forward_backward(theirs, with_grad(theirs)),
            ),
        }
        for case, (a, b) in cases.items():
            t = medians(alternating_times({"e3core": a, "e3nn": b}, args.rounds))
            print_row([name, f"{n} points", case], t["e3core"], t["e3nn"], digits=1)

    conv_args = ("4x0e+2x1e", "4x0e+2x1e+2x1o+1x2e", "0e+1o+2e", 5.0, 5)
    theirs = e3nn.nn.models.v2104.voxel_convolution.Convolution(*conv_args)
    ours = voxel_convolution.Convolution(*conv_args)
    ours.load_state_dict(theirs.state_dict())
    image = torch.randn(2, 10, args.voxels, args.voxels, args.voxels)
    torch.testing.assert_close(ours(image), theirs(image), rtol=1e-4, atol=1e-4)
    cases = {
        "forward": (forward(ours, image), forward(theirs, image)),
        "forward + backward": (
            forward_backward(ours, lambda: ours(image.detach().requires_grad_())),
            forward_backward(theirs, lambda: theirs(image.detach().requires_grad_())),
        ),
    }
    for case, (a, b) in cases.items():
        t = medians(alternating_times({"e3core": a, "e3nn": b}, args.rounds))
        size = f"2 x {args.voxels}^3"
        print_row(["voxel Convolution", size, case], t["e3core"], t["e3nn"], digits=1)


if __name__ == "__main__":
    main()
