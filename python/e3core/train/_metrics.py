"""Per-target error functions shared by losses and metrics, and the metric registry.

A metric is accumulated as a (sum, count) pair over batches (and processes), then finalised:
``mae`` = sum |error| / count, ``rmse`` = sqrt(sum error² / count), and ``mae_per_atom``,
``rmse_per_atom`` of a graph target divided by each structure's number of atoms. Further
metrics (the
electron-density errors ε_total, ε_l, ε_mae, for instance) register under a name with
``register_metric`` and are then available in ``Trainer(metrics=...)`` and in configurations.

Example::

    >>> import torch
    >>> pred, target = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0])
    >>> total, count = get_metric("rmse").fn(pred, target, {})
    >>> get_metric("rmse").finalize(float(total), float(count))
    1.5811388300841898
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

MetricFn = Callable[[torch.Tensor, torch.Tensor, Mapping[str, torch.Tensor]], tuple]


def squared_error(error: torch.Tensor) -> torch.Tensor:
    """Elementwise error², the summand of MSE and RMSE.

    Example::

        >>> squared_error(torch.tensor([-2.0, 1.0]))
        tensor([4., 1.])
    """
    return error * error


def absolute_error(error: torch.Tensor) -> torch.Tensor:
    """Elementwise |error|, the summand of MAE.

    Example::

        >>> absolute_error(torch.tensor([-2.0, 1.0]))
        tensor([2., 1.])
    """
    return error.abs()


def _summed(elementwise: Callable[[torch.Tensor], torch.Tensor]) -> MetricFn:
    def fn(
        pred: torch.Tensor, target: torch.Tensor, data: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, int]:
        return elementwise(pred - target).sum(), target.numel()

    return fn


def _per_atom(elementwise: Callable[[torch.Tensor], torch.Tensor]) -> MetricFn:
    def fn(
        pred: torch.Tensor, target: torch.Tensor, data: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, int]:
        n = data["n_atoms"].to(target.dtype).reshape((-1,) + (1,) * (target.dim() - 1))
        return elementwise((pred - target) / n).sum(), target.numel()

    return fn


def _mean(total: float, count: float) -> float:
    return total / count if count else math.nan


def _root_mean(total: float, count: float) -> float:
    return math.sqrt(total / count) if count else math.nan


@dataclass(frozen=True)
class Metric:
    """A metric accumulated over batches: ``fn(pred, target, data)`` returns (sum, count) for
    one batch (``data`` is the batch's ``as_dict()``, for metrics that need more than the two
    tensors); ``finalize(sum, count)`` turns the totals over a dataset into the value.

    Example::

        >>> m = Metric(lambda p, t, d: ((p - t).abs().max(), 1), lambda s, c: s / c)
        >>> m.finalize(*[float(v) for v in m.fn(torch.ones(2), torch.zeros(2), {})])
        1.0
    """

    fn: MetricFn
    finalize: Callable[[float, float], float] = _mean


_METRICS: dict[str, Metric] = {
    "mae": Metric(_summed(absolute_error)),
    "mse": Metric(_summed(squared_error)),
    "rmse": Metric(_summed(squared_error), _root_mean),
    "mae_per_atom": Metric(_per_atom(absolute_error)),
    "rmse_per_atom": Metric(_per_atom(squared_error), _root_mean),
}


def register_metric(
    name: str,
    fn: MetricFn,
    finalize: Callable[[float, float], float] | None = None,
    *,
    overwrite: bool = False,
) -> None:
    """Makes ``name`` usable as a metric (``Trainer(metrics={"U0": ["mae", name]})`` and the
    ``training.metrics`` entry of configurations). ``fn(pred, target, data)`` returns a
    (sum, count) pair for one batch, ``finalize(sum, count)`` the value over a dataset
    (default sum / count), so that metrics add up over batches and processes. The
    electron-density errors of e3core's density models (ε_total, ε_l, ε_mae) register here.

    Example::

        >>> def max_abs(pred, target, data):  # not additive: reported as a mean over batches
        ...     return (pred - target).abs().max(), 1
        >>> register_metric("mean_batch_max_abs", max_abs)
        >>> "mean_batch_max_abs" in metric_names()
        True
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_metric: name is {name!r}, expected a non-empty string")
    if name in _METRICS and not overwrite:
        raise ValueError(
            f"register_metric: a metric named {name!r} exists; pass overwrite=True to replace it"
        )
    if not callable(fn):
        raise TypeError(f"register_metric: fn is {fn!r}, expected a callable")
    _METRICS[name] = Metric(fn, _mean if finalize is None else finalize)


def get_metric(name: str) -> Metric:
    """The metric registered as ``name`` (``mae``, ``mse``, ``rmse`` and those added by
    ``register_metric``).

    Example::

        >>> get_metric("mae").finalize(3.0, 2.0)
        1.5
    """
    if name not in _METRICS:
        raise KeyError(f"metric is {name!r}, expected one of {metric_names()}")
    return _METRICS[name]


def metric_names() -> list[str]:
    """The names of the registered metrics, sorted.

    Example::

        >>> [n for n in metric_names() if n in ("mae", "mse", "rmse")]
        ['mae', 'mse', 'rmse']
    """
    return sorted(_METRICS)
