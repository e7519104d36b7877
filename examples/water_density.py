"""Short trainings on the shipped water clusters: GatePointsNetwork on the density-fitting
coefficients (epsilon_total and epsilon_l, Rackers et al.) and ChargeE3Net on the density at
probe points (epsilon_mae, Koker et al.), evaluated on held-out structures.

A demonstration of the pieces (data, models, metrics), with a few hundred steps on the CPU: the
numbers it prints are far from converged.

    PYTHONPATH=python python examples/water_density.py [--steps 200] [--train 64] [--path P]
"""

import argparse
import time

import torch
from e3core import data, density, models


def batches(indices: list[int], size: int, generator: torch.Generator) -> list[list[int]]:
    """``indices`` shuffled and cut into batches of ``size``."""
    order = torch.randperm(len(indices), generator=generator).tolist()
    return [[indices[k] for k in order[i : i + size]] for i in range(0, len(order), size)]


def gate_points(water: data.DensityDataset, train: list[int], test: list[int], steps: int) -> None:
    """Fits the coefficients (masked mean squared error) and reports epsilon on ``test``."""
    basis = water.basis
    model = models.GatePointsNetwork(
        type_numbers=basis.numbers,
        irreps_out=str(basis.irreps),
        irreps_hidden=models.hidden_irreps(2, 12),
        layers=2,
        r_max=3.5,
        type_irreps_out=[str(basis.irreps_of(z)) for z in basis.numbers],
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    step = 0
    start = time.perf_counter()
    while step < steps:
        for indices in batches(train, 8, generator):
            batch, _ = water.collate(indices, cutoff=model.r_max)
            reference = batch.atom_targets["density_coefficients"]
            mask = batch.atom_targets["density_mask"]
            out = model(batch.as_dict())["density_coefficients"]
            loss = ((out - reference) * mask).pow(2).sum() / mask.sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step == steps:
                break
    print(
        f"GatePointsNetwork: {steps} steps in {time.perf_counter() - start:.0f} s, "
        f"{sum(p.numel() for p in model.parameters())} parameters"
    )
    batch, probes = water.collate(test, cutoff=model.r_max)
    with torch.no_grad():
        predicted = model(batch.as_dict())["density_coefficients"]
    errors = density.density_errors_by_l(
        basis,
        batch.atom_targets["density_coefficients"].double(),
        predicted.double(),
        batch.positions,
        batch.numbers,
        probes["probe_positions"].double(),
        probes["probe_weights"].double(),
        batch.batch,
        probes["probe_batch"],
    )
    print(
        "  test epsilon (%): " + ", ".join(f"{k} {float(v.mean()):.2f}" for k, v in errors.items())
    )


def charge_e3net(
    water: data.DensityDataset,
    train: list[int],
    test: list[int],
    steps: int,
    lmax: int = 4,
    mul: int = 4,
) -> tuple[int, float, float]:
    """Fits the density at probe points (mean absolute error) with hidden irreps
    ``hidden_irreps(lmax, mul)``, reports epsilon_mae on ``test``; returns the parameter count,
    the training time (s) and the mean epsilon_mae (%)."""
    model = models.ChargeE3Net(
        type_numbers=water.basis.numbers,
        irreps_hidden=models.hidden_irreps(lmax, mul),
        layers=2,
        r_max=3.0,
        num_probe_neighbors=6.0,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    step = 0
    start = time.perf_counter()
    while step < steps:
        for indices in batches(train, 4, generator):
            batch, probes = water.collate(indices, cutoff=model.r_max, max_probes=256, seed=step)
            d = batch.as_dict()
            d.update(probe_positions=probes["probe_positions"], probe_batch=probes["probe_batch"])
            loss = (model(d)["probe_density"] - probes["probe_density"]).abs().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step == steps:
                break
    seconds = time.perf_counter() - start
    size = sum(p.numel() for p in model.parameters())
    print(f"ChargeE3Net: {steps} steps in {seconds:.0f} s, {size} parameters")
    batch, probes = water.collate(test, cutoff=model.r_max)
    with torch.no_grad():
        features = model.atom_features(batch.as_dict())
        rho = torch.cat(
            [
                model.density(
                    features,
                    batch.positions,
                    batch.batch,
                    probes["probe_positions"][s],
                    probes["probe_batch"][s],
                )
                for s in torch.arange(len(probes["probe_batch"])).split(4096)
            ]
        )
    error = density.density_mae_error(probes["probe_density"], rho, probes["probe_batch"])
    print(f"  test epsilon_mae (%): {float(error.mean()):.2f}")
    return size, seconds, float(error.mean())


def main() -> None:
    """Both trainings on one split of the shipped data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--train", type=int, default=64)
    parser.add_argument("--test", type=int, default=32)
    parser.add_argument("--path", default=None, help="a file of that format (default: shipped)")
    args = parser.parse_args()
    torch.manual_seed(0)
    water = data.load_water_density(args.path)
    train, test, _ = data.split_indices(len(water), (args.train, args.test, None), seed=0)
    gate_points(water, train.tolist(), test.tolist(), args.steps)
    charge_e3net(water, train.tolist(), test.tolist(), args.steps)


if __name__ == "__main__":
    main()
