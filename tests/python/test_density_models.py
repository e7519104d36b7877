"""GatePointsNetwork and ChargeE3Net: equivariance under rotations and inversion, masks, atom
features reused across probe batches, TorchScript round trips and the registry."""

import io

import numpy as np
import pytest
import torch
from e3core import data, models, o3

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
    periodic.update(pbc=torch.ones(2, 3, dtype=torch.bool), probe_positions=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="pbc"):
        charge_e3net()(periodic)


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
