"""An ASE calculator on an exported model, a checkpoint or a model of e3core's interface."""

import os
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from ase.calculators.calculator import Calculator as AseCalculator
from ase.calculators.calculator import all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from e3core.deploy._export import Potential, _archive_format, load


def as_potential(
    source: Potential | torch.nn.Module | Mapping[str, Any] | str | os.PathLike,
) -> Potential:
    """A ``Potential`` from an exported model file (TorchScript or AOTInductor), a checkpoint
    (file or dict) or a model, told apart by content.

    Example::

        >>> as_potential("water.pt").metadata["format"]  # doctest: +SKIP
        'torchscript'
    """
    if isinstance(source, Potential):
        return source
    if isinstance(source, (str, os.PathLike)) and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            if _archive_format(archive.namelist()) is not None:
                return load(source)
    return Potential.from_model(source)


class Calculator(AseCalculator):
    """ASE calculator: energy, per-atom energies, forces and, for periodic cells, stress
    (``-virial / volume``, ASE's sign and Voigt order), in the model's units (eV and Å for
    models trained on them).

    Example::

        >>> from ase.build import molecule
        >>> atoms = molecule("H2O")
        >>> atoms.calc = Calculator("water.pt")  # doctest: +SKIP
        >>> atoms.get_potential_energy(), atoms.get_forces().shape  # doctest: +SKIP
        (-14.2, (3, 3))
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(
        self,
        model: Potential | torch.nn.Module | Mapping[str, Any] | str | os.PathLike,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.potential = as_potential(model)

    def calculate(
        self,
        atoms: Any = None,
        properties: Any = ("energy",),
        system_changes: Any = all_changes,
    ) -> None:
        """Computes every implemented property of ``atoms`` at once (ASE's interface).

        Example::

            >>> atoms.calc.calculate(atoms)  # doctest: +SKIP
        """
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        periodic = bool(np.any(atoms.pbc))
        out = self.potential.compute(
            atoms.positions, atoms.numbers, atoms.cell.array if periodic else None, atoms.pbc
        )
        self.results = {
            "energy": out["energy"],
            "free_energy": out["energy"],
            "energies": out["atomic_energy"],
            "forces": out["forces"],
        }
        if periodic and atoms.cell.rank == 3:
            stress = -out["virial"] / atoms.get_volume()
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress)
