"""Models on one interface (see docs/models.md and docs/density.md): SchNet, NequIP, MACE and
LNet (L0Net / L1Net) for energies, forces and molecular properties, GatePointsNetwork and
ChargeE3Net for electron densities. Each has ``forward(data: Dict[str, Tensor]) ->
Dict[str, Tensor]`` on a batch's ``as_dict()``, is scriptable, and is rebuilt by
``build(name, **config)`` from ``model.name`` and ``model.config``.

Example::

    >>> from e3core import data, models
    >>> model = models.build("nequip", type_numbers=[1, 6, 7, 8, 9], num_features=4)
    >>> batch = data.collate(data.load_qm9_sample()[:2], cutoff=model.r_max)
    >>> sorted(model(batch.as_dict()))
    ['atomic_energy', 'energy', 'forces']
    >>> copy = models.build(model.name, **model.config)
    >>> models.available()
    ['charge_e3net', 'gate_points', 'lnet', 'mace', 'nequip', 'schnet']
"""

from collections.abc import Mapping
from typing import Any

import torch

from e3core.models._charge_e3net import ChargeE3Net
from e3core.models._common import AtomisticModel, AtomTypes, ScaleShift
from e3core.models._gate_points import (
    Convolution,
    EdgeEmbedding,
    GatePointsNetwork,
    gate_for,
    hidden_irreps,
    matched_hidden_irreps,
)
from e3core.models._kwargs import check_kwargs
from e3core.models._lnet import LNet, lnet_num_features
from e3core.models._mace import MACE
from e3core.models._nequip import NequIP
from e3core.models._schnet import SchNet

_REGISTRY: dict[str, type[torch.nn.Module]] = {
    cls.name: cls for cls in (LNet, MACE, NequIP, SchNet, GatePointsNetwork, ChargeE3Net)
}


def available() -> list[str]:
    """The names ``build`` knows, sorted.

    Example::

        >>> "schnet" in available() and "charge_e3net" in available()
        True
    """
    return sorted(_REGISTRY)


def build(name: str, **config: object) -> torch.nn.Module:
    """The model registered as ``name`` (``model.name``), built from the keyword arguments
    ``config`` (``model.config``): ``build(model.name, **model.config)`` gives the same
    architecture, and ``load_state_dict(model.state_dict())`` the same model.

    Example::

        >>> model = build("schnet", type_numbers=[1, 8], num_features=8, num_interactions=1)
        >>> type(model).__name__, model.config["num_features"]
        ('SchNet', 8)
        >>> build("allegro")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        KeyError: "build: name is 'allegro', expected one of ['charge_e3net', ...]"
    """
    if name not in _REGISTRY:
        raise KeyError(f"build: name is {name!r}, expected one of {available()}")
    return _REGISTRY[name](**config)


def check_config(name: str, config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``config`` checked against the constructor of the model registered as ``name``: a
    ``TypeError`` names the first unknown option (and the closest known one), missing required
    option or value of the wrong type (its key after ``prefix``), before anything is built.
    Floats that YAML read as strings (``1e-3``) are converted. The training configurations are
    checked with it.

    Example::

        >>> check_config("schnet", {"type_numbers": [1, 8], "num_featurs": 8})
        Traceback (most recent call last):
        ...
        TypeError: num_featurs is not an option of schnet (did you mean 'num_features'?)
    """
    if name not in _REGISTRY:
        raise KeyError(f"check_config: name is {name!r}, expected one of {available()}")
    return check_kwargs(_REGISTRY[name], config, name, prefix)


def upgrade_config(name: str, config: dict[str, object]) -> dict[str, object]:
    """``config`` of the registered model ``name`` as saved by an earlier e3core, with the
    options added since then set to the values that version used (a model's
    ``legacy_config``), so that old checkpoints rebuild the model they were trained with: an
    LNet saved before ``radial_basis`` existed gets the cosine basis it had.

    Example::

        >>> upgrade_config("lnet", {"type_numbers": [1]})["radial_basis"]
        'cosine'
        >>> upgrade_config("lnet", {"radial_basis": "smooth_finite"})["radial_basis"]
        'smooth_finite'
    """
    if name not in _REGISTRY:
        raise KeyError(f"upgrade_config: name is {name!r}, expected one of {available()}")
    return {**getattr(_REGISTRY[name], "legacy_config", {}), **config}


__all__ = [
    "AtomTypes",
    "AtomisticModel",
    "ChargeE3Net",
    "Convolution",
    "EdgeEmbedding",
    "GatePointsNetwork",
    "LNet",
    "MACE",
    "NequIP",
    "ScaleShift",
    "SchNet",
    "available",
    "check_config",
    "build",
    "gate_for",
    "hidden_irreps",
    "lnet_num_features",
    "matched_hidden_irreps",
    "upgrade_config",
]
