"""One atomic structure: positions, atomic numbers, cell, periodicity and its targets."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# fmt: off
SYMBOLS = (
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As "
    "Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd "
    "Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am "
    "Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og"
).split()
# fmt: on
ATOMIC_NUMBERS = {symbol: z for z, symbol in enumerate(SYMBOLS) if z > 0}

# Names a target cannot take: they are fields of a Batch.
RESERVED_NAMES = frozenset(
    {"positions", "numbers", "cell", "pbc", "batch", "ptr", "n_atoms", "edge_index",
     "edge_shift", "ids"}
)  # fmt: skip


def _shape_str(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def atomic_numbers(symbols: Sequence[str] | np.ndarray, name: str = "numbers") -> np.ndarray:
    """Atomic numbers (n,) int64 from element symbols or numbers, checked to lie in 1..118.

    Example::

        >>> atomic_numbers(["O", "H", "H"])
        array([8, 1, 1])
        >>> atomic_numbers(["O", "Hx"])
        Traceback (most recent call last):
        ...
        ValueError: numbers[1] is 'Hx', expected an element symbol such as 'H' or an atomic number
    """
    values = list(symbols) if not isinstance(symbols, np.ndarray) else symbols
    if len(values) > 0 and isinstance(values[0], str):
        numbers = np.empty(len(values), dtype=np.int64)
        for k, symbol in enumerate(values):
            if symbol not in ATOMIC_NUMBERS:
                raise ValueError(
                    f"{name}[{k}] is {symbol!r}, expected an element symbol such as 'H' "
                    "or an atomic number"
                )
            numbers[k] = ATOMIC_NUMBERS[symbol]
        return numbers
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} has shape {_shape_str(array.shape)} but expected (N,)")
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{name} has dtype {array.dtype}, expected integers (atomic numbers)")
    numbers = array.astype(np.int64)
    if np.any(numbers != array):
        raise ValueError(f"{name} holds non-integer values, expected atomic numbers")
    bad = np.flatnonzero((numbers < 1) | (numbers > 118))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] is {numbers[bad[0]]}, expected an atomic number 1..118")
    return numbers


def _float64(value: Any, name: str, expected: str) -> np.ndarray:
    """``value`` as a float64 array, or a TypeError naming ``name`` and what was ``expected``."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} is {type(value).__name__}, expected {expected}") from None


def as_float_array(
    value: Any, name: str, shape: tuple[int | str, ...], shape_text: str
) -> np.ndarray:
    """``value`` as a float64 array of ``shape`` (ints, or str for any size), finite, else an error.

    Example::

        >>> as_float_array([[0, 0, 0]], "positions", ("N", 3), "(N, 3)")
        array([[0., 0., 0.]])
        >>> as_float_array(np.zeros((5, 2)), "positions", ("N", 3), "(N, 3)")
        Traceback (most recent call last):
        ...
        ValueError: positions has shape (5, 2) but expected (N, 3)
    """
    array = _float64(value, name, f"an array of numbers of shape {shape_text}")
    if array.ndim != len(shape) or any(
        isinstance(s, int) and s != t for s, t in zip(shape, array.shape, strict=False)
    ):
        raise ValueError(f"{name} has shape {_shape_str(array.shape)} but expected {shape_text}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def as_pbc(pbc: Any, name: str = "pbc") -> np.ndarray:
    """Periodicity (3,) bool from one bool or three.

    Example::

        >>> as_pbc(True), as_pbc([True, True, False])
        (array([ True,  True,  True]), array([ True,  True, False]))
    """
    if isinstance(pbc, (bool, np.bool_)):
        return np.full(3, bool(pbc))
    array = np.asarray(pbc)
    if array.shape != (3,) or array.dtype.kind not in "bi":
        raise ValueError(f"{name} is {pbc!r}, expected a bool or 3 bools (one per cell axis)")
    return array.astype(bool)


def check_target_name(key: Any, name: str) -> str:
    """``key`` if it can name a target (a str that is not a Batch field), else an error.

    Example::

        >>> check_target_name("energy", "targets")
        'energy'
    """
    if not isinstance(key, str) or not key:
        raise TypeError(f"{name} has the key {key!r}, expected non-empty str names")
    if key in RESERVED_NAMES:
        raise ValueError(
            f"{name} has the key {key!r}, which names a batch field; "
            f"choose another name (reserved: {sorted(RESERVED_NAMES)})"
        )
    return key


def _check_cell(cell: np.ndarray, pbc: np.ndarray, owner: str) -> None:
    for axis in np.flatnonzero(pbc):
        if not np.any(cell[axis]):
            raise ValueError(
                f"{owner}: pbc[{axis}] is True but cell[{axis}] is zero; expected a lattice "
                "vector for each periodic axis"
            )


@dataclass(eq=False)
class Structure:
    """One molecule or crystal: ``positions`` (N, 3) in Angstrom, atomic ``numbers`` (N,),
    ``cell`` (3, 3) whose rows are the lattice vectors (zeros when not periodic), ``pbc`` (3,),
    per-structure ``targets`` (name -> array of any shape, e.g. ``"energy"`` shape ()) and
    per-atom ``atom_targets`` (name -> array whose first dimension is N, e.g. ``"forces"``).

    Inputs are checked and converted: numbers may be element symbols, ``pbc`` one bool, targets
    plain numbers. ``id`` is an optional integer label (the QM9 index, a frame number).

    Example::

        >>> water = Structure(
        ...     positions=[[0.0, 0.0, 0.12], [0.0, 0.76, -0.48], [0.0, -0.76, -0.48]],
        ...     numbers=["O", "H", "H"],
        ...     targets={"energy": -76.4},
        ...     atom_targets={"forces": np.zeros((3, 3))},
        ... )
        >>> water.n_atoms, water.numbers, float(water.energy), water.forces.shape
        (3, array([8, 1, 1]), -76.4, (3, 3))
        >>> Structure(positions=np.zeros((5, 2)), numbers=[1] * 5)
        Traceback (most recent call last):
        ...
        ValueError: Structure: positions has shape (5, 2) but expected (N, 3)
    """

    positions: np.ndarray
    numbers: np.ndarray
    cell: np.ndarray | None = None
    pbc: np.ndarray | bool = False
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    atom_targets: dict[str, np.ndarray] = field(default_factory=dict)
    id: int | None = None

    def __post_init__(self) -> None:
        owner = "Structure"
        try:
            self.positions = as_float_array(self.positions, "positions", ("N", 3), "(N, 3)")
            n = self.positions.shape[0]
            self.numbers = atomic_numbers(self.numbers)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{owner}: {error}") from None
        if self.numbers.shape[0] != n:
            raise ValueError(
                f"{owner}: numbers has {self.numbers.shape[0]} entries but positions has {n} rows"
            )
        try:
            if self.cell is None:
                self.cell = np.zeros((3, 3))
            else:
                self.cell = as_float_array(self.cell, "cell", (3, 3), "(3, 3)")
            self.pbc = as_pbc(self.pbc)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{owner}: {error}") from None
        _check_cell(self.cell, self.pbc, owner)
        self.targets = check_targets(self.targets, "targets", None, "structure", owner)
        self.atom_targets = check_targets(self.atom_targets, "atom_targets", n, "atom", owner)
        if self.id is not None:
            if isinstance(self.id, (bool, np.bool_)) or not isinstance(self.id, (int, np.integer)):
                raise TypeError(f"{owner}: id is {self.id!r}, expected an int or None")
            self.id = int(self.id)

    @classmethod
    def _trusted(
        cls,
        positions: np.ndarray,
        numbers: np.ndarray,
        cell: np.ndarray,
        pbc: np.ndarray,
        targets: dict[str, np.ndarray],
        atom_targets: dict[str, np.ndarray],
        id: int | None,
    ) -> "Structure":
        """A structure from arrays already checked (by AtomsDataset), without checking again."""
        self = cls.__new__(cls)
        self.positions, self.numbers, self.cell, self.pbc = positions, numbers, cell, pbc
        self.targets, self.atom_targets, self.id = targets, atom_targets, id
        return self

    @property
    def n_atoms(self) -> int:
        """The number of atoms N.

        Example::

            >>> Structure(positions=np.zeros((2, 3)), numbers=[1, 1]).n_atoms
            2
        """
        return int(self.positions.shape[0])

    @property
    def energy(self) -> np.ndarray | None:
        """``targets["energy"]``, or None.

        Example::

            >>> float(Structure(np.zeros((1, 3)), [1], targets={"energy": -0.5}).energy)
            -0.5
        """
        return self.targets.get("energy")

    @property
    def forces(self) -> np.ndarray | None:
        """``atom_targets["forces"]`` (N, 3), or None.

        Example::

            >>> Structure(np.zeros((1, 3)), [1], atom_targets={"forces": [[0, 0, 1]]}).forces
            array([[0., 0., 1.]])
        """
        return self.atom_targets.get("forces")

    @property
    def is_periodic(self) -> bool:
        """Whether any axis is periodic.

        Example::

            >>> Structure(np.zeros((1, 3)), [1], cell=np.eye(3), pbc=True).is_periodic
            True
        """
        return bool(np.any(self.pbc))

    def to_ase(self) -> Any:
        """An ``ase.Atoms`` with the same atoms and cell; energy, forces and stress (if present)
        in a ``SinglePointCalculator``, the other targets in ``info`` and ``arrays``.

        Example::

            >>> atoms = Structure(np.zeros((1, 3)), [1], targets={"energy": -0.5}).to_ase()
            >>> atoms.get_chemical_formula(), float(atoms.get_potential_energy())
            ('H', -0.5)
        """
        import ase
        from ase.calculators.singlepoint import SinglePointCalculator

        atoms = ase.Atoms(
            numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc
        )
        results = {}
        for key, value in self.targets.items():
            if key in ("energy", "free_energy", "stress"):
                results[key] = value.item() if value.ndim == 0 else value.copy()
            else:
                atoms.info[key] = value.item() if value.ndim == 0 else value.copy()
        for key, value in self.atom_targets.items():
            if key == "forces":
                results[key] = value.copy()
            else:
                atoms.arrays[key] = value.copy()
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        if self.id is not None:
            atoms.info["id"] = self.id
        return atoms

    @classmethod
    def from_ase(
        cls,
        atoms: Any,
        energy_key: str = "energy",
        forces_key: str = "forces",
        stress_key: str = "stress",
        info_keys: Sequence[str] | None = None,
        array_keys: Sequence[str] | None = None,
    ) -> "Structure":
        """A structure from an ``ase.Atoms``; targets from its calculator's results and ``info``.

        The energy is read from ``atoms.info[energy_key]`` if there, else from the calculator
        (when ``energy_key`` is ``"energy"``), and stored as ``targets["energy"]``; likewise
        forces (``atoms.arrays[forces_key]``, stored as ``atom_targets["forces"]``) and stress
        (3, 3). ``info_keys`` and ``array_keys`` name further numeric ``info`` entries
        (targets) and per-atom ``arrays`` (atom targets) to keep; None keeps every numeric one.

        Example::

            >>> import ase
            >>> atoms = ase.Atoms("H2", [[0, 0, 0], [0, 0, 0.74]], info={"REF_energy": -1.1})
            >>> s = Structure.from_ase(atoms, energy_key="REF_energy")
            >>> float(s.energy), s.numbers
            (-1.1, array([1, 1]))
        """
        results = dict(atoms.calc.results) if atoms.calc is not None else {}
        targets: dict[str, Any] = {}
        atom_targets: dict[str, Any] = {}
        renamed = {energy_key: "energy", stress_key: "stress"}
        for key, value in atoms.info.items():
            wanted = info_keys is None or key in info_keys or key in renamed
            if key == "id" or not wanted or not _is_numeric(value):
                continue
            targets[renamed.get(key, key)] = value
        for key in ("energy", "free_energy", "stress"):
            source = {"energy": energy_key, "stress": stress_key}.get(key, key)
            if key not in targets and source == key and key in results:
                targets[key] = results[key]
        if "stress" in targets:
            stress = np.asarray(targets["stress"], dtype=np.float64)
            if stress.shape == (6,):  # Voigt order xx yy zz yz xz xy
                xx, yy, zz, yz, xz, xy = stress
                stress = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
            targets["stress"] = stress
        skip = {"numbers", "positions"}
        for key, value in atoms.arrays.items():
            wanted = array_keys is None or key in array_keys or key == forces_key
            if key in skip or not wanted or not _is_numeric(value):
                continue
            atom_targets["forces" if key == forces_key else key] = value
        if "forces" not in atom_targets and forces_key == "forces" and "forces" in results:
            atom_targets["forces"] = results["forces"]
        ident = atoms.info.get("id")
        return cls(
            positions=atoms.get_positions(),
            numbers=atoms.get_atomic_numbers(),
            cell=np.asarray(atoms.get_cell()),
            pbc=atoms.get_pbc(),
            targets=targets,
            atom_targets=atom_targets,
            id=int(ident) if isinstance(ident, (int, np.integer)) else None,
        )


def _is_numeric(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_, str)):
        return False
    if isinstance(value, (int, float, np.number)):
        return True
    return isinstance(value, np.ndarray) and value.dtype.kind in "iuf"


def check_targets(
    targets: Mapping[str, Any] | None,
    name: str,
    rows: int | None,
    row_name: str,
    owner: str,
) -> dict[str, np.ndarray]:
    """``targets`` as a dict of float64 arrays with valid names; with ``rows``, each array's
    first dimension must be ``rows`` (one per ``row_name``). Errors start with ``owner``.

    Example::

        >>> check_targets({"forces": np.zeros((2, 3))}, "atom_targets", 3, "atom", "Structure")
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: Structure: atom_targets['forces'] has shape (2, 3) but expected (3, ...), ...
    """
    if targets is None:
        return {}
    if not isinstance(targets, Mapping):
        raise TypeError(f"{owner}: {name} is {type(targets).__name__}, expected a dict")
    checked = {}
    for key, value in targets.items():
        try:
            check_target_name(key, name)
            array = _float64(value, f"{name}[{key!r}]", "numbers")
        except (TypeError, ValueError) as error:
            raise type(error)(f"{owner}: {error}") from None
        if rows is not None and (array.ndim == 0 or array.shape[0] != rows):
            raise ValueError(
                f"{owner}: {name}[{key!r}] has shape {_shape_str(array.shape)} but expected "
                f"({rows}, ...), one row per {row_name}"
            )
        checked[key] = array
    return checked
