"""QM9 (Ramakrishnan et al. 2014) from the CSV files of the PyPI package qm9pack."""

import csv
import glob
import importlib.util
import os
from collections.abc import Mapping, Sequence

import numpy as np

from e3core.data._dataset import QM9_SAMPLE_PATH, AtomsDataset
from e3core.data._structure import ATOMIC_NUMBERS

# name: (qm9pack CSV column, unit as qm9pack ships it, meaning)
QM9_TARGETS: dict[str, tuple[str, str, str]] = {
    "A": ("RotA_GHz", "GHz", "rotational constant A"),
    "B": ("RotB_GHz", "GHz", "rotational constant B"),
    "C": ("RotC_GHz", "GHz", "rotational constant C"),
    "mu": ("Dipole_debye", "Debye", "dipole moment (norm)"),
    "alpha": ("Polarizability_bohr3", "Bohr^3", "isotropic polarizability"),
    "homo": ("HOMO_au", "Ha", "energy of the highest occupied orbital"),
    "lumo": ("LUMO_au", "Ha", "energy of the lowest unoccupied orbital"),
    "gap": ("HOMO_LUMO_gap_au", "Ha", "lumo - homo"),
    "r2": ("R2_bohr2", "Bohr^2", "electronic spatial extent <R^2>"),
    "zpve": ("ZPVE_au", "Ha", "zero-point vibrational energy"),
    "U0": ("InternalEnergy_0K_au", "Ha", "internal energy at 0 K"),
    "U": ("InternalEnergy_298K_au", "Ha", "internal energy at 298.15 K"),
    "H": ("Enthalphy_298K_au", "Ha", "enthalpy at 298.15 K"),
    "G": ("GibbsFreeEnergy_298K_au", "Ha", "free energy at 298.15 K"),
    "Cv": ("Heatcapacity_Cv_cal_mol_K", "cal/(mol K)", "heat capacity at 298.15 K"),
}
QM9_ATOM_TARGETS: dict[str, tuple[str, str, str]] = {
    "mulliken_charges": ("Mulliken_pop", "e", "Mulliken partial charge of each atom"),
}

# The QM9 paper's atomref table (figshare file 3195395): the energies of the free atoms at the
# same level of theory (B3LYP/6-31G(2df,p)), in Ha; Cv in cal/(mol K).
QM9_ATOMREFS: dict[str, dict[int, float]] = {
    "zpve": {1: 0.0, 6: 0.0, 7: 0.0, 8: 0.0, 9: 0.0},
    "U0": {1: -0.500273, 6: -37.846772, 7: -54.583861, 8: -75.064579, 9: -99.718730},
    "U": {1: -0.498857, 6: -37.845355, 7: -54.582445, 8: -75.063163, 9: -99.717314},
    "H": {1: -0.497912, 6: -37.844411, 7: -54.581501, 8: -75.062219, 9: -99.716370},
    "G": {1: -0.510927, 6: -37.861317, 7: -54.598897, 8: -75.079532, 9: -99.733544},
    "Cv": {1: 2.981, 6: 2.981, 7: 2.981, 8: 2.981, 9: 2.981},
}

QM9_SIZE = 130831  # molecules in qm9pack: QM9's 133,885 less the 3,054 that failed its checks
_ATOMIZATION_DEFAULT = ("U0", "U", "H", "G")


def qm9_atomrefs(target: str, unit: str | None = None) -> dict[int, float]:
    """The QM9 paper's reference value of each free atom (H, C, N, O, F) for ``target``
    (``"U0"``, ``"U"``, ``"H"``, ``"G"``, ``"zpve"``, ``"Cv"``), in ``unit`` (default the
    target's QM9 unit: Ha, or cal/(mol K) for Cv).

    Example::

        >>> qm9_atomrefs("U0")[1]
        -0.500273
        >>> round(qm9_atomrefs("U0", "eV")[6], 4)
        -1029.8631
    """
    from e3core.data._units import unit_factor

    if target not in QM9_ATOMREFS:
        raise KeyError(f"qm9_atomrefs: target is {target!r}, expected one of {list(QM9_ATOMREFS)}")
    factor = 1.0 if unit is None else unit_factor(QM9_TARGETS[target][1], unit)
    return {z: value * factor for z, value in QM9_ATOMREFS[target].items()}


def qm9_units() -> dict[str, str]:
    """The unit of each QM9 target as qm9pack ships it (and ``load_qm9`` returns by default).

    Example::

        >>> qm9_units()["U0"], qm9_units()["mu"], qm9_units()["alpha"]
        ('Ha', 'Debye', 'Bohr^3')
    """
    units = {name: unit for name, (_, unit, _) in QM9_TARGETS.items()}
    units.update({name: unit for name, (_, unit, _) in QM9_ATOM_TARGETS.items()})
    return units


def qm9pack_csv_files(path: str | os.PathLike | None = None) -> list[str]:
    """The QM9 CSV files: ``qm9_part1.csv`` .. ``qm9_part3.csv`` of the installed qm9pack
    (found without importing it; it needs pandas), of the directory ``path``, or ``path``
    itself if it is a CSV file. Raises FileNotFoundError saying how to get them.

    Example::

        >>> qm9pack_csv_files("/nonexistent")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: path is '/nonexistent', expected a qm9pack CSV file or a directory ...
    """
    if path is None:
        spec = importlib.util.find_spec("qm9pack")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                "load_qm9: the package qm9pack is not installed (pip install qm9pack, or "
                "pip install 'e3core[data]'); or give path, the directory of its CSV files"
            )
        path = os.path.join(list(spec.submodule_search_locations)[0], "data")
    path = os.fspath(path)
    if os.path.isfile(path):
        return [path]
    files = sorted(glob.glob(os.path.join(path, "qm9_part*.csv")))
    if not files:
        raise FileNotFoundError(
            f"path is {path!r}, expected a qm9pack CSV file or a directory with "
            "qm9_part1.csv ... qm9_part3.csv"
        )
    return files


def _numbers(text: str, row: int, column: str, source: str) -> list[str]:
    tokens = text.replace("[", "").replace("]", "").split(",")
    if not tokens or tokens == [""]:
        raise ValueError(f"{source}: row {row}: column {column} is empty")
    return tokens


def _read_csv(files: Sequence[str], max_molecules: int | None) -> tuple[dict[str, list], int]:
    columns: dict[str, list] = {
        "ids": [], "n_atoms": [], "symbols": [], "positions": [],
        **{name: [] for name in QM9_TARGETS}, **{name: [] for name in QM9_ATOM_TARGETS},
    }  # fmt: skip
    count = 0
    for source in files:
        with open(source, newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            needed = ["Index", "N_atoms", "Elements", "XYZ_Ang"]
            needed += [c for c, _, _ in QM9_TARGETS.values()]
            needed += [c for c, _, _ in QM9_ATOM_TARGETS.values()]
            if header is None or any(c not in header for c in needed):
                missing = [c for c in needed if header is None or c not in header]
                raise ValueError(f"{source}: not a qm9pack CSV file (no columns {missing})")
            col = {name: header.index(name) for name in needed}
            for line, row in enumerate(reader, start=2):
                if max_molecules is not None and count >= max_molecules:
                    return columns, count
                n = int(row[col["N_atoms"]])
                symbols = [s.strip().strip("'\"") for s in _numbers(
                    row[col["Elements"]], line, "Elements", source)]  # fmt: skip
                xyz = _numbers(row[col["XYZ_Ang"]], line, "XYZ_Ang", source)
                if len(symbols) != n or len(xyz) != 3 * n:
                    raise ValueError(
                        f"{source}: row {line}: N_atoms is {n} but Elements has {len(symbols)} "
                        f"entries and XYZ_Ang {len(xyz)} numbers (expected {n} and {3 * n})"
                    )
                columns["ids"].append(int(row[col["Index"]]))
                columns["n_atoms"].append(n)
                columns["symbols"].extend(symbols)
                columns["positions"].extend(xyz)
                for name, (column, _, _) in QM9_TARGETS.items():
                    columns[name].append(row[col[column]])
                for name, (column, _, _) in QM9_ATOM_TARGETS.items():
                    values = _numbers(row[col[column]], line, column, source)
                    if len(values) != n:
                        raise ValueError(
                            f"{source}: row {line}: {column} has {len(values)} values, "
                            f"expected N_atoms = {n}"
                        )
                    columns[name].extend(values)
                count += 1
    return columns, count


def _prepare(
    dataset: AtomsDataset,
    atomization: bool | Sequence[str],
    units: Mapping[str, str] | None,
) -> AtomsDataset:
    if atomization is True:
        atomization = _ATOMIZATION_DEFAULT
    elif atomization is False:
        atomization = ()
    for target in atomization:
        if target not in QM9_ATOMREFS:
            raise KeyError(
                f"load_qm9: atomization names {target!r}, expected targets of {list(QM9_ATOMREFS)}"
            )
        dataset = dataset.subtract_atomrefs(target, QM9_ATOMREFS[target])
    if units:
        dataset = dataset.convert_units(units)
    return dataset


def load_qm9(
    path: str | os.PathLike | None = None,
    *,
    max_molecules: int | None = None,
    atomization: bool | Sequence[str] = False,
    units: Mapping[str, str] | None = None,
    cache: str | os.PathLike | None = None,
) -> AtomsDataset:
    """QM9: 130,831 molecules (H, C, N, O, F; up to 29 atoms) at B3LYP/6-31G(2df,p), read from
    the CSV files of qm9pack (``path``: see ``qm9pack_csv_files``).

    Positions are in Angstrom; ``ids`` are QM9's indices (1..133885). Targets (``QM9_TARGETS``,
    in qm9pack's units, ``qm9_units()``): ``A``, ``B``, ``C`` (GHz), ``mu`` (Debye), ``alpha``
    (Bohr^3), ``homo``, ``lumo``, ``gap``, ``zpve``, ``U0``, ``U``, ``H``, ``G`` (Ha), ``r2``
    (Bohr^2), ``Cv`` (cal/(mol K)); atom target ``mulliken_charges`` (e).

    ``atomization=True`` subtracts the QM9 atom references (``QM9_ATOMREFS``) from U0, U, H
    and G (or from the targets listed), giving atomization energies; ``units`` then converts
    targets (e.g. ``{"U0": "eV"}``). ``max_molecules`` reads only the first ones (fast).
    Parsing all three files takes about 10 s; ``cache``, a ``.npz`` path, keeps the
    parsed molecules (written on the first call, read on the next ones).

    Example::

        >>> qm9 = load_qm9(max_molecules=3)  # doctest: +SKIP
        >>> qm9.ids, qm9.n_atoms, qm9.targets["U0"]  # doctest: +SKIP
        (array([1, 2, 3]), array([5, 4, 3]), array([-40.47893 , -56.525887, -76.404702]))
    """
    if max_molecules is not None:
        if isinstance(max_molecules, bool) or not isinstance(max_molecules, int):
            raise TypeError(f"load_qm9: max_molecules is {max_molecules!r}, expected an int")
        if max_molecules < 0:
            raise ValueError(f"load_qm9: max_molecules is {max_molecules}, expected >= 0")
        if cache is not None:
            raise ValueError("load_qm9: cache keeps the whole dataset; drop max_molecules or cache")
    if cache is not None and os.path.exists(cache):
        return _prepare(AtomsDataset.load(cache), atomization, units)
    files = qm9pack_csv_files(path)
    columns, _ = _read_csv(files, max_molecules)
    try:
        numbers = np.array([ATOMIC_NUMBERS[s] for s in columns["symbols"]], dtype=np.int64)
    except KeyError as error:
        raise ValueError(f"qm9pack CSV: unknown element {error.args[0]!r} in Elements") from None
    dataset = AtomsDataset(
        positions=np.array(columns["positions"], dtype=np.float64).reshape(-1, 3),
        numbers=numbers,
        n_atoms=np.array(columns["n_atoms"], dtype=np.int64),
        targets={name: np.array(columns[name], dtype=np.float64) for name in QM9_TARGETS},
        atom_targets={name: np.array(columns[name], dtype=np.float64) for name in QM9_ATOM_TARGETS},
        ids=np.array(columns["ids"], dtype=np.int64),
        units=qm9_units(),
    )
    if cache is not None:
        dataset.save(cache)
    return _prepare(dataset, atomization, units)


def load_qm9_sample(
    *, atomization: bool | Sequence[str] = False, units: Mapping[str, str] | None = None
) -> AtomsDataset:
    """1000 QM9 molecules shipped with e3core (no download): QM9's first 100 (CH4, NH3, H2O,
    ...) and 900 drawn at random from the rest (seed 0), in QM9 order, with the targets,
    units and options of ``load_qm9``. ``scripts/make_qm9_sample.py`` made it from qm9pack.

    Example::

        >>> qm9 = load_qm9_sample()
        >>> len(qm9), qm9.ids[:3], qm9[0].numbers, float(qm9[0].targets["U0"])
        (1000, array([1, 2, 3]), array([6, 1, 1, 1, 1]), -40.47893)
        >>> round(float(load_qm9_sample(atomization=True, units={"U0": "eV"})[0].targets["U0"]), 4)
        -17.1722
    """
    return _prepare(AtomsDataset.load(QM9_SAMPLE_PATH), atomization, units)
