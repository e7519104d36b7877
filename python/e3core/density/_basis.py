"""Electron densities on Gaussian auxiliary bases: PySCF's component order, per-element bases."""

from collections.abc import Sequence

import numpy as np
import torch

from e3core import o3

# PySCF's real solid harmonics of degree l >= 2 at a point v are e3nn's at (v_y, v_z, v_x);
# its p functions are (x, y, z), e3nn's order already.
_PYSCF_PERMUTATION = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def pyscf_to_e3nn_matrix(l: int) -> np.ndarray:
    """The (2l+1, 2l+1) matrix M that maps one PySCF shell's coefficients (real spherical
    components, m = -l..l, p as x, y, z) to e3nn's components: c_e3nn = M @ c_pyscf, with the
    same radial normalisation (PySCF's ``gto_norm`` times integral-normalised harmonics).

    Example::

        >>> pyscf_to_e3nn_matrix(1)
        array([[1., 0., 0.],
               [0., 1., 0.],
               [0., 0., 1.]])
        >>> np.abs(pyscf_to_e3nn_matrix(2)).round(3)[0]
        array([0., 0., 0., 1., 0.])
    """
    if not isinstance(l, (int, np.integer)) or l < 0:
        raise ValueError(f"l is {l!r}, expected a non-negative integer")
    if l < 2:
        return np.eye(2 * l + 1)
    d = o3.Irrep(int(l), 1).D_from_matrix(torch.tensor(_PYSCF_PERMUTATION, dtype=torch.float64))
    return d.numpy().T.copy()


def pyscf_to_e3nn(coefficients: np.ndarray, ls: Sequence[int]) -> np.ndarray:
    """Coefficients of shells of degrees ``ls`` (one atom's or a molecule's, in PySCF's order:
    shell after shell, each shell's 2l+1 components together) in e3nn's component order.

    Example::

        >>> c = np.arange(1.0, 10.0)  # an s, a p and a d shell
        >>> pyscf_to_e3nn(c, [0, 1, 2])[:4]
        array([1., 2., 3., 4.])
    """
    coefficients = np.asarray(coefficients, dtype=np.float64)
    dim = sum(2 * int(l) + 1 for l in ls)
    if coefficients.shape[-1] != dim:
        raise ValueError(
            f"coefficients has {coefficients.shape[-1]} components in its last axis but the "
            f"shells {list(ls)} have {dim}"
        )
    out = np.empty_like(coefficients)
    start = 0
    for l in ls:
        stop = start + 2 * int(l) + 1
        out[..., start:stop] = coefficients[..., start:stop] @ pyscf_to_e3nn_matrix(int(l)).T
        start = stop
    return out


def irreps_mask(irreps: o3.Irreps | str, own: o3.Irreps | str) -> np.ndarray:
    """(irreps.dim,) bool: where an element's own irreps sit on the union ``irreps``, each of its
    irreps filling the first free channels of that irrep.

    Example::

        >>> irreps_mask("2x0e+1x1o", "1x0e").astype(int)
        array([1, 0, 0, 0, 0])
    """
    irreps, own = o3.Irreps(irreps), o3.Irreps(own)
    left: dict[o3.Irrep, int] = {}
    for mul, ir in own:
        left[ir] = left.get(ir, 0) + mul
    mask = []
    for mul, ir in irreps:
        used = min(mul, left.get(ir, 0))
        left[ir] = left.get(ir, 0) - used
        mask += [True] * (used * ir.dim) + [False] * ((mul - used) * ir.dim)
    missing = {str(ir): n for ir, n in left.items() if n > 0}
    if missing:
        raise ValueError(
            f"own is {own}, expected irreps contained in {irreps} (left over: {missing})"
        )
    return np.array(mask, dtype=bool)


class DensityBasis:
    """Per-element Gaussian bases for electron densities, laid out on one irreps per atom.

    ``shells`` maps atomic numbers to lists of (l, exponent) with exponents in Angstrom^-2,
    in the order of the element's shells (ascending l). A basis function is
    ``N_l(a) |r|^l exp(-a |r|^2) Y_lm(r / |r|)`` with e3nn's integral-normalised harmonics and
    ``N_l`` the radial normalisation, so each function has unit L2 norm. Every atom carries the
    union ``irreps`` (for each l the largest number of shells of any element, parity (-1)^l);
    an element's shells of degree l fill the first channels of that l, the rest is masked.

    Example::

        >>> basis = DensityBasis({1: [(0, 1.0), (1, 0.5)], 8: [(0, 8.0), (0, 2.0), (2, 1.0)]})
        >>> str(basis.irreps), basis.numbers
        ('2x0e+1x1o+1x2e', [1, 8])
        >>> basis.mask.astype(int)
        array([[1, 0, 1, 1, 1, 0, 0, 0, 0, 0],
               [1, 1, 0, 0, 0, 1, 1, 1, 1, 1]])
    """

    def __init__(self, shells: dict[int, Sequence[tuple[int, float]]]) -> None:
        if not shells:
            raise ValueError("shells is empty, expected {atomic number: [(l, exponent), ...]}")
        self.numbers = sorted(int(z) for z in shells)
        self.shells = {int(z): [(int(l), float(a)) for l, a in shells[z]] for z in shells}
        for z, element in self.shells.items():
            ls = [l for l, _ in element]
            if ls != sorted(ls) or any(l < 0 for l in ls) or any(a <= 0 for _, a in element):
                raise ValueError(
                    f"shells[{z}] is {element}, expected (l, exponent > 0) pairs with l >= 0 "
                    "ascending"
                )
        self.lmax = max(l for element in self.shells.values() for l, _ in element)
        self.multiplicities = [
            max(sum(1 for l, _ in element if l == degree) for element in self.shells.values())
            for degree in range(self.lmax + 1)
        ]
        self.irreps = o3.Irreps(
            [(mul, (l, (-1) ** l)) for l, mul in enumerate(self.multiplicities) if mul > 0]
        )
        n_slots = sum(self.multiplicities)
        self.slot_l = np.repeat(np.arange(self.lmax + 1), self.multiplicities)
        self.exponents = np.zeros((len(self.numbers), n_slots))
        self.slot_mask = np.zeros((len(self.numbers), n_slots), dtype=bool)
        starts = np.concatenate([[0], np.cumsum(self.multiplicities)])
        for t, z in enumerate(self.numbers):
            for l in range(self.lmax + 1):
                exps = [a for degree, a in self.shells[z] if degree == l]
                self.exponents[t, starts[l] : starts[l] + len(exps)] = exps
                self.slot_mask[t, starts[l] : starts[l] + len(exps)] = True
        self.mask = np.stack([irreps_mask(self.irreps, self.irreps_of(z)) for z in self.numbers])

    def irreps_of(self, number: int) -> o3.Irreps:
        """The irreps of one element's own shells.

        Example::

            >>> str(DensityBasis({8: [(0, 8.0), (0, 2.0), (1, 1.0)]}).irreps_of(8))
            '2x0e+1x1o'
        """
        if int(number) not in self.shells:
            raise ValueError(f"number is {number}, expected an element of the basis {self.numbers}")
        ls = [l for l, _ in self.shells[int(number)]]
        return o3.Irreps([(ls.count(l), (l, (-1) ** l)) for l in sorted(set(ls))])

    def type_index(self, numbers: Sequence[int] | np.ndarray) -> np.ndarray:
        """Indices into ``self.numbers`` of atomic numbers, an error for an element the basis
        lacks.

        Example::

            >>> DensityBasis({1: [(0, 1.0)], 8: [(0, 2.0)]}).type_index([8, 1, 1])
            array([1, 0, 0])
        """
        numbers = np.asarray(numbers, dtype=np.int64)
        table = np.full(max(max(self.numbers), int(numbers.max(initial=0))) + 1, -1)
        table[self.numbers] = np.arange(len(self.numbers))
        types = table[numbers]
        if (types < 0).any():
            bad = int(numbers[types < 0][0])
            raise ValueError(
                f"numbers contains {bad}, expected elements of the basis {self.numbers}"
            )
        return types

    def pad(self, coefficients: np.ndarray, number: int) -> np.ndarray:
        """One atom's coefficients (its element's shells in order, e3nn components) placed on
        the union irreps (zeros in the masked components).

        Example::

            >>> basis = DensityBasis({1: [(0, 1.0)], 8: [(0, 8.0), (0, 2.0)]})
            >>> basis.pad(np.array([0.5]), 1)
            array([0.5, 0. ])
        """
        t = int(self.type_index([number])[0])
        coefficients = np.asarray(coefficients, dtype=np.float64)
        if coefficients.shape != (int(self.mask[t].sum()),):
            raise ValueError(
                f"coefficients has shape {coefficients.shape} but element {number} has "
                f"{int(self.mask[t].sum())} basis functions"
            )
        out = np.zeros(self.irreps.dim)
        # The element's shells ascend in l, as the union's channels do: same order.
        out[self.mask[t]] = coefficients
        return out

    @classmethod
    def from_pyscf(
        cls, name: str, symbols: Sequence[str], uncontract: bool = True
    ) -> "DensityBasis":
        """The basis PySCF knows as ``name`` (e.g. ``"def2-universal-jfit"``, PySCF's
        ``"weigend"``) for the elements ``symbols``, uncontracted into one primitive per shell
        (``pyscf.gto.uncontract``), exponents converted to Angstrom^-2. Needs PySCF.

        Example::

            >>> basis = DensityBasis.from_pyscf("def2-universal-jfit", ["H", "O"])
            >>> str(basis.irreps_of(1)), str(basis.irreps_of(8))
            ('5x0e+2x1o+1x2e', '12x0e+5x1o+4x2e+2x3o+1x4e')
        """
        from pyscf import gto

        from e3core.data._structure import atomic_numbers
        from e3core.data._units import BOHR_ANGSTROM

        shells = {}
        for symbol, z in zip(symbols, atomic_numbers(list(symbols), "symbols"), strict=True):
            basis = gto.basis.load(name, symbol)
            if uncontract:
                basis = gto.uncontract(basis)
            elif any(len(shell) != 2 for shell in basis):
                raise ValueError(f"name {name!r} has contracted shells, expected uncontract=True")
            element = [(shell[0], shell[1][0] / BOHR_ANGSTROM**2) for shell in basis]
            shells[int(z)] = sorted(element, key=lambda shell: shell[0])  # stable within each l
        return cls(shells)

    def to_pyscf(self, symbols: Sequence[str]) -> dict[str, list]:
        """The basis in PySCF's format ({symbol: [[l, [exponent in Bohr^-2, 1.0]], ...]}) for
        the elements ``symbols``: one normalised primitive per shell, in this basis' order.

        Example::

            >>> DensityBasis({1: [(0, 1.0)]}).to_pyscf(["H"])["H"][0][0]
            0
        """
        from e3core.data._structure import atomic_numbers
        from e3core.data._units import BOHR_ANGSTROM

        out = {}
        for symbol, z in zip(symbols, atomic_numbers(list(symbols), "symbols"), strict=True):
            if int(z) not in self.shells:
                raise ValueError(f"symbols has {symbol!r}, expected elements of {self.numbers}")
            out[symbol] = [[l, [a * BOHR_ANGSTROM**2, 1.0]] for l, a in self.shells[int(z)]]
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The basis as arrays (``basis_numbers``, ``basis_l``, ``basis_exponents``) for npz.

        Example::

            >>> DensityBasis.from_arrays(DensityBasis({1: [(0, 1.0)]}).to_arrays()).shells
            {1: [(0, 1.0)]}
        """
        rows = [(z, l, a) for z in self.numbers for l, a in self.shells[z]]
        return {
            "basis_numbers": np.array([r[0] for r in rows], dtype=np.int64),
            "basis_l": np.array([r[1] for r in rows], dtype=np.int64),
            "basis_exponents": np.array([r[2] for r in rows], dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "DensityBasis":
        """The basis that ``to_arrays`` wrote.

        Example::

            >>> DensityBasis.from_arrays(DensityBasis({8: [(1, 2.0)]}).to_arrays()).numbers
            [8]
        """
        shells: dict[int, list[tuple[int, float]]] = {}
        for z, l, a in zip(
            arrays["basis_numbers"], arrays["basis_l"], arrays["basis_exponents"], strict=True
        ):
            shells.setdefault(int(z), []).append((int(l), float(a)))
        return cls(shells)
