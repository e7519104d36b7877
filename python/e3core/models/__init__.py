"""Models sharing one interface: ``forward(data: Dict[str, Tensor]) -> Dict[str, Tensor]`` on
``e3core.data.Batch.as_dict()``, a ``name``, a JSON-serialisable ``config`` and ``r_max``;
``build(name, **config)`` rebuilds one from the registry.

Example::

    >>> from e3core import models
    >>> model = models.build("gate_points", type_numbers=[1, 8], irreps_out="2x0e",
    ...                      irreps_hidden="8x0e", layers=1)
    >>> models.build(model.name, **model.config).config == model.config
    True
"""

import torch

from e3core.models._charge_e3net import ChargeE3Net
from e3core.models._gate_points import (
    Convolution,
    EdgeEmbedding,
    GatePointsNetwork,
    gate_for,
    hidden_irreps,
    matched_hidden_irreps,
)

MODELS: dict[str, type] = {cls.name: cls for cls in (GatePointsNetwork, ChargeE3Net)}


def available() -> list[str]:
    """The registered model names.

    Example::

        >>> "charge_e3net" in available()
        True
    """
    return sorted(MODELS)


def build(name: str, **config: object) -> torch.nn.Module:
    """The model registered as ``name``, constructed with ``config``.

    Example::

        >>> build("charge_e3net", type_numbers=[1, 8], irreps_hidden="4x0e", layers=1).name
        'charge_e3net'
    """
    if name not in MODELS:
        raise ValueError(f"name is {name!r}, expected one of {available()}")
    return MODELS[name](**config)


__all__ = [
    "MODELS",
    "ChargeE3Net",
    "Convolution",
    "EdgeEmbedding",
    "GatePointsNetwork",
    "available",
    "build",
    "gate_for",
    "hidden_irreps",
    "matched_hidden_irreps",
]
