"""Where the time of a NequIP training step goes (issue 16): torch.profiler's table of operators.

Builds the models of bench_models.py (e3core's NequIP and, with --nequip, the nequip package's
and its from_e3nn conversion) on bench_models' QM9 molecules, runs a few warm-up steps, then
profiles training steps (energy-and-forces loss with create_graph, backward, Adam) and prints
the operators by self CPU time, with the step's wall time.

    python bench/profile_train_step.py                        # e3core, 1x32, 16 molecules
    python bench/profile_train_step.py --lmax 2 --features 64 --threads 2
    python bench/profile_train_step.py --nequip --rows 25     # all three contenders
    python bench/profile_train_step.py --compiled             # Trainer(compile=True)'s step
    python bench/profile_train_step.py --compiled --shapes    # a row per operator and shapes

Example (a small run)::

    >>> import subprocess, sys
    >>> out = subprocess.run([sys.executable, __file__, "--steps", "1", "--molecules", "2",
    ...                       "--rows", "3"], capture_output=True, text=True, check=True)
    >>> "ms per step" in out.stdout
    True
"""

import argparse
import time

import bench_models as bm
import torch
from torch.profiler import ProfilerActivity, profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lmax", type=int, default=1)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--molecules", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10, help="profiled steps")
    parser.add_argument("--rows", type=int, default=30, help="operators printed")
    parser.add_argument("--nequip", action="store_true", help="also nequip and from_e3nn")
    parser.add_argument(
        "--shapes", action="store_true", help="one row per operator and input shapes"
    )
    parser.add_argument(
        "--compiled", action="store_true",
        help="e3core's compiled step (Trainer(compile=True)), TorchInductor's kernels named",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    atoms, batch = bm.qm9_sample(args.molecules)
    if args.nequip:
        steps = bm.train_steps(args.lmax, args.features, atoms, batch, compiled=False)
    else:
        model = bm.e3core_model(args.lmax, args.features, bm.QM9_TYPES)
        steps = {"e3core": bm.train_step(model, batch.as_dict(), "energy")}
    if args.compiled:
        # Without it the generated C++ kernels are invisible to the profiler.
        from torch._inductor import config

        config.cpp.enable_kernel_profile = True
        model = bm.e3core_model(args.lmax, args.features, bm.QM9_TYPES)
        steps[bm.E3_COMPILED] = bm.compiled_train_step(model, batch)
    for name, step in steps.items():
        for _ in range(3):
            step()
        start = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU], record_shapes=args.shapes) as prof:
            for _ in range(args.steps):
                step()
        wall = (time.perf_counter() - start) / args.steps * 1e3
        print(f"\n## {name}: {wall:.1f} ms per step under the profiler ({args.threads} threads)")
        table = prof.key_averages(group_by_input_shape=args.shapes)
        print(
            table.table(
                sort_by="self_cpu_time_total",
                row_limit=args.rows,
                max_name_column_width=40,
                max_shapes_column_width=120,
            )
        )


if __name__ == "__main__":
    main()
