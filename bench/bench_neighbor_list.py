"""Neighbour-list timings: e3core against vesin, matscipy and ase, side by side.

Run from the repository root, with e3core installed and the bench extras (vesin, matscipy, ase)::

    python bench/bench_neighbor_list.py
    python bench/bench_neighbor_list.py --atoms 1000 20000 --cutoff 5 --repeats 7

Each case is a periodic cubic box of random float64 positions at 0.1 atoms per cubic angstrom
and a full list (both (i, j) and (j, i)) within the cutoff, asking every library for the same
quantities (ase's letters: i, j, S, and d, D) as numpy arrays. e3core runs on all its threads and
on one (vesin, matscipy and ase use one). Times are the best of ``--repeats`` runs after one
warm-up run (ase: of one run past 5,000 atoms, it takes seconds); the ratio column is e3core's
time over the reference's (below 1 means e3core is faster). The output is a markdown table
preceded by the machine, thread count, date and versions.
"""

from __future__ import annotations

import argparse
import datetime
import platform
from collections.abc import Callable

import ase
import ase.neighborlist
import e3core
import numpy as np
import vesin
from e3core import _core, graph
from matscipy.neighbours import neighbour_list as matscipy_neighbour_list
from timing import best_time, cpu_model, version

DENSITY = 0.1  # atoms per cubic angstrom


def references(
    positions: np.ndarray, cell: np.ndarray, cutoff: float, quantities: str
) -> dict[str, Callable[[], object]]:
    """The reference libraries' calls for the same list."""
    nl = vesin.NeighborList(cutoff=cutoff, full_list=True)
    atoms = ase.Atoms(positions=positions, cell=cell, pbc=True)
    return {
        "vesin": lambda: nl.compute(
            points=positions, box=cell, periodic=True, quantities=quantities
        ),
        "matscipy": lambda: matscipy_neighbour_list(
            quantities, positions=positions, cell=cell, pbc=[True] * 3, cutoff=cutoff
        ),
        "ase": lambda: ase.neighborlist.neighbor_list(quantities, atoms, cutoff),
    }


def e3core_time(fn: Callable[[], object], threads: int, repeats: int) -> float:
    """Best time of fn with e3core's core on `threads` threads."""
    default = _core.num_threads()
    _core.set_num_threads(threads)
    try:
        return best_time(fn, repeats)
    finally:
        _core.set_num_threads(default)


def bench_size(
    n: int, cutoff: float, repeats: int, quantities: list[str]
) -> list[tuple[str, int, float, str, float]]:
    """Rows (quantities, e3core threads, e3core ms, reference, reference ms) for n atoms."""
    rng = np.random.default_rng(0)
    side = (n / DENSITY) ** (1 / 3)
    cell = side * np.eye(3)
    positions = rng.uniform(0, side, (n, 3))
    rows = []
    for q in quantities:

        def ours(q: str = q) -> object:
            return graph.neighbor_list(q, positions, cutoff, cell, True)

        all_threads = e3core_time(ours, _core.num_threads(), repeats)
        one_thread = e3core_time(ours, 1, repeats)
        pairs = len(ours()[0])
        for name, ref in references(positions, cell, cutoff, q).items():
            ref_repeats = 1 if name == "ase" and n > 5000 else repeats
            assert len(ref()[0]) == pairs, f"{name} finds another number of pairs"
            ref_time = best_time(ref, ref_repeats)
            rows.append((q, _core.num_threads(), all_threads, name, ref_time))
            rows.append((q, 1, one_thread, name, ref_time))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atoms", type=int, nargs="+", default=[1000, 20000], help="sizes")
    parser.add_argument("--cutoff", type=float, default=5.0, help="cutoff in angstrom")
    parser.add_argument("--quantities", nargs="+", default=["ijS", "ijSdD"], help="ase letters")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per case (best kept)")
    args = parser.parse_args()

    print(f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"- CPU: {cpu_model()} ({platform.machine()}, {_core.num_threads()} threads for e3core)")
    print(
        f"- versions: e3core {e3core.__version__}, vesin {version('vesin')}, "
        f"matscipy {version('matscipy')}, ase {ase.__version__}, numpy {np.__version__}, "
        f"python {platform.python_version()}"
    )
    print(
        f"- periodic cubic box, {DENSITY} atoms/Å³, cutoff {args.cutoff} Å, full list, float64, "
        f"best of {args.repeats}"
    )
    print()
    print(
        "| atoms | quantities | e3core threads | e3core (ms) | reference | reference (ms) | ratio |"
    )
    print("|---:|---|---:|---:|---|---:|---:|")
    for n in args.atoms:
        for q, threads, ours, ref_name, ref in bench_size(
            n, args.cutoff, args.repeats, args.quantities
        ):
            ratio = ours / ref
            print(f"| {n} | {q} | {threads} | {ours:.2f} | {ref_name} | {ref:.2f} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
