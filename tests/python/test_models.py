"""e3core.models: SchNet, NequIP, MACE and LNet. Output keys and shapes, invariance and equivariance
under rotations, inversion, permutations and translations, forces and stress against finite
differences, periodic images, TorchScript, rebuilding from the registry, training on forces
(double backward), equal parameter counts of L0Net and L1Net, and bad input."""

import io
import json

import numpy as np
import pytest
import torch
from e3core import data, models, o3
from e3core.data import Structure, collate
from e3core.train import model_from_checkpoint

F64 = torch.float64
TYPES = [1, 6, 7, 8, 9]
R_MAX = 3.0
SMALL = dict(type_numbers=TYPES, r_max=R_MAX)
CONFIGS = {
    "schnet": (
        "schnet",
        dict(
            num_features=8,
            num_interactions=2,
            num_basis=8,
            compute_forces=True,
            compute_stress=True,
            shift={1: -0.5, 6: -38.0, 7: -54.6, 8: -75.1, 9: -99.7},
        ),
    ),
    "nequip": (
        "nequip",
        dict(
            num_features=4,
            num_layers=2,
            lmax=2,
            num_basis=4,
            radial_neurons=[8],
            avg_num_neighbors=8.0,
            compute_stress=True,
            scale=[1.0, 2.0, 1.5, 0.5, 1.0],
        ),
    ),
    "nequip_restricted": (
        "nequip",
        dict(
            num_features=4,
            num_layers=2,
            lmax=1,
            parity=False,
            num_basis=4,
            radial_neurons=[8],
            compute_stress=True,
        ),
    ),
    "mace": (
        "mace",
        dict(
            hidden_irreps="4x0e+4x1o",
            max_ell=2,
            correlation=[3, 2],
            num_bessel=4,
            radial_MLP=[8],
            MLP_irreps="4x0e",
            avg_num_neighbors=6.0,
            compute_stress=True,
            scale=1.5,
            shift=0.2,
            atom_references={1: -0.5, 6: -38.0, 7: -54.6, 8: -75.1, 9: -99.7},
        ),
    ),
    "l0net": ("lnet", dict(lmax=0, num_features=6, num_layers=2, radial_neurons=[8])),
    "l1net": (
        "lnet",
        dict(
            lmax=1,
            num_features=4,
            num_layers=2,
            radial_neurons=[8],
            compute_forces=True,
            atom_references=data.qm9_atomrefs("U0"),
        ),
    ),
    "l1net_mu": (
        "lnet",
        dict(lmax=1, num_features=4, num_layers=2, radial_neurons=[8], target="mu"),
    ),
    "l0net_mu": (
        "lnet",
        dict(lmax=0, num_features=4, num_layers=2, radial_neurons=[8], target="mu"),
    ),
}
# Models that run on periodic structures (energies, forces, stress).
PERIODIC = ["schnet", "nequip", "nequip_restricted", "mace", "l1net"]


def make_model(key: str, seed: int = 0) -> torch.nn.Module:
    name, config = CONFIGS[key]
    torch.manual_seed(seed)
    return models.build(name, **SMALL, **config).to(F64).eval()


QM9 = data.load_qm9_sample()
_WITH_F = next(i for i in range(len(QM9)) if 9 in QM9[i].numbers)
MOLECULES = [Structure(QM9[i].positions, QM9[i].numbers) for i in (0, 1, 2, 5, 11, _WITH_F)]
CRYSTAL = Structure(
    [[0.1, 0.2, 0.3], [1.5, 1.4, 0.9], [0.7, 2.5, 2.0]],
    [1, 6, 8],
    cell=[[3.1, 0.0, 0.0], [0.4, 3.2, 0.0], [0.3, -0.2, 2.9]],
    pbc=True,
)
SLAB = Structure(
    [[0.0, 0.0, 0.0], [1.1, 0.3, 1.0]],
    [7, 1],
    cell=np.diag([2.5, 2.8, 0.0]),
    pbc=[True, True, False],
)


def structures(key: str) -> list[Structure]:
    return MOLECULES + [CRYSTAL, SLAB] if key in PERIODIC else MOLECULES


def run(model, structs, cutoff=R_MAX):
    return model(collate(structs, cutoff=cutoff, dtype=F64).as_dict())


def transformed(s: Structure, matrix: np.ndarray, shift=(0.0, 0.0, 0.0)) -> Structure:
    """The structure with positions r @ matrix.T + shift and cell rows rotated alike."""
    cell = s.cell @ matrix.T if s.is_periodic else None
    return Structure(s.positions @ matrix.T + np.asarray(shift), s.numbers, cell=cell, pbc=s.pbc)


def expected_transform(key: str, value: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    if key in ("forces", "dipole"):
        return value @ r.T
    if key in ("stress", "virial"):
        return r @ value @ r.T
    return value


def assert_outputs_close(got, expected, rtol=1e-9, atol=1e-9):
    assert set(got) == set(expected)
    for k in expected:
        torch.testing.assert_close(got[k], expected[k], rtol=rtol, atol=atol, msg=k)


# --- outputs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, keys",
    [
        ("schnet", {"energy", "atomic_energy", "forces", "stress", "virial"}),
        ("nequip", {"energy", "atomic_energy", "forces", "stress", "virial"}),
        ("mace", {"energy", "atomic_energy", "forces", "stress", "virial"}),
        ("l0net", {"U0", "atomic_U0"}),
        ("l1net", {"U0", "atomic_U0", "forces"}),
        ("l1net_mu", {"mu", "dipole", "atomic_charges"}),
    ],
)
def test_output_keys_and_shapes(key, keys):
    model = make_model(key)
    structs = structures(key)
    out = run(model, structs)
    n, g = sum(s.n_atoms for s in structs), len(structs)
    assert set(out) == keys
    shapes = {"forces": (n, 3), "dipole": (g, 3), "stress": (g, 3, 3), "virial": (g, 3, 3)}
    for k, v in out.items():
        expected = shapes.get(k, (n,) if k.startswith("atomic_") else (g,))
        assert v.shape == expected and v.dtype == F64, k
        assert torch.isfinite(v).all(), k
    for k in ("forces", "dipole"):
        if k in out:  # not vanishing by accident (the tests below would then prove nothing)
            assert out[k].abs().max() > 1e-3
    assert model.r_max == R_MAX and isinstance(model.name, str)


def test_references_scale_and_shift():
    """atomic values are scale * x + shift + reference per type (the raw outputs are the same)."""
    torch.manual_seed(0)
    plain = models.LNet(**SMALL, lmax=0, num_features=4, num_layers=1).to(F64)
    refs = data.qm9_atomrefs("U0")
    shifted = models.LNet(
        **SMALL,
        lmax=0,
        num_features=4,
        num_layers=1,
        scale=2.0,
        shift=0.25,
        atom_references=refs,
    ).to(F64)
    weights = {k: v for k, v in plain.state_dict().items() if not k.startswith("scale_shift")}
    shifted.load_state_dict(weights, strict=False)
    a, b = run(plain, MOLECULES), run(shifted, MOLECULES)
    numbers = torch.cat([torch.from_numpy(np.array(s.numbers)) for s in MOLECULES])
    reference = torch.tensor([refs[int(z)] for z in numbers], dtype=F64)
    torch.testing.assert_close(b["atomic_U0"], 2 * a["atomic_U0"] + 0.25 + reference)
    sizes = [s.n_atoms for s in MOLECULES]
    sums = torch.stack([t.sum() for t in b["atomic_U0"].split(sizes)])
    torch.testing.assert_close(b["U0"], sums)
    mean = models.LNet(**SMALL, lmax=0, num_features=4, num_layers=1, reduce="mean").to(F64)
    mean.load_state_dict(plain.state_dict())  # the same buffers: scale 1, shift 0
    torch.testing.assert_close(run(mean, MOLECULES)["U0"], a["U0"] / torch.tensor(sizes, dtype=F64))


def test_dipole_from_neutral_charges():
    model = make_model("l1net_mu")
    out = run(model, MOLECULES)
    sizes = [s.n_atoms for s in MOLECULES]
    for q in out["atomic_charges"].split(sizes):
        assert abs(float(q.sum())) < 1e-12
    torch.testing.assert_close(out["mu"], torch.linalg.norm(out["dipole"], dim=1))


# --- symmetries -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(CONFIGS))
@pytest.mark.parametrize("improper", [False, True])
def test_rotation_and_inversion(key, improper):
    model = make_model(key)
    torch.manual_seed(1)
    r = o3.rand_matrix(dtype=F64) * (-1.0 if improper else 1.0)
    structs = structures(key)
    out = run(model, structs)
    rotated = run(model, [transformed(s, r.numpy()) for s in structs])
    expected = {k: expected_transform(k, v, r) for k, v in out.items()}
    assert_outputs_close(rotated, expected)


@pytest.mark.parametrize("key", list(CONFIGS))
def test_permutation_and_translation(key):
    model = make_model(key)
    structs = structures(key)
    out = run(model, structs)
    perms = [np.random.default_rng(k).permutation(s.n_atoms) for k, s in enumerate(structs)]
    permuted = [
        Structure(s.positions[p], s.numbers[p], cell=s.cell if s.is_periodic else None, pbc=s.pbc)
        for s, p in zip(structs, perms, strict=True)
    ]
    offsets = np.cumsum([0] + [s.n_atoms for s in structs])[:-1]
    index = torch.from_numpy(np.concatenate([p + o for p, o in zip(perms, offsets, strict=True)]))
    expected = {
        k: v[index] if k in ("forces", "atomic_charges") or k.startswith("atomic_") else v
        for k, v in out.items()
    }
    assert_outputs_close(run(model, permuted), expected)

    shift = np.array([1.7, -2.3, 0.6])
    translated = []
    for s in structs:
        moved = transformed(s, np.eye(3), shift)
        if s.is_periodic:  # wrapped back into the cell: other images, other shifts
            atoms = moved.to_ase()
            atoms.wrap()
            moved = Structure(atoms.positions, s.numbers, cell=s.cell, pbc=s.pbc)
        translated.append(moved)
    assert_outputs_close(run(model, translated), out)


# --- derivatives ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["schnet", "nequip", "mace", "l1net"])
def test_forces_are_minus_the_energy_gradient(key):
    model = make_model(key)
    target = model.target
    structs = structures(key)
    d = collate(structs, cutoff=R_MAX, dtype=F64).as_dict()
    forces = model(d)["forces"]
    h = 1e-5
    for atom, axis in [(0, 0), (3, 1), (7, 2), (len(d["numbers"]) - 3, 0)]:
        values = []
        for sign in (1, -1):
            moved = dict(d)
            moved["positions"] = d["positions"].clone()
            moved["positions"][atom, axis] += sign * h
            values.append(model(moved)[target].sum())
        numeric = -(values[0] - values[1]) / (2 * h)
        assert abs(float(numeric - forces[atom, axis])) < 1e-7


@pytest.mark.parametrize("key", ["nequip", "mace", "schnet"])
def test_stress_is_the_strain_derivative(key):
    model = make_model(key)
    d = collate([CRYSTAL], cutoff=R_MAX, dtype=F64).as_dict()
    out = model(d)
    volume = abs(float(torch.linalg.det(d["cell"][0])))
    h = 1e-5
    numeric = torch.zeros(3, 3, dtype=F64)
    for a in range(3):
        for b in range(3):
            unit = torch.zeros(3, 3, dtype=F64)
            unit[a, b] += 0.5
            unit[b, a] += 0.5
            values = []
            for sign in (1, -1):
                strain = torch.eye(3, dtype=F64) + sign * h * unit
                moved = dict(d, positions=d["positions"] @ strain, cell=d["cell"] @ strain)
                values.append(float(model(moved)["energy"].sum()))
            numeric[a, b] = (values[0] - values[1]) / (2 * h) / volume
    assert numeric.abs().max() > 1e-5
    torch.testing.assert_close(out["stress"][0], numeric, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(out["virial"][0], -numeric * volume, rtol=1e-6, atol=1e-9)
    molecules = model(collate(MOLECULES[:2], cutoff=R_MAX, dtype=F64).as_dict())
    assert torch.equal(molecules["stress"], torch.zeros(2, 3, 3, dtype=F64))


@pytest.mark.parametrize("key", PERIODIC)
def test_supercell_has_n_times_the_energy(key):
    model = make_model(key)
    target = model.target
    supercell = CRYSTAL.to_ase().repeat((2, 1, 3))
    big = Structure(supercell.positions, supercell.numbers, cell=supercell.cell[:], pbc=True)
    small_out, big_out = run(model, [CRYSTAL]), run(model, [big])
    torch.testing.assert_close(big_out[target], 6 * small_out[target], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(big_out["atomic_" + target], small_out["atomic_" + target].repeat(6))
    torch.testing.assert_close(big_out["forces"], small_out["forces"].repeat(6, 1))
    if "stress" in small_out:
        torch.testing.assert_close(big_out["stress"], small_out["stress"])


def test_graph_edges_built_inside_and_longer_cutoffs():
    """Without edge_index the model builds its radius graph; edges beyond r_max add nothing."""
    model = make_model("nequip")
    out = run(model, MOLECULES)
    assert_outputs_close(run(model, MOLECULES, cutoff=None), out)
    assert_outputs_close(
        run(model, MOLECULES + [CRYSTAL], cutoff=R_MAX + 1.5), run(model, MOLECULES + [CRYSTAL])
    )
    with pytest.raises(ValueError, match="periodic structures but no edge_index"):
        run(model, [CRYSTAL], cutoff=None)


def test_forces_under_no_grad():
    model = make_model("nequip")
    out = run(model, MOLECULES)
    with torch.no_grad():
        quiet = run(model, MOLECULES)
    assert torch.is_grad_enabled()  # grad mode restored
    assert_outputs_close(quiet, out)
    assert not any(v.requires_grad for v in quiet.values())


# --- TorchScript and the registry -----------------------------------------------------------


@pytest.mark.parametrize("key", ["schnet", "nequip", "mace", "l0net", "l1net", "l1net_mu"])
def test_torchscript_round_trip(key):
    model = make_model(key)
    d = collate(structures(key), cutoff=R_MAX, dtype=F64).as_dict()
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(model), buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    assert_outputs_close(loaded(d), model(d), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("key", list(CONFIGS))
def test_build_from_config_rebuilds_the_model(key):
    model = make_model(key)
    config = json.loads(json.dumps(model.config))  # what a checkpoint stores
    copy = models.build(model.name, **config).to(F64).eval()
    assert copy.config == model.config
    copy.load_state_dict(model.state_dict())
    assert_outputs_close(run(copy, structures(key)), run(model, structures(key)), 0, 0)
    other = models.build(model.name, **config).to(F64).eval()  # new weights: other outputs
    target = model.target
    assert not torch.allclose(run(other, MOLECULES)[target], run(model, MOLECULES)[target])


def test_registry():
    assert models.available() == ["charge_e3net", "gate_points", "lnet", "mace", "nequip", "schnet"]
    atomistic = ["lnet", "mace", "nequip", "schnet"]  # the density models: test_density_models.py
    assert [models.build(n, type_numbers=[1]).name for n in atomistic] == atomistic
    with pytest.raises(KeyError, match="expected one of"):
        models.build("painn", type_numbers=[1])


# --- training -------------------------------------------------------------------------------


def first_radial_weight(model: torch.nn.Module) -> torch.Tensor:
    """The first layer's weight of the first radial MLP of a NequIP or a MACE."""
    if isinstance(model, models.MACE):
        return model.interactions[0].conv_tp_weights.layer0.weight
    return model.interactions.blocks[0].radial.layer0.weight


@pytest.mark.parametrize("key", ["nequip", "mace"])
def test_training_on_energy_and_forces_lowers_the_loss(key):
    """The force loss backpropagates through -dE/dR (double backward through e3core's ops)."""
    teacher = make_model(key, seed=1)
    batch = collate(MOLECULES + [CRYSTAL], cutoff=R_MAX, dtype=F64).as_dict()
    reference = teacher(batch)
    energy, forces = reference["energy"].detach(), reference["forces"].detach()
    model = make_model(key, seed=0).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)

    def loss_fn(out):
        return ((out["energy"] - energy) ** 2).mean() + ((out["forces"] - forces) ** 2).mean()

    out = model(batch)
    assert out["forces"].requires_grad
    radial = first_radial_weight(model)
    (grad,) = torch.autograd.grad(
        ((out["forces"] - forces) ** 2).mean(), [radial], retain_graph=True
    )
    assert grad.abs().max() > 0
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = loss_fn(model(batch))
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0], losses


# --- LNet at equal parameter counts ---------------------------------------------------------


def test_l0net_and_l1net_at_equal_parameter_counts():
    def count(m):
        return sum(p.numel() for p in m.parameters())

    config = dict(type_numbers=TYPES, num_layers=2, radial_neurons=[16])
    l1 = models.LNet(lmax=1, num_features=24, **config)
    f0 = models.lnet_num_features(count(l1), lmax=0, **config)
    l0 = models.LNet(lmax=0, num_features=f0, **config)
    assert f0 > 24
    assert abs(count(l0) / count(l1) - 1) < 0.03
    with pytest.raises(TypeError, match="num_features"):
        models.lnet_num_features(1000, lmax=0, num_features=3, **config)


# --- LNet's radial basis: smooth forces ------------------------------------------------------


def dimer_forces(model, distances):
    """The force on the second atom of an H-O dimer along its axis, at each distance."""
    structures = [Structure([[0.0, 0.0, 0.0], [0.0, 0.0, float(r)]], [1, 8]) for r in distances]
    batch = collate(structures, cutoff=model.r_max, dtype=F64)
    return model(batch.as_dict())["forces"][1::2, 2].detach().numpy()


def force_derivative_jump(model, step):
    """max |change of dF/dr| between neighbouring points of a dimer scan with spacing ``step``
    across the radial basis's grid points (0.5, 1.0, ..., r_max = 2.5): O(step) where the
    energy is twice differentiable, O(1) at a kink of the force, O(1 / step) at a jump."""
    distances = np.arange(0.45, 2.6, step)
    slope = np.diff(dimer_forces(model, distances)) / step
    return float(np.abs(np.diff(slope)).max())


@pytest.mark.parametrize("radial_basis", ["smooth_finite", "cosine"])
def test_lnet_forces_are_smooth_with_the_default_basis(radial_basis):
    torch.manual_seed(0)
    config = dict(type_numbers=[1, 8], num_features=4, num_layers=2, num_basis=4, r_max=2.5,
                  radial_neurons=[16], compute_forces=True)  # fmt: skip
    if radial_basis == "cosine":
        config["radial_basis"] = "cosine"
    model = models.LNet(**config).to(F64)
    coarse, fine = force_derivative_jump(model, 4e-3), force_derivative_jump(model, 1e-3)
    if radial_basis == "smooth_finite":  # the default: the jumps shrink with the step
        assert model.config["radial_basis"] == "smooth_finite"
        assert fine < 0.4 * coarse, (coarse, fine)
    else:  # the paper's cosine basis: forces jump at the grid points, the jumps grow
        assert fine > 2.0 * coarse, (coarse, fine)


def test_lnet_checkpoint_without_radial_basis_loads_the_cosine_basis():
    torch.manual_seed(0)
    old = models.LNet(type_numbers=TYPES, num_features=4, num_layers=1, radial_basis="cosine")
    config = {k: v for k, v in old.config.items() if k != "radial_basis"}  # an older config
    checkpoint = {"model": {"name": "lnet", "config": config, "state_dict": old.state_dict()}}
    loaded = model_from_checkpoint(checkpoint)
    assert loaded.radial_basis == "cosine"
    batch = collate(data.load_qm9_sample()[:2], cutoff=old.r_max)
    torch.testing.assert_close(loaded(batch.as_dict())["U0"], old(batch.as_dict())["U0"])
    assert models.LNet(type_numbers=[1]).radial_basis == "smooth_finite"


# --- errors ---------------------------------------------------------------------------------


def test_unknown_atomic_numbers_raise():
    model = make_model("nequip")
    chlorine = Structure([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], [1, 17])
    with pytest.raises(ValueError, match=r"numbers\[1\] is 17, which is not one of type_numbers"):
        run(model, [chlorine])
    assert torch.is_grad_enabled()


@pytest.mark.parametrize(
    "name, config, error, match",
    [
        ("nequip", dict(type_numbers=[1, 1]), ValueError, "distinct atomic numbers"),
        ("nequip", dict(type_numbers=[0, 1]), ValueError, "distinct atomic numbers"),
        ("schnet", dict(type_numbers=[1], r_max=-1.0), ValueError, "r_max is -1.0"),
        ("schnet", dict(type_numbers=[1], reduce="max"), ValueError, "reduce is 'max'"),
        ("nequip", dict(type_numbers=[1, 8], scale=[1.0]), ValueError, "scale has 1 entries"),
        (
            "nequip",
            dict(type_numbers=[1, 8], atom_references={1: -0.5}),
            ValueError,
            "no value for atomic number 8",
        ),
        ("nequip", dict(type_numbers=[1], num_layers=0), ValueError, "num_layers is 0"),
        ("lnet", dict(type_numbers=[1], lmax=2), ValueError, "lmax is 2"),
        ("lnet", dict(type_numbers=[1], radial_basis="bessel"), ValueError, "radial_basis is"),
        (
            "lnet",
            dict(type_numbers=[1], target="mu", atom_references={1: 0.1}),
            ValueError,
            "target 'mu'",
        ),
        (
            "lnet",
            dict(type_numbers=[1], target="mu", compute_forces=True),
            ValueError,
            "target 'mu'",
        ),
        ("schnet", dict(type_numbers=[1], num_features=0), ValueError, "num_features is 0"),
        ("mace", dict(type_numbers=[1], num_interactions=0), ValueError, "num_interactions is 0"),
        ("mace", dict(type_numbers=[1], max_ell=-1), ValueError, "max_ell is -1"),
        ("mace", dict(type_numbers=[1], correlation=[3]), ValueError, "one per interaction"),
        ("mace", dict(type_numbers=[1], correlation=0), ValueError, "correlation is 0"),
        ("mace", dict(type_numbers=[1], gate="relu"), ValueError, "gate is 'relu'"),
        ("mace", dict(type_numbers=[1], MLP_irreps="4x1o"), ValueError, "expected scalars"),
        ("mace", dict(type_numbers=[1], avg_num_neighbors=0.0), ValueError, "avg_num_neighbors"),
        (
            "mace",
            dict(type_numbers=[1], hidden_irreps="8x0e+4x1o"),
            ValueError,
            "irreps of one multiplicity",
        ),
        (
            "mace",
            dict(type_numbers=[1], hidden_irreps="8x1o+8x0e"),
            ValueError,
            "the even scalars first",
        ),
    ],
)
def test_bad_configurations(name, config, error, match):
    with pytest.raises(error, match=match):
        models.build(name, **config)


# --- docstrings -----------------------------------------------------------------------------


def test_every_public_name_has_a_docstring_example():
    for name in models.__all__:
        doc = getattr(models, name).__doc__
        assert doc is not None and ">>>" in doc, name


def test_nequip_last_layer_keeps_only_scalars_and_old_checkpoints_rebuild():
    model = models.build("nequip", type_numbers=[1, 8], num_features=4, num_layers=2)
    last = model.interactions.blocks[-1]
    assert last.irreps_out == o3.Irreps("4x0e")
    assert all(ir == o3.Irrep("0e") for _, ir in last.conv.irreps_out)
    # A checkpoint written before the option existed rebuilds the full last layer it had.
    old = {k: v for k, v in model.config.items() if k != "scalar_last_layer"}
    rebuilt = models.build("nequip", **models.upgrade_config("nequip", old))
    assert rebuilt.interactions.blocks[-1].irreps_out == o3.Irreps("4x0e+4x1o+4x1e")
    size = [sum(p.numel() for p in m.parameters()) for m in (model, rebuilt)]
    assert size[0] < size[1]
