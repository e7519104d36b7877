"""GatePointsNetwork and ChargeE3Net: equivariance under rotations and inversion, masks, atom
features reused across probe batches, TorchScript round trips and the registry."""

import io

import numpy as np
import pytest
import torch
from e3core import data, density, graph, models, o3

IRREPS_OUT = "5x0e+2x1o+1x2e+1x3o"  # a small density basis with an odd l = 3


def waters(seed=0, n=2):
    rng = np.random.default_rng(seed)
    structures = []
    for k in range(n):
        positions = rng.normal(size=(3 * (k + 1), 3)) * 1.3
        structures.append(data.Structure(positions, ["O", "H", "H"] * (k + 1)))
    return data.collate(structures, cutoff=3.0)


def as_input(batch, positions=None):
    d = batch.as_dict()
    if positions is not None:
        d["positions"] = positions
    return d


def gate_points(**kwargs):
    torch.manual_seed(0)
    config = dict(
        type_numbers=[1, 8],
        irreps_out=IRREPS_OUT,
        irreps_hidden="8x0e+8x0o+4x1o+4x1e+2x2e+2x2o",
        layers=2,
        r_max=3.0,
        lmax_edge=3,
        radial_neurons=16,
        type_irreps_out=["3x0e+1x1o", IRREPS_OUT],
    )
    config.update(kwargs)
    return models.GatePointsNetwork(**config)


def charge_e3net():
    torch.manual_seed(0)
    return models.ChargeE3Net(
        [1, 8],
        "8x0e+8x0o+4x1o+4x1e+2x2e+2x2o+1x3o+1x4e",
        layers=2,
        r_max=3.0,
        lmax_edge=4,
        radial_neurons=16,
    )


@pytest.mark.parametrize("inversion", [False, True])
def test_gate_points_equivariance(inversion):
    model = gate_points()
    batch = waters()
    out = model(as_input(batch))["density_coefficients"]
    r = o3.rand_matrix() * (-1 if inversion else 1)
    rotated = model(as_input(batch, batch.positions @ r.T))["density_coefficients"]
    d = o3.Irreps(IRREPS_OUT).D_from_matrix(r)
    torch.testing.assert_close(rotated, out @ d.T, rtol=1e-4, atol=1e-5)
    assert float(out.detach().abs().max()) > 1e-3
    # Every irrep of the output is reached, and hydrogen's missing functions are zero.
    hydrogen = batch.numbers == 1
    mask = torch.tensor([1] * 3 + [0] * 2 + [1] * 3 + [0] * 3 + [0] * 5 + [0] * 7, dtype=torch.bool)
    assert torch.all(out[hydrogen][:, ~mask] == 0)
    assert torch.all(out[~hydrogen].abs().sum(0) > 0)


def test_gate_points_scalar_hidden_reaches_every_output():
    """lmax 0 hidden features still produce l > 0 outputs through the last convolution."""
    model = gate_points(irreps_hidden="16x0e", type_irreps_out=None)
    out = model(as_input(waters()))["density_coefficients"]
    assert torch.all(out.abs().sum(0) > 0)


def test_matched_hidden_irreps():
    config = dict(
        type_numbers=[1, 8], irreps_out="2x0e+1x1o+1x2e", layers=1, radial_neurons=8, lmax_edge=2
    )
    counts = []
    for lmax in (0, 2):
        irreps = models.matched_hidden_irreps(lmax, 6000, **config)
        assert o3.Irreps(irreps).lmax == lmax
        model = models.GatePointsNetwork(irreps_hidden=irreps, **config)
        counts.append(sum(p.numel() for p in model.parameters()))
    assert all(abs(c / 6000 - 1) < 0.15 for c in counts), counts


@pytest.mark.parametrize("inversion", [False, True])
def test_charge_e3net_invariance(inversion):
    model = charge_e3net()
    batch = waters()
    probes = torch.randn(40, 3) * 1.5
    probe_batch = torch.arange(40) % 2
    d = as_input(batch)
    d.update(probe_positions=probes, probe_batch=probe_batch)
    rho = model(d)["probe_density"]
    r = o3.rand_matrix() * (-1 if inversion else 1)
    d_rot = as_input(batch, batch.positions @ r.T)
    d_rot.update(probe_positions=probes @ r.T, probe_batch=probe_batch)
    torch.testing.assert_close(model(d_rot)["probe_density"], rho, rtol=1e-4, atol=1e-5)
    assert float(rho.detach().std()) > 1e-4


def test_charge_e3net_reuses_atom_features():
    """One probe batch, or the same probes in three batches with the features computed once,
    give the same densities; structures in one batch match structures alone."""
    model = charge_e3net()
    batch = waters()
    probes = torch.randn(30, 3)
    probe_batch = torch.tensor([0] * 12 + [1] * 18)
    features = model.atom_features(as_input(batch))
    assert len(features) == 4
    whole = model.density(features, batch.positions, batch.batch, probes, probe_batch)
    parts = [
        model.density(features, batch.positions, batch.batch, probes[s], probe_batch[s])
        for s in (slice(0, 7), slice(7, 20), slice(20, 30))
    ]
    torch.testing.assert_close(torch.cat(parts), whole, rtol=1e-5, atol=1e-6)
    alone = data.collate(
        [data.Structure(batch.positions[3:].numpy(), ["O", "H", "H"] * 2)], cutoff=3.0
    )
    d = as_input(alone)
    d.update(probe_positions=probes[12:])
    torch.testing.assert_close(model(d)["probe_density"], whole[12:], rtol=1e-5, atol=1e-6)
    far = model.density(
        features,
        batch.positions,
        batch.batch,
        torch.full((1, 3), 50.0),
        torch.zeros(1, dtype=torch.long),
    )
    assert far.shape == (1,)


def roundtrip(model):
    scripted = torch.jit.script(model)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)


def test_torchscript_and_registry():
    batch = waters()
    probes = torch.randn(10, 3)
    for model, key in ((gate_points(), "density_coefficients"), (charge_e3net(), "probe_density")):
        d = as_input(batch)
        d.update(probe_positions=probes, probe_batch=torch.zeros(10, dtype=torch.long))
        expected = model(d)[key]
        torch.testing.assert_close(roundtrip(model)(d)[key], expected, rtol=1e-5, atol=1e-6)
        rebuilt = models.build(model.name, **model.config)
        rebuilt.load_state_dict(model.state_dict())
        torch.testing.assert_close(rebuilt(d)[key], expected)
        assert model.r_max == 3.0
    loaded = roundtrip(charge_e3net())
    features = loaded.atom_features(as_input(batch))
    rho = loaded.density(
        features, batch.positions, batch.batch, probes, torch.zeros(10, dtype=torch.long)
    )
    assert rho.shape == (10,)
    assert "gate_points" in models.available() and "charge_e3net" in models.available()
    with pytest.raises(KeyError, match="expected one of"):
        models.build("no_such_model")


def test_errors():
    batch = waters()
    d = as_input(batch)
    d["numbers"] = d["numbers"].clone()
    d["numbers"][0] = 6
    with pytest.raises(ValueError, match="numbers contains 6"):
        gate_points()(d)
    with pytest.raises(ValueError, match="type_numbers"):
        models.GatePointsNetwork([1, 1], "1x0e", "4x0e")
    with pytest.raises(ValueError, match="type_irreps_out has 1"):
        models.GatePointsNetwork([1, 8], "1x0e", "4x0e", type_irreps_out=["1x0e"])
    periodic = as_input(batch)
    del periodic["edge_index"]
    periodic.update(pbc=torch.ones(2, 3, dtype=torch.bool), probe_positions=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="pbc has periodic axes but the data has no edge_index"):
        charge_e3net()(periodic)


# --- ChargeE3Net on periodic structures -----------------------------------------------------

CELL = np.array([[4.2, 0.0, 0.0], [0.9, 4.6, 0.0], [0.4, -0.5, 5.1]])  # triclinic, < 2 r_max


def periodic_input(positions, probes, cell=CELL, pbc=True):
    """The model input of one periodic water dimer cell with probe points."""
    s = data.Structure(positions, ["O", "H", "H"] * 2, cell=cell, pbc=pbc)
    d = data.collate([s], cutoff=3.0, dtype=torch.float64).as_dict()
    d["probe_positions"] = torch.as_tensor(probes, dtype=torch.float64)
    return d


def wrapped(x, cell=CELL):
    fractional = x @ np.linalg.inv(cell)
    return (fractional - np.floor(fractional)) @ cell


@pytest.fixture(scope="module")
def periodic_case():
    rng = np.random.default_rng(4)
    model = charge_e3net().double()
    positions = rng.random((6, 3)) @ CELL
    probes = rng.random((25, 3)) @ CELL
    return model, positions, probes, model(periodic_input(positions, probes))["probe_density"]


def test_atom_point_edges_match_the_neighbor_list():
    """Every atom image within r_max of every point, as the C++ neighbour list finds them on
    the atoms and points together (its (point, atom) pairs)."""
    rng = np.random.default_rng(1)
    pbc = [True, False, True]
    atoms, points = rng.random((5, 3)) @ CELL, rng.random((7, 3)) @ CELL - 1.0
    point, atom, shift, vectors = density.atom_point_edges(
        torch.tensor(atoms), torch.zeros(5, dtype=torch.long), torch.tensor(points),
        torch.zeros(7, dtype=torch.long), 3.0, torch.tensor(CELL)[None], torch.tensor([pbc]),
    )  # fmt: skip
    i, j, s = graph.neighbor_list("ijS", np.concatenate([points, atoms]), 3.0, CELL, pbc)
    keep = (i < 7) & (j >= 7)
    expected = sorted(zip(i[keep], j[keep] - 7, map(tuple, s[keep]), strict=True))
    found = sorted(zip(point.tolist(), atom.tolist(), map(tuple, shift.tolist()), strict=True))
    assert found == [(int(a), int(b), tuple(int(x) for x in c)) for a, b, c in expected]
    assert len(found) >= 20 and any(c != (0, 0, 0) for _, _, c in found)
    torch.testing.assert_close(
        vectors, torch.tensor(atoms)[atom] + shift.double() @ torch.tensor(CELL) - torch.tensor(
            points)[point]
    )  # fmt: skip


def test_charge_e3net_periodic_translation_and_wrapping(periodic_case):
    model, positions, probes, rho = periodic_case
    shift = np.array([2.3, -1.7, 3.9])
    moved = model(periodic_input(wrapped(positions + shift), wrapped(probes + shift)))
    torch.testing.assert_close(moved["probe_density"], rho, rtol=1e-9, atol=1e-11)
    # Periodic images matter here: the density differs from the isolated cell's.
    isolated = model(periodic_input(positions, probes, pbc=False))["probe_density"]
    assert float((isolated - rho).abs().max()) > 1e-3


@pytest.mark.parametrize("inversion", [False, True])
def test_charge_e3net_periodic_rotation(periodic_case, inversion):
    model, positions, probes, rho = periodic_case
    r = (o3.rand_matrix(dtype=torch.float64) * (-1 if inversion else 1)).numpy()
    rotated = periodic_input(positions @ r.T, probes @ r.T, cell=CELL @ r.T)
    torch.testing.assert_close(model(rotated)["probe_density"], rho, rtol=1e-9, atol=1e-11)


def test_charge_e3net_large_cell_pbc_off_equals_on(periodic_case):
    """Images beyond r_max: the same densities with or without periodicity."""
    model, positions, probes, _ = periodic_case
    cell = np.diag([30.0, 31.0, 32.0])
    inside = positions + 10.0
    near = inside[np.random.default_rng(2).integers(0, 6, 25)] + 0.4
    on = model(periodic_input(inside, near, cell=cell))["probe_density"]
    off = model(periodic_input(inside, near, cell=cell, pbc=False))["probe_density"]
    torch.testing.assert_close(on, off, rtol=1e-12, atol=1e-14)
    assert float(on.abs().max()) > 1e-4


def test_gate_points_equals_e3nn_gate_points_2101():
    """With e3nn's weights loaded, the network equals e3nn's gate_points_2101 Network (one-hot
    inputs and attributes, per-node outputs)."""
    gate_points_2101 = pytest.importorskip("e3nn.nn.models.gate_points_2101")
    torch.manual_seed(1)
    hidden = "8x0e+8x0o+4x1o+4x1e+2x2e+2x2o"
    reference = gate_points_2101.Network(
        irreps_in="2x0e",
        irreps_hidden=hidden,
        irreps_out=IRREPS_OUT,
        irreps_node_attr="2x0e",
        irreps_edge_attr=e3nn_sh(3),
        layers=2,
        max_radius=3.0,
        number_of_basis=10,
        radial_layers=1,
        radial_neurons=16,
        num_neighbors=3.0,
        num_nodes=1.0,
        reduce_output=False,
    )
    model = gate_points(irreps_hidden=hidden, type_irreps_out=None)
    ours, theirs = list(model.parameters()), list(reference.parameters())
    assert [p.shape for p in ours] == [p.shape for p in theirs]
    with torch.no_grad():
        for p, q in zip(ours, theirs, strict=True):
            p.copy_(q)
    batch = waters()
    one_hot = torch.nn.functional.one_hot((batch.numbers == 8).long(), 2).float()
    expected = reference({"pos": batch.positions, "x": one_hot, "z": one_hot, "batch": batch.batch})
    out = model(as_input(batch))["density_coefficients"]
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


def e3nn_sh(lmax):
    import e3nn.o3

    return e3nn.o3.Irreps.spherical_harmonics(lmax)
