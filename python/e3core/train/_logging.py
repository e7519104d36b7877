"""Training logs: the per-epoch CSV file, TensorBoard scalars, learning-curve and parity plots
(PNG, matplotlib's Agg backend: no display needed).

Example::

    >>> import os, tempfile
    >>> history = [{"epoch": 1, "train_loss": 2.0, "val_loss": 2.5},
    ...            {"epoch": 2, "train_loss": 1.0, "val_loss": 1.5}]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_csv(os.path.join(tmp, "metrics.csv"), history)
    ...     read_csv(os.path.join(tmp, "metrics.csv"))[1]["val_loss"]
    1.5
"""

import csv
import io
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from e3core.train._checkpoint import atomic_write


def write_csv(path: str | os.PathLike, history: Sequence[Mapping[str, Any]]) -> None:
    """Writes the epochs of ``history`` (one dict per epoch) as a CSV file, atomically; the
    columns are the keys in order of first appearance.

    Example::

        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     write_csv(os.path.join(tmp, "m.csv"), [{"epoch": 1, "lr": 0.01}])
        ...     open(os.path.join(tmp, "m.csv")).read().split()
        ['epoch,lr', '1,0.01']
    """
    columns = list(dict.fromkeys(key for row in history for key in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write(path, lambda file: file.write(text.getvalue().encode()))


def read_csv(path: str | os.PathLike) -> list[dict[str, float]]:
    """The rows of a CSV file written by ``write_csv``, as floats (empty cells: NaN).

    Example::

        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     write_csv(os.path.join(tmp, "m.csv"), [{"epoch": 1, "a": 2.0}, {"epoch": 2}])
        ...     read_csv(os.path.join(tmp, "m.csv"))[1]
        {'epoch': 2.0, 'a': nan}
    """
    with open(path, newline="") as file:
        return [
            {k: float(v) if v not in ("", None) else math.nan for k, v in row.items()}
            for row in csv.DictReader(file)
        ]


class Progress:
    """Progress through a loop on ``file`` (stderr): a tqdm bar on a terminal; elsewhere (a
    log file, a pipe) a plain line every ``every`` seconds, so that logs stay readable.

    Example::

        >>> log = io.StringIO()
        >>> progress = Progress(range(3), "epoch 1/5", file=log, every=0.0)
        >>> for _ in progress:
        ...     progress.set_postfix("loss 0.5")
        >>> print(log.getvalue().splitlines()[-1].split(",")[0])
        epoch 1/5: 3/3 batches
    """

    def __init__(
        self,
        iterable: Iterable[Any],
        desc: str,
        enabled: bool = True,
        file: Any = None,
        every: float = 30.0,
    ) -> None:
        self.file = sys.stderr if file is None else file
        self.iterable, self.desc, self.every = iterable, desc, every
        self.enabled, self.postfix = enabled, ""
        self.bar: Any = None
        isatty = getattr(self.file, "isatty", None)
        if enabled and isatty is not None and isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(iterable, desc=desc, file=self.file, dynamic_ncols=True, leave=False)

    def __iter__(self) -> Iterator[Any]:
        if self.bar is not None:
            yield from self.bar
            self.bar.close()
            return
        total = len(self.iterable) if hasattr(self.iterable, "__len__") else None
        start = last = time.perf_counter()
        for i, item in enumerate(self.iterable, 1):
            yield item
            now = time.perf_counter()
            if self.enabled and now - last >= self.every:
                last = now
                count = f"{i}/{total}" if total is not None else str(i)
                postfix = f", {self.postfix}" if self.postfix else ""
                print(f"{self.desc}: {count} batches{postfix}, {now - start:.0f} s", file=self.file)

    def set_postfix(self, text: str) -> None:
        """What the bar or the next line shows after the count (``"loss 0.53"``)."""
        self.postfix = text
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike) -> Path:
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path


def _metric_label(quantity: str, units: Mapping[str, str]) -> str:
    """The y-axis label of a learning-curve panel, with the unit of its target in ``units``:
    ``U0_mae`` -> ``U0 mae (eV)``, ``forces_mse`` -> ``forces mse ((eV/Å)^2)``."""
    from e3core.train._metrics import metric_names

    if quantity == "loss":
        return "loss (weighted sum of the terms)"
    if quantity == "lr":
        return "learning rate"
    metric = max((m for m in metric_names() if quantity.endswith("_" + m)), key=len, default=None)
    if metric is None:
        return quantity
    target = quantity[: -len(metric) - 1]
    unit = units.get(target)
    if metric.startswith("epsilon"):
        unit = "%"
    elif unit and metric == "mse":
        unit = f"({unit})^2"
    elif unit and metric.endswith("_per_atom"):
        unit = f"{unit}/atom"
    label = f"{target} {metric.replace('_', ' ')}"
    return f"{label} ({unit})" if unit else label


def plot_learning_curves(
    history: Sequence[Mapping[str, float]] | str | os.PathLike,
    path: str | os.PathLike,
    units: Mapping[str, str] | None = None,
) -> Path:
    """A PNG of the learning curves: the training and validation loss, then each metric
    (``U0_mae``, ``forces_rmse``...) for training and validation, and the learning rate,
    against the epoch. ``history`` is the rows of the CSV log or its path; ``units`` maps the
    targets to their units (``{"U0": "eV"}``), shown on the y axes.

    Example::

        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     png = plot_learning_curves([{"epoch": 1, "train_U0_mae": 1.0, "lr": 0.1},
        ...                                 {"epoch": 2, "train_U0_mae": 0.5, "lr": 0.1}],
        ...                                os.path.join(tmp, "curves.png"), {"U0": "eV"})
        ...     png.stat().st_size > 0
        True
    """
    rows = read_csv(history) if isinstance(history, (str, os.PathLike)) else list(history)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    quantities = list(
        dict.fromkeys(
            c.split("_", 1)[1] for c in columns if c.startswith(("train_", "val_", "test_"))
        )
    )
    panels = quantities + (["lr"] if "lr" in columns else [])
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), squeeze=False)
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(rows)]
    for ax, quantity in zip(axes[0], panels, strict=True):
        names = [quantity] if quantity == "lr" else [f"{s}_{quantity}" for s in ("train", "val")]
        for name in names:
            values = np.array([row.get(name, math.nan) for row in rows], dtype=float)
            if np.any(np.isfinite(values)):
                ax.plot(epochs, values, marker="." if len(rows) < 30 else None,
                        label=name.split("_", 1)[0] if name != "lr" else "lr")  # fmt: skip
        finite = [row.get(n, math.nan) for row in rows for n in names]
        if all(v > 0 for v in finite if math.isfinite(v)) and any(map(math.isfinite, finite)):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(_metric_label(quantity, units or {}))
        ax.set_title(quantity)
        ax.legend()
    return _save(fig, path)


def plot_parity(
    pred: Any,
    target: Any,
    name: str,
    path: str | os.PathLike,
    unit: str | None = None,
    data: str | None = None,
) -> Path:
    """A PNG parity plot: predictions against references of one target (all components of a
    vector target such as forces), with the y = x line and the MAE and RMSE. ``data`` says what
    was predicted, in the title ("validation split", "test split", a file name).

    Example::

        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     png = plot_parity(np.array([1.0, 2.1]), np.array([1.0, 2.0]), "U0",
        ...                       os.path.join(tmp, "parity_U0.png"), "eV", "test split")
        ...     png.name
        'parity_U0.png'
    """
    pred = np.asarray(pred, dtype=float).ravel()
    target = np.asarray(target, dtype=float).ravel()
    if pred.shape != target.shape:
        raise ValueError(f"plot_parity: pred has {pred.size} values but target has {target.size}")
    error = pred - target
    mae = float(np.mean(np.abs(error))) if error.size else math.nan
    rmse = float(np.sqrt(np.mean(error**2))) if error.size else math.nan
    suffix = f" ({unit})" if unit else ""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.scatter(target, pred, s=4, alpha=0.5)
    if target.size:
        lo, hi = min(target.min(), pred.min()), max(target.max(), pred.max())
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8)
    ax.set_xlabel(f"reference {name}{suffix}")
    ax.set_ylabel(f"predicted {name}{suffix}")
    on = f" on the {data}" if data else ""
    ax.set_title(
        f"{name}{on} ({target.size} values)\nMAE {mae:.4g}, RMSE {rmse:.4g}{suffix}", fontsize=9
    )
    return _save(fig, path)
