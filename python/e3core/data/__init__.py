"""Atomistic data: structures, in-memory datasets, batches of graphs, QM9, xyz/extxyz, MD17,
splits, units and the statistics that models use for shift and scale (see docs/data.md).

Example::

    >>> from e3core import data
    >>> qm9 = data.load_qm9_sample(atomization=True, units={"U0": "eV"})
    >>> train, val, test = data.random_split(qm9, (800, 100, 100), seed=0)
    >>> loader = data.DataLoader(train, batch_size=32, shuffle=True, cutoff=5.0, seed=0)
    >>> batch = next(iter(loader))
    >>> batch.num_graphs, batch.edge_index.shape[0], batch.targets["U0"].shape
    (32, 2, torch.Size([32]))
"""

from e3core.data._batch import Batch, Collater, DataLoader, collate
from e3core.data._dataset import QM9_SAMPLE_PATH, AtomsDataset, atomref_array
from e3core.data._density_dataset import (
    WATER_DENSITY_PATH,
    DensityDataset,
    load_water_density,
)
from e3core.data._qm9 import (
    QM9_ATOM_TARGETS,
    QM9_ATOMREFS,
    QM9_SIZE,
    QM9_TARGETS,
    load_qm9,
    load_qm9_sample,
    qm9_atomrefs,
    qm9_units,
    qm9pack_csv_files,
)
from e3core.data._splits import load_split, random_split, save_split, split_indices
from e3core.data._statistics import (
    average_num_neighbors,
    composition,
    fit_atomrefs,
    mean_per_atom,
    mean_std,
    rms,
)
from e3core.data._structure import ATOMIC_NUMBERS, SYMBOLS, Structure, atomic_numbers
from e3core.data._units import (
    BOHR_ANGSTROM,
    DEBYE_E_ANGSTROM,
    HARTREE_EV,
    KCAL_MOL_EV,
    UNITS,
    canonical_unit,
    convert_units,
    unit_factor,
)
from e3core.data._xyz import from_ase, read_md17, read_xyz, write_xyz

__all__ = [
    "ATOMIC_NUMBERS",
    "AtomsDataset",
    "BOHR_ANGSTROM",
    "Batch",
    "Collater",
    "DEBYE_E_ANGSTROM",
    "DataLoader",
    "DensityDataset",
    "HARTREE_EV",
    "KCAL_MOL_EV",
    "QM9_ATOMREFS",
    "QM9_ATOM_TARGETS",
    "QM9_SAMPLE_PATH",
    "QM9_SIZE",
    "QM9_TARGETS",
    "SYMBOLS",
    "Structure",
    "UNITS",
    "WATER_DENSITY_PATH",
    "atomic_numbers",
    "atomref_array",
    "average_num_neighbors",
    "canonical_unit",
    "collate",
    "composition",
    "convert_units",
    "fit_atomrefs",
    "from_ase",
    "load_qm9",
    "load_qm9_sample",
    "load_split",
    "load_water_density",
    "mean_per_atom",
    "mean_std",
    "qm9_atomrefs",
    "qm9_units",
    "qm9pack_csv_files",
    "random_split",
    "read_md17",
    "read_xyz",
    "rms",
    "save_split",
    "split_indices",
    "unit_factor",
    "write_xyz",
]
