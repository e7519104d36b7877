"""Deployment: trained models as potentials for simulation codes (see docs/deploy.md).

``export(model, path, format)`` writes a TorchScript file (``"torchscript"``, for
``torch::jit::load``) or a torch.export/AOTInductor package (``"aoti"``, for
``AOTIModelPackageLoader``), both computing energy, forces and virial inside, with e3core's
metadata; ``load(path)`` loads either in Python; ``Calculator`` is an ASE calculator; the C++
API (``include/e3core/model.hpp``) loads them without Python.

Example::

    >>> from e3core import deploy
    >>> deploy.export(model, "water.pt", format="torchscript")  # doctest: +SKIP
    >>> potential = deploy.load("water.pt")  # doctest: +SKIP
    >>> potential.compute(positions, ["O", "H", "H"])["energy"]  # doctest: +SKIP
    -14.2
"""

from typing import Any

from e3core.deploy._export import (
    CONTRACT_VERSION,
    FORMATS,
    METADATA_FILE,
    ExportError,
    Potential,
    check_version,
    energy_model,
    example_inputs,
    export,
    export_metadata,
    load,
    parse_version,
    read_metadata,
)
from e3core.deploy._module import INPUTS, OUTPUTS, PotentialModule
from e3core.train import model_from_checkpoint


def __getattr__(name: str) -> Any:
    # The ASE calculator needs ase, which e3core does not require: imported on first use.
    if name in ("Calculator", "as_potential"):
        from e3core.deploy import _calculator

        return getattr(_calculator, name)
    raise AttributeError(f"module 'e3core.deploy' has no attribute {name!r}")


__all__ = [
    "CONTRACT_VERSION",
    "Calculator",
    "ExportError",
    "FORMATS",
    "INPUTS",
    "METADATA_FILE",
    "OUTPUTS",
    "Potential",
    "PotentialModule",
    "as_potential",
    "check_version",
    "energy_model",
    "example_inputs",
    "export",
    "export_metadata",
    "load",
    "model_from_checkpoint",
    "parse_version",
    "read_metadata",
]
