"""Per-target error functions shared by losses and metrics, and the metric registry.

A metric is accumulated as a (sum, count) pair over batches (and processes), then finalised:
``mae`` = sum |error| / count, ``rmse`` = sqrt(sum error² / count), and ``mae_per_atom``,
``rmse_per_atom`` of a graph target divided by each structure's number of atoms. Further
metrics register under a name with ``register_metric`` and are then available in
``Trainer(metrics=...)`` and in configurations.

The electron-density errors are ratios of integrals per structure, reported as the mean over
structures of each structure's error (as Rackers et al. and Koker et al. report them): the sum
is Σ_g ε_g and the count the number of structures, so they add up over batches and processes
(a structure's probes are all in its batch). ``epsilon_mae`` (%) of the target
``probe_density`` is 100 Σ|Δρ| / Σ|ρ_ref| over each structure's probes;
``register_density_metrics(basis)`` adds ``epsilon_total`` and ``epsilon_l`` (%) of the target
``density_coefficients`` on that basis: the densities of predicted and reference coefficients
on the probes with their quadrature weights, 100 ∫|Δρ| / ∫ρ_ref, and the same per degree l
(``<target>_epsilon_l0``, ``_epsilon_l1``, ...).

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

from e3core.density import DensityBasis, density_errors_by_l, density_mae_error

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
    tensors); ``finalize(sum, count)`` turns the totals over a dataset into the value. A metric
    with ``outputs`` (name suffixes) gives one value per suffix: its sum is a tensor of that
    many entries, reported as ``<target>_<name><suffix>``.

    Example::

        >>> m = Metric(lambda p, t, d: ((p - t).abs().max(), 1), lambda s, c: s / c)
        >>> m.finalize(*[float(v) for v in m.fn(torch.ones(2), torch.zeros(2), {})])
        1.0
        >>> Metric(m.fn, outputs=("0", "1")).keys("x", "err")
        ['x_err0', 'x_err1']
    """

    fn: MetricFn
    finalize: Callable[[float, float], float] = _mean
    outputs: tuple[str, ...] = ()

    def keys(self, target: str, name: str) -> list[str]:
        """The names under which the metric ``name`` of ``target`` is reported.

        Example::

            >>> get_metric("mae").keys("U0", "mae")
            ['U0_mae']
        """
        return [f"{target}_{name}{suffix}" for suffix in self.outputs or ("",)]


def _graphs_with_probes(data: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(G,) bool: which structures of the batch have probes (the others have no error)."""
    graphs = int(data["n_atoms"].shape[0])
    return torch.bincount(data["probe_batch"], minlength=graphs)[:graphs] > 0


def _epsilon_mae(
    pred: torch.Tensor, target: torch.Tensor, data: Mapping[str, torch.Tensor]
) -> tuple[torch.Tensor, int]:
    present = _graphs_with_probes(data)
    errors = density_mae_error(
        target.double(), pred.double(), data["probe_batch"], int(present.shape[0])
    )
    return errors[present].sum(), int(present.sum())


_METRICS: dict[str, Metric] = {
    "mae": Metric(_summed(absolute_error)),
    "mse": Metric(_summed(squared_error)),
    "rmse": Metric(_summed(squared_error), _root_mean),
    "mae_per_atom": Metric(_per_atom(absolute_error)),
    "rmse_per_atom": Metric(_per_atom(squared_error), _root_mean),
    "epsilon_mae": Metric(_epsilon_mae),
}

DENSITY_METRICS = ("epsilon_total", "epsilon_l")


def register_density_metrics(basis: DensityBasis) -> None:
    """Registers (or replaces) ``epsilon_total`` and ``epsilon_l``, the density errors (%) of
    per-atom coefficients on ``basis`` against the reference ones (``density_errors_by_l`` on
    the batch's probes, in float64; mean over structures): ``Trainer(metrics=
    {"density_coefficients": ["epsilon_total", "epsilon_l"]})`` on batches of a
    ``DensityDataset``. Configurations with density data register them for its basis.

    Example::

        >>> from e3core import data
        >>> water = data.load_water_density()
        >>> register_density_metrics(water.basis)
        >>> get_metric("epsilon_l").keys("density_coefficients", "epsilon_l")[-1]
        'density_coefficients_epsilon_l4'
    """
    if not isinstance(basis, DensityBasis):
        raise TypeError(f"register_density_metrics: basis is {basis!r}, expected a DensityBasis")

    def errors(
        pred: torch.Tensor, target: torch.Tensor, data: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        present = _graphs_with_probes(data)
        values = density_errors_by_l(
            basis,
            target.double(),
            pred.double(),
            data["positions"].double(),
            data["numbers"],
            data["probe_positions"].double(),
            data["probe_weights"].double(),
            data["batch"],
            data["probe_batch"],
        )
        stacked = torch.stack([values[k][: present.shape[0]] for k in values], dim=1)
        return stacked[present].sum(0), present

    def total(pred: torch.Tensor, target: torch.Tensor, data: Mapping[str, torch.Tensor]):
        sums, present = errors(pred, target, data)
        return sums[0], int(present.sum())

    def per_l(pred: torch.Tensor, target: torch.Tensor, data: Mapping[str, torch.Tensor]):
        sums, present = errors(pred, target, data)
        return sums[1:], int(present.sum())

    register_metric("epsilon_total", total, overwrite=True)
    outputs = tuple(str(l) for l in range(basis.lmax + 1))
    register_metric("epsilon_l", per_l, overwrite=True, outputs=outputs)


def register_metric(
    name: str,
    fn: MetricFn,
    finalize: Callable[[float, float], float] | None = None,
    *,
    overwrite: bool = False,
    outputs: tuple[str, ...] = (),
) -> None:
    """Makes ``name`` usable as a metric (``Trainer(metrics={"U0": ["mae", name]})`` and the
    ``training.metrics`` entry of configurations). ``fn(pred, target, data)`` returns a
    (sum, count) pair for one batch, ``finalize(sum, count)`` the value over a dataset
    (default sum / count), so that metrics add up over batches and processes; with
    ``outputs`` (suffixes) the sum has one entry per suffix (``Metric``). The electron-density
    errors ε_mae and (``register_density_metrics``) ε_total, ε_l register here.

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
    _METRICS[name] = Metric(fn, _mean if finalize is None else finalize, tuple(outputs))


def get_metric(name: str) -> Metric:
    """The metric registered as ``name`` (``mae``, ``mse``, ``rmse`` and those added by
    ``register_metric``).

    Example::

        >>> get_metric("mae").finalize(3.0, 2.0)
        1.5
    """
    if name not in _METRICS:
        hint = (
            " (register_density_metrics(basis) adds it; configurations with density data do)"
            if name in DENSITY_METRICS
            else ""
        )
        raise KeyError(f"metric is {name!r}, expected one of {metric_names()}{hint}")
    return _METRICS[name]


def metric_names() -> list[str]:
    """The names of the registered metrics, sorted.

    Example::

        >>> [n for n in metric_names() if n in ("mae", "mse", "rmse")]
        ['mae', 'mse', 'rmse']
    """
    return sorted(_METRICS)
