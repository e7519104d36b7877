"""Runs from configurations: the data, loaders, model and Trainer that a YAML configuration
describes (``python -m e3core train``), and the evaluation of a finished run
(``python -m e3core evaluate``).

Example::

    >>> config = validate_config({"model": {"name": "schnet", "kwargs": {"type_numbers": [1]}}})
    >>> splits, atomrefs = prepare_data(config)
    >>> [len(s) for s in splits.values()]
    [800, 100, 100]
"""

import json
import os
import random
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.utils.data

from e3core import data
from e3core.train._checkpoint import build_model, load_checkpoint, model_from_checkpoint
from e3core.train._config import DENSITY_SOURCES, ConfigError, validate_config
from e3core.train._logging import plot_parity
from e3core.train._metrics import register_density_metrics
from e3core.train._trainer import Trainer

SPLIT_NAMES = ("train", "val", "test")


def load_data(data_config: Mapping[str, Any], path: str | os.PathLike | None = None) -> Any:
    """The dataset of a configuration's ``data`` section (``source``, ``path``,
    ``max_structures``, ``atomization``, ``units``, the kept ``targets`` and ``atom_targets``);
    ``path`` replaces the configured source by an ``.npz`` dataset or an xyz file (or, for
    density sources, another density ``.npz``). Density sources (``water_density``,
    ``density``) give a ``DensityDataset`` (structures with probes) and register the density
    metrics of its basis (``register_density_metrics``).

    Example::

        >>> cfg = validate_config({"model": {"name": "x"}})["data"]
        >>> qm9 = load_data(cfg)
        >>> len(qm9), sorted(qm9.targets)
        (1000, ['U0'])
    """
    source, file = data_config["source"], data_config["path"]
    if path is not None:
        if source in DENSITY_SOURCES:
            source, file = "density", path
        else:
            source, file = ("dataset" if os.fspath(path).endswith(".npz") else "xyz"), path
    n = data_config["max_structures"]
    if source in DENSITY_SOURCES:
        if data_config["fit_atomrefs"]:
            raise ConfigError(
                f"config: data.fit_atomrefs is {data_config['fit_atomrefs']}, expected [] for "
                f"density data (data.source {source!r})"
            )
        densities = data.load_water_density(file if source == "density" else None)
        register_density_metrics(densities.basis)
        if n is not None:
            densities = densities[: int(n)]
        return densities.with_atoms(_kept(densities.atoms, data_config))
    if source in ("qm9_sample", "qm9"):
        options = {"atomization": data_config["atomization"]}
        if source == "qm9":
            dataset = data.load_qm9(file, max_molecules=n, **options)
        else:
            dataset = data.load_qm9_sample(**options)
    elif file is None:
        raise ConfigError(f"config: data.path is missing (data.source is {source!r})")
    elif source == "xyz":
        dataset = data.read_xyz(file, **data_config["read_kwargs"])
    else:
        dataset = data.AtomsDataset.load(file)
    if n is not None and source != "qm9":
        dataset = dataset[: int(n)]
    return _kept(dataset, data_config)


def _kept(dataset: data.AtomsDataset, data_config: Mapping[str, Any]) -> data.AtomsDataset:
    """``dataset`` with only the configured targets, in the configured units."""
    keep_targets = set(data_config["targets"])
    keep_atom_targets = set(data_config["atom_targets"])
    for name, present in (("targets", dataset.targets), ("atom_targets", dataset.atom_targets)):
        wanted = keep_targets if name == "targets" else keep_atom_targets
        missing = sorted(wanted - set(present))
        if missing:
            raise ConfigError(
                f"config: data.{name} has {missing}, which the data does not have "
                f"(it has {sorted(present)})"
            )
    dataset = dataset.with_targets(
        {k: None for k in dataset.targets if k not in keep_targets},
        {k: None for k in dataset.atom_targets if k not in keep_atom_targets},
    )
    units = {k: v for k, v in data_config["units"].items() if k in keep_targets | keep_atom_targets}
    return dataset.convert_units(units) if units else dataset


def apply_atomrefs(dataset: Any, atomrefs: Mapping[str, Mapping[int, float]]) -> Any:
    """``dataset`` with each target's per-element references subtracted.

    Example::

        >>> qm9 = data.load_qm9_sample()
        >>> refs = {"U0": {1: -0.5, 6: -38.0, 7: -54.6, 8: -75.1, 9: -99.7}}
        >>> float(apply_atomrefs(qm9, refs)[0].targets["U0"].round(3))
        -0.479
    """
    for target, refs in atomrefs.items():
        dataset = dataset.subtract_atomrefs(target, {int(z): float(e) for z, e in refs.items()})
    return dataset


def prepare_data(
    config: Mapping[str, Any], atomrefs: Mapping[str, Mapping[int, float]] | None = None
) -> tuple[dict[str, Any], dict[str, dict[int, float]]]:
    """The splits (``{"train", "val"[, "test"]}``) of a validated configuration, with the
    references of ``data.fit_atomrefs`` fitted on the training split (or the given
    ``atomrefs``) subtracted from every split; returns the splits and the references.

    Example::

        >>> cfg = validate_config({"model": {"name": "x"}, "data": {"fit_atomrefs": ["U0"]}})
        >>> splits, refs = prepare_data(cfg)
        >>> sorted(refs["U0"])
        [1, 6, 7, 8, 9]
    """
    d = config["data"]
    dataset = load_data(d)
    sizes = d["split"]["sizes"]
    parts = data.random_split(dataset, sizes, seed=d["split"]["seed"])
    splits = dict(zip(SPLIT_NAMES, parts, strict=False))
    if atomrefs is None:
        atomrefs = {t: data.fit_atomrefs(splits["train"], t) for t in d["fit_atomrefs"]}
    atomrefs = {t: {int(z): float(e) for z, e in r.items()} for t, r in atomrefs.items()}
    return {k: apply_atomrefs(v, atomrefs) for k, v in splits.items()}, atomrefs


class ShardSampler(torch.utils.data.Sampler):
    """Indices ``rank, rank + world_size, ...`` of a dataset of ``n``: each process evaluates
    its share, every structure once (no padding, unlike ``DistributedSampler``).

    Example::

        >>> list(ShardSampler(5, rank=1, world_size=2))
        [1, 3]
    """

    def __init__(self, n: int, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.rank, self.world_size = n, rank, world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world_size))


def make_loaders(
    config: Mapping[str, Any], splits: Mapping[str, Any], cutoff: float, dtype: torch.dtype
) -> dict[str, data.DataLoader]:
    """DataLoaders of the splits: the training one shuffled by a ``DistributedSampler``
    (seeded by ``data.split.seed`` and the epoch, the same order whatever the number of
    processes), each process taking ``batch_size / world_size`` structures of every global
    batch; the others sharded in order. Training batches of density data have at most
    ``data.max_probes`` random probes per structure, the others all.

    Example::

        >>> cfg = validate_config({"model": {"name": "x"}, "data": {"cutoff": 5.0}})
        >>> splits, _ = prepare_data(cfg)
        >>> loaders = make_loaders(cfg, splits, 5.0, torch.float32)
        >>> len(loaders["train"]), len(loaders["val"])
        (25, 4)
    """
    d = config["data"]
    rank = dist.get_rank() if dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_initialized() else 1
    loaders = {}
    for name, split in splits.items():
        size = d["batch_size"] if name == "train" else d["val_batch_size"] or d["batch_size"]
        if size % world:
            raise ConfigError(
                f"config: data.{'batch_size' if name == 'train' else 'val_batch_size'} is "
                f"{size}, which {world} processes cannot share; expected a multiple of {world}"
            )
        if name == "train":
            sampler: torch.utils.data.Sampler = torch.utils.data.DistributedSampler(
                split, num_replicas=world, rank=rank, shuffle=True, seed=d["split"]["seed"]
            )
        else:
            sampler = ShardSampler(len(split), rank, world)
        loaders[name] = data.DataLoader(
            split, batch_size=size // world, sampler=sampler, cutoff=cutoff, dtype=dtype,
            num_workers=d["num_workers"], max_probes=d["max_probes"] if name == "train" else None,
        )  # fmt: skip
    return loaders


def _init_distributed(device: str) -> str:
    """Starts torch.distributed under torchrun (WORLD_SIZE > 1); returns the device to use."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    if device == "cuda" and dist.is_initialized():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def seed_everything(seed: int) -> None:
    """Seeds torch, numpy and Python's ``random``.

    Example::

        >>> seed_everything(0); a = torch.rand(1); seed_everything(0); bool(torch.rand(1) == a)
        True
    """
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def trainer_from_config(
    config: Mapping[str, Any],
    model: torch.nn.Module | None = None,
    atomrefs: Mapping[str, Mapping[int, float]] | None = None,
) -> tuple[Trainer, dict[str, data.DataLoader]]:
    """The Trainer and loaders of a configuration (validated here). The model is built from
    ``model.name`` and ``model.kwargs`` (``build_model``) after seeding, unless given.

    Example::

        >>> trainer, loaders = trainer_from_config(load_config("run.yaml"))  # doctest: +SKIP
    """
    config = validate_config(config)
    device = _init_distributed(config["device"])
    dtype = getattr(torch, config["dtype"])
    seed_everything(config["seed"])
    if model is None:
        model = build_model(config["model"]["name"], config["model"]["kwargs"])
    cutoff = config["data"]["cutoff"] or getattr(model, "r_max", None)
    if cutoff is None:
        raise ConfigError("config: data.cutoff is missing and the model has no r_max")
    splits, atomrefs = prepare_data(config, atomrefs)
    loaders = make_loaders(config, splits, float(cutoff), dtype)
    t = config["training"]
    scheduler = {"name": t["scheduler"]["name"]}
    if scheduler["name"] == "exponential":
        scheduler["gamma"] = t["scheduler"]["gamma"]
    elif scheduler["name"] == "plateau":
        scheduler.update({k: t["scheduler"][k] for k in ("factor", "patience", "min_lr")})
    early = t["early_stopping"]
    units = dict(splits["train"].units)
    trainer = Trainer(
        model,
        loaders["train"],
        loaders["val"],
        t["loss"],
        optimizer=dict(t["optimizer"]),
        scheduler=scheduler,
        ema_decay=t["ema_decay"],
        clip_grad_norm=t["clip_grad_norm"],
        compile=t["compile"],
        early_stopping=None if early["patience"] is None else dict(early),
        monitor=t["monitor"],
        metrics=t["metrics"] or None,
        output_keys=config["model"]["outputs"],
        forces_from=config["model"]["forces_from"],
        logdir=config["output_dir"],
        device=device,
        dtype=dtype,
        progress=config["logging"]["progress"],
        tensorboard=config["logging"]["tensorboard"],
        plots=config["logging"]["plots"],
        units=units,
        model_name=config["model"]["name"],
        extra={"config": config, "atomrefs": atomrefs, "cutoff": float(cutoff), "units": units},
    )
    return trainer, loaders


def train_from_config(
    config: Mapping[str, Any], resume: bool = False, model: torch.nn.Module | None = None
) -> Trainer:
    """Trains the run a configuration describes (``python -m e3core train``): writes the
    resolved configuration to ``output_dir/config.yaml``, then ``Trainer.fit``. An
    ``output_dir`` with a checkpoint needs ``resume=True`` (which continues it).

    Example::

        >>> trainer = train_from_config(load_config("examples/configs/demo.yaml"))  # doctest: +SKIP
    """
    import yaml

    trainer, _ = trainer_from_config(config, model)
    config = trainer.extra["config"]
    out = Path(config["output_dir"])
    if (out / "last.pt").exists() and not resume:
        raise FileExistsError(
            f"output_dir {os.fspath(out)!r} holds a checkpoint (last.pt); resume it with "
            "--resume, or choose another output_dir (--set output_dir=...)"
        )
    if trainer.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    trainer.fit(config["training"]["epochs"], resume=resume)
    if trainer.is_main and trainer.finished_before:
        reason = (
            f"stopped early at epoch {trainer.epoch}"
            if trainer.stopped
            else f"{trainer.epoch} of {config['training']['epochs']} epochs done; raise "
            "training.epochs (--set training.epochs=N) to train longer"
        )
        print(f"{os.fspath(out)} is finished ({reason}): nothing to do", file=sys.stderr)
    elif trainer.is_main and trainer.progress:
        best = trainer.best
        print(
            f"done: {trainer.epoch} epochs in {trainer.history[-1]['elapsed']:.1f} s; best "
            f"{trainer.monitor} {best['value']:.4g} at epoch {best['epoch']}; "
            f"checkpoints in {os.fspath(out)}",
            file=sys.stderr,
        )
    return trainer


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file: ``path`` itself, or in a run directory ``best.pt`` (else ``last.pt``).

    Example::

        >>> resolve_checkpoint("runs/demo")  # doctest: +SKIP
        PosixPath('runs/demo/best.pt')
    """
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{os.fspath(path)!r} holds no best.pt or last.pt")
    if not path.is_file():
        raise FileNotFoundError(f"{os.fspath(path)!r} is neither a run directory nor a file")
    return path


def evaluate_checkpoint(
    path: str | os.PathLike,
    data_path: str | os.PathLike | None = None,
    split: str = "test",
    out: str | os.PathLike | None = None,
    model: torch.nn.Module | None = None,
    plots: bool = True,
) -> dict[str, float]:
    """Metrics of a run's model (``best.pt``, EMA weights) on one split of its configured data
    (rebuilt with the same seed and references), or on all of ``data_path`` (an xyz file or an
    ``.npz`` dataset, with the run's references subtracted). Writes ``metrics.json`` and
    ``parity_<target>.png`` to ``out`` (default ``RUN_DIR/eval_<split>``).

    Example::

        >>> evaluate_checkpoint("runs/demo")["U0_mae"]  # doctest: +SKIP
        0.093
    """
    path = resolve_checkpoint(path)
    checkpoint = load_checkpoint(path)
    extra = checkpoint["extra"]
    config = validate_config(extra["config"])
    model = model_from_checkpoint(checkpoint, model)
    atomrefs = extra.get("atomrefs", {})
    if data_path is None:
        splits, _ = prepare_data(config, atomrefs)
        if split not in splits:
            raise ValueError(f"evaluate: split is {split!r}, expected one of {sorted(splits)}")
        dataset, name, shown = splits[split], split, f"{split} split"
    else:
        dataset = apply_atomrefs(load_data(config["data"], data_path), atomrefs)
        name, shown = Path(data_path).stem, Path(data_path).name
    dtype = getattr(torch, config["dtype"])
    loader = make_loaders(config, {"test": dataset}, extra["cutoff"], dtype)["test"]
    t = config["training"]
    trainer = Trainer(
        model, None, None, t["loss"], metrics=t["metrics"] or None, monitor="train_loss",
        output_keys=config["model"]["outputs"], forces_from=config["model"]["forces_from"],
        dtype=dtype, progress=False,
    )  # fmt: skip
    metrics = trainer.evaluate(loader, use_ema=False)
    out = Path(out) if out is not None else path.parent / f"eval_{name}"
    if trainer.is_main:
        out.mkdir(parents=True, exist_ok=True)
        summary = {"checkpoint": os.fspath(path), "data": name, "structures": len(dataset),
                   "epoch": checkpoint["epoch"], "metrics": metrics}  # fmt: skip
        (out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    if plots:
        predictions = trainer.predict(loader, use_ema=False)
        if trainer.is_main:
            for target, entry in predictions.items():
                plot_parity(entry["pred"], entry["target"], target,
                            out / f"parity_{target}.png", extra["units"].get(target),
                            shown)  # fmt: skip
    return metrics
