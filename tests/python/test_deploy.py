"""e3core.deploy in Python: export to TorchScript and AOTInductor, load, the contract (energy,
forces, virial), metadata and version checks, the ASE calculator and the export command."""

import json
import zipfile

import e3core
import numpy as np
import pytest
import torch
from deploy_model import EXPORTS, PairModel, exported, flip_weights, make_model, water
from e3core import deploy, o3
from e3core.cli import main
from e3core.data import Structure, collate


def reference(model, positions, numbers, cell):
    """Energy and forces of the model itself (Batch, autograd), no deploy code involved."""
    s = Structure(positions, numbers, cell=cell, pbc=True)
    batch = collate([s], cutoff=model.r_max, dtype=torch.float64)
    data = batch.as_dict()
    data["positions"].requires_grad_(True)
    energy = model(data)["energy"].sum()
    (grad,) = torch.autograd.grad(energy, data["positions"])
    return energy.item(), -grad.numpy()


def test_contract_matches_the_model():
    model = make_model()
    positions, numbers, cell = water()
    out = deploy.Potential.from_model(model).compute(positions, numbers, cell, True)
    energy, forces = reference(model, positions, numbers, cell)
    assert out["energy"] == pytest.approx(energy, abs=1e-12)
    np.testing.assert_allclose(out["forces"], forces, atol=1e-12)
    assert out["atomic_energy"].sum() == pytest.approx(energy, abs=1e-10)
    assert out["virial"].shape == (3, 3)
    np.testing.assert_allclose(out["virial"], out["virial"].T, atol=1e-12)


@pytest.mark.parametrize(("format", "dtype", "tol"), EXPORTS)
def test_exported_equals_python(format, dtype, tol):
    potential = deploy.load(exported(format, dtype))
    assert potential.metadata["format"] == format
    assert potential.dtype == dtype
    python = deploy.Potential.from_model(make_model())
    for n_side, seed in [(2, 0), (3, 1)]:  # sizes other than those traced
        positions, numbers, cell = water(n_side, seed)
        got = potential.compute(positions, numbers, cell, True)
        want = python.compute(positions, numbers, cell, True)
        scale = max(1.0, abs(want["energy"]))
        assert got["energy"] == pytest.approx(want["energy"], abs=tol * scale)
        for key in ("atomic_energy", "forces", "virial"):
            np.testing.assert_allclose(got[key], want[key], atol=tol * scale, err_msg=key)


def test_forces_and_virial_are_gradients():
    potential = deploy.load(exported("torchscript", torch.float64))
    positions, numbers, cell = water()
    out = potential.compute(positions, numbers, cell, True)
    h = 1e-5
    rng = np.random.default_rng(3)
    for atom, axis in zip(rng.integers(0, len(numbers), 6), rng.integers(0, 3, 6), strict=True):
        plus, minus = positions.copy(), positions.copy()
        plus[atom, axis] += h
        minus[atom, axis] -= h
        numeric = -(
            potential.compute(plus, numbers, cell, True)["energy"]
            - potential.compute(minus, numbers, cell, True)["energy"]
        ) / (2 * h)
        assert out["forces"][atom, axis] == pytest.approx(numeric, abs=1e-7)
    for a, b in [(0, 0), (0, 1), (2, 1)]:
        strain = np.zeros((3, 3))
        strain[a, b] = strain[b, a] = h / 2 if a != b else h
        energies = []
        for sign in (1, -1):
            deform = np.eye(3) + sign * strain
            energies.append(
                potential.compute(positions @ deform, numbers, cell @ deform, True)["energy"]
            )
        # The strain h (e_a e_b^T + e_b e_a^T) / 2 changes E by -h virial_ab (virial symmetric).
        numeric = -(energies[0] - energies[1]) / (2 * h)
        assert out["virial"][a, b] == pytest.approx(numeric, abs=1e-6)


def test_rotation_and_inversion():
    potential = deploy.load(exported("torchscript", torch.float64))
    positions, numbers, cell = water()
    out = potential.compute(positions, numbers, cell, True)
    torch.manual_seed(0)
    for rotation in (o3.rand_matrix(dtype=torch.float64).numpy(), -np.eye(3)):
        moved = potential.compute(positions @ rotation.T, numbers, cell @ rotation.T, True)
        assert moved["energy"] == pytest.approx(out["energy"], abs=1e-10)
        np.testing.assert_allclose(moved["forces"], out["forces"] @ rotation.T, atol=1e-10)
        np.testing.assert_allclose(
            moved["virial"], rotation @ out["virial"] @ rotation.T, atol=1e-10
        )


def test_metadata():
    path = exported("torchscript", torch.float64)
    meta = deploy.read_metadata(path)
    assert meta["type_names"] == ["H", "O"] and meta["type_numbers"] == [1, 8]
    assert meta["r_max"] == 3.0 and meta["dtype"] == "float64"
    assert meta["model_name"] == "pair_test" and meta["model_config"]["r_max"] == 3.0
    assert meta["e3core_version"] == e3core.__version__
    assert meta["outputs"] == ["atomic_energy", "energy", "forces", "virial"]
    assert deploy.read_metadata(exported("aoti", torch.float64))["format"] == "aoti"


def rewrite_metadata(src, dst, **changes):
    """A copy of the export ``src`` with metadata entries changed."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename.endswith(deploy.METADATA_FILE):
                meta = json.loads(data)
                meta.update({k: json.dumps(v) for k, v in changes.items()})
                data = json.dumps(meta).encode()
            zout.writestr(item, data)


def test_bad_files_and_versions(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        deploy.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a zip archive"):
        deploy.load(tmp_path / "junk.pt")
    torch.save({"a": torch.zeros(1)}, tmp_path / "weights.pt")
    with pytest.raises(ValueError, match="without e3core's metadata"):
        deploy.load(tmp_path / "weights.pt")
    src = exported("torchscript", torch.float64)
    rewrite_metadata(src, tmp_path / "future.pt", e3core_version="0.10.0")
    with pytest.raises(ValueError, match=r"exported by e3core 0\.10\.0.*minor versions must match"):
        deploy.load(tmp_path / "future.pt")
    rewrite_metadata(src, tmp_path / "contract1.pt", contract_version=1)
    with pytest.raises(ValueError, match=r"uses contract version 1, but this e3core runs contract"):
        deploy.load(tmp_path / "contract1.pt")
    rewrite_metadata(src, tmp_path / "patch.pt", e3core_version="0.1.99")
    assert deploy.load(tmp_path / "patch.pt").r_max == 3.0  # versions compare as numbers
    assert deploy.parse_version("0.10.0") > deploy.parse_version("0.9.1")


@pytest.mark.parametrize("format", ["torchscript", "aoti"])
def test_checksum_and_directories(format, tmp_path):
    src = exported(format, torch.float64)
    checksum = deploy.read_metadata(src)["checksum"]
    assert len(checksum) == 64
    bad = tmp_path / f"flipped{src.suffix}"
    flip_weights(src, bad)
    for read in (deploy.read_metadata, deploy.load):
        with pytest.raises(ValueError) as error:
            read(bad)
        message = str(error.value)
        assert str(bad) in message and "corrupted" in message and "\n" not in message
    # Exports written before checksums existed still load.
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp_path / f"old{src.suffix}", "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if "metadata.json" in item.filename:
                data = json.dumps({k: v for k, v in json.loads(data).items()
                                   if k != "checksum"}).encode()  # fmt: skip
            zout.writestr(item, data)
    assert "checksum" not in deploy.load(tmp_path / f"old{src.suffix}").metadata
    for read in (deploy.read_metadata, deploy.load):
        with pytest.raises(ValueError, match=f"{tmp_path} is a directory, expected a file"):
            read(tmp_path)


def test_failed_export_leaves_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "model.pt"
    deploy.export(make_model(), target)
    before = target.read_bytes()

    def fail_halfway(scripted, path, metadata):
        path.write_bytes(b"half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(e3core.deploy._export, "_save_torchscript", fail_halfway)
    with pytest.raises(deploy.ExportError, match="disk full"):
        deploy.export(make_model(), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file is left


def test_bad_inputs():
    potential = deploy.load(exported("torchscript", torch.float64))
    with pytest.raises(ValueError, match=r"numbers\[1\] is 6, an atom type the model does not"):
        potential.compute(np.zeros((2, 3)), [1, 6])
    with pytest.raises(ValueError, match=r"positions has shape \(2, 2\) but expected \(N, 3\)"):
        potential.compute(np.zeros((2, 2)), [1, 1])
    with pytest.raises(ValueError, match="format is 'onnx'"):
        deploy.export(make_model(), "x.onnx", "onnx")
    with pytest.raises(ValueError, match="no config"):
        deploy.export(torch.nn.Linear(1, 1), "x.pt")


def test_ase_calculator(tmp_path):
    from ase import Atoms
    from ase.build import molecule
    from ase.calculators.fd import calculate_numerical_stress

    positions, numbers, cell = water()
    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True)
    checkpoint = {
        "model": {
            "name": "deploy_model:PairModel",
            "config": make_model().config,
            "state_dict": make_model().state_dict(),
        },
        "extra": {"dtype": "float64"},
    }
    torch.save(checkpoint, tmp_path / "best.pt")
    for source in (exported("torchscript", torch.float64), tmp_path / "best.pt"):
        atoms.calc = deploy.Calculator(source)
        energy, forces = reference(make_model(), positions, numbers, cell)
        assert atoms.get_potential_energy() == pytest.approx(energy, abs=1e-10)
        np.testing.assert_allclose(atoms.get_forces(), forces, atol=1e-10)
        assert atoms.get_potential_energies().sum() == pytest.approx(energy, abs=1e-10)
        np.testing.assert_allclose(
            atoms.get_stress(), calculate_numerical_stress(atoms, eps=1e-5), atol=1e-7
        )
    h2o = molecule("H2O")
    h2o.calc = deploy.Calculator(make_model())
    assert np.abs(h2o.get_forces().sum(0)).max() < 1e-12  # no net force on a molecule
    assert "stress" not in h2o.calc.results


def test_export_command(tmp_path, capsys):
    model = PairModel(type_numbers=[1, 8], r_max=2.5, seed=4).double()
    checkpoint = {
        "model": {"name": "deploy_model:PairModel", "config": model.config,
                  "state_dict": model.state_dict()},
        "extra": {"units": {"energy": "eV"}, "dtype": "float64"},
    }  # fmt: skip
    torch.save(checkpoint, tmp_path / "best.pt")
    out = tmp_path / "model.pt"
    assert main(["export", str(tmp_path / "best.pt"), str(out), "--dtype", "float32"]) == 0
    assert "exported pair_test (torchscript, float32)" in capsys.readouterr().out
    potential = deploy.load(out)
    assert potential.r_max == 2.5 and potential.dtype == torch.float32
    assert potential.metadata["units"] == {"energy": "eV"}
    assert main(["export", str(tmp_path / "none.pt"), str(out)]) == 2
    assert "is neither a run directory nor a file" in capsys.readouterr().err
