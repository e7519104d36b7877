"""Electron-density datasets: structures with per-atom density coefficients on a Gaussian basis
and the density at probe points with quadrature weights (the shipped water clusters)."""

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from e3core.data._batch import Batch, collate
from e3core.data._dataset import AtomsDataset
from e3core.density import DensityBasis

WATER_DENSITY_PATH = os.path.join(os.path.dirname(__file__), "water_density.npz")


class DensityDataset:
    """Structures (an ``AtomsDataset`` with the target ``"energy"`` and the atom targets
    ``"forces"``, ``"density_coefficients"`` (A, basis.irreps.dim) and ``"density_mask"``, 1
    where the element has the basis function) plus, per structure, probe points:
    ``probe_positions`` (P, 3), quadrature ``probe_weights`` (P,) and the reference
    ``probe_density`` (P,), ``n_probes`` (G,) of them per structure; ``fit_error`` (G,), if
    known, is epsilon (%) of the reference coefficients' density against ``probe_density``.

    ``dataset[i]`` is a ``DensityDataset`` of one structure, ``dataset[[3, 1]]`` or a slice
    several. ``collate(indices, cutoff)`` gives a ``Batch`` of the structures with their probes
    (``batch.probes``); ``e3core.data.DataLoader`` batches it so (``max_probes`` random probes
    per structure, for training), and ``e3core.train.Trainer`` trains on it (the target
    ``probe_density``, or the atom targets). ``density_coefficients`` may be left out (a dataset
    of probe densities only).

    Example::

        >>> water = load_water_density()
        >>> str(water.basis.irreps), water.atoms.atom_targets["density_coefficients"].shape[1]
        ('12x0e+5x1o+4x2e+2x3o+1x4e', 70)
        >>> water.collate([0, 1], cutoff=3.5).probes["probe_batch"].unique().tolist()
        [0, 1]
    """

    def __init__(
        self,
        atoms: AtomsDataset,
        basis: DensityBasis,
        probe_positions: np.ndarray,
        probe_weights: np.ndarray,
        probe_density: np.ndarray,
        n_probes: np.ndarray,
        metadata: dict[str, Any] | None = None,
        fit_error: np.ndarray | None = None,
    ) -> None:
        n_probes = np.asarray(n_probes, dtype=np.int64)
        if n_probes.shape != (len(atoms),):
            raise ValueError(
                f"n_probes has shape {n_probes.shape} but expected ({len(atoms)},), one count per "
                "structure"
            )
        total = int(n_probes.sum())
        for name, array, shape in (
            ("probe_positions", probe_positions, (total, 3)),
            ("probe_weights", probe_weights, (total,)),
            ("probe_density", probe_density, (total,)),
        ):
            if np.shape(array) != shape:
                raise ValueError(f"{name} has shape {np.shape(array)} but expected {shape}")
        coefficients = atoms.atom_targets.get("density_coefficients")
        if coefficients is not None and coefficients.shape[1:] != (basis.irreps.dim,):
            raise ValueError(
                f"density_coefficients has shape {coefficients.shape} but expected (A, "
                f"{basis.irreps.dim}) for the basis {basis.irreps}"
            )
        self.atoms = atoms
        self.basis = basis
        self.probe_positions = np.asarray(probe_positions)
        self.probe_weights = np.asarray(probe_weights)
        self.probe_density = np.asarray(probe_density)
        self.n_probes = n_probes
        self.probe_ptr = np.concatenate([[0], np.cumsum(n_probes)]).astype(np.int64)
        self.metadata = metadata or {}
        self.fit_error = None if fit_error is None else np.asarray(fit_error)

    @classmethod
    def load(cls, path: str) -> "DensityDataset":
        """A dataset from the npz format of scripts/make_water_density.py (docs/density.md).

        Example::

            >>> len(DensityDataset.load(WATER_DENSITY_PATH)) > 100
            True
        """
        with np.load(path) as f:
            arrays = {key: f[key] for key in f.files}
        basis = DensityBasis.from_arrays(arrays)
        numbers = arrays["numbers"].astype(np.int64)
        mask = basis.mask[basis.type_index(numbers)].astype(np.float32)
        atoms = AtomsDataset(
            positions=arrays["positions"],
            numbers=numbers,
            n_atoms=arrays["n_atoms"],
            targets={"energy": arrays["energy"]},
            atom_targets={
                "forces": arrays["forces"],
                "density_coefficients": arrays["density_coefficients"],
                "density_mask": mask,
            },
            ids=arrays.get("ids"),
            units={"energy": "eV", "forces": "eV/Angstrom"},
        )
        return cls(
            atoms,
            basis,
            arrays["probe_positions"],
            arrays["probe_weights"],
            arrays["probe_density"],
            arrays["n_probes"],
            json.loads(str(arrays["metadata"])) if "metadata" in arrays else None,
            arrays.get("fit_error"),
        )

    def __len__(self) -> int:
        return len(self.atoms)

    def __getitem__(self, index: Any) -> "DensityDataset":
        if isinstance(index, (int, np.integer)):
            if not -len(self) <= index < len(self):
                raise IndexError(f"index {index} is out of range for {len(self)} structures")
            index = [int(index) % len(self)]
        return self.subset(index)

    def __getitems__(self, indices: Sequence[int]) -> "DensityDataset":
        """The structures of one DataLoader batch, as one dataset (torch's batched fetch)."""
        return self.subset(list(indices))

    @property
    def units(self) -> dict[str, str]:
        """The units of the atoms' targets (``AtomsDataset.units``).

        Example::

            >>> load_water_density().units["energy"]
            'eV'
        """
        return self.atoms.units

    def with_atoms(self, atoms: AtomsDataset) -> "DensityDataset":
        """The same probes and basis with ``atoms`` (the same structures, other targets, e.g.
        ``dataset.atoms.with_targets(...)``).

        Example::

            >>> water = load_water_density()
            >>> atoms = water.atoms.with_targets({"energy": None}, {"forces": None})
            >>> sorted(water.with_atoms(atoms).atoms.atom_targets)
            ['density_coefficients', 'density_mask']
        """
        if len(atoms) != len(self) or not np.array_equal(atoms.n_atoms, self.atoms.n_atoms):
            raise ValueError(
                f"atoms has {len(atoms)} structures of {atoms.n_atoms.sum()} atoms, expected the "
                f"dataset's {len(self)} of {self.atoms.n_atoms.sum()}"
            )
        return DensityDataset(
            atoms,
            self.basis,
            self.probe_positions,
            self.probe_weights,
            self.probe_density,
            self.n_probes,
            self.metadata,
            self.fit_error,
        )

    def subset(self, indices: Any) -> "DensityDataset":
        """The structures at ``indices`` (a slice or integers), in that order.

        Example::

            >>> water = load_water_density()
            >>> water.subset([2, 0]).n_probes.tolist() == water.n_probes[[2, 0]].tolist()
            True
        """
        idx = np.arange(len(self))[indices] if isinstance(indices, slice) else np.asarray(indices)
        points = self._probe_index(idx)
        return DensityDataset(
            self.atoms.subset(idx),
            self.basis,
            self.probe_positions[points],
            self.probe_weights[points],
            self.probe_density[points],
            self.n_probes[idx],
            self.metadata,
            None if self.fit_error is None else self.fit_error[idx],
        )

    def _probe_index(self, idx: np.ndarray) -> np.ndarray:
        if len(idx) == 0:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(self.probe_ptr[i], self.probe_ptr[i + 1]) for i in idx])

    def probes(
        self, indices: Sequence[int], max_probes: int | None = None, seed: int | None = None
    ) -> dict[str, torch.Tensor]:
        """The probes of the structures ``indices`` as tensors: ``probe_positions``,
        ``probe_weights``, ``probe_density`` and ``probe_batch`` (the position of each probe's
        structure in ``indices``). With ``max_probes`` at most that many per structure, drawn
        at random (``seed``) without replacement, their weights scaled so that the sums stay
        unbiased estimates of the integrals.

        Example::

            >>> water = load_water_density()
            >>> water.probes([0], max_probes=100, seed=0)["probe_positions"].shape
            torch.Size([100, 3])
        """
        rng = np.random.default_rng(seed)
        points, batch, scale = [], [], []
        for k, i in enumerate(indices):
            index = np.arange(self.probe_ptr[i], self.probe_ptr[i + 1])
            factor = 1.0
            if max_probes is not None and len(index) > max_probes:
                factor = len(index) / max_probes
                index = np.sort(rng.choice(index, size=max_probes, replace=False))
            points.append(index)
            batch.append(np.full(len(index), k))
            scale.append(np.full(len(index), factor))
        index = np.concatenate(points) if points else np.zeros(0, dtype=np.int64)
        weights = self.probe_weights[index] * (np.concatenate(scale) if scale else 1.0)
        return {
            "probe_positions": torch.as_tensor(self.probe_positions[index]),
            "probe_weights": torch.as_tensor(weights.astype(self.probe_weights.dtype)),
            "probe_density": torch.as_tensor(self.probe_density[index]),
            "probe_batch": torch.as_tensor(
                np.concatenate(batch) if batch else np.zeros(0, dtype=np.int64)
            ),
        }

    def collate(
        self,
        indices: Sequence[int],
        cutoff: float | None = None,
        max_probes: int | None = None,
        seed: int | None = None,
        dtype: torch.dtype | None = None,
    ) -> Batch:
        """A ``Batch`` of the structures ``indices`` (edges within ``cutoff``, floating tensors
        of ``dtype``) with their probes in ``batch.probes`` (``probes(indices, max_probes,
        seed)``).

        Example::

            >>> batch = load_water_density().collate([0], cutoff=3.0)
            >>> batch.atom_targets["density_coefficients"].shape, len(batch.probes["probe_batch"])
            (torch.Size([3, 70]), 936)
        """
        batch = collate(self.atoms.subset(list(indices)), cutoff=cutoff, dtype=dtype)
        probes = self.probes(indices, max_probes, seed)
        batch.probes = {
            k: v.to(batch.positions.dtype) if v.is_floating_point() else v
            for k, v in probes.items()
        }
        return batch


def load_water_density(path: str | None = None) -> DensityDataset:
    """The shipped water clusters (1-4 molecules, PBE0/def2-SVP, def2-universal-jfit
    coefficients, densities on Becke grids; see docs/density.md), or another file of that format.

    Example::

        >>> water = load_water_density()
        >>> sorted(water.atoms.atom_targets)
        ['density_coefficients', 'density_mask', 'forces']
    """
    return DensityDataset.load(WATER_DENSITY_PATH if path is None else path)
