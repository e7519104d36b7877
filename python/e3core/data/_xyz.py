"""xyz / extxyz files through ase.io, and MD17-style energies and forces."""

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from e3core.data._dataset import AtomsDataset
from e3core.data._structure import Structure
from e3core.data._units import check_units, unit_factor


def _import_ase() -> Any:
    try:
        import ase.io
    except ImportError:
        raise ImportError(
            "reading and writing xyz files needs ase: pip install ase (or 'e3core[data]')"
        ) from None
    return ase.io


def from_ase(
    atoms: Sequence[Any],
    *,
    energy_key: str = "energy",
    forces_key: str = "forces",
    stress_key: str = "stress",
    info_keys: Sequence[str] | None = (),
    array_keys: Sequence[str] | None = (),
    units: Mapping[str, str] | None = None,
) -> AtomsDataset:
    """A dataset of ``ase.Atoms``: energy, forces and stress from their calculators (or from
    ``info[energy_key]`` / ``arrays[forces_key]``, e.g. MACE's ``REF_energy``), plus the numeric
    ``info`` and ``arrays`` entries named in ``info_keys`` / ``array_keys`` (None: all that
    every structure has). ``units`` records the targets' units (see ``read_xyz``).

    Example::

        >>> import ase
        >>> from ase.calculators.singlepoint import SinglePointCalculator
        >>> atoms = ase.Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
        >>> atoms.calc = SinglePointCalculator(atoms, energy=-31.7, forces=np.zeros((2, 3)))
        >>> from_ase([atoms]).targets
        {'energy': array([-31.7])}
    """
    structures = []
    for k, item in enumerate(atoms):
        if not hasattr(item, "get_positions") or not hasattr(item, "arrays"):
            raise TypeError(f"atoms[{k}] is {type(item).__name__}, expected ase.Atoms")
        structures.append(
            Structure.from_ase(item, energy_key, forces_key, stress_key, info_keys, array_keys)
        )
    if info_keys is None or array_keys is None:
        # keep only what every structure has
        common_t = set.intersection(*(set(s.targets) for s in structures)) if structures else set()
        common_a = (
            set.intersection(*(set(s.atom_targets) for s in structures)) if structures else set()
        )
        for s in structures:
            s.targets = {k: v for k, v in s.targets.items() if k in common_t}
            s.atom_targets = {k: v for k, v in s.atom_targets.items() if k in common_a}
    for name, field in (("energy", "targets"), ("forces", "atom_targets")):
        have = [name in getattr(s, field) for s in structures]
        if any(have) and not all(have):
            k = have.index(False)
            raise ValueError(
                f"structure {k} has no {name} but structure {have.index(True)} has: "
                f"every structure needs the same targets (energy_key={energy_key!r}, "
                f"forces_key={forces_key!r})"
            )
    return AtomsDataset.from_structures(structures, units=_units(units, structures))


def _units(units: Mapping[str, str] | None, structures: Sequence[Structure]) -> dict[str, str]:
    """The units of the targets present: ase's eV, eV/Angstrom and eV/Angstrom^3 by default."""
    present = set()
    for s in structures[:1]:
        present = set(s.targets) | set(s.atom_targets)
    defaults = {"energy": "eV", "free_energy": "eV", "forces": "eV/Angstrom",
                "stress": "eV/Angstrom^3"}  # fmt: skip
    chosen = {k: v for k, v in defaults.items() if k in present}
    chosen.update(check_units(units or {}))
    return chosen


def read_xyz(
    path: str | os.PathLike,
    index: str | int | slice = ":",
    *,
    energy_key: str = "energy",
    forces_key: str = "forces",
    stress_key: str = "stress",
    info_keys: Sequence[str] | None = (),
    array_keys: Sequence[str] | None = (),
    units: Mapping[str, str] | None = None,
    format: str | None = None,
) -> AtomsDataset:
    """The structures of an extxyz (or any ase-readable) file, by ``ase.io.read``.

    ``energy_key`` / ``forces_key`` / ``stress_key`` name the properties to read as
    ``targets["energy"]``, ``atom_targets["forces"]``, ``targets["stress"]`` (3, 3) (MACE
    files: ``"REF_energy"``, ``"REF_forces"``); ``info_keys`` / ``array_keys`` keep further
    numeric per-structure / per-atom properties (None: all). Units are ase's (eV,
    eV/Angstrom, eV/Angstrom^3) unless ``units`` says otherwise (e.g. ``{"energy":
    "kcal/mol", "forces": "kcal/mol/Angstrom"}``); positions are taken as Angstrom. Plain
    xyz files with the energy alone on the comment line and forces in columns 5-7 (sGDML's
    MD17 files) need ``read_md17`` instead: ase reads neither from them.

    Example::

        >>> import tempfile, os, ase, ase.io
        >>> from ase.calculators.singlepoint import SinglePointCalculator
        >>> atoms = ase.Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]], cell=np.eye(3) * 4,
        ...                   pbc=True)
        >>> atoms.calc = SinglePointCalculator(atoms, energy=-31.7, forces=[[0, 0, 1], [0, 0, -1]])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     ase.io.write(os.path.join(tmp, "h2.extxyz"), [atoms, atoms])
        ...     data = read_xyz(os.path.join(tmp, "h2.extxyz"))
        >>> len(data), data.targets["energy"], data[0].forces[0], data.units["forces"]
        (2, array([-31.7, -31.7]), array([0., 0., 1.]), 'eV/Angstrom')
    """
    io = _import_ase()
    if not os.path.exists(path):
        raise FileNotFoundError(f"read_xyz: path is {os.fspath(path)!r}, which does not exist")
    atoms = io.read(path, index=index, format=format)
    if not isinstance(atoms, list):
        atoms = [atoms]
    return from_ase(
        atoms,
        energy_key=energy_key,
        forces_key=forces_key,
        stress_key=stress_key,
        info_keys=info_keys,
        array_keys=array_keys,
        units=units,
    )


def write_xyz(path: str | os.PathLike, dataset: AtomsDataset | Sequence[Structure]) -> None:
    """Writes structures to an extxyz file by ``ase.io.write``: energy, forces and stress as
    calculator results, other targets as ``info`` / per-atom arrays. Values are written in the
    dataset's units (convert to eV and eV/Angstrom first for other codes).

    Example::

        >>> import tempfile, os
        >>> s = Structure(np.zeros((1, 3)), ["H"], targets={"energy": -13.6})
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     write_xyz(os.path.join(tmp, "h.extxyz"), [s])
        ...     read_xyz(os.path.join(tmp, "h.extxyz")).targets["energy"]
        array([-13.6])
    """
    io = _import_ase()
    io.write(path, [s.to_ase() for s in dataset], format="extxyz")


def read_md17(
    path: str | os.PathLike,
    *,
    energy_unit: str = "kcal/mol",
    forces_unit: str = "kcal/mol/Angstrom",
    max_structures: int | None = None,
) -> AtomsDataset:
    """MD17-style energies and forces: a ``.npz`` of sGDML's MD17 (keys ``z``, ``R``, ``E``,
    ``F``) or of the revised rMD17 (``nuclear_charges``, ``coords``, ``energies``,
    ``forces``), or an sGDML ``.xyz`` file (the energy alone on each comment line, then
    ``symbol x y z fx fy fz`` per atom). Positions in Angstrom; energies and forces in
    kcal/mol and kcal/mol/Angstrom, as those files use, unless ``energy_unit`` and
    ``forces_unit`` say otherwise (the values are recorded, not converted: use
    ``dataset.convert_units``).

    Example::

        >>> import tempfile, os
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     np.savez(os.path.join(tmp, "h2.npz"), z=[1, 1], R=np.zeros((4, 2, 3)),
        ...              E=np.arange(4.0).reshape(4, 1), F=np.zeros((4, 2, 3)))
        ...     data = read_md17(os.path.join(tmp, "h2.npz"))
        >>> len(data), data.n_atoms.tolist(), data.units["energy"]
        (4, [2, 2, 2, 2], 'kcal/mol')
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"read_md17: path is {os.fspath(path)!r}, which does not exist")
    if os.fspath(path).endswith(".npz"):
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            for names in (
                ("z", "R", "E", "F"),
                ("nuclear_charges", "coords", "energies", "forces"),
            ):
                if set(names) <= keys:
                    z, positions, energy, forces = (data[k] for k in names)
                    break
            else:
                raise ValueError(
                    f"read_md17: {os.fspath(path)!r} has the arrays {sorted(keys)}, expected "
                    "z, R, E, F (MD17) or nuclear_charges, coords, energies, forces (rMD17)"
                )
        z = np.asarray(z).reshape(-1)
        if positions.ndim != 3 or positions.shape[1:] != (z.size, 3):
            raise ValueError(
                f"read_md17: the coordinates have shape {positions.shape} but expected "
                f"(frames, {z.size}, 3)"
            )
        frames = positions.shape[0]
        if max_structures is not None:
            frames = min(frames, max_structures)
        energy = np.asarray(energy, dtype=np.float64).reshape(-1)[:frames]
        forces = np.asarray(forces, dtype=np.float64)[:frames]
        if energy.size != frames or forces.shape != (frames, z.size, 3):
            raise ValueError(
                f"read_md17: energies have {energy.size} and forces shape {forces.shape}, "
                f"expected {frames} and ({frames}, {z.size}, 3)"
            )
        return AtomsDataset(
            positions=positions[:frames].reshape(-1, 3),
            numbers=np.tile(z, frames),
            n_atoms=np.full(frames, z.size, dtype=np.int64),
            targets={"energy": energy},
            atom_targets={"forces": forces.reshape(-1, 3)},
            ids=np.arange(frames, dtype=np.int64),
            units=_md17_units(energy_unit, forces_unit),
        )
    return _read_sgdml_xyz(path, _md17_units(energy_unit, forces_unit), max_structures)


def _md17_units(energy_unit: str, forces_unit: str) -> dict[str, str]:
    units = check_units({"energy": energy_unit, "forces": forces_unit})
    unit_factor(units["energy"], "eV")  # the right kinds of unit
    unit_factor(units["forces"], "eV/Angstrom")
    return units


def _read_sgdml_xyz(
    path: str | os.PathLike, units: dict[str, str], max_structures: int | None
) -> AtomsDataset:
    structures = []
    with open(path) as handle:
        lines = handle.read().splitlines()
    line = 0
    name = os.fspath(path)
    while line < len(lines) and (max_structures is None or len(structures) < max_structures):
        if not lines[line].strip():
            line += 1
            continue
        try:
            n = int(lines[line].split()[0])
            energy = float(lines[line + 1].split()[0].replace("*^", "e"))
        except (ValueError, IndexError):
            raise ValueError(
                f"read_md17: {name}: line {line + 1}: expected the atom count, then the energy "
                "alone on the comment line (sGDML xyz)"
            ) from None
        rows = [r.split() for r in lines[line + 2 : line + 2 + n]]
        if len(rows) != n or any(len(r) < 7 for r in rows):
            raise ValueError(
                f"read_md17: {name}: structure at line {line + 1}: expected {n} lines of "
                "'symbol x y z fx fy fz'"
            )
        values = np.array([[float(v.replace("*^", "e")) for v in r[1:7]] for r in rows])
        structures.append(
            Structure(
                positions=values[:, :3],
                numbers=[r[0] for r in rows],
                targets={"energy": energy},
                atom_targets={"forces": values[:, 3:]},
                id=len(structures),
            )
        )
        line += 2 + n
    return AtomsDataset.from_structures(structures, units=units)
