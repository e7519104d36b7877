"""Exponential moving average of a model's weights (evaluated and saved in place of the raw
weights, as NequIP does).

Example::

    >>> import torch
    >>> layer = torch.nn.Linear(2, 1)
    >>> ema = ExponentialMovingAverage(layer.parameters(), decay=0.99)
    >>> ema.update()
    >>> with ema.average_parameters():
    ...     pass  # layer holds the averaged weights here
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch


class ExponentialMovingAverage:
    """Shadow copies ``s`` of ``parameters``, updated after each optimizer step as
    ``s ← s − (1 − d)(s − p)`` with ``d = min(decay, (1 + n) / (10 + n))`` after ``n``
    updates when ``use_num_updates`` (torch_ema's warm-up, NequIP's default), else ``decay``.

    Example::

        >>> p = torch.nn.Parameter(torch.zeros(1))
        >>> ema = ExponentialMovingAverage([p], decay=0.5, use_num_updates=False)
        >>> with torch.no_grad():
        ...     _ = p.fill_(1.0)
        >>> ema.update()
        >>> ema.shadow[0]
        tensor([0.5000])
    """

    def __init__(
        self, parameters: Iterable[torch.nn.Parameter], decay: float, use_num_updates: bool = True
    ) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(
                f"ExponentialMovingAverage: decay is {decay!r}, expected 0 <= decay <= 1"
            )
        self.parameters = [p for p in parameters if p.requires_grad]
        self.shadow = [p.detach().clone() for p in self.parameters]
        self.decay = float(decay)
        self.use_num_updates = bool(use_num_updates)
        self.num_updates = 0

    def current_decay(self) -> float:
        """The decay the next ``update`` uses.

        Example::

            >>> ExponentialMovingAverage([], decay=0.999).current_decay()
            0.18181818181818182
        """
        if not self.use_num_updates:
            return self.decay
        n = self.num_updates + 1
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self) -> None:
        """Moves the shadows toward the current parameters.

        Example::

            >>> ema = ExponentialMovingAverage([torch.nn.Parameter(torch.ones(1))], 0.9)
            >>> ema.update(); ema.num_updates
            1
        """
        one_minus_decay = 1.0 - self.current_decay()
        self.num_updates += 1
        for s, p in zip(self.shadow, self.parameters, strict=True):
            s.sub_(one_minus_decay * (s - p))

    @torch.no_grad()
    def copy_to(self) -> None:
        """Writes the shadows into the parameters.

        Example::

            >>> p = torch.nn.Parameter(torch.ones(1))
            >>> ema = ExponentialMovingAverage([p], 0.9)
            >>> with torch.no_grad():
            ...     _ = p.zero_()
            >>> ema.copy_to(); p.data
            tensor([1.])
        """
        for s, p in zip(self.shadow, self.parameters, strict=True):
            p.copy_(s)

    @contextmanager
    def average_parameters(self) -> Iterator[None]:
        """A context in which the parameters hold the averages (restored exactly after).

        Example::

            >>> p = torch.nn.Parameter(torch.zeros(1))
            >>> ema = ExponentialMovingAverage([p], 0.9)
            >>> with torch.no_grad():
            ...     _ = p.fill_(2.0)
            >>> with ema.average_parameters():
            ...     float(p)
            0.0
            >>> float(p)
            2.0
        """
        stored = [p.detach().clone() for p in self.parameters]
        self.copy_to()
        try:
            yield
        finally:
            with torch.no_grad():
                for p, value in zip(self.parameters, stored, strict=True):
                    p.copy_(value)

    def state_dict(self) -> dict[str, Any]:
        """The shadows, decay and update count (for checkpoints).

        Example::

            >>> sorted(ExponentialMovingAverage([], 0.9).state_dict())
            ['decay', 'num_updates', 'shadow', 'use_num_updates']
        """
        return {
            "decay": self.decay,
            "use_num_updates": self.use_num_updates,
            "num_updates": self.num_updates,
            "shadow": [s.clone() for s in self.shadow],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores ``state_dict()``'s result.

        Example::

            >>> ema = ExponentialMovingAverage([], 0.9)
            >>> ema.load_state_dict({"decay": 0.5, "use_num_updates": False, "num_updates": 3,
            ...                      "shadow": []})
            >>> ema.num_updates
            3
        """
        if len(state["shadow"]) != len(self.shadow):
            raise ValueError(
                f"ExponentialMovingAverage: the state has {len(state['shadow'])} shadows but the "
                f"model has {len(self.shadow)} trainable parameters"
            )
        self.decay = float(state["decay"])
        self.use_num_updates = bool(state["use_num_updates"])
        self.num_updates = int(state["num_updates"])
        with torch.no_grad():
            for s, value in zip(self.shadow, state["shadow"], strict=True):
                s.copy_(value)
