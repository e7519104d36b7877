"""Linear layers: e3nn's ``o3.Linear`` against e3core's, whose paths run as matrix products.

e3core's ``Linear`` is a tensor product with one shared scalar as x2. Its paths of l = 0 to 3
run as products of every sample's rows with the weights, lent by torch (oneMKL); paths of
higher l run in the tensor-product kernels. The table times, side by side in alternating
rounds, the forward and the forward with the gradients of the features and the weights of:
e3nn's layer and e3core's (the modules), and e3core's op as the layer calls it ("products", x2
one shared row) and with x2 given as one row per sample ("kernels"; the route of the products is
not taken), so that the last two differ only in the route.

    python bench/bench_linear.py
    python bench/bench_linear.py --rows 101 1536 --rounds 7

Example (a small run)::

    >>> import subprocess, sys
    >>> out = subprocess.run([sys.executable, __file__, "--rows", "5", "--rounds", "1",
    ...                       "--calls", "2", "--irreps", "64x0e"],
    ...                      capture_output=True, text=True, check=True)
    >>> "| 64x0e | 5 |" in out.stdout
    True
"""

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import e3nn.o3
import timing
import torch
from e3core import o3

IRREPS = ["32x0e+32x1o", "64x0e", "128x0e", "128x1o", "128x2e", "64x0e+64x0e+128x1o"]


def median_us(run: Callable[[], object], calls: int) -> float:
    """The median time of ``calls`` calls of ``run``, in µs."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def contenders(irreps: str, rows: int) -> dict[str, Callable[[bool], object]]:
    """Each contender as a function of ``backward``: the forward alone, or with the gradients."""
    torch.manual_seed(0)
    ref = e3nn.o3.Linear(irreps, irreps)
    ours = o3.Linear(irreps, irreps)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(rows, ours.irreps_in.dim, requires_grad=True)
    g = torch.randn(rows, ours.irreps_out.dim)
    per_sample_one = torch.ones(rows, 1)

    def op(x2: torch.Tensor) -> Callable[[], torch.Tensor]:
        return lambda: torch.ops.e3core.tensor_product(
            x, x2, ours.weight, ours.plan, None, None, [rows, ours.irreps_out.dim]
        )

    def timed(forward: Callable[[], torch.Tensor], weight: torch.Tensor) -> Callable:
        def run(backward: bool) -> object:
            if not backward:
                with torch.no_grad():
                    return forward()
            return torch.autograd.grad(forward(), [x, weight], g)

        return run

    runs = {
        "e3nn": timed(lambda: ref(x), ref.weight),
        "e3core": timed(lambda: ours(x), ours.weight),
        "kernels": timed(op(per_sample_one), ours.weight),
        "products": timed(op(ours._one), ours.weight),
    }
    expected = ref(x).detach()
    for name, run in runs.items():
        deviation = float((run(False) - expected).abs().max() / expected.abs().max())
        if deviation > 1e-5:
            raise SystemExit(f"{name} deviates from e3nn by {deviation:.1e} on {irreps}")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--irreps", nargs="+", default=IRREPS)
    parser.add_argument("--rows", nargs="+", type=int, default=[101, 1536])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--calls", type=int, default=60, help="calls timed per round")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    timing.print_header(
        "float32; per round the median of --calls calls; medians over rounds",
        ["irreps", ">rows", ">e3nn fwd (µs)", ">e3core fwd", ">e3nn fwd+bwd", ">e3core fwd+bwd",
         ">e3nn / e3core fwd", ">e3nn / e3core fwd+bwd", ">kernels fwd", ">products fwd",
         ">kernels fwd+bwd", ">products fwd+bwd", ">kernels / products fwd",
         ">kernels / products fwd+bwd"],
    )  # fmt: skip
    for irreps in args.irreps:
        for rows in args.rows:
            runs = contenders(irreps, rows)
            times: dict[tuple[str, bool], list[float]] = {}
            for _ in range(args.rounds):
                for backward in (False, True):
                    for name, run in runs.items():
                        for _ in range(2):
                            run(backward)
                        times.setdefault((name, backward), []).append(
                            median_us(functools.partial(run, backward), args.calls)
                        )
            t = {key: statistics.median(v) for key, v in times.items()}
            both = (False, True)
            cells = [f"{t[name, b]:.1f}" for b in both for name in ("e3nn", "e3core")]
            cells += [f"{t['e3nn', b] / t['e3core', b]:.2f}" for b in both]
            cells += [f"{t[name, b]:.1f}" for b in both for name in ("kernels", "products")]
            cells += [f"{t['kernels', b] / t['products', b]:.2f}" for b in both]
            print(f"| {irreps} | {rows} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
