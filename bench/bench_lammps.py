"""MD steps per second of an exported NequIP on 1,536 atoms of water: LAMMPS with
pair_style e3core (1 rank x 2 threads, and 2 ranks x 1 thread in ghost mode), the raw
e3core::Model call (examples/cpp/md's e3core_md) and ASE (e3core.deploy.Calculator with ase's
VelocityVerlet).

Run from the repository root after building the plugin and the example (the tests build both:
``pytest tests/python/test_lammps.py tests/python/test_deploy_cpp.py``, or docs/lammps.md)::

    python bench/bench_lammps.py
    python bench/bench_lammps.py --steps 20 --ghost-steps 3 --repeats 3

The model is ``models.build("nequip", type_numbers=[1, 8])`` at its defaults (float32, r_max 5,
three layers: a receptive field of 15 A), seed 0, exported as TorchScript; the structure is
e3core_md's (randomly turned molecules at 1 g/cm^3), given to every case. Each repeat runs
every case once, in turn; the table gives the median over repeats of the time per step
(LAMMPS: its loop time of the timed run, after a warm-up run; e3core_md: the wall time of N
steps minus that of 0 steps; ASE: the wall time of N steps after a warm-up step). The output
is a markdown table preceded by the machine, its load and the date.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from timing import cpu_model, version

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

from test_lammps import LAMMPS, deck, write_data  # noqa: E402

LAMMPS_BODY = """
velocity all create 300 4928459 mom yes rot no dist gaussian loop geom
timestep 0.0005
fix nve all nve
thermo 1000
run 2
run {steps}
"""


def lammps_step(
    plugin: Path, data: Path, model: Path, work: Path, ranks: int, threads: int, steps: int
) -> float:
    """Seconds per step of LAMMPS on ``ranks`` x ``threads``: its loop time of ``steps`` steps
    after a warm-up run of 2.

    Example::

        >>> lammps_step(plugin, data, model, work, 1, 2, 10)  # doctest: +SKIP
        0.81
    """
    assert LAMMPS is not None
    lmp, mpiexec, mpi_lib = LAMMPS
    work.mkdir(parents=True, exist_ok=True)
    (work / "in.lmp").write_text(deck(data, model, LAMMPS_BODY.format(steps=steps)))
    command = [str(lmp), "-in", "in.lmp", "-log", "log.lammps", "-nocite", "-screen", "none"]
    if ranks > 1:
        command = [str(mpiexec), "-n", str(ranks), *command]
    env = {
        **os.environ,
        "LD_LIBRARY_PATH": f"{mpi_lib}:{plugin.parent}:{os.environ.get('LD_LIBRARY_PATH', '')}",
        "OMP_NUM_THREADS": str(threads),
    }
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    log = (work / "log.lammps").read_text() if (work / "log.lammps").is_file() else ""
    loops = re.findall(r"Loop time of (\S+) on", log)
    if result.returncode != 0 or len(loops) != 2:
        raise RuntimeError(f"LAMMPS failed ({result.returncode}):\n{log[-3000:]}{result.stderr}")
    return float(loops[1]) / steps


def raw_step(program: Path, model: Path, threads: int, steps: int) -> float:
    """Seconds per step of e3core_md (the raw e3core::Model call and velocity Verlet) on 8^3
    molecules: the wall time of ``steps`` steps minus that of none.

    Example::

        >>> raw_step(Path("build/deploy/md/e3core_md"), model, 2, 10)  # doctest: +SKIP
        0.78
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}

    def wall(n: int) -> float:
        start = time.perf_counter()
        subprocess.run(
            [str(program), str(model), "--molecules-per-side", "8", "--steps", str(n),
             "--print-every", str(max(n, 1))],
            check=True, capture_output=True, env=env,
        )  # fmt: skip
        return time.perf_counter() - start

    return (wall(steps) - wall(0)) / steps


def md_structure(
    program: Path, model: Path, work: Path, type_numbers: list[int]
) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Positions, atomic numbers and cell of e3core_md's 8^3 molecules (its ``--dump``; atom
    type t is the model's ``type_numbers[t]``), so that every case runs the same structure.

    Example::

        >>> positions, numbers, cell = md_structure(program, model, work, [1, 8])  # doctest: +SKIP
        >>> positions.shape  # doctest: +SKIP
        (1536, 3)
    """
    dump = work / "structure.txt"
    command = [str(program), str(model), "--molecules-per-side", "8", "--steps", "0"]
    subprocess.run([*command, "--dump", str(dump)], check=True, capture_output=True)
    rows = {row.split()[0]: row.split()[1:] for row in dump.read_text().splitlines()}
    numbers = [type_numbers[int(t)] for t in rows["atom_types"]]
    positions = np.array(rows["positions"], dtype=np.float64).reshape(-1, 3)
    return positions, numbers, np.array(rows["cell"], dtype=np.float64).reshape(3, 3)


def ase_step(model: Path, data: tuple[np.ndarray, list[int], np.ndarray], steps: int) -> float:
    """Seconds per step of ase's VelocityVerlet with e3core.deploy.Calculator, after one.

    Example::

        >>> ase_step(model, md_structure(program, model, work, [1, 8]), 10)  # doctest: +SKIP
        0.85
    """
    from ase import Atoms, units
    from ase.md.velocitydistribution import thermalize_momenta
    from ase.md.verlet import VelocityVerlet
    from e3core.deploy import Calculator

    positions, numbers, cell = data
    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True)
    atoms.calc = Calculator(str(model))
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    dynamics.run(1)
    start = time.perf_counter()
    dynamics.run(steps)
    return (time.perf_counter() - start) / steps


def main() -> None:
    """Runs the cases ``--repeats`` times in turn and prints the table of medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugin", type=Path, default=ROOT / "build/deploy/lammps/e3coreplugin.so")
    parser.add_argument("--md", type=Path, default=ROOT / "build/deploy/md/e3core_md")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per case")
    parser.add_argument("--ghost-steps", type=int, default=3, help="the same, 2 ranks")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for path in (args.plugin, args.md):
        if not path.is_file():
            sys.exit(f"{path} is missing: build it first (see the docstring)")
    if LAMMPS is None:
        sys.exit("the lammps and mpich packages are missing (pip install lammps mpich)")

    from e3core import deploy, models

    work = Path(tempfile.mkdtemp(prefix="e3core-bench-lammps-"))
    torch.manual_seed(0)
    model = work / "nequip.pt"
    meta = deploy.export(models.build("nequip", type_numbers=[1, 8]), model, "torchscript")
    structure = md_structure(args.md, model, work, meta["type_numbers"])
    write_data(work / "water.data", *structure)
    torch.set_num_threads(2)
    cases = {
        "LAMMPS, 1 rank x 2 threads": lambda: lammps_step(
            args.plugin, work / "water.data", model, work / "r1", 1, 2, args.steps
        ),
        "LAMMPS, 2 ranks x 1 thread (ghost mode)": lambda: lammps_step(
            args.plugin, work / "water.data", model, work / "r2", 2, 1, args.ghost_steps
        ),
        "e3core::Model (e3core_md), 2 threads": lambda: raw_step(args.md, model, 2, args.steps),
        "ASE VelocityVerlet + Calculator, 2 threads": lambda: ase_step(
            model, structure, args.steps
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, case in cases.items():
            times[name].append(case())
    medians = {name: statistics.median(values) for name, values in times.items()}
    raw = medians["e3core::Model (e3core_md), 2 threads"]

    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(
        f"# LAMMPS pair_style e3core: 1,536 atoms of water, NequIP at its defaults "
        f"({meta['dtype']}, r_max {meta['r_max']}, receptive field {meta['receptive_field']})"
    )
    print(
        f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()}; "
        f"{datetime.datetime.now().isoformat(timespec='minutes')}; {load}"
    )
    print(
        f"e3core {version('e3core')}, torch {torch.__version__}, lammps {version('lammps')}, "
        f"ase {version('ase')}; median of {args.repeats} repeats, {args.steps} steps "
        f"({args.ghost_steps} with 2 ranks)\n"
    )
    print("| case | ms/step | steps/s | / raw call |")
    print("|---|---:|---:|---:|")
    for name, seconds in medians.items():
        print(f"| {name} | {1e3 * seconds:.1f} | {1 / seconds:.2f} | {seconds / raw:.2f} |")


if __name__ == "__main__":
    main()
