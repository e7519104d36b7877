"""e3core.density and the water-density data: PySCF's component order checked against PySCF's own
basis functions, densities at points, the epsilon metrics, equivariance, the shipped data and the
generator script."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from e3core import data, density, o3

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
WATER = [("O", (0.0, 0.0, 0.1173)), ("H", (0.0, 0.7572, -0.4692)), ("H", (0.0, -0.7572, -0.4692))]


@pytest.fixture(scope="module")
def jfit():
    return density.DensityBasis.from_pyscf("def2-universal-jfit", ["H", "O"])


def test_jfit_irreps(jfit):
    # Rackers et al.'s oxygen basis; hydrogen's as PySCF's 'weigend' has it.
    assert str(jfit.irreps_of(8)) == "12x0e+5x1o+4x2e+2x3o+1x4e"
    assert str(jfit.irreps_of(1)) == "5x0e+2x1o+1x2e"
    assert str(jfit.irreps) == "12x0e+5x1o+4x2e+2x3o+1x4e"
    assert jfit.mask.sum(1).tolist() == [5 + 6 + 5, 70]
    weigend = density.DensityBasis.from_pyscf("weigend", ["H", "O"])
    assert weigend.shells == jfit.shells


def test_pyscf_order_against_pyscf(jfit):
    """Random coefficients in PySCF's order, evaluated by PySCF's eval_ao, equal e3core's density
    of the converted coefficients at random points."""
    pytest.importorskip("pyscf")
    from pyscf import dft, gto

    mol = gto.M(atom=WATER, basis=jfit.to_pyscf(["H", "O"]), unit="Angstrom", verbose=0)
    rng = np.random.default_rng(0)
    fit = rng.normal(size=mol.nao)
    points = rng.normal(size=(300, 3)) * 1.2
    expected = dft.numint.eval_ao(mol, points / data.BOHR_ANGSTROM) @ fit
    offsets = mol.offset_nr_by_atom()
    numbers = np.array([8, 1, 1])
    coefficients = np.stack(
        [
            jfit.pad(
                density.pyscf_to_e3nn(
                    fit[offsets[a, 2] : offsets[a, 3]],
                    [mol.bas_angular(b) for b in range(offsets[a, 0], offsets[a, 1])],
                ),
                int(numbers[a]),
            )
            for a in range(3)
        ]
    )
    positions = torch.tensor([p for _, p in WATER], dtype=torch.float64)
    rho = density.density_at(
        jfit,
        torch.tensor(coefficients) * data.BOHR_ANGSTROM**-1.5,
        positions,
        torch.tensor(numbers),
        torch.tensor(points),
    )
    expected = torch.tensor(expected) / data.BOHR_ANGSTROM**3
    torch.testing.assert_close(rho, expected, rtol=1e-10, atol=1e-10 * expected.abs().max())


def test_pyscf_matrices_are_wigner_d():
    for l in range(2, 6):
        m = density.pyscf_to_e3nn_matrix(l)
        np.testing.assert_allclose(m @ m.T, np.eye(2 * l + 1), atol=1e-12)
        assert np.sort(np.abs(m).round(12).reshape(-1))[-1] <= 1
    np.testing.assert_array_equal(density.pyscf_to_e3nn_matrix(1), np.eye(3))
    with pytest.raises(ValueError, match="shells \\[0, 1\\] have 4"):
        density.pyscf_to_e3nn(np.zeros(5), [0, 1])


def test_basis_function_normalisation():
    """Each basis function has unit L2 norm, and an s function integrates to
    N_0 Y_00 (pi / a)^(3/2), on a fine cubic grid."""
    a = 1.3
    basis = density.DensityBasis({1: [(0, a), (1, a), (2, a)]})
    grid = torch.linspace(-4, 4, 61, dtype=torch.float64)
    points = torch.cartesian_prod(grid, grid, grid)
    volume = (grid[1] - grid[0]) ** 3
    numbers = torch.tensor([1])
    for k in (0, 2, 6):  # s, p_z, a d
        c = torch.zeros(1, 9, dtype=torch.float64)
        c[0, k] = 1
        phi = density.density_at(basis, c, torch.zeros(1, 3, dtype=torch.float64), numbers, points)
        assert abs(float((phi * phi).sum() * volume) - 1) < 1e-6
        if k == 0:
            n0 = (2 * (2 * a) ** 1.5 / torch.exp(torch.lgamma(torch.tensor(1.5)))) ** 0.5
            expected = float(n0) / (4 * np.pi) ** 0.5 * (np.pi / a) ** 1.5
            assert abs(float(phi.sum() * volume) / expected - 1) < 1e-6


def random_case(basis, n_atoms=4, n_points=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    numbers = torch.tensor(basis.numbers)[
        torch.randint(len(basis.numbers), (n_atoms,), generator=g)
    ]
    types = torch.as_tensor(basis.type_index(numbers.numpy()))
    coefficients = torch.randn(n_atoms, basis.irreps.dim, generator=g, dtype=torch.float64)
    coefficients = coefficients * torch.as_tensor(basis.mask)[types]
    positions = torch.randn(n_atoms, 3, generator=g, dtype=torch.float64)
    points = 1.5 * torch.randn(n_points, 3, generator=g, dtype=torch.float64)
    return coefficients, positions, numbers, points


@pytest.mark.parametrize("inversion", [False, True])
def test_density_equivariance(jfit, inversion):
    coefficients, positions, numbers, points = random_case(jfit)
    rho = density.density_at(jfit, coefficients, positions, numbers, points)
    r = o3.rand_matrix(dtype=torch.float64) * (-1 if inversion else 1)
    d = jfit.irreps.D_from_matrix(r)
    rotated = density.density_at(jfit, coefficients @ d.T, positions @ r.T, numbers, points @ r.T)
    torch.testing.assert_close(rotated, rho, rtol=1e-10, atol=1e-12)


def test_density_batches_and_chunks(jfit):
    """Two structures in one call equal two calls; pair chunks do not change the result."""
    c1, x1, z1, p1 = random_case(jfit, 3, 40, seed=1)
    c2, x2, z2, p2 = random_case(jfit, 5, 30, seed=2)
    one = density.density_at(jfit, c1, x1, z1, p1)
    two = density.density_at(jfit, c2, x2, z2, p2)
    batch = torch.tensor([0] * 3 + [1] * 5)
    point_batch = torch.tensor([1] * 30 + [0] * 40)
    both = density.density_at(
        jfit,
        torch.cat([c1, c2]),
        torch.cat([x1, x2]),
        torch.cat([z1, z2]),
        torch.cat([p2, p1]),
        batch,
        point_batch,
        max_pairs=17,
    )
    torch.testing.assert_close(both, torch.cat([two, one]), rtol=1e-12, atol=1e-14)
    per_l = density.density_at(jfit, c1, x1, z1, p1, per_l=True)
    assert per_l.shape == (40, 5)
    torch.testing.assert_close(per_l.sum(1), one)


def test_density_errors():
    rho = torch.tensor([1.0, 2.0, 0.5, 4.0])
    w = torch.tensor([0.1, 0.2, 0.3, 0.4])
    assert float(density.density_error(rho, rho, w)[0]) == 0
    torch.testing.assert_close(density.density_error(rho, 0.8 * rho, w), torch.tensor([20.0]))
    batch = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([1.0, 2.0, 0.6, 4.0])
    expected = torch.tensor([0.0, 100 * 0.3 * 0.1 / (0.3 * 0.5 + 0.4 * 4.0)])
    torch.testing.assert_close(density.density_error(rho, pred, w, batch), expected)
    mae = density.density_mae_error(rho, pred, batch)
    torch.testing.assert_close(mae, torch.tensor([0.0, 100 * 0.1 / 4.5]))
    with pytest.raises(ValueError, match="rho_pred"):
        density.density_mae_error(rho, pred[:3])


def test_density_errors_by_l(jfit):
    """Identical coefficients: all zero. Only l = 1 changed: only epsilon_1 and the total move,
    the total at most the sum of the parts. Scaled by 1.1: the total is about 10 %."""
    coefficients, positions, numbers, points = random_case(jfit, 3, 400)
    coefficients[:, 0] = coefficients[:, 0].abs() + 2  # mostly positive density
    weights = torch.full((400,), 0.05, dtype=torch.float64)
    args = (positions, numbers, points, weights)
    same = density.density_errors_by_l(jfit, coefficients, coefficients, *args)
    assert sorted(same) == ["l0", "l1", "l2", "l3", "l4", "total"]
    assert all(float(v.abs().max()) == 0 for v in same.values())
    changed = coefficients.clone()
    start = 12  # the 5x1o block
    changed[:, start : start + 15] *= 1.5
    errors = density.density_errors_by_l(jfit, coefficients, changed, *args)
    assert float(errors["l1"][0]) > 0
    for l in (0, 2, 3, 4):
        assert float(errors[f"l{l}"][0]) == pytest.approx(0, abs=1e-12)
    assert float(errors["total"][0]) == pytest.approx(float(errors["l1"][0]), rel=1e-12)
    scaled = density.density_errors_by_l(jfit, coefficients, 1.1 * coefficients, *args)
    sum_l = sum(float(scaled[f"l{l}"][0]) for l in range(5))
    assert float(scaled["total"][0]) <= sum_l + 1e-9


def test_basis_errors():
    with pytest.raises(ValueError, match="ascending"):
        density.DensityBasis({1: [(1, 1.0), (0, 1.0)]})
    basis = density.DensityBasis({1: [(0, 1.0)], 8: [(0, 2.0), (1, 1.0)]})
    with pytest.raises(ValueError, match="numbers contains 6"):
        basis.type_index([8, 6])
    with pytest.raises(ValueError, match="element 1 has 1"):
        basis.pad(np.zeros(2), 1)
    with pytest.raises(ValueError, match="coefficients has shape"):
        density.density_at(
            basis, torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([1, 8]), torch.zeros(1, 3)
        )
    np.testing.assert_array_equal(density.irreps_mask("2x0e+1x1o", "1x0e+1x1o"), [1, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="left over"):
        density.irreps_mask("1x0e", "1x1o")


def test_shipped_water_density():
    """The shipped set: sizes, units, masks, and the fitted densities integrate to the
    electron count and reproduce the stored fit error against the DFT density."""
    water = data.load_water_density()
    assert 200 <= len(water) <= 400
    assert os.path.getsize(data.WATER_DENSITY_PATH) <= 20 * 2**20
    assert set(water.atoms.n_atoms.tolist()) <= {3, 6, 9, 12}
    assert str(water.basis.irreps) == "12x0e+5x1o+4x2e+2x3o+1x4e"
    coefficients = water.atoms.atom_targets["density_coefficients"]
    mask = water.atoms.atom_targets["density_mask"]
    assert np.all(coefficients[mask == 0] == 0)
    picks = [0, len(water) - 1]
    batch = water.collate(picks, cutoff=3.5)
    probes = batch.probes
    rho = density.density_at(
        water.basis,
        batch.atom_targets["density_coefficients"].double(),
        batch.positions,
        batch.numbers,
        probes["probe_positions"].double(),
        batch.batch,
        probes["probe_batch"],
    )
    w = probes["probe_weights"].double()
    electrons = torch.zeros(2, dtype=torch.float64).index_add(0, probes["probe_batch"], w * rho)
    expected = torch.tensor([10.0 * n // 3 for n in batch.n_atoms.tolist()], dtype=torch.float64)
    torch.testing.assert_close(electrons, expected, rtol=5e-3, atol=0)
    reference = probes["probe_density"].double()
    fit_error = density.density_error(reference, rho, w, probes["probe_batch"])
    np.testing.assert_allclose(fit_error.numpy(), water.fit_error[picks], rtol=1e-3)
    assert float(fit_error.max()) < 3
    # Energies in eV (about -2080 eV per water) and forces in eV/Angstrom.
    energy_per_water = water.atoms.targets["energy"] / (water.atoms.n_atoms // 3)
    assert np.all(np.abs(energy_per_water + 2075.6) < 5)
    assert np.abs(water.atoms.atom_targets["forces"]).max() < 20


def test_probe_subsampling():
    water = data.load_water_density()
    full = water.probes([1])
    sample = water.probes([1], max_probes=200, seed=3)
    assert sample["probe_positions"].shape == (200, 3)
    total = float(full["probe_weights"].sum())
    assert float(sample["probe_weights"].sum()) == pytest.approx(total, rel=0.5)
    again = water.probes([1], max_probes=200, seed=3)
    assert torch.equal(again["probe_positions"], sample["probe_positions"])
    one = water[1]
    assert len(one) == 1 and one.n_probes[0] == water.n_probes[1]


def test_generator_round_trip(tmp_path):
    """Two single waters: generated, packed, loaded; a rerun computes nothing."""
    pytest.importorskip("pyscf")
    pytest.importorskip("ase")
    output = str(tmp_path / "water.npz")
    command = [
        sys.executable,
        "-W",
        "ignore",
        os.path.join(ROOT, "scripts", "make_water_density.py"),
        "--output",
        output,
        "--counts",
        "2",
        "--interval",
        "2",
        "--grid",
        "8",
        "14",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    first = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    assert "[2/2] structure" in first and "wrote 2 structures" in first
    second = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    assert "[1/2]" not in second and "wrote 2 structures" in second
    water = data.load_water_density(output)
    assert water.atoms.n_atoms.tolist() == [3, 3]
    assert not np.allclose(water.atoms.positions[:3], water.atoms.positions[3:])
    assert water.metadata["xc"] == "pbe0"
    batch = water.collate([1])
    probes = batch.probes
    rho = density.density_at(
        water.basis,
        batch.atom_targets["density_coefficients"].double(),
        batch.positions,
        batch.numbers,
        probes["probe_positions"].double(),
    )
    electrons = float((probes["probe_weights"].double() * rho).sum())
    assert electrons == pytest.approx(10.0, rel=1e-2)


def test_every_public_name_has_a_docstring_example():
    from e3core import models

    for package in (density, models):
        for name in package.__all__:
            obj = getattr(package, name)
            if callable(obj):
                assert obj.__doc__ and ">>>" in obj.__doc__, name
