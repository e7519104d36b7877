"""Whole MACE models against mace-torch: inference (energy + forces) and a training step.

mace-torch's ScaleShiftMACE (random weights, float32) against, side by side in one run:
- "from_e3nn": the same model converted by ``e3core.from_e3nn`` (mace-torch's module tree,
  every e3nn module and the symmetric contraction replaced by e3core's);
- "e3core eager": ``e3core.from_mace`` of it, e3core's own ``models.MACE`` (the fused
  convolution), run as ``deploy.Potential.from_model``;
- "e3core AOTI" (``--aoti``): that model exported by ``deploy.export(..., "aoti")`` and
  loaded by ``deploy.load`` (about a minute of compilation per configuration).

Configurations: "32x1o" is issue 19's (hidden irreps 32x0e+32x1o, max_ell 3, correlation 3, 2
interactions, radial MLP [64, 64, 64], 8 Bessel functions, r_max 5 Å, H and O); "mp-small" is
MACE-MP's "small" model (128x0e, max_ell 3, correlation 3, 2 interactions, 10 Bessel
functions, r_max 6 Å, 89 elements). Inputs: periodic water boxes (``tests/python``'s
``water``: n^3 molecules), edges computed beforehand by each package's own neighbour list;
every contender checked against mace-torch's forces before it is timed. The training step:
mean-squared energy and forces (forces with create_graph: mace-torch's ``training=True``,
e3core's training mode), backward, torch's fused Adam, on the smallest box. Contenders run
in alternating rounds after two warm-up calls; medians.

    python bench/bench_mace.py                          # both configurations, 192 and 1,536 atoms
    python bench/bench_mace.py --configs 32x1o --aoti   # with e3core's AOTInductor export

Example (a small run)::

    >>> import subprocess, sys
    >>> out = subprocess.run([sys.executable, __file__, "--configs", "32x1o", "--sizes", "2",
    ...                       "--rounds", "1"], capture_output=True, text=True, check=True)
    >>> "| 32x1o | 24 |" in out.stdout and "training" in out.stdout
    True
"""

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import bench_models as bm
import numpy as np
import timing
import torch
from e3core import deploy, from_e3nn, from_mace
from e3core.graph import neighbor_list

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
from deploy_model import water  # noqa: E402

CONFIGS = {
    "32x1o": {"hidden": "32x0e+32x1o", "elements": (1, 8), "r_max": 5.0, "num_bessel": 8},
    "mp-small": {
        "hidden": "128x0e",
        "elements": tuple(range(1, 90)),
        "r_max": 6.0,
        "num_bessel": 10,
    },
}
MACE, FROM_E3NN, E3_EAGER, E3_AOTI = "mace-torch", "from_e3nn", "e3core eager", "e3core AOTI"
CONTENDERS = (MACE, FROM_E3NN, E3_EAGER, E3_AOTI)


def mace_model(config: str) -> torch.nn.Module:
    """mace-torch's ScaleShiftMACE of the configuration, random weights (seed 0), float32."""
    from e3nn import o3
    from mace.modules import (
        RealAgnosticInteractionBlock,
        RealAgnosticResidualInteractionBlock,
        ScaleShiftMACE,
    )

    c = CONFIGS[config]
    torch.manual_seed(0)
    return ScaleShiftMACE(
        r_max=c["r_max"],
        num_bessel=c["num_bessel"],
        num_polynomial_cutoff=5,
        max_ell=3,
        interaction_cls=RealAgnosticResidualInteractionBlock,
        interaction_cls_first=RealAgnosticInteractionBlock,
        num_interactions=2,
        num_elements=len(c["elements"]),
        hidden_irreps=o3.Irreps(c["hidden"]),
        MLP_irreps=o3.Irreps("16x0e"),
        atomic_energies=-np.linspace(1.0, 2.0, len(c["elements"])),
        avg_num_neighbors=56.0,
        atomic_numbers=list(c["elements"]),
        correlation=3,
        gate=torch.nn.functional.silu,
        radial_MLP=[64, 64, 64],
        atomic_inter_scale=1.0,
        atomic_inter_shift=0.0,
    )


class Box:
    """A periodic water box of n^3 molecules: mace-torch's input dictionary and e3core's
    potential inputs (positions, edges, types, cell, shifts)."""

    def __init__(self, n_side: int, elements: tuple[int, ...], r_max: float) -> None:
        import ase
        from mace import data as mace_data
        from mace.tools import torch_geometric, utils

        positions, numbers, cell = water(n_side)
        atoms = ase.Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True)
        graph = mace_data.AtomicData.from_config(
            mace_data.config_from_atoms(atoms),
            z_table=utils.AtomicNumberTable(list(elements)),
            cutoff=r_max,
        )
        loader = torch_geometric.dataloader.DataLoader([graph], batch_size=1)
        self.mace = next(iter(loader)).to_dict()
        i, j, shifts = neighbor_list("ijS", positions, r_max, cell, True, sorted=True)
        self.contract = (
            torch.tensor(positions, dtype=torch.float32),
            torch.from_numpy(np.stack([j, i]).astype(np.int64)),
            torch.tensor([elements.index(z) for z in numbers]),
            torch.tensor(cell, dtype=torch.float32),
            torch.from_numpy(shifts).to(torch.float32),
        )
        self.atoms, self.edges = len(numbers), int(self.mace["edge_index"].shape[1])
        if self.contract[1].shape[1] != self.edges:
            raise RuntimeError(
                f"mace-torch's neighbour list has {self.edges} edges, e3core's "
                f"{self.contract[1].shape[1]}"
            )


def deviation(expected: torch.Tensor, got: torch.Tensor) -> float:
    """The largest force difference over the largest force."""
    return float((got - expected).detach().abs().max() / expected.detach().abs().max())


def e3core_batch(model: torch.nn.Module, box: Box) -> dict[str, torch.Tensor]:
    """The box as e3core's input dictionary, edges within the model's r_max."""
    from e3core import data

    positions, _, types, cell, _ = box.contract
    numbers = [model.config["type_numbers"][t] for t in types.tolist()]
    structure = data.Structure(positions.numpy(), numbers, cell=cell.numpy(), pbc=True)
    return data.collate([structure], cutoff=model.r_max, dtype=torch.float32).as_dict()


def row(cells: list[object]) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


def run(config: str, args: argparse.Namespace, work: Path) -> None:
    c = CONFIGS[config]
    theirs = mace_model(config).eval()
    theirs.requires_grad_(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        converted = from_e3nn(theirs, strict=True)
    ours = from_mace(theirs).eval()
    potentials: dict[str, Callable] = {E3_EAGER: deploy.Potential.from_model(ours)}
    if args.aoti:
        start = time.perf_counter()
        deploy.export(ours, work / f"{config}.pt2", "aoti")
        potentials[E3_AOTI] = deploy.load(work / f"{config}.pt2")
        print(f"{config}: AOTInductor export {time.perf_counter() - start:.0f} s", file=sys.stderr)
    boxes = [Box(n, c["elements"], c["r_max"]) for n in args.sizes]
    for box in boxes:
        expected = theirs(dict(box.mace), compute_force=True)["forces"]
        cases: dict[str, Callable] = {
            MACE: lambda b=box: theirs(dict(b.mace), compute_force=True),
            FROM_E3NN: lambda b=box: converted(dict(b.mace), compute_force=True),
        }
        worst = deviation(expected, cases[FROM_E3NN]()["forces"])
        for name, potential in potentials.items():
            cases[name] = lambda b=box, p=potential: p(*b.contract)
            worst = max(worst, deviation(expected, torch.as_tensor(cases[name]()["forces"])))
        if worst > 1e-4:
            raise SystemExit(f"{config}: a contender's forces deviate by {worst:.1e}")
        load = timing.load_average()
        times = timing.medians(timing.alternating_times(cases, args.rounds, warmup=2))
        best = min(times[n] for n in (E3_EAGER, E3_AOTI) if n in times)
        row(
            [config, box.atoms, box.edges]
            + [f"{times[n]:.1f}" if n in times else "" for n in CONTENDERS]
            + [f"{times[MACE] / times[FROM_E3NN]:.2f}", f"{times[MACE] / best:.2f}", load]
        )
    box = boxes[0]
    # mace-torch's forces keep their graph with training=True; e3core's in training mode.
    model = from_mace(mace_model(config))
    train_cases = {
        MACE: bm.train_step(mace_model(config), box.mace, "energy", training=True),
        E3_EAGER: bm.train_step(model, e3core_batch(model, box), "energy"),
    }
    times = timing.medians(timing.alternating_times(train_cases, args.rounds, warmup=2))
    row(
        [f"{config} training", box.atoms, box.edges, f"{times[MACE]:.1f}", "",
         f"{times[E3_EAGER]:.1f}", "", "", f"{times[MACE] / times[E3_EAGER]:.2f}",
         timing.load_average()]
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8], help="molecules per side")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--aoti", action="store_true", help="also e3core's AOTInductor export")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    timing.print_header(
        f"MACE, float32, energy + forces (training: + backward + Adam), medians of "
        f"{args.rounds} alternating rounds; mace-torch {timing.version('mace-torch')}",
        ["config", ">atoms", ">edges", ">mace-torch (ms)", ">from_e3nn (ms)",
         ">e3core eager (ms)", ">e3core AOTI (ms)", ">mace-torch / from_e3nn",
         ">mace-torch / e3core best", "load"],
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as work:
        for config in args.configs:
            run(config, args, Path(work))


if __name__ == "__main__":
    main()
