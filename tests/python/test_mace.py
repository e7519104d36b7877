"""e3core.models.MACE and e3core.from_mace against mace-torch itself: models built by
mace-torch with random weights, converted (from the object and from a file saved whole), and
compared on a molecule and a periodic box: energies, atomic energies, forces and stress, in
float64 and float32, over hidden irreps, max_ell, correlation, interactions, elements and the
first block; the variants from_mace refuses, by name. Equivariance, gradients, TorchScript
and training are in test_models.py (the registry's tests), export in test_deploy_models.py."""

import pytest
import torch
from e3core import from_mace, models
from mace_reference import e3core_batch, mace_batch, mace_model, structures

F64, F32 = torch.float64, torch.float32


def compare(theirs, ours, elements, dtype, atol, stress=False):
    """mace-torch's and e3core's outputs on the same structures."""
    atoms = structures(elements)
    r_max = float(theirs.r_max)
    expected = theirs(
        mace_batch(atoms, elements, r_max, dtype), compute_force=True, compute_stress=stress
    )
    got = ours(e3core_batch(atoms, r_max, dtype))
    assert expected["forces"].abs().max() > 1e-3
    pairs = [("energy", "energy"), ("node_energy", "atomic_energy"), ("forces", "forces")]
    for theirs_key, our_key in pairs:
        torch.testing.assert_close(
            got[our_key].to(F64), expected[theirs_key].to(F64), rtol=0, atol=atol, msg=our_key
        )
    if stress:
        # The box's stress (mace-torch gives the molecule one from a placeholder cell, e3core
        # zeros, as ase).
        torch.testing.assert_close(got["stress"][1], expected["stress"][1], rtol=0, atol=atol)
        assert expected["stress"][1].abs().max() > 1e-4


CASES = [
    # (max_ell, hidden, correlation, interactions, elements)
    (2, "4x0e", 1, 2, (1, 8)),
    (2, "4x0e", 3, 1, (1, 8)),
    (2, "4x0e+4x1o", 1, 2, (1, 8)),
    (2, "4x0e+4x1o", 2, 2, (1, 6, 8)),
    (2, "4x0e+4x1o", 3, 2, (1, 8)),
    (3, "4x0e+4x1o", 3, 1, (1, 8)),
    (2, "4x0e+4x1o+4x2e", 2, 2, (1, 6, 8)),
    (3, "4x0e+4x1o+4x2e", 3, 2, (1, 8)),
    (3, "4x0e", 2, 2, (1, 6, 7, 8)),
    (2, "4x0e+4x0o+4x1o+4x1e", 2, 2, (1, 8)),
    (2, "4x0e+4x1o", [3, 1], 2, (1, 8)),
]


@pytest.mark.parametrize(("max_ell", "hidden", "correlation", "interactions", "elements"), CASES)
def test_equals_mace_torch_float64(max_ell, hidden, correlation, interactions, elements):
    theirs = mace_model(max_ell, hidden, correlation, interactions, elements)
    ours = from_mace(theirs)
    assert isinstance(ours, models.MACE)
    compare(theirs, ours, elements, F64, 1e-10)


@pytest.mark.parametrize(
    ("max_ell", "hidden", "correlation"), [(2, "4x0e+4x1o", 3), (3, "4x0e", 2)]
)
def test_equals_mace_torch_float32(max_ell, hidden, correlation):
    theirs = mace_model(max_ell, hidden, correlation).float()
    ours = from_mace(theirs)
    assert next(ours.parameters()).dtype == F32
    compare(theirs, ours, (1, 8), F32, 1e-5)


@pytest.mark.parametrize("cls", ["MACE", "ScaleShiftMACE"])
@pytest.mark.parametrize(
    "first", ["RealAgnosticInteractionBlock", "RealAgnosticResidualInteractionBlock"]
)
def test_classes_and_first_blocks(cls, first):
    theirs = mace_model(2, "4x0e+4x1o", 2, cls=cls, first=first)
    ours = from_mace(theirs, compute_stress=True)
    assert ours.config["residual_first"] == (first == "RealAgnosticResidualInteractionBlock")
    compare(theirs, ours, (1, 8), F64, 1e-10, stress=True)


def test_from_a_file_saved_whole(tmp_path):
    theirs = mace_model(2, "4x0e+4x1o", 2)
    torch.save(theirs, tmp_path / "model.model")
    ours = from_mace(tmp_path / "model.model")
    compare(theirs, ours, (1, 8), F64, 1e-10)
    torch.save(theirs.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ValueError, match="holds a OrderedDict, expected a whole mace-torch model"):
        from_mace(str(tmp_path / "weights.pt"))
    with pytest.raises(ValueError, match="is not a file written by torch.save"):
        from_mace(tmp_path / "missing.model")


def test_the_conversion_is_an_ordinary_e3core_model():
    """Rebuilt from its configuration by the registry, with the same outputs; mace-torch's
    training mode kept."""
    theirs = mace_model(2, "4x0e+4x1o", [2, 3], elements=(1, 6, 8))
    ours = from_mace(theirs.train())
    assert ours.training
    copy = models.build("mace", **ours.config).double()
    copy.load_state_dict(ours.state_dict())
    batch = e3core_batch(structures((1, 6, 8)), 3.0, F64)
    torch.testing.assert_close(copy.eval()(batch)["energy"], ours.eval()(batch)["energy"])
    assert ours.config["correlation"] == [2, 3]
    assert ours.config["atom_references"] == [-2.0, -1.25, -0.5]


def refused(**options):
    """A small mace-torch model built with ``options``."""
    return mace_model(2, "4x0e+4x1o", 2, **options)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: refused(pair_repulsion=True), "ZBL pair repulsion"),
        (lambda: refused(radial_type="gaussian"), "radial basis GaussianBasis"),
        (lambda: refused(distance_transform="Agnesi"), "distance transform"),
        (lambda: refused(heads=["a", "b"]), "2 heads"),
        (lambda: refused(use_last_readout_only=True), "use_last_readout_only"),
        (lambda: refused(apply_cutoff=False), "apply_cutoff=False"),
        (lambda: refused(keep_last_layer_irreps=True), "keep_last_layer_irreps"),
        (
            lambda: refused(first="RealAgnosticDensityInteractionBlock"),
            "first interaction block RealAgnosticDensityInteractionBlock",
        ),
        (lambda: torch.nn.Linear(2, 2), "is a torch.nn.modules.linear.Linear"),
    ],
)
def test_refused_variants_are_named(build, match):
    with pytest.raises(ValueError, match=match):
        from_mace(build())


def test_dipole_models_are_refused_by_class():
    model = mace_model(1, "4x0e+4x1o", 2, cls="AtomicDipolesMACE", atomic_energies=None)
    with pytest.raises(ValueError, match="AtomicDipolesMACE, expected one of"):
        from_mace(model)


def test_options_that_come_from_the_model_are_refused():
    with pytest.raises(ValueError, match=r"\['r_max'\] come from the model"):
        from_mace(refused(), r_max=4.0)
    with pytest.raises(TypeError, match="model_or_path is a int"):
        from_mace(3)
