"""e3core.data: QM9 parsing against known values, atom references, units, splits, extxyz and
MD17 files, batching against a brute-force neighbour search, statistics and bad input."""

import importlib
import importlib.util
import itertools
import os
import pickle

import numpy as np
import pytest
import torch
from e3core import data
from e3core.data import AtomsDataset, Structure, collate

HAS_QM9PACK = importlib.util.find_spec("qm9pack") is not None
needs_qm9pack = pytest.mark.skipif(not HAS_QM9PACK, reason="qm9pack is not installed")

# The first row of qm9pack's qm9_part1.csv (molecule 1, CH4), abridged to the columns used.
QM9_HEADER = (
    "XYZ_file,Index,SMILES,InChi,N_atoms,Stoichiometry,Elements,XYZ_Ang,Mulliken_pop,"
    "Harmonic_Freq_cmi,RotA_GHz,RotB_GHz,RotC_GHz,Dipole_debye,Polarizability_bohr3,HOMO_au,"
    "LUMO_au,HOMO_LUMO_gap_au,R2_bohr2,ZPVE_au,InternalEnergy_0K_au,InternalEnergy_298K_au,"
    "Enthalphy_298K_au,GibbsFreeEnergy_298K_au,Heatcapacity_Cv_cal_mol_K"
)
CH4_ROW = (
    '"dsgdb9nsd_000001.xyz",1,"C","InChI=1S/CH4/h1H4",5,"[4,1,0,0,0]","[\'C\',\'H\',\'H\','
    "'H','H']\",\"[[-0.0126981359,1.0858041578,0.0080009958],[0.002150416,-0.0060313176,"
    "0.0019761204],[1.0117308433,1.4637511618,0.0002765748],[-0.540815069,1.4475266138,"
    '-0.8766437152],[-0.5238136345,1.4379326443,0.9063972942]]","[-0.535689,0.133921,0.133922,'
    '0.133923,0.133923]","[1341.307,1341.3284]",157.7118,157.70997,157.70699,0.,13.21,-0.3877,'
    "0.1171,0.5048,35.3641,0.044749,-40.47893,-40.476062,-40.475117,-40.498597,6.469"
)
CH4_POSITIONS = np.array(
    [
        [-0.0126981359, 1.0858041578, 0.0080009958],
        [0.002150416, -0.0060313176, 0.0019761204],
        [1.0117308433, 1.4637511618, 0.0002765748],
        [-0.540815069, 1.4475266138, -0.8766437152],
        [-0.5238136345, 1.4379326443, 0.9063972942],
    ]
)
CH4_TARGETS = {
    "A": 157.7118, "B": 157.70997, "C": 157.70699, "mu": 0.0, "alpha": 13.21, "homo": -0.3877,
    "lumo": 0.1171, "gap": 0.5048, "r2": 35.3641, "zpve": 0.044749, "U0": -40.47893,
    "U": -40.476062, "H": -40.475117, "G": -40.498597, "Cv": 6.469,
}  # fmt: skip


@pytest.fixture(scope="module")
def qm9():
    return data.load_qm9_sample()


# --- docstrings --------------------------------------------------------------------------


def test_every_public_name_has_a_docstring_example():
    for name in data.__all__:
        obj = getattr(data, name)
        if callable(obj):
            assert obj.__doc__ and ">>>" in obj.__doc__, name


# --- QM9 ---------------------------------------------------------------------------------


def check_ch4(structure):
    assert structure.id == 1
    np.testing.assert_array_equal(structure.numbers, [6, 1, 1, 1, 1])
    np.testing.assert_array_equal(structure.positions, CH4_POSITIONS)
    for name, value in CH4_TARGETS.items():
        assert float(structure.targets[name]) == value, name
    np.testing.assert_array_equal(
        structure.atom_targets["mulliken_charges"],
        [-0.535689, 0.133921, 0.133922, 0.133923, 0.133923],
    )


def test_parse_qm9pack_csv(tmp_path):
    path = tmp_path / "qm9_part1.csv"
    path.write_text(QM9_HEADER + "\n" + CH4_ROW + "\n")
    for source in (path, tmp_path):
        qm9 = data.load_qm9(source)
        assert len(qm9) == 1 and qm9.units == data.qm9_units()
        check_ch4(qm9[0])


def test_parse_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected a qm9pack CSV file or a directory"):
        data.load_qm9(tmp_path)
    bad = tmp_path / "qm9_part1.csv"
    bad.write_text("XYZ_file,Index\n1,2\n")
    with pytest.raises(ValueError, match="not a qm9pack CSV file"):
        data.load_qm9(bad)
    bad.write_text(QM9_HEADER + "\n" + CH4_ROW.replace(",5,", ",6,", 1) + "\n")
    with pytest.raises(ValueError, match="row 2: N_atoms is 6 but Elements has 5"):
        data.load_qm9(bad)
    with pytest.raises(ValueError, match="max_molecules is -1"):
        data.load_qm9(max_molecules=-1)
    with pytest.raises(ValueError, match="cache keeps the whole dataset"):
        data.load_qm9(max_molecules=3, cache=tmp_path / "c.npz")


def test_qm9_sample(qm9):
    assert os.path.getsize(data.QM9_SAMPLE_PATH) < 1024 * 1024
    assert len(qm9) == 1000 and qm9.units == data.qm9_units()
    # qm9pack's first 100 rows (QM9 lacks a few indices: 3,054 molecules failed its checks)
    assert np.all(np.diff(qm9.ids) > 0) and qm9.ids[99] == 103
    np.testing.assert_array_equal(qm9.ids[:10], np.arange(1, 11))
    assert set(np.unique(qm9.numbers)) == {1, 6, 7, 8, 9} and qm9.n_atoms.max() <= 29
    assert set(qm9.targets) == set(data.QM9_TARGETS) and not np.any(qm9.pbc)
    check_ch4(qm9[0])
    assert float(qm9[1].targets["U0"]) == -56.525887  # NH3
    np.testing.assert_array_equal(qm9[1].numbers, [7, 1, 1, 1])
    # gap = lumo - homo, as the file's 4 decimals allow
    np.testing.assert_allclose(
        qm9.targets["gap"], qm9.targets["lumo"] - qm9.targets["homo"], atol=2e-4
    )


@needs_qm9pack
def test_qm9pack_matches_the_sample(qm9):
    files = data.qm9pack_csv_files()
    assert [os.path.basename(f) for f in files] == [f"qm9_part{k}.csv" for k in (1, 2, 3)]
    first = data.load_qm9(max_molecules=100)
    expected = qm9[:100]
    np.testing.assert_array_equal(first.ids, expected.ids)
    np.testing.assert_array_equal(first.positions, expected.positions)
    np.testing.assert_array_equal(first.numbers, expected.numbers)
    for name in data.QM9_TARGETS:
        np.testing.assert_array_equal(first.targets[name], expected.targets[name])
    check_ch4(first[0])


def test_atomrefs_subtraction(qm9):
    refs = data.QM9_ATOMREFS
    assert refs["U0"] == {1: -0.500273, 6: -37.846772, 7: -54.583861, 8: -75.064579, 9: -99.718730}
    atomized = data.load_qm9_sample(atomization=True)
    ch4 = atomized[0]
    for target in ("U0", "U", "H", "G"):
        expected = CH4_TARGETS[target] - refs[target][6] - 4 * refs[target][1]
        assert float(ch4.targets[target]) == pytest.approx(expected, abs=1e-12)
    assert float(ch4.targets["Cv"]) == CH4_TARGETS["Cv"]  # not subtracted by default
    # every molecule: total minus the sum over its atoms, by a plain loop
    for k in (5, 321, 999):
        s = qm9[k]
        for target in ("U0", "G"):
            total = float(s.targets[target]) - sum(refs[target][int(z)] for z in s.numbers)
            assert float(atomized[k].targets[target]) == pytest.approx(total, abs=1e-10)
    in_ev = data.load_qm9_sample(atomization=["U0", "Cv"], units={"U0": "eV", "gap": "meV"})
    assert in_ev.units["U0"] == "eV" and in_ev.units["gap"] == "meV" and in_ev.units["U"] == "Ha"
    u0 = float(ch4.targets["U0"]) * data.HARTREE_EV
    assert float(in_ev[0].targets["U0"]) == pytest.approx(u0, rel=1e-14)
    assert float(in_ev[0].targets["Cv"]) == pytest.approx(6.469 - 5 * 2.981)
    assert float(in_ev[0].targets["gap"]) == pytest.approx(0.5048 * data.HARTREE_EV * 1000)
    assert data.qm9_atomrefs("U0", "eV")[1] == pytest.approx(-0.500273 * data.HARTREE_EV)
    with pytest.raises(KeyError, match="atomization names 'mu'"):
        data.load_qm9_sample(atomization=["mu"])
    with pytest.raises(ValueError, match=r"no value for the atomic numbers \[6\]"):
        qm9.subtract_atomrefs("U0", {1: -0.5, 7: -54.0, 8: -75.0, 9: -99.0})


# --- units -------------------------------------------------------------------------------


def test_units_against_ase():
    units = pytest.importorskip("ase.units")
    # ase's default constants are CODATA 2014, e3core's CODATA 2018: agree to 1e-7
    assert data.unit_factor("Ha", "eV") == pytest.approx(units.Hartree, rel=1e-7)
    assert data.unit_factor("Bohr", "Angstrom") == pytest.approx(units.Bohr, rel=1e-7)
    assert data.unit_factor("kcal/mol", "eV") == pytest.approx(units.kcal / units.mol, rel=1e-7)
    assert data.unit_factor("Debye", "e*Angstrom") == pytest.approx(units.Debye, rel=1e-7)
    assert data.unit_factor("Ha/Bohr", "eV/Angstrom") == pytest.approx(
        units.Hartree / units.Bohr, rel=1e-7
    )
    assert data.unit_factor("GPa", "eV/Angstrom^3") == pytest.approx(units.GPa, rel=1e-7)
    assert data.unit_factor("Bohr^3", "Angstrom^3") == pytest.approx(units.Bohr**3, rel=1e-7)
    assert data.unit_factor("Ha", "kcal/mol") == pytest.approx(627.5094740631, rel=1e-12)
    assert data.unit_factor("eV", "eV") == 1.0


def test_unit_errors():
    with pytest.raises(ValueError, match="unit is 'parsec', expected one of"):
        data.unit_factor("parsec", "eV")
    with pytest.raises(ValueError, match=r"cannot convert 'eV' \(energy\) to 'Bohr' \(length\)"):
        data.convert_units(1.0, "eV", "Bohr")
    with pytest.raises(KeyError, match="'nope' is not a target"):
        data.load_qm9_sample().convert_units({"nope": "eV"})
    d = AtomsDataset.from_structures([Structure(np.zeros((1, 3)), [1], targets={"e": 1.0})])
    with pytest.raises(ValueError, match="the unit of 'e' is unknown"):
        d.convert_units({"e": "eV"})


# --- splits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, sizes, counts",
    [
        (100, (0.8, 0.1, 0.1), [80, 10, 10]),
        (101, (0.8, 0.1, 0.1), [81, 10, 10]),
        (10, (0.33, 0.33), [3, 3]),
        (1000, (500, 100, None), [500, 100, 400]),
        (1000, (None, 0.25), [750, 250]),
        (7, (7,), [7]),
        (0, (0.5, 0.5), [0, 0]),
    ],
)
def test_split_sizes_disjoint_reproducible(n, sizes, counts):
    splits = data.split_indices(n, sizes, seed=3)
    assert [len(s) for s in splits] == counts
    joined = np.concatenate(splits)
    assert len(np.unique(joined)) == len(joined) and np.all((joined >= 0) & (joined < n))
    again = data.split_indices(n, sizes, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(splits, again, strict=True))
    if n >= 100:
        other = data.split_indices(n, sizes, seed=4)
        assert not np.array_equal(splits[0], other[0])


def test_random_split_datasets(qm9):
    train, val, test = data.random_split(qm9, (0.8, 0.1, 0.1), seed=7)
    assert (len(train), len(val), len(test)) == (800, 100, 100)
    ids = np.concatenate([train.ids, val.ids, test.ids])
    assert sorted(ids.tolist()) == sorted(qm9.ids.tolist())
    idx = data.split_indices(len(qm9), (0.8, 0.1, 0.1), seed=7)
    np.testing.assert_array_equal(val.ids, qm9.ids[idx[1]])
    np.testing.assert_array_equal(val.targets["U0"], qm9.targets["U0"][idx[1]])


def test_split_files(tmp_path):
    splits = data.split_indices(50, (30, 10, 10), seed=0)
    data.save_split(tmp_path / "split.npz", *splits)
    with np.load(tmp_path / "split.npz") as f:
        assert sorted(f.files) == ["test_idx", "train_idx", "val_idx"]
    loaded = data.load_split(tmp_path / "split.npz")
    assert all(np.array_equal(a, b) for a, b in zip(splits, loaded, strict=True))
    np.savez(tmp_path / "other.npz", x=np.arange(3))
    with pytest.raises(ValueError, match="not a split file"):
        data.load_split(tmp_path / "other.npz")


@pytest.mark.parametrize(
    "sizes, error, match",
    [
        ((0.8, 0.3), ValueError, "fractions sum to 1.1"),
        ((60, 50), ValueError, "110 items asked, only 100 exist"),
        ((50, 0.5), ValueError, "not a mix"),
        ((None, None), ValueError, "at most one None"),
        ((-1, 5), ValueError, r"sizes\[0\] is -1"),
        (("a", 5), TypeError, r"sizes\[0\] is 'a'"),
        (0.5, ValueError, "expected a sequence"),
    ],
)
def test_split_errors(sizes, error, match):
    with pytest.raises(error, match=match):
        data.split_indices(100, sizes)


# --- structures and datasets -------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"positions": np.zeros((5, 2))}, ValueError, r"positions has shape \(5, 2\) but expected"),
        ({"positions": np.zeros(3)}, ValueError, r"positions has shape \(3,\) but expected \(N,"),
        ({"positions": [[0, 0, np.nan]] * 3}, ValueError, "positions holds NaN"),
        ({"positions": "abc"}, TypeError, "positions is str, expected an array"),
        ({"numbers": [1, 1]}, ValueError, "numbers has 2 entries but positions has 3 rows"),
        ({"numbers": [1, 1, 0]}, ValueError, r"numbers\[2\] is 0, expected an atomic number"),
        ({"numbers": [1, 1.5, 1]}, ValueError, "numbers holds non-integer values"),
        ({"numbers": ["O", "H", "Q"]}, ValueError, r"numbers\[2\] is 'Q', expected an element"),
        ({"cell": np.eye(2)}, ValueError, r"cell has shape \(2, 2\) but expected \(3, 3\)"),
        ({"pbc": True}, ValueError, r"pbc\[0\] is True but cell\[0\] is zero"),
        ({"pbc": [True, False]}, ValueError, "pbc is .*expected a bool or 3 bools"),
        ({"targets": {"energy": "x"}}, TypeError, r"targets\['energy'\] is str"),
        ({"targets": {"batch": 1.0}}, ValueError, "targets has the key 'batch', which names a"),
        ({"atom_targets": {"forces": np.zeros((2, 3))}}, ValueError,
         r"atom_targets\['forces'\] has shape \(2, 3\) but expected \(3, ...\)"),
        ({"id": "a"}, TypeError, "id is 'a', expected an int"),
    ],
)  # fmt: skip
def test_structure_errors(kwargs, error, match):
    args = {"positions": np.zeros((3, 3)), "numbers": [8, 1, 1], **kwargs}
    with pytest.raises(error, match="Structure: " + match):
        Structure(**args)


def test_structure_conversions():
    s = Structure(
        [[0, 0, 0.1], [0, 0.7, -0.5], [0, -0.7, -0.5]],
        np.array(["O", "H", "H"]),
        cell=np.eye(3) * 5,
        pbc=[True, True, False],
        targets={"energy": -10, "dipole": [0, 0, 0.4]},
        atom_targets={"forces": np.ones((3, 3))},
        id=np.int64(4),
    )
    assert s.numbers.dtype == np.int64 and s.positions.dtype == np.float64
    assert s.pbc.tolist() == [True, True, False] and s.is_periodic and s.id == 4
    assert s.targets["energy"].shape == () and s.targets["dipole"].shape == (3,)


def test_dataset_indexing_save_load(tmp_path):
    rng = np.random.default_rng(0)
    structures = [
        Structure(
            rng.normal(size=(n, 3)),
            rng.integers(1, 10, n),
            cell=np.eye(3) * (3 + n) if n % 2 else None,
            pbc=bool(n % 2),
            targets={"energy": rng.normal(), "dipole": rng.normal(size=3)},
            atom_targets={"forces": rng.normal(size=(n, 3))},
            id=10 + n,
        )
        for n in (1, 4, 2, 3)
    ]
    d = AtomsDataset.from_structures(structures, units={"energy": "eV", "forces": "eV/A"})
    assert d.units == {"energy": "eV", "forces": "eV/Angstrom"}
    assert len(d) == 4 and d.ptr.tolist() == [0, 1, 5, 7, 10]
    for k, s in enumerate(structures):
        t = d[k]
        np.testing.assert_array_equal(t.positions, s.positions)
        np.testing.assert_array_equal(t.atom_targets["forces"], s.atom_targets["forces"])
        np.testing.assert_array_equal(t.cell, s.cell)
        assert t.id == s.id and float(t.energy) == float(s.energy)
    assert d[-1].id == 13
    sub = d[[3, 1]]
    assert sub.ids.tolist() == [13, 14]
    np.testing.assert_array_equal(sub.positions, np.concatenate([d[3].positions, d[1].positions]))
    np.testing.assert_array_equal(d[np.array([False, True, False, True])].ids, [14, 13])
    assert d[1:3].ids.tolist() == [14, 12] and len(d[[]]) == 0 and len(d[4:]) == 0
    with pytest.raises(ValueError, match="read-only"):
        d.positions[0, 0] = 1.0
    with pytest.raises(IndexError, match="index 4 is out of range"):
        d[4]
    with pytest.raises(IndexError, match=r"indices\[1\] is 9, out of range"):
        d[[0, 9]]
    with pytest.raises(IndexError, match="boolean mask of shape"):
        d[np.array([True])]

    d.save(tmp_path / "d.npz")
    e = AtomsDataset.load(tmp_path / "d.npz")
    for name in ("positions", "numbers", "n_atoms", "cell", "pbc", "ids"):
        np.testing.assert_array_equal(getattr(e, name), getattr(d, name))
    for key in d.targets:
        np.testing.assert_array_equal(e.targets[key], d.targets[key])
    np.testing.assert_array_equal(e.atom_targets["forces"], d.atom_targets["forces"])
    assert e.units == d.units
    np.savez(tmp_path / "other.npz", positions=np.zeros((1, 3)))
    with pytest.raises(ValueError, match="not a file written by AtomsDataset.save"):
        AtomsDataset.load(tmp_path / "other.npz")

    both = AtomsDataset.concatenate([d, sub])
    assert len(both) == 6 and both.ids.tolist() == [11, 14, 12, 13, 13, 14]


def test_dataset_errors():
    s = Structure(np.zeros((1, 3)), [1], targets={"energy": 1.0})
    t = Structure(np.zeros((1, 3)), [1], targets={"charge": 1.0})
    with pytest.raises(ValueError, match=r"structures\[1\] has targets \['charge'\]"):
        AtomsDataset.from_structures([s, t])
    with pytest.raises(TypeError, match=r"structures\[0\] is dict"):
        AtomsDataset.from_structures([{}])
    with pytest.raises(ValueError, match="positions has 2 rows and numbers 2 entries but n_atoms"):
        AtomsDataset(np.zeros((2, 3)), [1, 1], np.array([3]))
    with pytest.raises(ValueError, match=r"targets\['e'\] has shape \(3,\) but expected \(2,"):
        AtomsDataset(np.zeros((2, 3)), [1, 1], np.array([1, 1]), targets={"e": np.zeros(3)})
    with pytest.raises(ValueError, match="n_atoms has shape"):
        AtomsDataset(np.zeros((2, 3)), [1, 1], np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match=r"units\['e'\]: unit is 'furlong'"):
        AtomsDataset(np.zeros((1, 3)), [1], np.array([1]), units={"e": "furlong"})


# --- extxyz, ase and MD17 ----------------------------------------------------------------


def random_atoms(rng, n, periodic):
    import ase
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = ase.Atoms(
        numbers=rng.integers(1, 20, n),
        positions=rng.uniform(0, 4, (n, 3)),
        cell=np.diag([4.0, 5.0, 6.0]) + 0.3 * rng.normal(size=(3, 3)) if periodic else None,
        pbc=periodic,
    )
    results = {"energy": rng.normal(), "forces": rng.normal(size=(n, 3))}
    if periodic:
        results["stress"] = rng.normal(size=6)
    atoms.calc = SinglePointCalculator(atoms, **results)
    atoms.info["REF_energy"] = rng.normal()
    atoms.arrays["REF_forces"] = rng.normal(size=(n, 3))
    return atoms


def test_extxyz_round_trip(tmp_path):
    ase_io = pytest.importorskip("ase.io")
    rng = np.random.default_rng(1)
    frames = [random_atoms(rng, n, periodic=True) for n in (3, 5, 4)]
    path = tmp_path / "frames.extxyz"
    ase_io.write(path, frames)
    d = data.read_xyz(path)
    assert len(d) == 3 and set(d.targets) == {"energy", "stress"}
    assert set(d.atom_targets) == {"forces"}
    assert d.units == {"energy": "eV", "forces": "eV/Angstrom", "stress": "eV/Angstrom^3"}
    for s, atoms in zip(d, frames, strict=True):
        np.testing.assert_allclose(s.positions, atoms.positions, rtol=0, atol=1e-7)
        np.testing.assert_array_equal(s.numbers, atoms.numbers)
        np.testing.assert_allclose(s.cell, atoms.cell[:], atol=1e-7)
        assert s.pbc.tolist() == [True] * 3
        assert float(s.energy) == pytest.approx(atoms.get_potential_energy(), abs=1e-7)
        np.testing.assert_allclose(s.forces, atoms.get_forces(), atol=1e-7)
        np.testing.assert_allclose(s.targets["stress"], atoms.get_stress(voigt=False), atol=1e-7)
    # MACE-style keys
    mace = data.read_xyz(path, energy_key="REF_energy", forces_key="REF_forces", index="1:")
    assert len(mace) == 2
    assert float(mace[0].energy) == pytest.approx(frames[1].info["REF_energy"], abs=1e-7)
    np.testing.assert_allclose(mace[0].forces, frames[1].arrays["REF_forces"], atol=1e-7)
    # written by e3core, read by ase and by e3core
    out = tmp_path / "out.extxyz"
    data.write_xyz(out, d)
    back = ase_io.read(out, ":")
    for s, atoms in zip(d, back, strict=True):
        assert atoms.get_potential_energy() == pytest.approx(float(s.energy), abs=1e-7)
        np.testing.assert_allclose(atoms.get_forces(), s.forces, atol=1e-7)
        np.testing.assert_allclose(atoms.cell[:], s.cell, atol=1e-7)
    again = data.read_xyz(out, info_keys=None, array_keys=None)
    np.testing.assert_allclose(again.targets["energy"], d.targets["energy"], atol=1e-7)
    # a molecule file (no cell) and a missing file
    ase_io.write(tmp_path / "mol.xyz", [random_atoms(rng, 3, periodic=False)], format="extxyz")
    mol = data.read_xyz(tmp_path / "mol.xyz")
    assert not mol[0].is_periodic and not np.any(mol.cell)
    with pytest.raises(FileNotFoundError, match="read_xyz: path is"):
        data.read_xyz(tmp_path / "missing.xyz")


def test_md17_files(tmp_path):
    text = (
        "3\n-97195.68\nO 0.0 0.0 0.1 1.0 2.0 3.0\nH 0.0 0.7 -0.5 -0.5 -1.0 -1.5\n"
        "H 0.0 -0.7 -0.5 -0.5 -1.0 -1.5\n3\n-9.7195700*^4\nO 0.0 0.0 0.11 1.0 2.0 3.0\n"
        "H 0.0 0.7 -0.5 -0.5 -1.0 -1.5\nH 0.0 -0.7 -0.5 -0.5 -1.0 -1.5\n"
    )
    (tmp_path / "md17.xyz").write_text(text)
    d = data.read_md17(tmp_path / "md17.xyz")
    assert len(d) == 2 and d.targets["energy"].tolist() == [-97195.68, -97195.7]
    assert d.units == {"energy": "kcal/mol", "forces": "kcal/mol/Angstrom"}
    np.testing.assert_array_equal(d[1].forces[0], [1.0, 2.0, 3.0])
    assert d[1].positions[0, 2] == 0.11 and d[0].numbers.tolist() == [8, 1, 1]
    ev = d.convert_units({"energy": "eV", "forces": "eV/Angstrom"})
    assert ev.targets["energy"][0] == pytest.approx(-97195.68 * data.KCAL_MOL_EV)
    # rMD17 npz
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "rmd17.npz",
        nuclear_charges=np.array([6, 1, 1, 1, 1]),
        coords=rng.normal(size=(6, 5, 3)),
        energies=rng.normal(size=6),
        forces=rng.normal(size=(6, 5, 3)),
    )
    r = data.read_md17(tmp_path / "rmd17.npz", max_structures=4)
    assert len(r) == 4 and r.n_atoms.tolist() == [5] * 4 and r.ids.tolist() == [0, 1, 2, 3]
    (tmp_path / "bad.xyz").write_text("3\nenergy=1.0\nO 0 0 0\n")
    with pytest.raises(ValueError, match="the energy alone on the comment line"):
        data.read_md17(tmp_path / "bad.xyz")
    np.savez(tmp_path / "bad.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="expected z, R, E, F"):
        data.read_md17(tmp_path / "bad.npz")


# --- batching ----------------------------------------------------------------------------


def brute_force_edges(structures, cutoff):
    """(source, target, shift) of every pair closer than cutoff, with global atom indices."""
    edges = set()
    offset = 0
    for s in structures:
        n = s.n_atoms
        ranges = [range(-3, 4) if p else range(1) for p in s.pbc]
        for i, j in itertools.product(range(n), repeat=2):
            for shift in itertools.product(*ranges):
                if i == j and not any(shift):
                    continue
                d = s.positions[j] - s.positions[i] + np.array(shift) @ s.cell
                if np.linalg.norm(d) < cutoff:
                    edges.add((j + offset, i + offset, shift))
        offset += n
    return edges


def random_structures(seed, periodic):
    rng = np.random.default_rng(seed)
    out = []
    for n, p in zip((6, 1, 9, 4), periodic, strict=True):
        cell = np.diag([3.0, 3.5, 4.0]) + 0.4 * rng.normal(size=(3, 3))
        out.append(
            Structure(
                rng.uniform(0, 1, (n, 3)) @ cell,
                rng.integers(1, 9, n),
                cell=cell if any(np.atleast_1d(p)) else None,
                pbc=p,
                targets={"energy": rng.normal(), "dipole": rng.normal(size=3)},
                atom_targets={"forces": rng.normal(size=(n, 3))},
            )
        )
    return out


@pytest.mark.parametrize(
    "periodic",
    [
        (False, False, False, False),  # one radius_graph call for the batch
        (True, False, (True, True, False), True),  # per-structure cell lists
    ],
)
def test_collate_edges_against_brute_force(periodic):
    structures = random_structures(0, periodic)
    cutoff = 2.2
    batch = collate(structures, cutoff=cutoff, dtype=torch.float64)
    src, dst = batch.edge_index.tolist()
    shifts = [tuple(int(v) for v in s) for s in batch.edge_shift.tolist()]
    got = list(zip(src, dst, shifts, strict=True))
    assert len(got) == len(set(got))
    assert set(got) == brute_force_edges(structures, cutoff)
    assert batch.edge_index.dtype == torch.int64
    # sorted by target, then source (radius_graph's order)
    keys = [(d, s) for s, d, _ in got]
    assert keys == sorted(keys)
    # edges never cross graphs; vectors as positions[j] - positions[i] + shift @ cell
    assert torch.equal(batch.batch[batch.edge_index[0]], batch.batch[batch.edge_index[1]])
    vectors = batch.edge_vectors()
    assert torch.all(vectors.norm(dim=1) < cutoff)
    expected = []
    offsets = np.cumsum([0] + [s.n_atoms for s in structures])
    for s, d, shift in got:
        g = int(np.searchsorted(offsets, d, side="right") - 1)
        st = structures[g]
        a, b = s - offsets[g], d - offsets[g]
        expected.append(st.positions[a] - st.positions[b] + np.array(shift) @ st.cell)
    np.testing.assert_allclose(vectors.numpy(), np.array(expected), atol=1e-12)


def test_collate_graph_fields():
    structures = random_structures(1, (False, True, False, False))
    batch = collate(structures, cutoff=2.0)
    assert batch.positions.dtype == torch.get_default_dtype()
    assert batch.num_graphs == 4 and batch.num_nodes == 20
    assert batch.batch.tolist() == [0] * 6 + [1] + [2] * 9 + [3] * 4
    assert batch.ptr.tolist() == [0, 6, 7, 16, 20] and batch.n_atoms.tolist() == [6, 1, 9, 4]
    assert batch.cell.shape == (4, 3, 3) and batch.pbc[1].all() and not batch.pbc[0].any()
    assert batch.targets["energy"].shape == (4,) and batch.targets["dipole"].shape == (4, 3)
    np.testing.assert_allclose(
        batch.atom_targets["forces"].numpy(),
        np.concatenate([s.forces for s in structures]),
        rtol=1e-6,
    )
    # a non-periodic graph's edges are the same alone as next to a periodic one
    alone = collate(structures[2:3], cutoff=2.0)
    mask = batch.batch[batch.edge_index[1]] == 2
    assert torch.equal(batch.edge_index[:, mask] - 7, alone.edge_index)
    assert collate(structures).edge_index is None
    with pytest.raises(ValueError, match="this batch has no edges"):
        collate(structures).edge_vectors()
    d = batch.to(dtype=torch.float64)
    assert d.positions.dtype == torch.float64 and d.numbers.dtype == torch.int64
    assert set(batch.as_dict()) >= {"positions", "edge_index", "edge_shift", "energy", "forces"}
    assert "4 graphs" in repr(batch)
    with pytest.raises(TypeError, match="expected a floating dtype"):
        collate(structures, dtype=torch.int32)


def test_forces_through_edge_vectors():
    structure = random_structures(2, (True, False, False, False))[0]
    batch = collate([structure], cutoff=2.5, dtype=torch.float64)
    positions = batch.positions.clone().requires_grad_(True)
    energy = (batch.edge_vectors(positions).norm(dim=1) ** 2).sum()
    (grad,) = torch.autograd.grad(energy, positions)
    # E = sum over ordered pairs |D|^2: dE/dr_a = sum over edges with a as source of 2 D,
    # minus those with a as target
    vectors = batch.edge_vectors().detach()
    expected = torch.zeros_like(grad)
    expected.index_add_(0, batch.edge_index[0], 2 * vectors)
    expected.index_add_(0, batch.edge_index[1], -2 * vectors)
    torch.testing.assert_close(grad, expected)


def test_dataloader(qm9):
    subset = qm9[:50]
    loader = data.DataLoader(subset, batch_size=16, shuffle=True, cutoff=4.0, seed=5)
    batches = list(loader)
    assert [b.num_graphs for b in batches] == [16, 16, 16, 2]
    assert sorted(torch.cat([b.ids for b in batches]).tolist()) == subset.ids.tolist()
    again = list(data.DataLoader(subset, batch_size=16, shuffle=True, cutoff=4.0, seed=5))
    assert all(torch.equal(a.ids, b.ids) for a, b in zip(batches, again, strict=True))
    first = batches[0]
    direct = collate(subset[(first.ids.numpy()[:, None] == subset.ids).argmax(1)], cutoff=4.0)
    assert torch.equal(first.edge_index, direct.edge_index)
    # torch's Subset and random_split, and picklable collate (worker processes)
    lists = torch.utils.data.DataLoader(
        torch.utils.data.Subset(subset, [3, 1]), batch_size=2, collate_fn=data.Collater(4.0)
    )
    assert next(iter(lists)).ids.tolist() == [int(subset.ids[3]), int(subset.ids[1])]
    assert pickle.loads(pickle.dumps(data.Collater(4.0, torch.float64))).cutoff == 4.0
    with pytest.raises(TypeError, match="collate_fn is set from cutoff"):
        data.DataLoader(subset, collate_fn=list)


# --- statistics --------------------------------------------------------------------------


def test_fit_atomrefs_recovers_references():
    rng = np.random.default_rng(0)
    refs = {1: -0.5, 6: -37.8, 8: -75.1}
    structures = []
    for _ in range(40):
        numbers = rng.choice([1, 6, 8], size=rng.integers(2, 9))
        energy = sum(refs[int(z)] for z in numbers) + 1e-4 * rng.normal()
        structures.append(Structure(rng.normal(size=(len(numbers), 3)), numbers,
                                    targets={"energy": energy}))  # fmt: skip
    d = AtomsDataset.from_structures(structures)
    fitted = data.fit_atomrefs(d)
    assert sorted(fitted) == [1, 6, 8]
    for z, value in refs.items():
        assert fitted[z] == pytest.approx(value, abs=1e-3)
    residual = d.subtract_atomrefs("energy", fitted).targets["energy"]
    assert np.abs(residual).max() < 1e-3
    assert data.mean_per_atom(d) == pytest.approx(np.mean(d.targets["energy"] / d.n_atoms))
    mean, std = data.mean_std(d, "energy", per_atom=True)
    assert std == pytest.approx(np.std(d.targets["energy"] / d.n_atoms))


def test_fit_atomrefs_on_qm9_sample(qm9):
    fitted = data.fit_atomrefs(qm9, "U0")
    residual = qm9.subtract_atomrefs("U0", fitted).targets["U0"]
    species, counts = data.composition(qm9)
    assert species.tolist() == [1, 6, 7, 8, 9] and counts.sum() == qm9.positions.shape[0]
    # least squares: the residual is orthogonal to every element count, and small
    np.testing.assert_allclose(counts.T @ residual, 0, atol=1e-6)
    assert np.std(residual) < 0.01 * np.std(qm9.targets["U0"])
    assert np.abs(residual).mean() < 0.05  # Ha; the free-atom references leave ~2.7 Ha


def test_rms_and_neighbours():
    s = random_structures(3, (False, True, False, False))
    d = AtomsDataset.from_structures(s)
    forces = d.atom_targets["forces"]
    assert data.rms(d) == pytest.approx(np.sqrt(np.mean(forces**2)))
    assert data.mean_std(d, "forces")[0] == pytest.approx(forces.mean())
    edges = collate(s, cutoff=2.0).num_edges
    assert data.average_num_neighbors(d, 2.0) == pytest.approx(edges / 20)
    assert data.average_num_neighbors(d, 2.0, chunk=1) == pytest.approx(edges / 20)
    with pytest.raises(KeyError, match="rms: target is 'stress'"):
        data.rms(d, "stress")
    with pytest.raises(KeyError, match="fit_atomrefs: target is 'U0'"):
        data.fit_atomrefs(d, "U0")
    with pytest.raises(ValueError, match=r"targets\['dipole'\] has shape \(4, 3\)"):
        data.mean_per_atom(d, "dipole")
    with pytest.raises(ValueError, match="cutoff is 0"):
        data.average_num_neighbors(d, 0)
