"""An in-memory dataset of structures, stored as concatenated arrays."""

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch.utils.data

from e3core.data._structure import (
    Structure,
    _shape_str,
    as_float_array,
    atomic_numbers,
    check_targets,
)
from e3core.data._units import check_units, unit_factor

_FORMAT = "e3core.data.AtomsDataset/1"


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _readonly_all(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key: _readonly(array) for key, array in arrays.items()}


def atomref_array(
    refs: Mapping[int, float] | Sequence[float] | np.ndarray, name: str
) -> np.ndarray:
    """Per-element references as a (119,) float64 array indexed by atomic number, NaN where
    no value is given: from a dict {Z: value} or an array indexed by Z.

    Example::

        >>> atomref_array({1: -0.5, 8: -75.0}, "refs")[[1, 6, 8]]
        array([ -0.5,   nan, -75. ])
    """
    table = np.full(119, np.nan)
    if isinstance(refs, Mapping):
        for z, value in refs.items():
            if isinstance(z, str):
                z = int(atomic_numbers([z], name)[0])
            if not isinstance(z, (int, np.integer)) or not 1 <= z <= 118:
                raise ValueError(f"{name} has the key {z!r}, expected atomic numbers 1..118")
            table[int(z)] = float(value)
        return table
    array = np.asarray(refs, dtype=np.float64).reshape(-1)
    if array.size > 119:
        raise ValueError(f"{name} has {array.size} entries, expected at most 119 (index = Z)")
    table[: array.size] = array
    return table


class AtomsDataset(torch.utils.data.Dataset):
    """Structures held in memory as concatenated arrays, indexable like a list.

    ``positions`` (A, 3) Angstrom and ``numbers`` (A,) are the atoms of all structures one after
    another, ``n_atoms`` (G,) how many each has; ``cell`` (G, 3, 3) and ``pbc`` (G, 3) default to
    no cell; ``targets`` maps names to (G, ...) arrays, ``atom_targets`` names to (A, ...) arrays
    (e.g. ``"forces"``); ``ids`` (G,) optional integer labels; ``units`` maps target names to
    their units (see ``e3core.data.UNITS``). Arrays are stored read-only.

    ``dataset[i]`` is a ``Structure`` (read-only views), ``dataset[1:10]`` or
    ``dataset[[3, 1]]`` an ``AtomsDataset``. As a torch ``Dataset`` it works with
    ``e3core.data.DataLoader`` (and ``torch.utils.data.Subset``).

    Example::

        >>> dataset = AtomsDataset.from_structures([
        ...     Structure(np.zeros((1, 3)), ["H"], targets={"energy": -0.5}),
        ...     Structure([[0, 0, 0], [0, 0, 0.74]], ["H", "H"], targets={"energy": -1.17}),
        ... ], units={"energy": "Ha"})
        >>> len(dataset), dataset.n_atoms, dataset.targets["energy"]
        (2, array([1, 2]), array([-0.5 , -1.17]))
        >>> dataset[1].numbers, dataset.convert_units({"energy": "eV"}).targets["energy"].round(3)
        (array([1, 1]), array([-13.606, -31.837]))
    """

    def __init__(
        self,
        positions: np.ndarray,
        numbers: np.ndarray,
        n_atoms: np.ndarray,
        cell: np.ndarray | None = None,
        pbc: np.ndarray | None = None,
        targets: Mapping[str, np.ndarray] | None = None,
        atom_targets: Mapping[str, np.ndarray] | None = None,
        ids: np.ndarray | None = None,
        units: Mapping[str, str] | None = None,
    ) -> None:
        owner = "AtomsDataset"
        try:
            positions = as_float_array(positions, "positions", ("A", 3), "(A, 3)")
            numbers = atomic_numbers(numbers)
            n_atoms_array = np.asarray(n_atoms)
            if n_atoms_array.ndim != 1 or n_atoms_array.dtype.kind not in "iu":
                raise ValueError(
                    f"n_atoms has shape {_shape_str(n_atoms_array.shape)} and dtype "
                    f"{n_atoms_array.dtype}, expected (G,) integers"
                )
            if np.any(n_atoms_array < 0):
                raise ValueError("n_atoms holds negative counts")
        except (TypeError, ValueError) as error:
            raise type(error)(f"{owner}: {error}") from None
        g = n_atoms_array.shape[0]
        total = int(n_atoms_array.sum())
        if positions.shape[0] != total or numbers.shape[0] != total:
            raise ValueError(
                f"{owner}: positions has {positions.shape[0]} rows and numbers "
                f"{numbers.shape[0]} entries but n_atoms sums to {total}"
            )
        try:
            cell = (
                np.zeros((g, 3, 3))
                if cell is None
                else as_float_array(cell, "cell", (g, 3, 3), f"({g}, 3, 3)")
            )
            if pbc is None:
                pbc = np.zeros((g, 3), dtype=bool)
            else:
                pbc = np.asarray(pbc)
                if pbc.shape != (g, 3) or pbc.dtype.kind not in "bi":
                    raise ValueError(
                        f"pbc has shape {_shape_str(pbc.shape)} but expected ({g}, 3) bools"
                    )
                pbc = pbc.astype(bool)
            periodic_zero = pbc & ~np.any(cell != 0, axis=2)
            if np.any(periodic_zero):
                k, axis = np.argwhere(periodic_zero)[0]
                raise ValueError(
                    f"pbc[{k}, {axis}] is True but cell[{k}, {axis}] is zero; expected a lattice "
                    "vector for each periodic axis"
                )
            if ids is not None:
                ids = np.asarray(ids)
                if ids.shape != (g,) or ids.dtype.kind not in "iu":
                    raise ValueError(
                        f"ids has shape {_shape_str(ids.shape)} and dtype {ids.dtype}, "
                        f"expected ({g},) integers"
                    )
                ids = ids.astype(np.int64)
            self.units = check_units(units or {})
        except (TypeError, ValueError) as error:
            raise type(error)(f"{owner}: {error}") from None
        self.positions = _readonly(positions)
        self.numbers = _readonly(numbers)
        self.n_atoms = _readonly(n_atoms_array.astype(np.int64))
        self.ptr = _readonly(np.concatenate([[0], np.cumsum(self.n_atoms)]).astype(np.int64))
        self.cell = _readonly(cell)
        self.pbc = _readonly(pbc)
        self.ids = None if ids is None else _readonly(ids)
        self.targets = _readonly_all(check_targets(targets, "targets", g, "structure", owner))
        self.atom_targets = _readonly_all(
            check_targets(atom_targets, "atom_targets", total, "atom", owner)
        )

    @classmethod
    def from_structures(
        cls, structures: Sequence[Structure], units: Mapping[str, str] | None = None
    ) -> "AtomsDataset":
        """A dataset of ``structures`` (all with the same target names).

        Example::

            >>> s = Structure(np.zeros((2, 3)), ["H", "H"], atom_targets={"forces": np.ones((2, 3))}
            ... )
            >>> AtomsDataset.from_structures([s, s]).atom_targets["forces"].shape
            (4, 3)
        """
        structures = list(structures)
        for k, s in enumerate(structures):
            if not isinstance(s, Structure):
                raise TypeError(
                    f"structures[{k}] is {type(s).__name__}, expected e3core.data.Structure"
                )
        if not structures:
            return cls(np.zeros((0, 3)), np.zeros(0, np.int64), np.zeros(0, np.int64), units=units)
        first = structures[0]
        for k, s in enumerate(structures):
            for field, names in (("targets", first.targets), ("atom_targets", first.atom_targets)):
                have = getattr(s, field)
                if set(have) != set(names):
                    raise ValueError(
                        f"structures[{k}] has {field} {sorted(have)} but structures[0] has "
                        f"{sorted(names)}: every structure needs the same names"
                    )
                for key in names:
                    if (
                        have[key].shape[int(field == "atom_targets") :]
                        != names[key].shape[int(field == "atom_targets") :]
                    ):
                        raise ValueError(
                            f"structures[{k}].{field}[{key!r}] has shape "
                            f"{_shape_str(have[key].shape)}, unlike structures[0]'s "
                            f"{_shape_str(names[key].shape)}"
                        )
        has_ids = [s.id is not None for s in structures]
        return cls(
            positions=np.concatenate([s.positions for s in structures]),
            numbers=np.concatenate([s.numbers for s in structures]),
            n_atoms=np.array([s.n_atoms for s in structures], dtype=np.int64),
            cell=np.stack([s.cell for s in structures]),
            pbc=np.stack([s.pbc for s in structures]),
            targets={k: np.stack([s.targets[k] for s in structures]) for k in first.targets},
            atom_targets={
                k: np.concatenate([s.atom_targets[k] for s in structures])
                for k in first.atom_targets
            },
            ids=np.array([s.id for s in structures], dtype=np.int64) if all(has_ids) else None,
            units=units,
        )

    @classmethod
    def concatenate(cls, datasets: Sequence["AtomsDataset"]) -> "AtomsDataset":
        """One dataset of the structures of ``datasets`` in order (same targets and units).

        Example::

            >>> d = AtomsDataset.from_structures([Structure(np.zeros((1, 3)), ["H"])])
            >>> len(AtomsDataset.concatenate([d, d, d]))
            3
        """
        datasets = list(datasets)
        if not datasets:
            raise ValueError("AtomsDataset.concatenate: datasets is empty, expected at least one")
        first = datasets[0]
        for k, d in enumerate(datasets):
            if not isinstance(d, AtomsDataset):
                raise TypeError(f"datasets[{k}] is {type(d).__name__}, expected AtomsDataset")
            if set(d.targets) != set(first.targets) or set(d.atom_targets) != set(
                first.atom_targets
            ):
                raise ValueError(
                    f"datasets[{k}] has targets {sorted(d.targets) + sorted(d.atom_targets)} but "
                    f"datasets[0] has {sorted(first.targets) + sorted(first.atom_targets)}"
                )
            if d.units != first.units:
                raise ValueError(
                    f"datasets[{k}] has units {d.units} but datasets[0] has {first.units}"
                )
        with_ids = all(d.ids is not None for d in datasets)
        return cls(
            positions=np.concatenate([d.positions for d in datasets]),
            numbers=np.concatenate([d.numbers for d in datasets]),
            n_atoms=np.concatenate([d.n_atoms for d in datasets]),
            cell=np.concatenate([d.cell for d in datasets]),
            pbc=np.concatenate([d.pbc for d in datasets]),
            targets={k: np.concatenate([d.targets[k] for d in datasets]) for k in first.targets},
            atom_targets={
                k: np.concatenate([d.atom_targets[k] for d in datasets]) for k in first.atom_targets
            },
            ids=np.concatenate([d.ids for d in datasets]) if with_ids else None,
            units=first.units,
        )

    def __len__(self) -> int:
        return int(self.n_atoms.shape[0])

    def __iter__(self) -> Iterator[Structure]:
        for k in range(len(self)):
            yield self[k]

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_)):
            g = len(self)
            k = int(index)
            if not -g <= k < g:
                raise IndexError(f"index {k} is out of range for a dataset of {g} structures")
            k %= g
            a, b = self.ptr[k], self.ptr[k + 1]
            return Structure._trusted(
                self.positions[a:b],
                self.numbers[a:b],
                self.cell[k],
                self.pbc[k],
                {key: v[k] for key, v in self.targets.items()},
                {key: v[a:b] for key, v in self.atom_targets.items()},
                None if self.ids is None else int(self.ids[k]),
            )
        return self.subset(index)

    def __getitems__(self, indices: Sequence[int]) -> "AtomsDataset":
        """The structures at ``indices`` as one dataset: what torch's DataLoader asks for a
        batch, so that ``collate`` works on arrays rather than one structure at a time."""
        return self.subset(indices)

    def subset(self, indices: Any) -> "AtomsDataset":
        """The structures at ``indices`` (a slice, integers or a boolean mask), in that order.

        Example::

            >>> d = AtomsDataset.from_structures(
            ...     [Structure(np.zeros((n, 3)), ["H"] * n) for n in (1, 2, 3)])
            >>> d.subset([2, 0]).n_atoms, d[1:].n_atoms
            (array([3, 1]), array([2, 3]))
        """
        g = len(self)
        if isinstance(indices, slice):
            idx = np.arange(g)[indices]
        else:
            idx = np.asarray(indices)
            if idx.dtype == bool:
                if idx.shape != (g,):
                    raise IndexError(
                        f"indices is a boolean mask of shape {_shape_str(idx.shape)} but the "
                        f"dataset has {g} structures"
                    )
                idx = np.flatnonzero(idx)
            elif idx.size == 0:
                idx = idx.astype(np.int64).reshape(0)
            elif idx.ndim != 1 or idx.dtype.kind not in "iu":
                raise IndexError(
                    f"indices has shape {_shape_str(idx.shape)} and dtype {idx.dtype}, "
                    "expected a slice, 1-d integers or a boolean mask"
                )
            bad = np.flatnonzero((idx < -g) | (idx >= g))
            if bad.size:
                raise IndexError(
                    f"indices[{bad[0]}] is {idx[bad[0]]}, out of range for a dataset of "
                    f"{g} structures"
                )
            idx = idx % g if g else idx
        atoms = self._atom_index(idx)
        return AtomsDataset(
            positions=self.positions[atoms],
            numbers=self.numbers[atoms],
            n_atoms=self.n_atoms[idx],
            cell=self.cell[idx],
            pbc=self.pbc[idx],
            targets={k: v[idx] for k, v in self.targets.items()},
            atom_targets={k: v[atoms] for k, v in self.atom_targets.items()},
            ids=None if self.ids is None else self.ids[idx],
            units=self.units,
        )

    def _atom_index(self, idx: np.ndarray) -> np.ndarray:
        """The rows of the atoms of structures ``idx``, in order."""
        counts = self.n_atoms[idx]
        starts = self.ptr[idx]
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]) if counts.size else counts
        return np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()))

    def structure_index(self) -> np.ndarray:
        """(A,) int64: the structure each atom belongs to.

        Example::

            >>> d = AtomsDataset.from_structures(
            ...     [Structure(np.zeros((n, 3)), ["H"] * n) for n in (1, 2)])
            >>> d.structure_index()
            array([0, 1, 1])
        """
        return np.repeat(np.arange(len(self)), self.n_atoms)

    def with_targets(
        self,
        targets: Mapping[str, np.ndarray] | None = None,
        atom_targets: Mapping[str, np.ndarray] | None = None,
        units: Mapping[str, str] | None = None,
    ) -> "AtomsDataset":
        """The same structures with targets replaced or added (a None value removes one).

        Example::

            >>> d = AtomsDataset.from_structures([Structure(np.zeros((1, 3)), ["H"])])
            >>> d.with_targets({"charge": [0.0]}).targets
            {'charge': array([0.])}
        """
        new_targets, new_atom_targets = dict(self.targets), dict(self.atom_targets)
        new_units = dict(self.units)
        for given, store in ((targets, new_targets), (atom_targets, new_atom_targets)):
            for key, value in (given or {}).items():
                if value is None:
                    store.pop(key, None)
                    new_units.pop(key, None)
                else:
                    store[key] = value
        new_units.update(units or {})
        return AtomsDataset(
            self.positions, self.numbers, self.n_atoms, self.cell, self.pbc,
            new_targets, new_atom_targets, self.ids, new_units,
        )  # fmt: skip

    def convert_units(self, units: Mapping[str, str]) -> "AtomsDataset":
        """A copy with the targets named in ``units`` converted to those units (each target's
        current unit must be in ``self.units``).

        Example::

            >>> d = AtomsDataset.from_structures(
            ...     [Structure(np.zeros((1, 3)), ["H"], targets={"energy": -0.5})], {"energy": "Ha"}
            ... )
            >>> d.convert_units({"energy": "kcal/mol"}).targets["energy"].round(2)
            array([-313.75])
        """
        units = check_units(units)
        targets, atom_targets = {}, {}
        for key, unit in units.items():
            if key not in self.targets and key not in self.atom_targets:
                raise KeyError(
                    f"convert_units: {key!r} is not a target of this dataset "
                    f"(targets: {sorted(self.targets) + sorted(self.atom_targets)})"
                )
            if key not in self.units:
                raise ValueError(
                    f"convert_units: the unit of {key!r} is unknown (not in dataset.units); "
                    "set it with with_targets(units=...) first"
                )
            factor = unit_factor(self.units[key], unit)
            if key in self.targets:
                targets[key] = self.targets[key] * factor
            else:
                atom_targets[key] = self.atom_targets[key] * factor
        return self.with_targets(targets, atom_targets, units)

    def atomref_sum(self, refs: Mapping[int, float] | Sequence[float] | np.ndarray) -> np.ndarray:
        """(G,): the sum over each structure's atoms of ``refs[Z]`` (dict or array indexed by Z).

        Example::

            >>> d = AtomsDataset.from_structures([Structure(np.zeros((3, 3)), ["O", "H", "H"])])
            >>> d.atomref_sum({1: -0.5, 8: -75.0})
            array([-76.])
        """
        table = atomref_array(refs, "refs")
        values = table[self.numbers]
        missing = np.isnan(values)
        if np.any(missing):
            z = sorted({int(v) for v in self.numbers[missing]})
            raise ValueError(f"refs has no value for the atomic numbers {z} found in the dataset")
        sums = np.zeros(len(self))
        np.add.at(sums, self.structure_index(), values)
        return sums

    def subtract_atomrefs(
        self, target: str, refs: Mapping[int, float] | Sequence[float] | np.ndarray
    ) -> "AtomsDataset":
        """A copy in which ``targets[target]`` has the sum of its atoms' ``refs[Z]`` (in the
        target's unit) subtracted: total energies become atomization energies.

        Example::

            >>> d = AtomsDataset.from_structures(
            ...     [Structure(np.zeros((3, 3)), ["O", "H", "H"], targets={"energy": -76.4})])
            >>> d.subtract_atomrefs("energy", {1: -0.5, 8: -75.0}).targets["energy"].round(6)
            array([-0.4])
        """
        values = self.scalar_target(target, "subtract_atomrefs")
        return self.with_targets({target: values - self.atomref_sum(refs)})

    def scalar_target(self, target: str, function: str = "scalar_target") -> np.ndarray:
        """``targets[target]`` (G,), or an error (starting with ``function``) if there is no
        such target or it is not one number per structure.

        Example::

            >>> d = AtomsDataset.from_structures([Structure(np.zeros((1, 3)), ["H"],
            ...                                             targets={"dipole": [0, 0, 1]})])
            >>> d.scalar_target("dipole")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            ValueError: scalar_target: targets['dipole'] has shape (1, 3), expected one number ...
        """
        if target not in self.targets:
            raise KeyError(
                f"{function}: target is {target!r}, expected one of {sorted(self.targets)}"
            )
        values = self.targets[target]
        if values.ndim != 1:
            raise ValueError(
                f"{function}: targets[{target!r}] has shape {_shape_str(values.shape)}, "
                "expected one number per structure"
            )
        return values

    def save(self, path: str | os.PathLike) -> None:
        """Writes the dataset to a compressed ``.npz`` file (no pickle); ``load`` reads it.

        Example::

            >>> import tempfile, os
            >>> d = AtomsDataset.from_structures([Structure(np.zeros((1, 3)), ["H"])])
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     d.save(os.path.join(tmp, "d.npz"))
            ...     len(AtomsDataset.load(os.path.join(tmp, "d.npz")))
            1
        """
        arrays = {
            "format": np.array(_FORMAT),
            "positions": self.positions,
            "numbers": self.numbers.astype(np.uint8),
            "n_atoms": self.n_atoms,
            "units": np.array([f"{k}={v}" for k, v in self.units.items()], dtype=str),
        }
        if np.any(self.cell) or np.any(self.pbc):
            arrays["cell"], arrays["pbc"] = self.cell, self.pbc
        if self.ids is not None:
            arrays["ids"] = self.ids
        arrays.update({f"targets/{k}": v for k, v in self.targets.items()})
        arrays.update({f"atom_targets/{k}": v for k, v in self.atom_targets.items()})
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AtomsDataset":
        """A dataset written by ``save``.

        Example::

            >>> d = AtomsDataset.load(QM9_SAMPLE_PATH)
            >>> len(d) > 100
            True
        """
        with np.load(path, allow_pickle=False) as data:
            if "format" not in data or str(data["format"]) != _FORMAT:
                raise ValueError(f"{os.fspath(path)!r} is not a file written by AtomsDataset.save")
            units = dict(item.split("=", 1) for item in data["units"].tolist())
            return cls(
                positions=data["positions"],
                numbers=data["numbers"].astype(np.int64),
                n_atoms=data["n_atoms"],
                cell=data["cell"] if "cell" in data else None,
                pbc=data["pbc"] if "pbc" in data else None,
                targets={k[8:]: data[k] for k in data.files if k.startswith("targets/")},
                atom_targets={k[13:]: data[k] for k in data.files if k.startswith("atom_targets/")},
                ids=data["ids"] if "ids" in data else None,
                units=units,
            )

    def __repr__(self) -> str:
        def names(d: Mapping[str, np.ndarray]) -> str:
            return (
                ", ".join(k + (f" [{self.units[k]}]" if k in self.units else "") for k in d)
                or "none"
            )

        return (
            f"AtomsDataset({len(self)} structures, {self.positions.shape[0]} atoms, "
            f"periodic: {int(np.any(self.pbc, axis=1).sum())}; targets: {names(self.targets)}; "
            f"atom_targets: {names(self.atom_targets)})"
        )


QM9_SAMPLE_PATH = os.path.join(os.path.dirname(__file__), "qm9_sample.npz")
