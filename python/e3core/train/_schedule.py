"""Optimizers (Adam, AdamW), learning-rate schedules (exponential decay, reduce on plateau) and
early stopping.

Example::

    >>> import torch
    >>> opt = build_optimizer(torch.nn.Linear(2, 1).parameters(), "adamw", lr=1e-3)
    >>> sched = build_scheduler(opt, "exponential", gamma=0.9)
    >>> type(sched).__name__
    'ExponentialLR'
"""

from collections.abc import Iterable
from typing import Any

import torch

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
SCHEDULERS = ("none", "exponential", "plateau")


def build_optimizer(
    parameters: Iterable[torch.nn.Parameter], name: str = "adam", lr: float = 1e-3, **kwargs: Any
) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` (``name="adam"``) or ``AdamW`` (``"adamw"``) with learning rate
    ``lr``; other keyword arguments (``weight_decay``, ``amsgrad``, ``betas``...) are torch's.
    Unless ``fused``, ``foreach`` or ``differentiable`` is given, parameters that are all
    floating-point tensors on the CPU or a CUDA device get torch's fused implementation: one
    kernel for all of them (0.7 against 2.7 ms a step for NequIP's 23 tensors on one core).

    Example::

        >>> opt = build_optimizer(torch.nn.Linear(2, 1).parameters(), "adam", lr=0.01)
        >>> opt.defaults["lr"], opt.defaults["fused"]
        (0.01, True)
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer name is {name!r}, expected one of {sorted(OPTIMIZERS)}")
    if not lr > 0:
        raise ValueError(f"optimizer lr is {lr!r}, expected a number > 0")
    parameters = list(parameters)
    fusable = all(
        isinstance(p, torch.Tensor) and p.is_floating_point() and p.device.type in ("cpu", "cuda")
        for p in parameters
    )
    if parameters and fusable and not {"fused", "foreach", "differentiable"} & kwargs.keys():
        kwargs["fused"] = True
    return OPTIMIZERS[name](parameters, lr=lr, **kwargs)


def build_scheduler(
    optimizer: torch.optim.Optimizer, name: str | None = None, **kwargs: Any
) -> Any:
    """A learning-rate schedule stepped once per epoch: ``"exponential"`` (lr × ``gamma`` each
    epoch, ``torch.optim.lr_scheduler.ExponentialLR``), ``"plateau"`` (lr × ``factor`` after
    ``patience`` epochs without improvement of the monitored validation value,
    ``ReduceLROnPlateau``, keywords ``factor``, ``patience``, ``threshold``, ``min_lr``...),
    or None for ``None`` / ``"none"``.

    Example::

        >>> opt = build_optimizer(torch.nn.Linear(2, 1).parameters(), lr=1.0)
        >>> sched = build_scheduler(opt, "plateau", factor=0.5, patience=0)
        >>> sched.step(1.0); sched.step(2.0); opt.param_groups[0]["lr"]
        0.5
    """
    if name is None or name == "none":
        return None
    if name == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, **kwargs)
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", **kwargs)
    raise ValueError(f"scheduler name is {name!r}, expected one of {SCHEDULERS}")


class EarlyStopping:
    """Stops training when a value to minimise (a validation loss or metric) has not improved by
    more than ``min_delta`` for ``patience`` epochs.

    Example::

        >>> stop = EarlyStopping(patience=2)
        >>> [stop.step(v) for v in [3.0, 2.0, 2.5, 2.1]]
        [False, False, False, True]
    """

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"EarlyStopping: patience is {patience!r}, expected an int >= 1")
        if not min_delta >= 0:
            raise ValueError(f"EarlyStopping: min_delta is {min_delta!r}, expected >= 0")
        self.patience, self.min_delta = patience, float(min_delta)
        self.best = float("inf")
        self.bad_epochs = 0

    def step(self, value: float) -> bool:
        """Records one epoch's value; True when training should stop.

        Example::

            >>> EarlyStopping(patience=1).step(1.0)
            False
        """
        if value < self.best - self.min_delta:
            self.best, self.bad_epochs = float(value), 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """Best value and epochs without improvement (for checkpoints).

        Example::

            >>> EarlyStopping(3).state_dict()
            {'best': inf, 'bad_epochs': 0}
        """
        return {"best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores ``state_dict()``'s result.

        Example::

            >>> stop = EarlyStopping(3); stop.load_state_dict({"best": 1.0, "bad_epochs": 2})
            >>> stop.step(1.5)
            True
        """
        self.best, self.bad_epochs = float(state["best"]), int(state["bad_epochs"])
