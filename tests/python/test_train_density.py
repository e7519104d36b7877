"""Density models through e3core.train: the metrics epsilon_total, epsilon_l and epsilon_mae
against e3core.density's functions on the same predictions, ChargeE3Net trained on probe
batches (loss drops, resume equals an uninterrupted run) and the shipped density configs."""

from pathlib import Path

import numpy as np
import pytest
import torch
from e3core import data, density, models, train
from e3core.train._config import load_config
from e3core.train._run import train_from_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def water():
    return data.load_water_density()[[0, 120, 200, 280, 30, 150, 230, 60, 180, 260]]


def charge_e3net(water):
    torch.manual_seed(0)
    return models.ChargeE3Net(
        water.basis.numbers, "4x0e+4x0o+2x1o+2x1e", layers=1, r_max=3.0, radial_neurons=16
    )


class ScaledCoefficients(torch.nn.Module):
    """The reference coefficients times 1 + n_atoms / 20: a different error per structure."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(()))

    def forward(self, d):
        factor = 1.0 + d["n_atoms"][d["batch"]].to(d["positions"].dtype) / 20
        return {"density_coefficients": d["density_coefficients"] * factor[:, None]}


def test_density_batches_hold_every_probe_of_their_structures(water):
    loader = data.DataLoader(water, batch_size=3, cutoff=3.0)
    batches = list(loader)
    assert [b.num_graphs for b in batches] == [3, 3, 3, 1]
    assert sorted(set(water.atoms.n_atoms.tolist())) == [3, 6, 9, 12]
    counts = [torch.bincount(b.probes["probe_batch"], minlength=b.num_graphs) for b in batches]
    assert torch.cat(counts).tolist() == water.n_probes.tolist()
    sampled = next(iter(data.DataLoader(water, batch_size=3, cutoff=3.0, max_probes=50)))
    assert torch.bincount(sampled.probes["probe_batch"]).tolist() == [50, 50, 50]
    assert train.target_of(sampled, "probe_density").shape == (150,)


def test_epsilon_metrics_equal_the_density_functions(water):
    """The Trainer's epsilon_total, epsilon_l (coefficients) and epsilon_mae (probes), over
    batches of 3 structures, equal the mean over structures of e3core.density's errors
    computed on all structures at once from the same predictions."""
    basis = water.basis
    train.register_density_metrics(basis)
    coefficients = ScaledCoefficients()
    loader = data.DataLoader(water, batch_size=3, cutoff=3.0)
    metrics = {"density_coefficients": ["epsilon_total", "epsilon_l"]}
    trainer = train.Trainer(coefficients, None, None, {"density_coefficients": 1.0},
                            metrics=metrics, progress=False)  # fmt: skip
    reported = trainer.evaluate(loader)
    whole = water.collate(range(len(water)), cutoff=3.0)
    with torch.no_grad():
        predicted = coefficients(whole.as_dict())["density_coefficients"]
    errors = density.density_errors_by_l(
        basis, whole.atom_targets["density_coefficients"].double(), predicted.double(),
        whole.positions.double(), whole.numbers, whole.probes["probe_positions"].double(),
        whole.probes["probe_weights"].double(), whole.batch, whole.probes["probe_batch"],
    )  # fmt: skip
    assert set(errors) == {"total", "l0", "l1", "l2", "l3", "l4"}
    for key, values in errors.items():
        name = "epsilon_total" if key == "total" else f"epsilon_{key}"
        assert reported[f"density_coefficients_{name}"] == pytest.approx(
            float(values.mean()), rel=1e-6
        ), key
    # The mean of per-structure ratios, not one ratio of sums over all structures.
    assert float(errors["total"].std()) > 0.1 * float(errors["total"].mean())
    weights = whole.probes["probe_weights"].double()
    pooled = density.density_error(
        *[density.density_at(basis, c.double(), whole.positions.double(), whole.numbers,
                             whole.probes["probe_positions"].double(), whole.batch,
                             whole.probes["probe_batch"])
          for c in (whole.atom_targets["density_coefficients"], predicted)],
        weights,
    )  # fmt: skip
    assert abs(float(pooled[0]) - reported["density_coefficients_epsilon_total"]) > 0.1

    model = charge_e3net(water)
    loss = [{"target": "probe_density", "kind": "mae"}]
    metrics = {"probe_density": ["mae", "epsilon_mae"]}
    trainer = train.Trainer(model, None, None, loss, metrics=metrics, progress=False)
    reported = trainer.evaluate(loader)
    with torch.no_grad():
        d = whole.as_dict()
        rho = model(d)["probe_density"]
    reference = whole.probes["probe_density"]
    expected = density.density_mae_error(reference.double(), rho.double(), d["probe_batch"])
    assert reported["probe_density_epsilon_mae"] == pytest.approx(float(expected.mean()), rel=1e-6)
    assert reported["probe_density_mae"] == pytest.approx(
        float((rho - reference).abs().mean()), rel=1e-5
    )


def make_charge_trainer(water, logdir):
    loader = data.DataLoader(water[:6], batch_size=1, shuffle=True, cutoff=3.0, seed=0,
                             max_probes=64)  # fmt: skip
    val = data.DataLoader(water[6:], batch_size=4, cutoff=3.0)
    return train.Trainer(
        charge_e3net(water), loader, val, [{"target": "probe_density", "kind": "mae"}],
        optimizer={"lr": 0.1}, ema_decay=0.9, metrics={"probe_density": ["epsilon_mae"]},
        monitor="val_probe_density_epsilon_mae", logdir=logdir, progress=False,
        tensorboard=False, plots=False,
    )  # fmt: skip


def test_charge_e3net_trains_and_resumes(water, tmp_path):
    full = make_charge_trainer(water, tmp_path / "full")
    history = full.fit(5)
    # Validation on every probe of the held-out structures (EMA weights): the loss drops.
    losses = [row["val_loss"] for row in history]
    assert losses[-1] < 0.85 * losses[0], losses
    errors = [row["val_probe_density_epsilon_mae"] for row in history]
    assert errors[-1] < 0.9 * errors[0], errors
    first = make_charge_trainer(water, tmp_path / "cut")
    first.fit(2)
    del first
    torch.manual_seed(123)  # the random probe subsets must come from the restored generator
    second = make_charge_trainer(water, tmp_path / "cut")
    second.fit(5, resume=True)
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    assert [r["val_loss"] for r in second.history] == losses
    assert [r["train_loss"] for r in second.history] == [r["train_loss"] for r in history]


@pytest.mark.parametrize(
    "name, metric",
    [
        ("water_charge_e3net", "val_probe_density_epsilon_mae"),
        ("water_density_coefficients", "val_density_coefficients_epsilon_l4"),
    ],
)
def test_density_configs_run(tmp_path, name, metric):
    overrides = ["training.epochs=1", "data.split.sizes=[4,2,2]", "data.max_probes=32",
                 f"output_dir={tmp_path / name}", "logging.progress=false",
                 "logging.plots=false", "logging.tensorboard=false"]  # fmt: skip
    config = load_config(ROOT / "examples" / "configs" / f"{name}.yaml", overrides)
    trainer = train_from_config(config)
    value = trainer.history[-1][metric]
    assert np.isfinite(value) and value > 0
    assert (tmp_path / name / "best.pt").exists()
