"""Tests of e3core.train, the CLI and the TorchScript export, on a tiny model of e3core's
interface (per-type energies plus a pair term of the edge lengths, so forces exist)."""

import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from e3core import data, deploy, models, train
from e3core.cli import main
from e3core.train._config import ConfigError, load_config, validate_config
from e3core.train._run import train_from_config, trainer_from_config

ROOT = Path(__file__).resolve().parents[2]
TYPES = [1, 6, 7, 8, 9]


class TinyModel(torch.nn.Module):
    """E = Σ_atoms e[type] + Σ_edges MLP(radial features of |r_ij|) × smooth cutoff."""

    name = "tiny"

    def __init__(self, type_numbers: list, r_max: float = 3.0, target: str = "energy"):
        super().__init__()
        self.config = {"type_numbers": list(type_numbers), "r_max": r_max, "target": target}
        self.r_max = float(r_max)
        self.receptive_field = self.r_max  # pair energies only
        self.target = target
        table = torch.full((max(type_numbers) + 1,), -1, dtype=torch.long)
        table[torch.tensor(type_numbers)] = torch.arange(len(type_numbers))
        self.register_buffer("type_table", table)
        self.atom_energy = torch.nn.Parameter(0.1 * torch.randn(len(type_numbers)))
        self.pair = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.SiLU(), torch.nn.Linear(8, 1)
        )

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        types = self.type_table[data["numbers"]]
        pos, batch = data["positions"], data["batch"]
        src, dst = data["edge_index"][0], data["edge_index"][1]
        shift = torch.einsum("ek,ekx->ex", data["edge_shift"], data["cell"][batch[src]])
        r = torch.linalg.norm(pos[src] - pos[dst] + shift, dim=1)
        widths = torch.arange(1, 5, dtype=r.dtype, device=r.device)
        features = torch.exp(-widths * r.unsqueeze(1))
        envelope = 0.5 * (torch.cos(math.pi * r / self.r_max) + 1.0)
        pair = self.pair(features).squeeze(1) * envelope
        atomic = self.atom_energy[types] + torch.zeros_like(pos[:, 0]).index_add(0, dst, pair)
        energy = torch.zeros(
            data["n_atoms"].shape[0], dtype=pos.dtype, device=pos.device
        ).index_add(0, batch, atomic)
        return {self.target: energy, "atomic_energy": atomic}


def labelled_dataset(n: int = 48, seed: int = 1) -> data.AtomsDataset:
    """QM9 structures with energies and forces from a random TinyModel (a learnable task)."""
    torch.manual_seed(seed)
    teacher = TinyModel(TYPES).double()
    qm9 = data.load_qm9_sample()[:n]
    batch = data.collate(qm9, cutoff=3.0, dtype=torch.float64)
    positions = batch.positions.requires_grad_(True)
    inputs = batch.as_dict()
    inputs["positions"] = positions
    energy = teacher(inputs)["energy"]
    (grad,) = torch.autograd.grad(energy.sum(), positions)
    return qm9.with_targets(
        {"U0": None, "energy": energy.detach().numpy()},
        {"forces": -grad.numpy()},
        units={"energy": "eV", "forces": "eV/Angstrom"},
    )


def loaders(dataset, batch_size=8, seed=0):
    train_set, val_set = dataset[: len(dataset) * 3 // 4], dataset[len(dataset) * 3 // 4 :]
    return (
        data.DataLoader(train_set, batch_size, shuffle=True, cutoff=3.0, seed=seed),
        data.DataLoader(val_set, batch_size, cutoff=3.0),
    )


def make_trainer(dataset, logdir=None, **options):
    torch.manual_seed(0)
    train_loader, val_loader = loaders(dataset)
    defaults = dict(
        optimizer={"name": "adam", "lr": 1e-2},
        dtype=torch.float64,
        progress=False,
        tensorboard=False,
        plots=False,
        logdir=logdir,
    )
    defaults.update(options)
    loss = defaults.pop("loss", {"energy": 1.0, "forces": 10.0})
    return train.Trainer(TinyModel(TYPES), train_loader, val_loader, loss, **defaults)


@pytest.fixture(scope="module")
def dataset():
    return labelled_dataset()


def parameters(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_loss_decreases_with_forces(dataset):
    trainer = make_trainer(dataset)
    before = trainer.evaluate(trainer.val_loader)
    history = trainer.fit(8)
    after = trainer.evaluate(trainer.val_loader)
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert after["loss"] < 0.5 * before["loss"]
    assert after["forces_mae"] < before["forces_mae"]
    assert set(after) == {"loss", "energy_mae", "energy_rmse", "forces_mae", "forces_rmse"}


def test_loss_terms_and_metrics():
    batch = data.collate(
        [data.Structure(np.zeros((2, 3)), ["H", "H"], targets={"energy": 1.0},
                        atom_targets={"forces": np.ones((2, 3))})],
    )  # fmt: skip
    pred = {"energy": torch.tensor([3.0]), "forces": torch.zeros(2, 3)}
    loss = train.Loss.from_spec([
        {"target": "energy", "weight": 2.0, "per_atom": True},
        {"target": "forces", "kind": "mae"},
    ])  # fmt: skip
    # per-atom MSE: ((3 - 1) / 2)^2 = 1, times 2; forces MAE 1
    assert float(loss(pred, batch)) == pytest.approx(3.0)
    huber = train.LossTerm("energy", kind="huber", delta=1.0)
    assert float(huber.elementwise(torch.tensor(3.0), torch.tensor(1.0))) == pytest.approx(1.5)
    total, count = train.get_metric("rmse").fn(pred["forces"], batch.atom_targets["forces"], {})
    assert train.get_metric("rmse").finalize(float(total), count) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="kind is 'l3'"):
        train.LossTerm("energy", kind="l3")


def test_register_metric_used_by_trainer(dataset):
    def max_force_component(pred, target, data):
        return (pred - target).abs().amax(), 1

    train.register_metric("test_max_component", max_force_component, overwrite=True)
    trainer = make_trainer(dataset, metrics={"forces": ["mae", "test_max_component"]})
    metrics = trainer.evaluate(trainer.val_loader)
    assert metrics["forces_test_max_component"] >= metrics["forces_mae"] > 0
    with pytest.raises(ValueError, match="exists"):
        train.register_metric("mae", max_force_component)


def test_ema_math():
    p = torch.nn.Parameter(torch.tensor([0.0]))
    ema = train.ExponentialMovingAverage([p], decay=0.9)
    shadow = 0.0
    for step, value in enumerate([1.0, 2.0, 3.0], start=1):
        with torch.no_grad():
            p.fill_(value)
        d = min(0.9, (1 + step) / (10 + step))
        shadow = d * shadow + (1 - d) * value
        ema.update()
        assert float(ema.shadow[0]) == pytest.approx(shadow)
    with ema.average_parameters():
        assert float(p.detach()) == pytest.approx(shadow)
    assert float(p.detach()) == 3.0


def test_ema_weights_in_evaluation_and_checkpoint(dataset, tmp_path):
    trainer = make_trainer(dataset, tmp_path, ema_decay=0.9)
    trainer.fit(2)
    checkpoint = train.load_checkpoint(tmp_path / "last.pt")
    raw = checkpoint["trainer"]["model"]
    averaged = checkpoint["model"]["state_dict"]
    assert not torch.equal(raw["atom_energy"], averaged["atom_energy"])
    assert torch.equal(averaged["atom_energy"], trainer.ema.shadow[0])
    with trainer.ema.average_parameters():
        expected = trainer.evaluate(trainer.val_loader, use_ema=False)
    assert trainer.evaluate(trainer.val_loader) == expected


def test_schedulers_step(dataset):
    trainer = make_trainer(dataset, scheduler={"name": "exponential", "gamma": 0.5})
    history = trainer.fit(3)
    assert [row["lr"] for row in history] == pytest.approx([1e-2, 5e-3, 2.5e-3])
    opt = train.build_optimizer([torch.nn.Parameter(torch.zeros(1))], "adamw", lr=1.0)
    plateau = train.build_scheduler(opt, "plateau", factor=0.1, patience=1)
    for value in [1.0, 1.0, 1.0]:
        plateau.step(value)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="scheduler name is 'cosine'"):
        train.build_scheduler(opt, "cosine")


def test_optimizer_is_fused_unless_told_otherwise():
    """torch's fused Adam for float parameters; the caller's choice of implementation wins. Both
    take the same steps."""
    weights = [torch.nn.Parameter(torch.tensor([1.0, -2.0]))]
    assert train.build_optimizer(weights, "adam").defaults["fused"] is True
    assert train.build_optimizer(weights, "adam", foreach=True).defaults["fused"] is None
    assert train.build_optimizer(weights, "adamw", fused=False).defaults["fused"] is False
    steps = []
    for options in [{}, {"fused": False}]:
        w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        opt = train.build_optimizer([w], "adam", lr=0.1, **options)
        for _ in range(3):
            opt.zero_grad()
            (w**2).sum().backward()
            opt.step()
        steps.append(w.detach())
    torch.testing.assert_close(steps[0], steps[1])


def test_early_stopping_triggers(dataset):
    stop = train.EarlyStopping(patience=2, min_delta=0.1)
    assert [stop.step(v) for v in [1.0, 0.95, 0.5, 0.45, 0.44]] == [
        False,
        False,
        False,
        False,
        True,
    ]
    # no progress at all: the first epoch sets the best value, `patience` more epochs stop it
    trainer = make_trainer(dataset, optimizer={"lr": 1e-12}, early_stopping={"patience": 2,
                           "min_delta": 1.0})  # fmt: skip
    history = trainer.fit(10)
    assert len(history) == 3 and trainer.stopped


def test_gradient_clipping(dataset):
    trainer = make_trainer(dataset, clip_grad_norm=1e-3, optimizer={"name": "adam", "lr": 1.0})
    batch = next(iter(trainer.train_loader))
    original = trainer.optimizer.step
    norms = []

    def record():
        grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        original()

    trainer.optimizer.step = record
    trainer.train_step(batch)
    assert norms[0] == pytest.approx(1e-3, rel=1e-6)


def test_logs_and_plots(dataset, tmp_path):
    trainer = make_trainer(dataset, tmp_path, tensorboard=True, plots=True, progress=True,
                           units={"energy": "eV", "forces": "eV/Angstrom"})  # fmt: skip
    trainer.fit(2)
    rows = train.read_csv(tmp_path / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1.0, 2.0]
    assert {"lr", "time", "train_loss", "val_loss", "val_forces_rmse"} <= set(rows[0])
    assert any(
        f.name.startswith("events.out.tfevents") for f in (tmp_path / "tensorboard").iterdir()
    )
    for png in ("learning_curves.png", "parity_energy.png", "parity_forces.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "best.pt").exists() and (tmp_path / "last.pt").exists()


def test_atomic_checkpoint_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    train.atomic_save({"epoch": 1}, path)

    def interrupted(obj, file):
        file.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train.atomic_save({"epoch": 2}, path)
    monkeypatch.undo()
    assert train.load_checkpoint(path) == {"epoch": 1}
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]


KILLED_WRITER = """
import os, sys, time
from e3core import train
def write(file):
    file.write(b"partial checkpoint")
    file.flush()
    print("writing", flush=True)
    time.sleep(60)
train.atomic_write(os.path.join(sys.argv[1], "last.pt"), write)
"""


def test_write_killed_with_sigkill_leaves_no_stale_temporary(dataset, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(run)], env=env,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert writer.stdout.readline().strip() == "writing"
    writer.kill()  # SIGKILL during the write
    writer.wait(timeout=30)
    stale = [p.name for p in run.iterdir()]
    assert len(stale) == 1 and stale[0].startswith(".last.pt.") and stale[0].endswith(".tmp")
    alive = run / f".last.pt.{os.getpid()}.abcdefgh.tmp"  # a write in progress: kept
    alive.write_bytes(b"")
    train.atomic_save({"epoch": 1}, run / "last.pt")  # the next write of last.pt cleans up
    assert sorted(p.name for p in run.iterdir()) == [alive.name, "last.pt"]
    alive.unlink()
    # Opening a run directory for training removes the stale temporaries of any file.
    (run / f".best.pt.{writer.pid}.abcdefgh.tmp").write_bytes(b"x")
    (run / ".best.pt.old_name.tmp").write_bytes(b"x")  # no process id: removed once old
    os.utime(run / ".best.pt.old_name.tmp", (0, 0))
    make_trainer(dataset, run).fit(0)
    assert sorted(p.name for p in run.iterdir()) == ["last.pt"]


def corruptions(content: bytes) -> dict[str, bytes]:
    flipped = bytearray(content)
    for i in range(8):
        flipped[len(content) // 3 + 17 * i] ^= 0xFF
    rng = np.random.default_rng(0)
    n = len(content)
    return {"empty": b"", "truncated": content[: n // 2], "random": rng.bytes(n),
            "flipped": bytes(flipped)}  # fmt: skip


def test_corrupted_checkpoint_is_a_one_line_error_naming_it(tmp_path):
    path = tmp_path / "last.pt"
    train.atomic_save({"epoch": 1, "weights": torch.arange(4096.0)}, path)
    good = path.read_bytes()
    for kind, content in corruptions(good).items():
        path.write_bytes(content)
        with pytest.raises(train.CheckpointError) as error:
            train.load_checkpoint(path)
        message = str(error.value)
        assert isinstance(error.value, ValueError) and "\n" not in message, kind
        assert repr(str(path)) in message, kind
    # A checkpoint written without a checksum (before e3core stored one) still loads.
    torch.save({"epoch": 2}, path)
    assert train.load_checkpoint(path) == {"epoch": 2}
    with pytest.raises(train.CheckpointError, match="is a directory"):
        train.load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train.load_checkpoint(tmp_path / "none.pt")


def test_resume_falls_back_to_the_previous_checkpoint(dataset, tmp_path):
    full = make_trainer(dataset, tmp_path / "full")
    full.fit(3)
    run = tmp_path / "cut"
    make_trainer(dataset, run).fit(2)
    assert train.load_checkpoint(run / "last.prev.pt")["epoch"] == 1
    (run / "last.pt").write_bytes((run / "last.pt").read_bytes()[:1000])  # truncated
    (run / "best.pt").unlink()
    second = make_trainer(dataset, run)
    with pytest.warns(UserWarning, match="last.pt.*cannot be read|last.pt.*truncated"):
        second.fit(3, resume=True)
    assert second.epoch == 3 and second.history[0]["epoch"] == 1
    for key, value in parameters(full.model).items():
        assert torch.equal(value, parameters(second.model)[key]), key
    # Nothing valid to resume from: a one-line error naming the file.
    for name in ("last.pt", "last.prev.pt", "best.pt"):
        (run / name).write_bytes(b"")
    with pytest.raises(train.CheckpointError, match="last.pt"), pytest.warns(UserWarning):
        make_trainer(dataset, run).fit(4, resume=True)


def test_cli_on_a_corrupted_checkpoint(dataset, tmp_path, capsys):
    config = tiny_config(tmp_path, dataset)
    assert main(["train", str(config)]) == 0
    run = tmp_path / "run"
    for name in ("last.pt", "best.pt"):
        content = (run / name).read_bytes()
        (run / name).write_bytes(content[: len(content) // 2])
    capsys.readouterr()
    with pytest.warns(UserWarning, match="last.pt"):
        assert main(["train", str(config), "--resume", "--set", "training.epochs=3"]) == 0
    assert len(train.read_csv(run / "metrics.csv")) == 3
    bad = run / "bad.pt"
    bad.write_bytes(np.random.default_rng(1).bytes(5000))
    for command in (["evaluate", str(bad)], ["export", str(bad), str(tmp_path / "m.pt")]):
        capsys.readouterr()
        assert main(command) == 2, command
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and str(bad) in err and "Traceback" not in err, err


def test_resume_equals_uninterrupted(dataset, tmp_path):
    options = dict(ema_decay=0.9, scheduler={"name": "plateau", "patience": 0, "factor": 0.5},
                   early_stopping={"patience": 50}, clip_grad_norm=10.0)  # fmt: skip
    full = make_trainer(dataset, tmp_path / "full", **options)
    full.fit(4)
    first = make_trainer(dataset, tmp_path / "cut", **options)
    first.fit(2)
    del first  # the run is "killed" after its second checkpoint
    torch.manual_seed(123)  # a new process: different global RNG state until the resume
    second = make_trainer(dataset, tmp_path / "cut", **options)
    second.fit(4, resume=True)
    assert second.epoch == 4
    for key, value in parameters(full.model).items():
        assert torch.equal(value, parameters(second.model)[key]), key
    for a, b in zip(full.ema.shadow, second.ema.shadow, strict=True):
        assert torch.equal(a, b)
    assert [r["val_loss"] for r in full.history] == [r["val_loss"] for r in second.history]
    assert len(train.read_csv(tmp_path / "cut" / "metrics.csv")) == 4


def test_resume_refuses_another_model_configuration():
    old = models.build("lnet", type_numbers=[1, 8], lmax=0, num_features=8, radial_basis="cosine")
    # As saved before radial_basis existed: upgraded to the cosine basis it had.
    saved = {k: v for k, v in old.config.items() if k != "radial_basis"}
    checkpoint = {"model": {"name": "lnet", "config": saved}}
    train.check_same_model(checkpoint, old)
    new = models.build("lnet", type_numbers=[1, 8], lmax=0, num_features=8)
    with pytest.raises(ValueError, match="radial_basis='cosine'.*radial_basis='smooth_finite'"):
        train.check_same_model(checkpoint, new)


def tiny_config(tmp_path, dataset, **training):
    path = tmp_path / "data.npz"
    dataset.save(path)
    config = {
        "output_dir": str(tmp_path / "run"),
        "dtype": "float64",
        "data": {
            "source": "dataset",
            "path": str(path),
            "targets": ["energy"],
            "atom_targets": ["forces"],
            "split": {"sizes": [32, 8, 8]},
            "batch_size": 8,
            "fit_atomrefs": ["energy"],
        },  # fmt: skip
        "model": {"name": "test_train:TinyModel", "kwargs": {"type_numbers": TYPES}},
        "training": {
            "epochs": 2,
            "optimizer": {"lr": "1e-2"},
            "ema_decay": 0.9,
            "loss": [{"target": "energy", "weight": 1.0}, {"target": "forces", "weight": 10.0}],
            **training,
        },  # fmt: skip
        "logging": {"progress": False, "tensorboard": False},
    }
    file = tmp_path / "tiny.yaml"
    file.write_text(yaml.safe_dump(config))
    return file


def test_cli_train_evaluate_export(dataset, tmp_path, capsys):
    config = tiny_config(tmp_path, dataset)
    assert main(["train", str(config), "--set", "training.epochs=1"]) == 0
    assert main(["train", str(config)]) == 2  # a checkpoint exists: needs --resume
    assert "--resume" in capsys.readouterr().err
    assert main(["train", str(config), "--resume"]) == 0
    run = tmp_path / "run"
    assert len(train.read_csv(run / "metrics.csv")) == 2
    assert (run / "config.yaml").exists() and (run / "parity_forces.png").exists()

    # Resuming a finished run says so and leaves it as it was (no epoch, no plots).
    stamp = (run / "parity_forces.png").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["train", str(config), "--resume"]) == 0
    err = capsys.readouterr().err
    assert f"{run} is finished (2 of 2 epochs done; raise training.epochs" in err
    assert len(train.read_csv(run / "metrics.csv")) == 2
    assert (run / "parity_forces.png").stat().st_mtime_ns == stamp

    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    saved = json.loads((run / "eval_test" / "metrics.json").read_text())
    assert saved["metrics"] == metrics and saved["structures"] == 8
    assert (run / "eval_test" / "parity_energy.png").exists()

    assert main(["export", str(run), str(tmp_path / "model.pt")]) == 0
    meta = deploy.read_metadata(tmp_path / "model.pt")
    assert meta["model_name"] == "tiny" and meta["r_max"] == 3.0 and meta["format"] == "torchscript"
    assert meta["type_numbers"] == TYPES and meta["dtype"] == "float64"
    assert sorted(meta["atomrefs"]["energy"]) == ["1", "6", "7", "8"]
    # The export computes the run's best model's energy and forces (EMA weights).
    model = train.model_from_checkpoint(run / "best.pt")
    potential = deploy.load(tmp_path / "model.pt")
    structure = dataset[0]
    got = potential.compute(structure.positions, structure.numbers)
    batch = data.collate([structure], cutoff=3.0, dtype=torch.float64)
    batch.positions.requires_grad_(True)
    energy = model(batch.as_dict())["energy"].sum()
    (grad,) = torch.autograd.grad(energy, batch.positions)
    np.testing.assert_allclose(got["energy"], energy.item(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got["forces"], -grad.numpy(), rtol=1e-9, atol=1e-9)
    with pytest.raises(SystemExit) as exit_status:  # argparse rejects the format: status 2
        main(["export", str(run), str(tmp_path / "m.onnx"), "--format", "onnx"])
    assert exit_status.value.code == 2


def test_ctrl_c_during_training_is_one_line(dataset, tmp_path, capsys, monkeypatch):
    def interrupt(self, batch):
        raise KeyboardInterrupt

    monkeypatch.setattr(train.Trainer, "train_step", interrupt)
    assert main(["train", str(tiny_config(tmp_path, dataset))]) == 130
    err = capsys.readouterr().err.strip()
    assert err == "e3core train: interrupted (continue it with --resume)"


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_in_a_log():
    from e3core.train._logging import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    log, terminal = io.StringIO(), Terminal()
    for file in (log, terminal):
        progress = Progress(range(50), "epoch 1/2", file=file, every=0.0)
        for _ in progress:
            progress.set_postfix("loss 0.5")
    lines = log.getvalue().splitlines()
    assert len(lines) == 50 and "\r" not in log.getvalue()
    assert lines[-1].startswith("epoch 1/2: 50/50 batches, loss 0.5, ")
    assert terminal.getvalue().startswith("\repoch 1/2:   0%|")  # tqdm's bar
    quiet = io.StringIO()
    for _ in Progress(range(5), "epoch 1/2", enabled=False, file=quiet, every=0.0):
        pass
    assert quiet.getvalue() == ""


def test_plots_label_their_axes_with_units_and_say_what_data(tmp_path, monkeypatch):
    import matplotlib.figure

    labels = []
    save = matplotlib.figure.Figure.savefig

    def record(fig, *args, **kwargs):
        labels.append([(ax.get_ylabel(), ax.get_title()) for ax in fig.axes])
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    rows = [{"epoch": e, "lr": 0.1, "train_loss": 1.0 / e, "val_forces_mse": 2.0 / e,
             "train_energy_mae_per_atom": 0.5 / e} for e in (1, 2)]  # fmt: skip
    train.plot_learning_curves(rows, tmp_path / "curves.png", {"energy": "eV", "forces": "eV/Å"})
    assert [y for y, _ in labels[-1]] == [
        "loss (weighted sum of the terms)", "forces mse ((eV/Å)^2)",
        "energy mae per atom (eV/atom)", "learning rate",
    ]  # fmt: skip
    train.plot_parity([1.0, 2.0], [1.1, 2.0], "energy", tmp_path / "p.png", "eV", "test split")
    assert labels[-1][0][0] == "predicted energy (eV)"
    assert labels[-1][0][1].startswith("energy on the test split (2 values)")


def test_cli_subprocess_reports_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name: schnet}\ntraining: {optimizer: {lr: -1}}\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "e3core", "train", str(bad)], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2
    assert "training.optimizer.lr is -1, expected a value > 0" in result.stderr


def test_config_validation_errors(dataset, tmp_path):
    base = {"model": {"name": "schnet", "kwargs": {"type_numbers": [1, 6]}}}
    cases = [
        ({"model": {"name": "schnet"}}, "model.kwargs.type_numbers is missing"),
        (
            {"model": {"name": "schnet", "kwargs": {"type_numbers": [1], "num_featurs": 8}}},
            "model.kwargs.num_featurs is not an option of schnet (did you mean 'num_features'?)",
        ),
        (
            {"model": {"name": "nequip", "kwargs": {"type_numbers": [1], "lmax": "two"}}},
            "model.kwargs.lmax is 'two', expected int",
        ),
        (
            {"model": {"name": "nequip", "kwargs": {"type_numbers": 1}}},
            "model.kwargs.type_numbers is 1, expected a list of int",
        ),
        ({"data": {"source": "csv"}}, "data.source is 'csv', expected one of"),
        ({"training": {"optimizer": {"lr": "fast"}}}, "training.optimizer.lr is 'fast'"),
        ({"training": {"epochs": 2.5}}, "training.epochs is 2.5, expected an int"),
        ({"training": {"ema_decay": 1.5}}, "training.ema_decay is 1.5, expected a value <= 1"),
        ({"data": {"split": {"sizes": [0.8]}}}, "data.split.sizes is [0.8]"),
        ({"data": {"bacth_size": 3}}, "data.bacth_size is not a known key"),
        ({"training": {"loss": [{"target": "mu"}]}}, "training.loss has target 'mu'"),
        ({"training": {"loss": [{"target": "U0", "kind": "l4"}]}}, "kind is 'l4'"),
        ({"training": {"metrics": {"U0": ["mape"]}}}, "metric is 'mape'"),
    ]
    for change, message in cases:
        raw = {**base, **change}
        with pytest.raises(ConfigError, match=re.escape(message)):
            validate_config(raw)
    with pytest.raises(ConfigError, match="model.name is missing"):
        validate_config({})
    config = validate_config({**base, "training": {"optimizer": {"lr": "1e-3"}}})
    assert config["training"]["optimizer"]["lr"] == 1e-3
    kwargs = {"type_numbers": [1], "r_max": "5e0"}  # YAML 1.1 reads 5e0 as a string
    config = validate_config({"model": {"name": "nequip", "kwargs": kwargs}})
    assert config["model"]["kwargs"]["r_max"] == 5.0
    file = tiny_config(tmp_path, dataset)
    assert load_config(file, ["data.batch_size=16"])["data"]["batch_size"] == 16
    with pytest.raises(ValueError, match="monitor is 'val_energy_mape'"):
        trainer_from_config(load_config(file, ["training.monitor=val_energy_mape"]))


def test_missing_model_registry_is_a_clear_error(dataset, tmp_path):
    file = tiny_config(tmp_path, dataset)
    config = load_config(file, ["model.name=no_such_module:Model"])
    with pytest.raises(ValueError, match="cannot be imported"):
        train_from_config(config)


def test_example_configs_validate():
    for path in sorted((ROOT / "examples" / "configs").glob("*.yaml")):
        config = load_config(path)
        assert config["model"]["name"], path


@pytest.mark.parametrize("name", ["demo", "water_nequip", "water_mace", "qm9_schnet", "qm9_l1net"])
def test_example_configs_run_as_written(name, tmp_path, monkeypatch):
    # From the repository root, as the configurations' comments say, with only the run's length
    # and place changed (the density configurations run in test_train_density.py).
    monkeypatch.chdir(ROOT)
    overrides = [f"output_dir={tmp_path / 'run'}", "training.epochs=1", "data.max_structures=24",
                 "data.split.sizes=[16, 4, 4]",
                 "logging.progress=false", "logging.tensorboard=false"]  # fmt: skip
    assert main(["train", str(ROOT / "examples" / "configs" / f"{name}.yaml"),
                 *[arg for o in overrides for arg in ("--set", o)]]) == 0  # fmt: skip
    assert (tmp_path / "run" / "best.pt").is_file()
