"""The training loop: ``Trainer(model, train_loader, val_loader, loss, ...).fit(epochs)``.

Example::

    >>> trainer = Trainer(model, train_loader, val_loader, {"energy": 1.0, "forces": 10.0},
    ...                   optimizer={"name": "adam", "lr": 1e-3}, ema_decay=0.99,
    ...                   logdir="runs/example")  # doctest: +SKIP
    >>> history = trainer.fit(epochs=100)  # doctest: +SKIP
    >>> trainer.evaluate(test_loader)["energy_mae"]  # doctest: +SKIP
"""

import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from e3core.data import Batch
from e3core.train._checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    CheckpointError,
    atomic_save,
    check_same_model,
    load_checkpoint,
    remove_stale_temporaries,
    rng_state,
    set_rng_state,
)
from e3core.train._compiled import CompiledStep
from e3core.train._ema import ExponentialMovingAverage
from e3core.train._logging import Progress, plot_learning_curves, plot_parity, write_csv
from e3core.train._loss import Loss, target_of
from e3core.train._metrics import get_metric
from e3core.train._schedule import EarlyStopping, build_optimizer, build_scheduler


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _samplers(loader: Iterable) -> list[Any]:
    found = [getattr(loader, "sampler", None)]
    found.append(getattr(getattr(loader, "batch_sampler", None), "sampler", None))
    return [s for s in dict.fromkeys(found) if s is not None]


def _generators(loader: Iterable) -> list[torch.Generator]:
    candidates = [getattr(loader, "generator", None)]
    candidates += [getattr(s, "generator", None) for s in _samplers(loader)]
    unique = {id(g): g for g in candidates if isinstance(g, torch.Generator)}
    return list(unique.values())


class _Totals:
    """Sums and counts of the loss terms and metrics over batches (and processes)."""

    def __init__(self, loss: Loss, metrics: Mapping[str, Sequence[str]]) -> None:
        self.loss = loss
        self.metrics = [(t, m, get_metric(m)) for t, names in metrics.items() for m in names]
        n = len(loss.terms) + sum(len(metric.keys(t, m)) for t, m, metric in self.metrics)
        self.sums = torch.zeros(n, dtype=torch.float64)
        self.counts = torch.zeros(n, dtype=torch.float64)

    def add(
        self,
        loss_parts: Sequence[tuple[torch.Tensor, float]],
        predictions: Mapping[str, torch.Tensor],
        batch: Batch,
    ) -> None:
        data = batch.as_dict()
        parts = [(s.detach(), c) for s, c in loss_parts]
        for target, _, metric in self.metrics:
            reference = target_of(batch, target)
            pred = predictions[target].detach().reshape(reference.shape)
            parts.append(metric.fn(pred, reference, data))
        k = 0
        for s, c in parts:
            values = torch.as_tensor(s).detach().reshape(-1).to("cpu", torch.float64)
            self.sums[k : k + values.numel()] += values
            self.counts[k : k + values.numel()] += float(c)
            k += values.numel()

    def reduce(self) -> None:
        if _distributed():
            both = torch.stack([self.sums, self.counts])
            dist.all_reduce(both)
            self.sums, self.counts = both[0].clone(), both[1].clone()

    def loss_value(self) -> float:
        k = len(self.loss.terms)
        return float(self.loss.combine(list(self.sums[:k]), self.counts[:k].tolist()))

    def compute(self) -> dict[str, float]:
        out = {"loss": self.loss_value()}
        k = len(self.loss.terms)
        for target, name, metric in self.metrics:
            for key in metric.keys(target, name):
                out[key] = metric.finalize(float(self.sums[k]), float(self.counts[k]))
                k += 1
        return out


class Trainer:
    """Trains a model of e3core's interface (``forward(data: Dict[str, Tensor]) -> Dict[str,
    Tensor]``) on loaders of ``e3core.data.Batch`` es.

    - ``loss``: a ``Loss`` or its spec (``{"energy": 1.0, "forces": 10.0}``, or a list of
      ``LossTerm`` keyword dicts with ``kind`` mse/mae/huber and ``per_atom``). Each target is
      the model output of the same name (``output_keys`` maps a target to another output
      name). ``forces``, when a loss term or metric needs them and the model does not output
      them, are −d(``forces_from``)/d positions, with ``create_graph`` in training (force
      training differentiates twice).
    - ``optimizer``: ``{"name": "adam" | "adamw", "lr": ..., "weight_decay": ...}``;
      ``scheduler``: ``{"name": "exponential", "gamma": ...}`` or ``{"name": "plateau",
      "factor": ..., "patience": ...}`` (stepped per epoch, plateau on ``monitor``).
    - ``ema_decay``: keep an exponential moving average of the weights; validation,
      ``evaluate``, ``predict`` and the checkpoints' model weights use the average.
    - ``compile``: run each training step as one graph compiled by TorchInductor: the model,
      its forces, the loss and the gradients traced together (``CompiledStep``; tens of
      seconds once per kind of batch, then 1.15-1.25x faster on NequIP with forces).
    - ``clip_grad_norm``: clip the gradients' total 2-norm. ``early_stopping``:
      ``{"patience": 10, "min_delta": 0.0}`` on ``monitor`` (``"val_loss"``, or
      ``"val_<target>_<metric>"``; ``"train_loss"`` without a validation loader).
    - ``metrics``: ``{target: [metric names]}`` (``register_metric`` adds names); default MAE
      and RMSE of every loss target.
    - ``logdir``: ``metrics.csv`` (one row per epoch: train/val loss and metrics, lr, time),
      ``tensorboard/``, ``last.pt`` (every epoch) and ``best.pt`` (best ``monitor``),
      ``learning_curves.png`` and ``parity_<target>.png`` (validation set) at the end.
    - Under ``torch.distributed`` (torchrun), each process trains on its shard (use a
      ``DistributedSampler``); gradients and loss counts are summed over processes so that a
      step equals one on the whole global batch; only rank 0 writes files and shows progress.

    Example::

        >>> trainer = Trainer(model, train_loader, val_loader, {"U0": 1.0},
        ...                   optimizer={"lr": 5e-4}, scheduler={"name": "plateau"},
        ...                   ema_decay=0.99, logdir="runs/qm9")  # doctest: +SKIP
        >>> trainer.fit(epochs=50)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: torch.nn.Module,
        train_loader: Iterable | None,
        val_loader: Iterable | None = None,
        loss: Loss | Mapping[str, float] | Sequence[Any] | None = None,
        *,
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        ema_decay: float | None = None,
        clip_grad_norm: float | None = None,
        compile: bool = False,
        early_stopping: Mapping[str, Any] | None = None,
        monitor: str | None = None,
        metrics: Mapping[str, Sequence[str]] | None = None,
        output_keys: Mapping[str, str] | None = None,
        forces_from: str = "energy",
        logdir: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        progress: bool = True,
        tensorboard: bool = True,
        plots: bool = True,
        units: Mapping[str, str] | None = None,
        model_name: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"Trainer: model is {type(model).__name__}, expected a torch Module")
        self.device = torch.device(device)
        self.dtype = torch.get_default_dtype() if dtype is None else dtype
        self.model = model.to(device=self.device, dtype=self.dtype)
        self.train_loader, self.val_loader = train_loader, val_loader
        self.loss = Loss.from_spec({"energy": 1.0} if loss is None else loss)
        self.metrics = {t: list(m) for t, m in (metrics or {}).items()} or {
            t: ["mae", "rmse"] for t in self.loss.targets
        }
        for names in self.metrics.values():
            for name in names:
                get_metric(name)
        options = dict(optimizer or {})
        self.optimizer = build_optimizer(
            self.model.parameters(), options.pop("name", "adam"), **options
        )
        options = dict(scheduler or {})
        self.scheduler = build_scheduler(self.optimizer, options.pop("name", None), **options)
        self.ema = (
            None
            if ema_decay is None
            else ExponentialMovingAverage(self.model.parameters(), float(ema_decay))
        )
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"Trainer: clip_grad_norm is {clip_grad_norm!r}, expected > 0")
        self.clip_grad_norm = clip_grad_norm
        if not isinstance(compile, bool):
            raise TypeError(f"Trainer: compile is {compile!r}, expected True or False")
        self._compiled = CompiledStep(self) if compile else None
        self.early_stopping = EarlyStopping(**early_stopping) if early_stopping else None
        self.monitor = monitor or ("val_loss" if val_loader is not None else "train_loss")
        self._check_monitor()
        self.output_keys = dict(output_keys or {})
        self.forces_from = forces_from
        self.logdir = None if logdir is None else Path(logdir)
        self.progress, self.tensorboard, self.plots = progress, tensorboard, plots
        self.units = dict(units or {})
        self.model_name = model_name or getattr(model, "name", None)
        self.extra = {**(extra or {}), "dtype": str(self.dtype).removeprefix("torch.")}
        self.rank = dist.get_rank() if _distributed() else 0
        self.world_size = dist.get_world_size() if _distributed() else 1
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.best = {"value": math.inf, "epoch": 0}
        self.stopped = False
        self.finished_before = False  # fit() found nothing left to do
        if _distributed():
            with torch.no_grad():
                for tensor in list(self.model.parameters()) + list(self.model.buffers()):
                    dist.broadcast(tensor, 0)

    @property
    def is_main(self) -> bool:
        """Whether this process writes logs and checkpoints (rank 0, or no torch.distributed).

        Example::

            >>> Trainer(torch.nn.Linear(1, 1), None).is_main  # doctest: +SKIP
            True
        """
        return self.rank == 0

    def _check_monitor(self) -> None:
        splits = ("train", "val") if self.val_loader is not None else ("train",)
        allowed = [f"{s}_loss" for s in splits] + [
            f"{s}_{key}"
            for s in splits
            for t, names in self.metrics.items()
            for m in names
            for key in get_metric(m).keys(t, m)
        ]
        if self.monitor not in allowed:
            raise ValueError(f"Trainer: monitor is {self.monitor!r}, expected one of {allowed}")

    def _needed(self) -> list[str]:
        return list(dict.fromkeys(self.loss.targets + list(self.metrics)))

    def _predict(self, batch: Batch, training: bool) -> dict[str, torch.Tensor]:
        """The model's predictions for the loss and metric targets, by target name."""
        return self._predict_with(self.model, batch, training)

    def _predict_with(
        self,
        model: Callable[[dict[str, torch.Tensor]], Mapping[str, torch.Tensor]],
        batch: Batch,
        training: bool,
    ) -> dict[str, torch.Tensor]:
        """_predict with ``model`` called for the model (the compiled step passes its traced
        parameters)."""
        needed = self._needed()
        forces_key = self.output_keys.get("forces", "forces")
        wants_forces = "forces" in needed
        data = batch.as_dict()
        positions = data["positions"]
        if wants_forces:
            positions = positions.detach().requires_grad_(True)
            data["positions"] = positions
        with torch.set_grad_enabled(training or wants_forces):
            out = dict(model(data))
            if wants_forces and forces_key not in out:
                if self.forces_from not in out:
                    raise KeyError(
                        f"Trainer: forces are needed but the model outputs neither "
                        f"{forces_key!r} nor {self.forces_from!r} (forces_from) to differentiate; "
                        f"its outputs: {sorted(out)}"
                    )
                (grad,) = torch.autograd.grad(
                    out[self.forces_from].sum(), positions, create_graph=training
                )
                out[forces_key] = -grad
        predictions = {}
        for target in needed:
            key = self.output_keys.get(target, target)
            if key not in out:
                raise ValueError(
                    f"Trainer: target {target!r} needs the model output {key!r}, but the model "
                    f"outputs {sorted(out)}; map it with output_keys={{{target!r}: <output>}}"
                )
            predictions[target] = out[key] if training else out[key].detach()
        return predictions

    def _all_reduce_gradients(self) -> None:
        params = [p for p in self.model.parameters() if p.requires_grad]
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    def train_step(
        self, batch: Batch
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, float]], dict[str, torch.Tensor]]:
        """One optimizer step on ``batch`` (moved to the trainer's device and dtype): loss,
        backward (gradients summed over processes), clipping, step, EMA update. Returns the
        loss, its terms' (sum, count) on this process's batch, and the predictions. A model in
        eval mode is put in training mode first (submodules that a model in training mode
        holds in eval mode stay there).

        Example::

            >>> loss, parts, pred = trainer.train_step(next(iter(loader)))  # doctest: +SKIP
        """
        batch = batch.to(self.device, self.dtype)
        if not self.model.training:
            # Only when needed: a call walks the whole tree (0.2-0.4 ms of NequIP 1x32's 18 ms
            # compiled step on 2 cores).
            self.model.train()
        local = self.loss.counts(batch)
        counts = torch.tensor([float(c) for c in local], dtype=torch.float64)
        if _distributed():
            dist.all_reduce(counts)
        self.optimizer.zero_grad(set_to_none=True)
        if self._compiled is not None:
            scales = self.loss.scales(counts.tolist())
            sums, predictions = self._compiled(batch, scales)
            parts = list(zip(sums.unbind(), local, strict=True))
            loss = self.loss.combine([s for s, _ in parts], counts.tolist())
        else:
            predictions = self._predict(batch, training=True)
            parts = self.loss.partial_sums(predictions, batch)
            loss = self.loss.combine([s for s, _ in parts], counts.tolist())
            loss.backward()
        if _distributed():
            self._all_reduce_gradients()
        if self.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update()
        return loss.detach(), parts, predictions

    def _averaged(self, use_ema: bool) -> Any:
        return self.ema.average_parameters() if use_ema and self.ema is not None else nullcontext()

    def _inference(
        self, loader: Iterable, use_ema: bool
    ) -> Iterator[tuple[Batch, dict[str, torch.Tensor]]]:
        """(batch, predictions) over ``loader`` in eval mode, with the EMA weights if asked."""
        was_training = self.model.training
        self.model.eval()
        try:
            with self._averaged(use_ema):
                for batch in loader:
                    batch = batch.to(self.device, self.dtype)
                    yield batch, self._predict(batch, training=False)
        finally:
            self.model.train(was_training)

    def evaluate(self, loader: Iterable, use_ema: bool = True) -> dict[str, float]:
        """``{"loss": ..., "<target>_<metric>": ...}`` over ``loader`` (summed over processes
        under torch.distributed), with the EMA weights unless ``use_ema=False``.

        Example::

            >>> trainer.evaluate(val_loader)  # doctest: +SKIP
            {'loss': 0.012, 'U0_mae': 0.081, 'U0_rmse': 0.11}
        """
        totals = _Totals(self.loss, self.metrics)
        for batch, predictions in self._inference(loader, use_ema):
            totals.add(self.loss.partial_sums(predictions, batch), predictions, batch)
        totals.reduce()
        return totals.compute()

    def predict(self, loader: Iterable, use_ema: bool = True) -> dict[str, dict[str, np.ndarray]]:
        """``{target: {"pred": array, "target": array}}`` concatenated over ``loader`` (and over
        processes under torch.distributed), for parity plots and analysis.

        Example::

            >>> out = trainer.predict(test_loader)  # doctest: +SKIP
            >>> out["U0"]["pred"].shape  # doctest: +SKIP
            (100,)
        """
        collected: dict[str, dict[str, list[np.ndarray]]] = {
            t: {"pred": [], "target": []} for t in self._needed()
        }
        for batch, predictions in self._inference(loader, use_ema):
            for target, entry in collected.items():
                reference = target_of(batch, target)
                entry["pred"].append(predictions[target].reshape(reference.shape).cpu().numpy())
                entry["target"].append(reference.cpu().numpy())
        if _distributed():
            gathered: list[Any] = [None] * self.world_size
            dist.all_gather_object(gathered, collected)
            collected = {
                t: {k: [a for part in gathered for a in part[t][k]] for k in ("pred", "target")}
                for t in collected
            }
        return {
            t: {k: np.concatenate(v) if v else np.zeros(0) for k, v in entry.items()}
            for t, entry in collected.items()
        }

    def _train_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        for sampler in _samplers(self.train_loader):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
        totals = _Totals(self.loss, self.metrics)
        progress = Progress(
            self.train_loader, f"epoch {epoch}/{epochs}", self.progress and self.is_main
        )
        for batch in progress:
            batch = batch.to(self.device, self.dtype)
            _, parts, predictions = self.train_step(batch)
            totals.add(parts, predictions, batch)
            progress.set_postfix(f"loss {totals.loss_value():.4g}")
        totals.reduce()
        return totals.compute()

    def fit(self, epochs: int, resume: bool | str | os.PathLike = False) -> list[dict[str, float]]:
        """Trains until ``epochs`` epochs are done (or early stopping), validating, logging and
        checkpointing after each. ``resume=True`` continues from ``logdir/last.pt`` if it exists
        (a path names another checkpoint): a run stopped at any point and resumed ends with
        the same weights, bit for bit on CPU, as one never stopped. Returns the history (one
        dict per epoch, the rows of ``metrics.csv``).

        Example::

            >>> history = trainer.fit(epochs=10, resume=True)  # doctest: +SKIP
            >>> history[-1]["val_loss"]  # doctest: +SKIP
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"Trainer.fit: epochs is {epochs!r}, expected an int >= 0")
        if self.is_main and self.logdir is not None:
            remove_stale_temporaries(self.logdir)
        if resume is True and self.logdir is not None:
            self._resume_newest_valid()
        elif resume and resume is not True:
            self.load_checkpoint(resume)
        # A resumed run with nothing left to do (all epochs done, or stopped early) is left as
        # it was: no epoch, no plots.
        self.finished_before = self.epoch >= epochs or self.stopped
        if self.finished_before:
            return self.history
        writer = None
        if self.is_main and self.logdir is not None and self.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.logdir / "tensorboard"), purge_step=self.epoch + 1)
        while self.epoch < epochs and not self.stopped:
            epoch = self.epoch + 1
            start = time.perf_counter()
            row: dict[str, float] = {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"]}
            row.update({f"train_{k}": v for k, v in self._train_epoch(epoch, epochs).items()})
            if self.val_loader is not None:
                row.update({f"val_{k}": v for k, v in self.evaluate(self.val_loader).items()})
            value = row[self.monitor]
            if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(value)
            elif self.scheduler is not None:
                self.scheduler.step()
            improved = value < self.best["value"]
            if improved:
                self.best = {"value": float(value), "epoch": epoch}
            if self.early_stopping is not None:
                self.stopped = self.early_stopping.step(value)
            row["time"] = time.perf_counter() - start
            row["elapsed"] = (self.history[-1]["elapsed"] if self.history else 0.0) + row["time"]
            self.epoch = epoch
            self.history.append(row)
            self._end_epoch(row, improved, writer, epochs)
        if writer is not None:
            writer.close()
        if self.plots and self.logdir is not None and self.history and not self.finished_before:
            self.write_plots()
        return self.history

    def _end_epoch(self, row: dict[str, float], improved: bool, writer: Any, epochs: int) -> None:
        checkpoint = self.checkpoint()  # a collective call under torch.distributed
        if not self.is_main:
            return
        if self.progress:
            shown = ", ".join(
                f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "elapsed")
            )
            stop = " (early stopping)" if self.stopped else ""
            print(f"epoch {int(row['epoch'])}/{epochs}: {shown}{stop}", file=sys.stderr)
        if self.logdir is None:
            return
        write_csv(self.logdir / "metrics.csv", self.history)
        if writer is not None:
            for key, value in row.items():
                if key != "epoch":
                    writer.add_scalar(key.replace("_", "/", 1), value, int(row["epoch"]))
            writer.flush()
        atomic_save(checkpoint, self.logdir / "last.pt", previous=self.logdir / "last.prev.pt")
        if improved:
            atomic_save(checkpoint, self.logdir / "best.pt")

    def write_plots(self) -> None:
        """``learning_curves.png`` from the history and ``parity_<target>.png`` on the
        validation set (EMA weights) in ``logdir``.

        Example::

            >>> trainer.write_plots()  # doctest: +SKIP
        """
        parity = self.predict(self.val_loader) if self.val_loader is not None else {}
        if not self.is_main or self.logdir is None:
            return
        plot_learning_curves(self.history, self.logdir / "learning_curves.png", self.units)
        split = "validation split" + (" (EMA weights)" if self.ema is not None else "")
        for target, entry in parity.items():
            plot_parity(
                entry["pred"], entry["target"], target, self.logdir / f"parity_{target}.png",
                self.units.get(target), split,
            )  # fmt: skip

    def model_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights to deploy: the EMA weights when averaging, else the current ones.

        Example::

            >>> sorted(trainer.model_state_dict())  # doctest: +SKIP
        """
        with self._averaged(True):
            return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def state_dict(self) -> dict[str, Any]:
        """Everything resuming needs: raw weights, optimizer, scheduler, EMA, early stopping,
        best value, history, and the generator states of every process and of the loaders
        (a collective call under torch.distributed).

        Example::

            >>> sorted(trainer.state_dict())  # doctest: +SKIP
        """
        rng = rng_state()
        if _distributed():
            states: list[Any] = [None] * self.world_size
            dist.all_gather_object(states, rng)
        else:
            states = [rng]
        loaders = {
            name: [g.get_state() for g in _generators(loader)]
            for name, loader in (("train", self.train_loader), ("val", self.val_loader))
            if loader is not None
        }
        return {
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "early_stopping": (
                None if self.early_stopping is None else self.early_stopping.state_dict()
            ),
            "best": dict(self.best),
            "stopped": self.stopped,
            "history": [dict(row) for row in self.history],
            "rng": states,
            "loaders": loaders,
            "world_size": self.world_size,
        }

    def load_state_dict(self, state: Mapping[str, Any], epoch: int) -> None:
        """Restores ``state_dict()``'s result (after ``epoch`` completed epochs).

        Example::

            >>> ckpt = load_checkpoint("runs/x/last.pt")  # doctest: +SKIP
            >>> trainer.load_state_dict(ckpt["trainer"], ckpt["epoch"])  # doctest: +SKIP
        """
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for name, obj in (("scheduler", self.scheduler), ("ema", self.ema),
                          ("early_stopping", self.early_stopping)):  # fmt: skip
            if (obj is None) != (state[name] is None):
                raise ValueError(
                    f"Trainer: the checkpoint {'has no' if state[name] is None else 'has a'} "
                    f"{name} but this trainer {'has one' if obj is not None else 'has none'}"
                )
            if obj is not None:
                obj.load_state_dict(state[name])
        self.best = dict(state["best"])
        self.stopped = bool(state["stopped"])
        self.history = [dict(row) for row in state["history"]]
        self.epoch = int(epoch)
        states = state["rng"]
        set_rng_state(states[self.rank] if len(states) == self.world_size else states[0])
        for name, loader in (("train", self.train_loader), ("val", self.val_loader)):
            saved = state["loaders"].get(name, [])
            for generator, value in zip(_generators(loader), saved, strict=False):
                generator.set_state(value)

    def checkpoint(self) -> dict[str, Any]:
        """The checkpoint dict written to ``last.pt`` / ``best.pt`` (see
        ``e3core.train.load_checkpoint``).

        Example::

            >>> trainer.checkpoint()["model"]["name"]  # doctest: +SKIP
            'schnet'
        """
        from e3core import __version__

        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "e3core_version": __version__,
            "epoch": self.epoch,
            "model": {
                "name": self.model_name,
                "config": dict(getattr(self.model, "config", {}) or {}),
                "state_dict": self.model_state_dict(),
            },
            "trainer": self.state_dict(),
            "extra": dict(self.extra),
        }

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Writes ``checkpoint()`` atomically to ``path`` (on rank 0; collective under
        torch.distributed).

        Example::

            >>> trainer.save_checkpoint("runs/x/manual.pt")  # doctest: +SKIP
        """
        checkpoint = self.checkpoint()
        if self.is_main:
            atomic_save(checkpoint, path)

    def _resume_newest_valid(self) -> None:
        # last.pt, else the newest valid of last.prev.pt (the epoch before) and best.pt, with
        # a warning naming each checkpoint that cannot be read.
        assert self.logdir is not None
        last = self.logdir / "last.pt"
        if not last.exists():
            return
        try:
            self.load_checkpoint(last)  # raises before changing anything if unreadable
        except CheckpointError as error:
            warnings.warn(
                f"Trainer: {error}; resuming from the newest valid checkpoint", stacklevel=3
            )
            found: list[tuple[int, Path]] = []
            for name in ("last.prev.pt", "best.pt"):
                path = self.logdir / name
                if not path.exists():
                    continue
                try:
                    found.append((int(load_checkpoint(path)["epoch"]), path))
                except (CheckpointError, KeyError, TypeError) as other:
                    warnings.warn(f"Trainer: {other}", stacklevel=3)
            if not found:
                raise CheckpointError(
                    f"{error}; no valid last.prev.pt or best.pt in {os.fspath(self.logdir)!r} "
                    "to resume from instead"
                ) from None
            epoch, path = max(found)
            warnings.warn(
                f"Trainer: resuming from {os.fspath(path)!r} (epoch {epoch})", stacklevel=3
            )
            self.load_checkpoint(path)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Resumes from a checkpoint written by this trainer's runs.

        Example::

            >>> trainer.load_checkpoint("runs/x/last.pt")  # doctest: +SKIP
        """
        checkpoint = load_checkpoint(path, map_location=self.device)
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"Trainer: {os.fspath(path)!r} is not an e3core checkpoint")
        check_same_model(checkpoint, self.model, path)
        self.load_state_dict(checkpoint["trainer"], checkpoint["epoch"])
