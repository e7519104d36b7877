"""Deployment of trained models. For now one format: a TorchScript file (``torch.jit.script``
of the model, EMA weights, with metadata in its ``_extra_files``), loadable from Python
(``torch.jit.load``) and from C++ libtorch. This is the minimal export; the full deployment
format (C++ API, torch.export / AOTInductor packages, the ASE calculator) comes later.

Example::

    >>> export_torchscript("runs/demo/best.pt", "demo.pt")  # doctest: +SKIP
    >>> files = {"e3core_metadata.json": ""}
    >>> model = torch.jit.load("demo.pt", _extra_files=files)  # doctest: +SKIP
    >>> json.loads(files["e3core_metadata.json"])["r_max"]  # doctest: +SKIP
    5.0
"""

import json
import os
from collections.abc import Mapping
from typing import Any

import torch

METADATA_FILE = "e3core_metadata.json"
EXPORT_FORMATS = ("torchscript",)


def export_metadata(checkpoint: Mapping[str, Any], model: torch.nn.Module) -> dict[str, Any]:
    """The metadata stored with an exported model: e3core version, model name and
    configuration, ``r_max``, ``type_numbers``, dtype, the graph cutoff, target units and the
    per-element references subtracted from targets in training (add them back to predictions).

    Example::

        >>> layer = torch.nn.Linear(1, 1)
        >>> checkpoint = {"model": {"name": "lin", "config": {}}, "extra": {}}
        >>> export_metadata(checkpoint, layer)["model_name"]
        'lin'
    """
    from e3core import __version__

    entry, extra = checkpoint["model"], checkpoint.get("extra", {})
    config = dict(entry.get("config") or {})
    r_max = getattr(model, "r_max", config.get("r_max"))
    return {
        "e3core_version": __version__,
        "model_name": entry.get("name"),
        "model_config": config,
        "r_max": None if r_max is None else float(r_max),
        "type_numbers": [int(z) for z in config.get("type_numbers", [])],
        "dtype": extra.get("dtype", str(next(model.parameters()).dtype).removeprefix("torch.")),
        "cutoff": extra.get("cutoff"),
        "units": extra.get("units", {}),
        "atomrefs": {
            t: {str(z): e for z, e in r.items()} for t, r in extra.get("atomrefs", {}).items()
        },
        "epoch": checkpoint.get("epoch"),
    }


def export_torchscript(
    checkpoint: Mapping[str, Any] | str | os.PathLike,
    out: str | os.PathLike,
    model: torch.nn.Module | None = None,
) -> dict[str, Any]:
    """Writes the checkpoint's model (rebuilt from its name and configuration, or ``model``
    with the checkpoint's weights) as a TorchScript file at ``out``, with
    ``e3core_metadata.json`` (``export_metadata``) in its ``_extra_files``; returns the
    metadata.

    Example::

        >>> meta = export_torchscript("runs/demo", "demo.pt")  # doctest: +SKIP
    """
    from e3core.train import load_checkpoint, model_from_checkpoint
    from e3core.train._run import resolve_checkpoint

    if not isinstance(checkpoint, Mapping):
        checkpoint = load_checkpoint(resolve_checkpoint(checkpoint))
    model = model_from_checkpoint(checkpoint, model)
    metadata = export_metadata(checkpoint, model)
    try:
        scripted = torch.jit.script(model)
    except Exception as error:
        raise ValueError(
            f"export: torch.jit.script failed for model {metadata['model_name']!r}: {error}"
        ) from error
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.jit.save(scripted, os.fspath(out), _extra_files={METADATA_FILE: json.dumps(metadata)})
    return metadata


def export(
    checkpoint: Mapping[str, Any] | str | os.PathLike,
    out: str | os.PathLike,
    format: str = "torchscript",
    model: torch.nn.Module | None = None,
) -> dict[str, Any]:
    """Exports a checkpoint (or run directory) in ``format`` (``"torchscript"`` for now).

    Example::

        >>> export("runs/demo", "demo.pt", format="onnx")  # doctest: +SKIP
        Traceback (most recent call last):
        ...
        ValueError: export: format is 'onnx', expected one of ('torchscript',)
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"export: format is {format!r}, expected one of {EXPORT_FORMATS}")
    return export_torchscript(checkpoint, out, model)


__all__ = ["EXPORT_FORMATS", "METADATA_FILE", "export", "export_metadata", "export_torchscript"]
