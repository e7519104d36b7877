"""CPU-sized reproductions of the reference papers' comparisons (results in docs/results.md).

Each experiment trains with e3core.train (``trainer_from_config``: the configuration format of
``python -m e3core train``) and prints a table:

- ``qm9``: L0Net against L1Net (the paper's cosine radial basis) at an equal parameter count
  (``lnet_num_features``) on U0 (eV,
  free-atom energies and fitted per-element references subtracted) and on mu (Debye), test MAE
  (Miller et al.'s ablation);
- ``nequip``: NequIP lmax = 0 against lmax = 1 on energies and forces of the shipped PBE0 water
  clusters, validation force MAE per epoch (Batzner et al.'s learning curves);
- ``density``: GatePointsNetwork on the density-fitting coefficients of the water clusters at
  matched parameter counts (``matched_hidden_irreps``), test epsilon_total and epsilon_l against
  the hidden l_max (Rackers et al.);
- ``charge``: ChargeE3Net with hidden irreps up to L (``--lmax``) on the density at probe points,
  test epsilon_mae (Koker et al.; examples/configs/water_charge_e3net.yaml).

    python examples/reproduce.py qm9 --full-qm9 --train 4000 --val 500 \
        --test 1000 --epochs 10 --lr 2e-3
    python examples/reproduce.py nequip --train 200 --val 40 --test 50 \
        --epochs 100 --every 10
    python examples/reproduce.py density --lmax 0 1 2 3 --epochs 60 \
        --batch-size 8 --lr 3e-3 --train 200 --val 40 --test 50
    python examples/reproduce.py charge --lmax 0 1 2 3 --steps 2000 \
        --train 200 --val 40 --test 50
"""

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from e3core import data, models
from e3core.train import Trainer
from e3core.train._run import trainer_from_config

QM9_TYPES = [1, 6, 7, 8, 9]


def n_parameters(model: torch.nn.Module) -> int:
    """The number of trainable parameters of ``model``.

    Example::

        >>> n_parameters(torch.nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def fit(config: dict[str, Any]) -> tuple[Any, dict[str, Any], float]:
    """Trains one configuration; returns the trainer, its loaders and the training wall time
    in seconds."""
    trainer, loaders = trainer_from_config(config)
    start = time.perf_counter()
    trainer.fit(config["training"]["epochs"])
    return trainer, loaders, time.perf_counter() - start


def run(config: dict[str, Any]) -> tuple[Any, dict[str, float], float]:
    """Trains one configuration; returns the trainer, its test metrics (EMA weights) and the
    training wall time in seconds."""
    trainer, loaders, seconds = fit(config)
    return trainer, trainer.evaluate(loaders["test"]), seconds


def split_sizes(args: argparse.Namespace) -> list[int | None]:
    """Train, validation and test counts (without ``--test`` the test set is the rest; with it,
    the rest is unused)."""
    return [args.train, args.val, args.test]


def base_config(args: argparse.Namespace, name: str, source: dict[str, Any]) -> dict[str, Any]:
    """The sections shared by every run: seed, output directory, split, logging."""
    return {
        "output_dir": str(Path(args.output) / name),
        "seed": args.seed,
        "data": {
            **source,
            "split": {"sizes": split_sizes(args), "seed": args.seed},
            "batch_size": args.batch_size,
            "val_batch_size": 100,
        },
        "logging": {"progress": False, "tensorboard": False, "plots": False},
    }


def qm9(args: argparse.Namespace) -> None:
    """L0Net and L1Net of equal size on U0 and mu."""
    l1 = models.LNet(type_numbers=QM9_TYPES, lmax=1, num_features=args.features)
    size = n_parameters(l1)
    neighbors = data.average_num_neighbors(data.load_qm9_sample(), 5.0)
    source = {"source": "qm9"} if args.full_qm9 else {"source": "qm9_sample"}
    rows = []
    for target, unit in (("U0", "eV"), ("mu", "D")):
        for lmax in (0, 1):
            features = (
                args.features
                if lmax == 1
                else models.lnet_num_features(size, lmax=0, type_numbers=QM9_TYPES)
            )
            config = base_config(args, f"qm9_{target}_l{lmax}", source)
            config["data"].update(targets=[target], units={target: unit})
            if target == "U0":
                config["data"].update(atomization=True, fit_atomrefs=["U0"])
            config["model"] = {
                "name": "lnet",
                "kwargs": {
                    "type_numbers": QM9_TYPES,
                    "target": target,
                    "lmax": lmax,
                    "num_features": features,
                    "r_max": 5.0,
                    "avg_num_neighbors": neighbors,
                    "radial_basis": "cosine",
                },
            }
            config["training"] = {
                "epochs": args.epochs,
                "optimizer": {"name": "adam", "lr": args.lr},
                "ema_decay": 0.99,
                "loss": [{"target": target, "weight": 1.0, "kind": "mae"}],
            }
            trainer, test, seconds = run(config)
            rows.append((target, unit, lmax, features, n_parameters(trainer.model), test, seconds))
            print(
                f"{target} L{lmax}Net features {features} parameters "
                f"{n_parameters(trainer.model)}: test MAE {test[f'{target}_mae']:.4f} {unit} "
                f"({seconds:.0f} s)",
                flush=True,
            )
    print("\n| target | model | num_features | parameters | test MAE | train time (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for target, unit, lmax, features, size, test, seconds in rows:
        print(
            f"| {target} ({unit}) | L{lmax}Net | {features} | {size} | "
            f"{test[f'{target}_mae']:.4f} | {seconds:.0f} |"
        )


def water_atoms(args: argparse.Namespace, water: data.DensityDataset) -> str:
    """The water clusters' atoms dataset (energies, forces, density coefficients) as an e3core
    ``.npz`` file in the output directory (the ``dataset`` source of the configurations);
    returns its path."""
    path = Path(args.output) / "water_atoms.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    water.atoms.save(path)
    return str(path)


def nequip(args: argparse.Namespace) -> None:
    """NequIP lmax 0 and 1 on water energies and forces: force MAE learning curves."""
    water = data.load_water_density()
    path = water_atoms(args, water)
    neighbors = data.average_num_neighbors(water.atoms, 4.0)
    curves, sizes = {}, {}
    for lmax in (0, 1):
        config = base_config(args, f"nequip_l{lmax}", {"source": "dataset", "path": path})
        config["dtype"] = "float64"
        config["data"].update(targets=["energy"], atom_targets=["forces"], fit_atomrefs=["energy"])
        config["model"] = {
            "name": "nequip",
            "kwargs": {
                "type_numbers": [1, 8],
                "r_max": 4.0,
                "target": "energy",
                "compute_forces": True,
                "num_layers": 3,
                "num_features": args.features,
                "lmax": lmax,
                "avg_num_neighbors": neighbors,
            },
        }
        config["training"] = {
            "epochs": args.epochs,
            "optimizer": {"name": "adam", "lr": args.lr},
            "ema_decay": 0.99,
            "clip_grad_norm": 100.0,
            "loss": [
                {"target": "energy", "weight": 1.0, "per_atom": True},
                {"target": "forces", "weight": 100.0},
            ],
            "metrics": {"energy": ["mae", "mae_per_atom"], "forces": ["mae"]},
            "monitor": "val_forces_mae",
        }
        trainer, test, seconds = run(config)
        curves[lmax] = [row["val_forces_mae"] for row in trainer.history]
        sizes[lmax] = n_parameters(trainer.model)
        print(
            f"NequIP lmax {lmax}, {sizes[lmax]} parameters, {seconds:.0f} s: test force MAE "
            f"{test['forces_mae'] * 1000:.1f} meV/A, energy MAE "
            f"{test['energy_mae_per_atom'] * 1000:.2f} meV/atom",
            flush=True,
        )
    print(f"\nvalidation force MAE (meV/A); parameters l=0: {sizes[0]}, l=1: {sizes[1]}")
    print("| epoch | lmax 0 | lmax 1 |\n| --- | --- | --- |")
    for epoch, (a, b) in enumerate(zip(curves[0], curves[1], strict=True), start=1):
        if epoch % args.every == 0 or epoch in (1, len(curves[0])):
            print(f"| {epoch} | {a * 1000:.1f} | {b * 1000:.1f} |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
        for lmax, curve in curves.items():
            ax.semilogy(range(1, len(curve) + 1), np.array(curve) * 1000, label=f"lmax {lmax}")
        ax.set(xlabel="epoch", ylabel="val force MAE (meV/Å)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot)
        print(f"plot: {args.plot}")


def gate_points_density(args: argparse.Namespace) -> None:
    """GatePointsNetwork at matched sizes on the density coefficients: epsilon per l_h^max."""
    basis = data.load_water_density().basis
    network = {
        "type_numbers": basis.numbers,
        "irreps_out": str(basis.irreps),
        "layers": 2,
        "r_max": 3.5,
        "type_irreps_out": [str(basis.irreps_of(z)) for z in basis.numbers],
    }
    rows = []
    for lmax in args.lmax:
        irreps = models.matched_hidden_irreps(lmax, args.parameters, **network)
        config = base_config(args, f"density_l{lmax}", {"source": "water_density"})
        config["data"].update(
            targets=[], atom_targets=["density_coefficients"], batch_size=args.batch_size
        )
        config["model"] = {"name": "gate_points", "kwargs": {**network, "irreps_hidden": irreps}}
        config["training"] = {
            "epochs": args.epochs,
            "optimizer": {"name": "adam", "lr": args.lr},
            "ema_decay": 0.99,
            "loss": [{"target": "density_coefficients", "weight": 1.0}],
        }
        trainer, loaders, seconds = fit(config)
        with trainer.ema.average_parameters():
            evaluator = Trainer(
                trainer.model, None, None, trainer.loss, progress=False,
                metrics={"density_coefficients": ["epsilon_total", "epsilon_l"]},
            )  # fmt: skip
            test = evaluator.evaluate(loaders["test"])
        means = {"total": test["density_coefficients_epsilon_total"]}
        means.update(
            {
                k.removeprefix("density_coefficients_epsilon_l"): v
                for k, v in test.items()
                if k.startswith("density_coefficients_epsilon_l")
            }
        )
        rows.append((lmax, irreps, n_parameters(trainer.model), means, seconds))
        print(
            f"l_h^max {lmax} ({irreps}, {n_parameters(trainer.model)} parameters, {seconds:.0f} "
            "s): " + ", ".join(f"{k} {v:.2f}" for k, v in means.items()),
            flush=True,
        )
    keys = list(rows[0][3])
    print(
        "\n| l_h^max | hidden irreps | parameters | "
        + " | ".join(f"ε_{k} (%)" for k in keys)
        + " |"
    )
    print("| --- " * (3 + len(keys)) + "|")
    for lmax, irreps, size, means, _ in rows:
        print(
            f"| {lmax} | {irreps} | {size} | " + " | ".join(f"{means[k]:.2f}" for k in keys) + " |"
        )


def charge_density(args: argparse.Namespace) -> None:
    """ChargeE3Net of hidden l_max L (``--lmax``) on the density at probe points: test
    epsilon_mae. The configuration is examples/configs/water_charge_e3net.yaml (batches of 4
    clusters with 256 random grid points each, MAE loss, EMA) with the hidden irreps
    ``hidden_irreps(L, --mul)`` and ``--steps`` optimizer steps (rounded to whole epochs)."""
    import yaml

    config = yaml.safe_load(
        (Path(__file__).parent / "configs" / "water_charge_e3net.yaml").read_text()
    )
    batch = config["data"]["batch_size"]
    epochs = max(1, round(args.steps / -(-args.train // batch)))
    rows = []
    for lmax in args.lmax:
        run_config = {**config, **base_config(args, f"charge_l{lmax}", {})}
        run_config["data"] = {**config["data"], "split": run_config["data"]["split"]}
        run_config["model"] = {**config["model"], "kwargs": {
            **config["model"]["kwargs"], "irreps_hidden": models.hidden_irreps(lmax, args.mul)
        }}  # fmt: skip
        run_config["training"] = {**config["training"], "epochs": epochs}
        trainer, loaders, seconds = fit(run_config)
        error = trainer.evaluate(loaders["test"])["probe_density_epsilon_mae"]
        size = n_parameters(trainer.model)
        print(f"L = {lmax}: {size} parameters, {epochs} epochs in {seconds:.0f} s, test "
              f"epsilon_mae {error:.2f} %", flush=True)  # fmt: skip
        rows.append((lmax, size, seconds, error))
    print("\n| L | hidden irreps | parameters | epochs | train time (s) | test ε_mae (%) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for lmax, size, seconds, error in rows:
        irreps = models.hidden_irreps(lmax, args.mul)
        print(f"| {lmax} | {irreps} | {size} | {epochs} | {seconds:.0f} | {error:.2f} |")


def main() -> None:
    """Parses the command line and runs one experiment."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=["qm9", "nequip", "density", "charge"])
    parser.add_argument("--train", type=int, default=200, help="training structures")
    parser.add_argument("--val", type=int, default=50, help="validation structures")
    parser.add_argument("--test", type=int, default=None, help="test structures (default: rest)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--features", type=int, default=16, help="L1Net / NequIP features")
    parser.add_argument("--full-qm9", action="store_true", help="qm9pack's QM9, not the sample")
    parser.add_argument("--lmax", type=int, nargs="+", default=[0, 1, 2, 3], help="density")
    parser.add_argument("--mul", type=int, default=4, help="charge: channels per irrep")
    parser.add_argument("--steps", type=int, default=200, help="charge: optimizer steps")
    parser.add_argument("--parameters", type=int, default=30000, help="density model size")
    parser.add_argument("--every", type=int, default=1, help="nequip: table every N epochs")
    parser.add_argument("--plot", default=None, help="nequip: PNG of the learning curves")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/reproduce")
    args = parser.parse_args()
    experiments = {
        "qm9": qm9,
        "nequip": nequip,
        "density": gate_points_density,
        "charge": charge_density,
    }
    experiments[args.experiment](args)


if __name__ == "__main__":
    main()
