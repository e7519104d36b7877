"""Physical units of targets and their conversion (CODATA 2018 constants)."""

from collections.abc import Mapping

import numpy as np

# CODATA 2018 (exact where the SI defines them).
HARTREE_EV = 27.211386245988  # 1 Hartree in eV
BOHR_ANGSTROM = 0.529177210903  # 1 Bohr in Angstrom
_FARADAY = 6.02214076e23 * 1.602176634e-19  # N_A e, C/mol: eV per particle <-> J/mol
KCAL_MOL_EV = 4184.0 / _FARADAY  # 1 kcal/mol (thermochemical calorie) in eV
KJ_MOL_EV = 1000.0 / _FARADAY  # 1 kJ/mol in eV
DEBYE_E_ANGSTROM = 1e-21 / 299792458.0 / 1.602176634e-29  # 1 Debye in e Angstrom
_GPA_EV_ANGSTROM3 = 1e9 * 1e-30 / 1.602176634e-19  # 1 GPa in eV/Angstrom^3

# unit -> (dimension, value in the dimension's base unit)
UNITS: dict[str, tuple[str, float]] = {
    # energy, base eV
    "eV": ("energy", 1.0),
    "meV": ("energy", 1e-3),
    "Ha": ("energy", HARTREE_EV),
    "kcal/mol": ("energy", KCAL_MOL_EV),
    "kJ/mol": ("energy", KJ_MOL_EV),
    # length, base Angstrom
    "Angstrom": ("length", 1.0),
    "Bohr": ("length", BOHR_ANGSTROM),
    "nm": ("length", 10.0),
    # force, base eV/Angstrom
    "eV/Angstrom": ("force", 1.0),
    "meV/Angstrom": ("force", 1e-3),
    "Ha/Bohr": ("force", HARTREE_EV / BOHR_ANGSTROM),
    "kcal/mol/Angstrom": ("force", KCAL_MOL_EV),
    "kJ/mol/Angstrom": ("force", KJ_MOL_EV),
    # stress, base eV/Angstrom^3
    "eV/Angstrom^3": ("stress", 1.0),
    "GPa": ("stress", _GPA_EV_ANGSTROM3),
    # electric dipole, base e Angstrom
    "e*Angstrom": ("dipole", 1.0),
    "e*Bohr": ("dipole", BOHR_ANGSTROM),
    "Debye": ("dipole", DEBYE_E_ANGSTROM),
    # volume (polarizability), base Angstrom^3
    "Angstrom^3": ("volume", 1.0),
    "Bohr^3": ("volume", BOHR_ANGSTROM**3),
    # area (electronic spatial extent <R^2>), base Angstrom^2
    "Angstrom^2": ("area", 1.0),
    "Bohr^2": ("area", BOHR_ANGSTROM**2),
    # frequency (rotational constants), base GHz
    "GHz": ("frequency", 1.0),
    "MHz": ("frequency", 1e-3),
    "cm^-1": ("frequency", 29.9792458),
    # molar heat capacity, base cal/(mol K)
    "cal/(mol K)": ("heat capacity", 1.0),
    "J/(mol K)": ("heat capacity", 1.0 / 4.184),
    # charge, base e
    "e": ("charge", 1.0),
}

_ALIASES = {
    "hartree": "Ha",
    "Hartree": "Ha",
    "Eh": "Ha",
    "ev": "eV",
    "Ang": "Angstrom",
    "Å": "Angstrom",
    "bohr": "Bohr",
    "eV/A": "eV/Angstrom",
    "eV/Ang": "eV/Angstrom",
    "eV/Å": "eV/Angstrom",
    "kcal/mol/A": "kcal/mol/Angstrom",
    "kcal/mol/Ang": "kcal/mol/Angstrom",
    "D": "Debye",
    "debye": "Debye",
    "bohr^3": "Bohr^3",
    "a0^3": "Bohr^3",
    "bohr^2": "Bohr^2",
    "a0^2": "Bohr^2",
    "cal/mol/K": "cal/(mol K)",
    "J/mol/K": "J/(mol K)",
}


def canonical_unit(unit: str) -> str:
    """The unit's name in ``UNITS`` (aliases such as ``"hartree"``, ``"eV/A"`` or ``"D"`` resolved).

    Example::

        >>> canonical_unit("hartree"), canonical_unit("eV/A")
        ('Ha', 'eV/Angstrom')
    """
    if not isinstance(unit, str):
        raise TypeError(f"unit is {unit!r} ({type(unit).__name__}), expected a str such as 'eV'")
    name = _ALIASES.get(unit, unit)
    if name not in UNITS:
        raise ValueError(f"unit is {unit!r}, expected one of {sorted(UNITS)} (or an alias)")
    return name


def unit_factor(from_unit: str, to_unit: str) -> float:
    """The number that multiplies a value in ``from_unit`` to give it in ``to_unit``.

    Raises ValueError when the two units measure different things (energy and force, ...).

    Example::

        >>> round(unit_factor("Ha", "eV"), 6)
        27.211386
        >>> round(unit_factor("Ha", "kcal/mol"), 4)
        627.5095
        >>> unit_factor("Ha", "Debye")
        Traceback (most recent call last):
        ...
        ValueError: cannot convert 'Ha' (energy) to 'Debye' (dipole)
    """
    dim_from, value_from = UNITS[canonical_unit(from_unit)]
    dim_to, value_to = UNITS[canonical_unit(to_unit)]
    if dim_from != dim_to:
        raise ValueError(f"cannot convert {from_unit!r} ({dim_from}) to {to_unit!r} ({dim_to})")
    return value_from / value_to


def convert_units(values: float | np.ndarray, from_unit: str, to_unit: str) -> float | np.ndarray:
    """``values`` (a number or an array) given in ``from_unit``, expressed in ``to_unit``.

    Example::

        >>> convert_units(1.0, "Bohr", "Angstrom")
        0.529177210903
        >>> convert_units(np.array([1.0, 2.0]), "eV", "meV")
        array([1000., 2000.])
    """
    factor = unit_factor(from_unit, to_unit)
    if isinstance(values, np.ndarray):
        return values * factor
    return float(values) * factor


def check_units(units: Mapping[str, str], name: str = "units") -> dict[str, str]:
    """``units`` with every unit canonical; raises ValueError naming ``name`` if one is unknown.

    Example::

        >>> check_units({"energy": "ev", "forces": "eV/A"})
        {'energy': 'eV', 'forces': 'eV/Angstrom'}
    """
    if not isinstance(units, Mapping):
        raise TypeError(f"{name} is {type(units).__name__}, expected a dict of target -> unit")
    checked = {}
    for key, unit in units.items():
        try:
            checked[str(key)] = canonical_unit(unit)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}[{key!r}]: {error}") from None
    return checked
