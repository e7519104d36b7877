"""Spherical harmonics timings: e3core against sphericart and e3nn, side by side.

Run from the repository root, with e3core installed and the bench extras (e3nn, sphericart)::

    python bench/bench_spherical_harmonics.py
    python bench/bench_spherical_harmonics.py --n 100000 --lmax 2 3 8 --repeats 7

Every case evaluates normalized harmonics with e3nn's "integral" normalization on the same
float32 vectors. Times are the best of ``--repeats`` runs after one warm-up run; the ratio column
is e3core's time over the reference's (below 1 means e3core is faster). The output is a markdown
table preceded by the machine, thread count, date and versions.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import site
from collections.abc import Callable

import e3core
import numpy as np
import torch
from e3core import _core
from timing import best_time, cpu_model, version


def load_sphericart_torch() -> tuple[object | None, str]:
    """sphericart.torch if it loads, else None, with a note on why not.

    sphericart and sphericart-torch may sit in different site-packages (e.g. a venv that sees
    the system's packages); sphericart.torch is then found by extending the package's path.
    """
    try:
        import sphericart

        for base in [*site.getsitepackages(), site.getusersitepackages()]:
            path = os.path.join(base, "sphericart")
            if os.path.isdir(path) and path not in sphericart.__path__:
                sphericart.__path__.append(path)
        import sphericart.torch as sphericart_torch

        return sphericart_torch, sphericart_torch.__name__
    except Exception as error:  # noqa: BLE001 - any failure to load just drops the column
        return None, f"not available ({type(error).__name__}: {error})"


def torch_forward_backward(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, g: torch.Tensor
) -> Callable[[], None]:
    """A closure running fn forward on a fresh leaf copy of x and back-propagating g."""

    def run() -> None:
        xr = x.detach().requires_grad_()
        fn(xr).backward(g)

    return run


def bench_degree(
    lmax: int, n: int, repeats: int, sphericart_torch: object | None
) -> list[tuple[str, float, str, float]]:
    """Rows (case, e3core ms, reference, reference ms) for one degree."""
    import e3nn.o3
    import sphericart

    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((n, 3)).astype(np.float32)
    x = torch.from_numpy(x_np)
    g = torch.from_numpy(rng.standard_normal((n, (lmax + 1) ** 2)).astype(np.float32))

    sct = sphericart.SphericalHarmonics(lmax)
    e3_fwd = best_time(lambda: _core.spherical_harmonics(x_np, lmax), repeats)
    e3_grad = best_time(lambda: _core.spherical_harmonics(x_np, lmax, gradients=True), repeats)
    rows = [
        ("numpy forward", e3_fwd, "sphericart", best_time(lambda: sct.compute(x_np), repeats)),
        (
            "numpy forward + gradients",
            e3_grad,
            "sphericart",
            best_time(lambda: sct.compute_with_gradients(x_np), repeats),
        ),
    ]

    ls = list(range(lmax + 1))

    def e3nn_sh(v: torch.Tensor) -> torch.Tensor:
        return e3nn.o3.spherical_harmonics(ls, v, True, "integral")

    def op_sh(v: torch.Tensor) -> torch.Tensor:
        return torch.ops.e3core.spherical_harmonics(v, lmax, True, "integral")

    with torch.no_grad():
        op_fwd = best_time(lambda: op_sh(x), repeats)
        e3nn_fwd = best_time(lambda: e3nn_sh(x), repeats)
    op_bwd = best_time(torch_forward_backward(op_sh, x, g), repeats)
    e3nn_bwd = best_time(torch_forward_backward(e3nn_sh, x, g), repeats)
    rows += [
        ("torch forward", op_fwd, "e3nn", e3nn_fwd),
        ("torch forward + backward", op_bwd, "e3nn", e3nn_bwd),
    ]

    if sphericart_torch is not None:
        # sphericart's convention differs from e3nn's (axis order, no normalize), but the
        # work per vector is the same, which is what the timing compares.
        sct_t = sphericart_torch.SphericalHarmonics(lmax)
        with torch.no_grad():
            sct_fwd = best_time(lambda: sct_t(x), repeats)
        rows.append(("torch forward", op_fwd, "sphericart.torch", sct_fwd))
        rows.append(
            (
                "torch forward + backward",
                op_bwd,
                "sphericart.torch",
                best_time(torch_forward_backward(sct_t, x, g), repeats),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of vectors")
    parser.add_argument("--lmax", type=int, nargs="+", default=[3, 8], help="degrees")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (best kept)")
    args = parser.parse_args()

    import e3nn

    sphericart_torch, sphericart_torch_note = load_sphericart_torch()
    threads = torch.get_num_threads()
    print(f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"- CPU: {cpu_model()} ({os.cpu_count()} logical cores)")
    print(f"- threads: {threads} (torch.get_num_threads(); e3core: {_core.num_threads()})")
    print(
        f"- versions: e3core {e3core.__version__}, torch {torch.__version__}, "
        f"e3nn {e3nn.__version__}, sphericart {version('sphericart')}, "
        f"numpy {np.__version__}, python {platform.python_version()}"
    )
    print(f"- sphericart.torch: {sphericart_torch_note}")
    print(f"- {args.n} float32 vectors, normalize=True, 'integral', best of {args.repeats}")
    print()
    print("| lmax | case | e3core (ms) | reference | reference (ms) | ratio |")
    print("|---:|---|---:|---|---:|---:|")
    for lmax in args.lmax:
        for case, ours, ref_name, ref in bench_degree(lmax, args.n, args.repeats, sphericart_torch):
            print(f"| {lmax} | {case} | {ours:.1f} | {ref_name} | {ref:.1f} | {ours / ref:.2f} |")


if __name__ == "__main__":
    main()
