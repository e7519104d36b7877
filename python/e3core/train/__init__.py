"""Training: the ``Trainer`` loop (Adam/AdamW, exponential or plateau schedules, EMA of the
weights, gradient clipping, early stopping, progress bar, CSV and TensorBoard logs, plots,
atomic and resumable checkpoints, torch.distributed data parallelism), losses, metrics and
YAML configurations (``python -m e3core train CONFIG``). See docs/training.md.

Example::

    >>> from e3core import train
    >>> train.Loss.from_spec({"energy": 1.0, "forces": 10.0}).needs_forces
    True
    >>> [name for name in train.metric_names() if name.startswith("m")]
    ['mae', 'mae_per_atom', 'mse']
"""

from e3core.train._checkpoint import (
    CheckpointError,
    archive_checksum,
    atomic_save,
    atomic_write,
    build_model,
    check_same_model,
    load_checkpoint,
    model_from_checkpoint,
    remove_stale_temporaries,
    rng_state,
    set_rng_state,
    verify_checkpoint,
)
from e3core.train._config import ConfigError, load_config, validate_config
from e3core.train._ema import ExponentialMovingAverage
from e3core.train._logging import plot_learning_curves, plot_parity, read_csv, write_csv
from e3core.train._loss import LOSS_KINDS, Loss, LossTerm, target_of
from e3core.train._metrics import (
    Metric,
    get_metric,
    metric_names,
    register_density_metrics,
    register_metric,
)
from e3core.train._run import evaluate_checkpoint, train_from_config, trainer_from_config
from e3core.train._schedule import (
    OPTIMIZERS,
    SCHEDULERS,
    EarlyStopping,
    build_optimizer,
    build_scheduler,
)
from e3core.train._trainer import Trainer

__all__ = [
    "LOSS_KINDS",
    "OPTIMIZERS",
    "SCHEDULERS",
    "EarlyStopping",
    "ExponentialMovingAverage",
    "Loss",
    "LossTerm",
    "Metric",
    "CheckpointError",
    "ConfigError",
    "Trainer",
    "archive_checksum",
    "atomic_save",
    "atomic_write",
    "build_model",
    "build_optimizer",
    "build_scheduler",
    "evaluate_checkpoint",
    "get_metric",
    "load_checkpoint",
    "load_config",
    "metric_names",
    "check_same_model",
    "model_from_checkpoint",
    "plot_learning_curves",
    "plot_parity",
    "read_csv",
    "register_density_metrics",
    "register_metric",
    "remove_stale_temporaries",
    "rng_state",
    "set_rng_state",
    "target_of",
    "train_from_config",
    "trainer_from_config",
    "validate_config",
    "verify_checkpoint",
    "write_csv",
]
