"""Dataset statistics that models use to shift and scale their outputs."""

import numpy as np

from e3core.data._dataset import AtomsDataset


def _target(dataset: AtomsDataset, target: str, function: str) -> np.ndarray:
    if not isinstance(dataset, AtomsDataset):
        raise TypeError(f"{function}: dataset is {type(dataset).__name__}, expected AtomsDataset")
    values = dataset.scalar_target(target, function)
    if len(dataset) == 0:
        raise ValueError(f"{function}: dataset is empty")
    return values


def composition(dataset: AtomsDataset) -> tuple[np.ndarray, np.ndarray]:
    """The atomic numbers present (S,) and how many of each every structure has (G, S).

    Example::

        >>> composition(load_qm9_sample()[:2])
        (array([1, 6, 7]), array([[4, 1, 0],
               [3, 0, 1]]))
    """
    species, inverse = np.unique(dataset.numbers, return_inverse=True)
    counts = np.zeros((len(dataset), species.size), dtype=np.int64)
    np.add.at(counts, (dataset.structure_index(), inverse), 1)
    return species, counts


def mean_per_atom(dataset: AtomsDataset, target: str = "energy") -> float:
    """The mean over structures of ``targets[target]`` divided by the number of atoms (a
    model's per-atom shift, e.g. the mean energy per atom).

    Example::

        >>> round(mean_per_atom(load_qm9_sample(), "U0"), 2)
        -23.27
    """
    values = _target(dataset, target, "mean_per_atom")
    n = dataset.n_atoms
    if np.any(n == 0):
        raise ValueError("mean_per_atom: dataset has structures without atoms")
    return float(np.mean(values / n))


def fit_atomrefs(dataset: AtomsDataset, target: str = "energy") -> dict[int, float]:
    """Per-element references e_Z fitted by linear least squares, ``targets[target]`` ≈
    sum over atoms of e_Z (in the target's unit): NequIP's / MACE's fitted "E0s". With too few
    distinct compositions (MD17: one) the fit is underdetermined and numpy's minimum-norm
    solution is returned; it still removes the mean.

    Example::

        >>> refs = fit_atomrefs(load_qm9_sample(), "U0")
        >>> sorted(refs), round(refs[1], 1), round(refs[6], 1)
        ([1, 6, 7, 8, 9], -0.6, -38.1)
    """
    values = _target(dataset, target, "fit_atomrefs")
    species, counts = composition(dataset)
    solution, *_ = np.linalg.lstsq(counts.astype(np.float64), values, rcond=None)
    return {int(z): float(e) for z, e in zip(species, solution, strict=True)}


def mean_std(dataset: AtomsDataset, target: str, per_atom: bool = False) -> tuple[float, float]:
    """Mean and standard deviation of a target over structures, or of its per-atom value
    (target / number of atoms) with ``per_atom``; for an atom target, over all its entries.

    Example::

        >>> mean, std = mean_std(load_qm9_sample(), "gap")
        >>> round(mean, 3), round(std, 3)
        (0.258, 0.05)
    """
    if isinstance(dataset, AtomsDataset) and target in dataset.atom_targets:
        values = dataset.atom_targets[target]
        if values.size == 0:
            raise ValueError(f"mean_std: atom_targets[{target!r}] is empty")
        return float(values.mean()), float(values.std())
    values = _target(dataset, target, "mean_std")
    if per_atom:
        values = values / dataset.n_atoms
    return float(values.mean()), float(values.std())


def rms(dataset: AtomsDataset, target: str = "forces") -> float:
    """The root mean square of all components of a target, by default the forces (NequIP's
    and MACE's force scale: sqrt(mean(F**2)) over atoms and x, y, z).

    Example::

        >>> s = Structure(np.zeros((2, 3)), ["H", "H"],
        ...               atom_targets={"forces": [[0, 0, 1.0], [0, 0, -1.0]]})
        >>> round(rms(AtomsDataset.from_structures([s])), 4)
        0.5774
    """
    if not isinstance(dataset, AtomsDataset):
        raise TypeError(f"rms: dataset is {type(dataset).__name__}, expected AtomsDataset")
    source = dataset.atom_targets if target in dataset.atom_targets else dataset.targets
    if target not in source:
        names = sorted(dataset.atom_targets) + sorted(dataset.targets)
        raise KeyError(f"rms: target is {target!r}, expected one of {names}")
    values = source[target]
    if values.size == 0:
        raise ValueError(f"rms: {target!r} is empty")
    return float(np.sqrt(np.mean(values**2)))


def average_num_neighbors(dataset: AtomsDataset, cutoff: float, chunk: int = 1024) -> float:
    """The mean number of neighbours within ``cutoff`` per atom (periodic images included):
    NequIP's / MACE's ``avg_num_neighbors`` that normalises message sums.

    Example::

        >>> round(average_num_neighbors(load_qm9_sample(), 5.0), 2)
        15.22
    """
    from e3core.data._batch import _edges

    if not isinstance(dataset, AtomsDataset):
        raise TypeError(
            f"average_num_neighbors: dataset is {type(dataset).__name__}, expected AtomsDataset"
        )
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or not cutoff > 0:
        raise ValueError(f"average_num_neighbors: cutoff is {cutoff!r}, expected a positive number")
    atoms = int(dataset.n_atoms.sum())
    if atoms == 0:
        raise ValueError("average_num_neighbors: dataset has no atoms")
    edges = 0
    for start in range(0, len(dataset), chunk):
        edge_index, _ = _edges(dataset[start : start + chunk], float(cutoff))
        edges += edge_index.shape[1]
    return edges / atoms
