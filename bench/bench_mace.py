"""Whole MACE models: mace-torch's ScaleShiftMACE against the same model converted by
``e3core.from_e3nn`` (every e3nn module and the symmetric contraction replaced by e3core's).

Issue 19's configuration: hidden irreps 32x0e+32x1o, max_ell 3, correlation 3, 2 interactions,
radial MLP [64, 64, 64], 8 Bessel functions, r_max 5 Å, H and O, float32, random weights.
Energy + forces of periodic water boxes (``tests/python/deploy_model.py``'s ``water``: 4^3 and
8^3 molecules, 192 and 1,536 atoms), mace-torch's own data pipeline and neighbour list; the
converted model is checked against mace-torch's outputs, then both are timed in alternating
rounds (medians).

    python bench/bench_mace.py                 # 192 and 1,536 atoms
    python bench/bench_mace.py --sizes 4       # 192 atoms only

Example (a small run)::

    >>> import subprocess, sys
    >>> out = subprocess.run([sys.executable, __file__, "--sizes", "2", "--rounds", "2"],
    ...                      capture_output=True, text=True, check=True)
    >>> "| 24 |" in out.stdout
    True
"""

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import timing
import torch
from e3core import from_e3nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
from deploy_model import water  # noqa: E402

R_MAX = 5.0


def mace_model() -> torch.nn.Module:
    """Issue 19's ScaleShiftMACE, random weights (seed 0)."""
    from e3nn import o3
    from mace.modules import (
        RealAgnosticInteractionBlock,
        RealAgnosticResidualInteractionBlock,
        ScaleShiftMACE,
    )

    torch.manual_seed(0)
    return ScaleShiftMACE(
        r_max=R_MAX,
        num_bessel=8,
        num_polynomial_cutoff=5,
        max_ell=3,
        interaction_cls=RealAgnosticResidualInteractionBlock,
        interaction_cls_first=RealAgnosticInteractionBlock,
        num_interactions=2,
        num_elements=2,
        hidden_irreps=o3.Irreps("32x0e+32x1o"),
        MLP_irreps=o3.Irreps("16x0e"),
        atomic_energies=np.array([-13.6, -2041.0]),
        avg_num_neighbors=56.0,
        atomic_numbers=[1, 8],
        correlation=3,
        gate=torch.nn.functional.silu,
        radial_MLP=[64, 64, 64],
        atomic_inter_scale=1.0,
        atomic_inter_shift=0.0,
    )


def water_batch(n_side: int) -> dict[str, torch.Tensor]:
    """A periodic water box of n_side^3 molecules as mace-torch's input dictionary."""
    import ase
    from mace import data as mace_data
    from mace.tools import torch_geometric, utils

    positions, numbers, cell = water(n_side)
    atoms = ase.Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True)
    config = mace_data.config_from_atoms(atoms)
    data = mace_data.AtomicData.from_config(
        config, z_table=utils.AtomicNumberTable([1, 8]), cutoff=R_MAX
    )
    return next(iter(torch_geometric.dataloader.DataLoader([data], batch_size=1))).to_dict()


def energy_forces(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Callable[[], object]:
    """One call of the model for energy and forces."""
    return lambda: model(dict(batch), compute_force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8], help="molecules per side")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = mace_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        converted = from_e3nn(model, strict=True)
    timing.print_header(
        f"ScaleShiftMACE 32x0e+32x1o, max_ell 3, correlation 3, 2 interactions, float32; "
        f"energy + forces, medians of {args.rounds} alternating rounds; "
        f"mace-torch {timing.version('mace-torch')}",
        ["model", ">atoms", ">edges", ">e3core (ms)", ">mace-torch (ms)", ">e3core / mace-torch"],
    )
    for n_side in args.sizes:
        batch = water_batch(n_side)
        atoms, edges = int(batch["positions"].shape[0]), int(batch["edge_index"].shape[1])
        expected = model(dict(batch), compute_force=True)
        got = converted(dict(batch), compute_force=True)
        scale = float(expected["forces"].detach().abs().max())
        deviation = float((got["forces"] - expected["forces"]).detach().abs().max()) / scale
        if deviation > 1e-4:
            raise SystemExit(f"the converted model deviates from mace-torch by {deviation:.1e}")
        cases = {"e3core": energy_forces(converted, batch), "mace": energy_forces(model, batch)}
        times = timing.medians(timing.alternating_times(cases, args.rounds))
        timing.print_row(["ScaleShiftMACE", atoms, edges], times["e3core"], times["mace"])


if __name__ == "__main__":
    main()
