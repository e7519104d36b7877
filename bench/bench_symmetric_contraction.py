"""MACE's symmetric contraction alone: e3core.nn.SymmetricContraction against mace-torch's.

Both modules built at the same settings (input: the spherical harmonics' irreps up to max_ell
times the channels, as MACE's product basis gets them; correlation 3), mace-torch's weights
loaded into e3core's, checked equal, then timed side by side (alternating rounds, medians):
the forward, and the forward with the gradient of x (what forces need). Issue 19's baseline
for the contraction op.

    python bench/bench_symmetric_contraction.py              # 192 and 1,536 nodes
    python bench/bench_symmetric_contraction.py --quick      # one small case

Example (a small run)::

    >>> import subprocess, sys
    >>> out = subprocess.run([sys.executable, __file__, "--quick"], capture_output=True,
    ...                      text=True, check=True)
    >>> "| forward |" in out.stdout
    True
"""

import argparse
from collections.abc import Callable

import timing
import torch
from e3core.nn import SymmetricContraction
from e3nn import o3 as e3nn_o3
from mace.modules.symmetric_contraction import SymmetricContraction as MaceContraction

# (channels, hidden irreps, elements): MACE's 32x0e+32x1o water model of issue 19 (H, O), and
# the width of MACE-MP's "small" model (128x0e) with its 89 elements.
CONFIGS = [(32, "32x0e+32x1o", 2), (128, "128x0e", 89)]


def pair(channels: int, hidden: str, elements: int, max_ell: int, correlation: int):
    """mace-torch's module and e3core's with its weights."""
    irreps_in = (e3nn_o3.Irreps.spherical_harmonics(max_ell) * channels).sort()[0].simplify()
    theirs = MaceContraction(irreps_in, e3nn_o3.Irreps(hidden), correlation, num_elements=elements)
    ours = SymmetricContraction(str(irreps_in), hidden, correlation, num_elements=elements)
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours, irreps_in.dim // channels


def forward(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], object]:
    """The module's forward without autograd."""

    def run() -> object:
        with torch.no_grad():
            return module(x, y)

    return run


def with_grad(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], object]:
    """The forward and the gradient of x for a random output gradient."""
    g = torch.randn_like(module(x, y))
    return lambda: torch.autograd.grad(module(x, y), x, g)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[192, 1536])
    parser.add_argument("--max-ell", type=int, default=3)
    parser.add_argument("--correlation", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="32 channels, 48 nodes, 3 rounds")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    configs = CONFIGS[:1] if args.quick else CONFIGS
    nodes_list = [48] if args.quick else args.nodes
    rounds = 3 if args.quick else args.rounds
    timing.print_header(
        f"max_ell {args.max_ell}, correlation {args.correlation}, float32, medians of {rounds} "
        f"alternating rounds; mace-torch {timing.version('mace-torch')}",
        [
            "channels x hidden, elements",
            "step",
            ">nodes",
            ">e3core (ms)",
            ">mace-torch (ms)",
            ">e3core / mace-torch",
        ],
    )
    for channels, hidden, elements in configs:
        theirs, ours, dim = pair(channels, hidden, elements, args.max_ell, args.correlation)
        for nodes in nodes_list:
            x = torch.randn(nodes, channels, dim, requires_grad=True)
            y = torch.eye(elements)[torch.randint(0, elements, (nodes,))]
            expected = theirs(x, y)
            deviation = float((ours(x, y) - expected).abs().max() / expected.abs().max())
            if deviation > 1e-4:
                raise SystemExit(f"e3core deviates from mace-torch by {deviation:.1e}")

            for step, make in (("forward", forward), ("forward + grad x", with_grad)):
                cases = {"e3core": make(ours, x, y), "mace": make(theirs, x, y)}
                times = timing.medians(timing.alternating_times(cases, rounds))
                timing.print_row(
                    [f"{channels} x {hidden}, {elements}", step, nodes],
                    times["e3core"],
                    times["mace"],
                )


if __name__ == "__main__":
    main()
