"""Every model of the registry through deployment: the energy models (built with their
defaults, saved as checkpoints with non-trivial weights) exported in both formats and both
dtypes, loaded in Python (``deploy.load``) and in C++ (``e3core::Model``), against the eager
model on a triclinic periodic box and on a molecule, at atom counts other than the traced one;
the models that predict no energy refused with one line; a NequIP trained by the CLI and
exported by it; the ghost atoms of a domain decomposition (``local_mask``) against the periodic
structure. Exports are made once per session and shared by the tests.
"""

import functools
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from cmake_package import BUILD, HAVE_TOOLS, ROOT, generator, installed_prefix, run_checked
from deploy_model import EXPORTS as FORMATS
from deploy_model import water
from e3core import data, deploy, models, train
from e3core.cli import main
from e3core.graph import neighbor_list

TYPES = [1, 6, 7, 8, 9]
# The registry's energy models, built with their defaults (only the types given).
ENERGY_MODELS = ("lnet", "mace", "nequip", "schnet")
# The registry's models that predict no energy, with the arguments they need.
NOT_POTENTIALS = {
    "gate_points": {"irreps_out": "2x0e+1x1o", "irreps_hidden": "8x0e+2x1o", "layers": 1},
    "charge_e3net": {"irreps_hidden": "8x0e+2x1o", "layers": 1},
}
_DIR = Path(tempfile.mkdtemp(prefix="e3core-deploy-models-"))


def test_every_registered_model_is_covered():
    assert set(ENERGY_MODELS) | set(NOT_POTENTIALS) == set(models.available())


@functools.cache
def checkpoint(name: str) -> Path:
    """A checkpoint (e3core.train's format) of the model ``name`` at its defaults, with weights
    moved away from their initial values as training would (zero-initialised layers too)."""
    torch.manual_seed(7)
    model = models.build(name, type_numbers=TYPES)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    path = _DIR / f"{name}.pt"
    train.atomic_save(
        {
            "model": {"name": name, "config": model.config, "state_dict": model.state_dict()},
            "extra": {"units": {"energy": "eV", "length": "Angstrom"}},
        },
        path,
    )
    return path


@functools.cache
def exported(name: str, format: str, dtype: torch.dtype) -> Path:
    """The checkpoint of ``name`` exported once per session."""
    path = _DIR / f"{name}_{str(dtype)[6:]}.{'pt' if format == 'torchscript' else 'pt2'}"
    deploy.export(checkpoint(name), path, format, dtype=dtype)
    return path


def structures() -> list[tuple[np.ndarray, list[int], np.ndarray | None]]:
    """A triclinic periodic water box (24 atoms) and a QM9 molecule (neither of the traced
    size: 8 atoms)."""
    positions, numbers, cell = water(2, seed=5)
    cell = cell + np.array([[0.0, 0.0, 0.0], [0.9, 0.0, 0.0], [-0.6, 0.7, 0.0]])
    molecule = data.load_qm9_sample()[11]
    return [(positions, numbers, cell), (molecule.positions, list(molecule.numbers), None)]


def eager(name: str, dtype: torch.dtype, positions, numbers, cell) -> dict[str, np.ndarray]:
    """Energy, atomic energies, forces and virial of the checkpoint's model run eagerly on a
    Batch, its forces and virial from its own autograd (compute_forces, compute_stress)."""
    saved = train.load_checkpoint(checkpoint(name))["model"]
    model = models.build(name, **saved["config"])
    model.load_state_dict(saved["state_dict"])
    return eager_model(model.to(dtype), positions, numbers, cell)


def eager_model(model, positions, numbers, cell) -> dict[str, np.ndarray]:
    """``eager`` for a model of the registry (copied, with forces and stress on)."""
    config = {**model.config, "compute_forces": True, "compute_stress": True}
    copy = models.build(model.name, **config).to(next(model.parameters()).dtype)
    copy.load_state_dict(model.state_dict())
    model, dtype = copy.eval(), next(model.parameters()).dtype
    structure = data.Structure(positions, numbers, cell=cell, pbc=cell is not None)
    batch = data.collate([structure], cutoff=model.r_max, dtype=dtype)
    out = model(batch.as_dict())
    key = model.target
    return {
        "energy": out[key].detach().double().sum().item(),
        "atomic_energy": out["atomic_" + key].detach().double().numpy(),
        "forces": out["forces"].detach().double().numpy(),
        "virial": out["virial"][0].detach().double().numpy(),
    }


def assert_same(got: dict, want: dict, tol: float, what: str) -> None:
    scale = max(1.0, abs(want["energy"]), float(np.abs(want["forces"]).max()))
    assert got["energy"] == pytest.approx(want["energy"], abs=tol * scale), what
    for key in ("atomic_energy", "forces", "virial"):
        np.testing.assert_allclose(
            np.asarray(got[key]).reshape(np.shape(want[key])), want[key], atol=tol * scale,
            err_msg=f"{what}: {key}",
        )  # fmt: skip


@pytest.fixture(scope="module")
def evaluator() -> Path:
    """tests/cpp/deploy_evaluate built against the installed e3core package."""
    if not HAVE_TOOLS:
        pytest.skip("the C++ side needs cmake and a C++ compiler")
    build = BUILD / "evaluate"
    if not (build / "CMakeCache.txt").is_file():
        run_checked(
            ["cmake", "-S", str(ROOT / "tests" / "cpp" / "deploy_evaluate"), "-B", str(build),
             *generator(), f"-DCMAKE_PREFIX_PATH={installed_prefix()}"]
        )  # fmt: skip
    installed_prefix()
    run_checked(["cmake", "--build", str(build)])
    return build / "e3core_evaluate"


def evaluate_cpp(program: Path, model: Path, inputs: list[tuple], tmp: Path) -> list[dict]:
    """e3core::Model on each (positions, types, cell or None, n_local) of ``inputs``."""
    lines = []
    for positions, types, cell, n_local in inputs:
        pbc = "0 0 0" if cell is None else "1 1 1"
        cell = np.zeros((3, 3)) if cell is None else cell
        lines.append(f"{len(types)} {n_local}\n{pbc}\n" + " ".join(f"{c:.17g}" for c in cell.flat))
        lines += [
            f"{t} {x:.17g} {y:.17g} {z:.17g}" for t, (x, y, z) in zip(types, positions, strict=True)
        ]
    (tmp / "in.txt").write_text("\n".join(lines) + "\n")
    run_checked([str(program), str(model), str(tmp / "in.txt"), str(tmp / "out.txt")])
    results, current = [], {}
    for line in (tmp / "out.txt").read_text().splitlines():
        if line == "end":
            results.append(current)
            current = {}
            continue
        name, *values = line.split()
        current[name] = np.array(values, dtype=np.float64)
    for result in results:
        result["energy"] = float(result["energy"][0])
        result["atomic_energy"] = result.pop("atomic_energies")
    return results


@pytest.mark.parametrize("name", ENERGY_MODELS)
@pytest.mark.parametrize(("format", "dtype", "tol"), FORMATS)
def test_exported_model_equals_eager(name, format, dtype, tol, evaluator, tmp_path):
    path = exported(name, format, dtype)
    potential = deploy.load(path)
    assert potential.metadata["model_name"] == name and potential.metadata["format"] == format
    assert potential.metadata["units"] == {"energy": "eV", "length": "Angstrom"}
    cases = structures()
    types = [potential.atom_types(numbers).tolist() for _, numbers, _ in cases]
    cpp = evaluate_cpp(
        evaluator,
        path,
        [(p, t, c, -1) for (p, _, c), t in zip(cases, types, strict=True)],
        tmp_path,
    )
    for (positions, numbers, cell), from_cpp in zip(cases, cpp, strict=True):
        want = eager(name, dtype, positions, numbers, cell)
        what = f"{name} {format} {dtype}, {len(numbers)} atoms"
        got = potential.compute(positions, numbers, cell, cell is not None)
        assert_same(got, want, tol, "Python: " + what)
        assert_same(from_cpp, want, tol, "C++: " + what)
        assert from_cpp["cpu_memory_cache"] == 1, "e3core::Model runs without the memory cache"


def test_first_call_of_a_fresh_process_is_reproducible(evaluator, tmp_path):
    """The first step of fresh C++ processes gives the same numbers to the bit. Before the op
    library settled oneMKL's vector-math dispatch on load, concurrent first calls could run a
    low-accuracy kernel: on 2 threads, 5 of 6 batches of 8 processes disagreed."""
    path = exported("lnet", "torchscript", torch.float32)
    positions, numbers, cell = structures()[0]
    types = deploy.load(path).atom_types(numbers).tolist()
    runs = [
        evaluate_cpp(evaluator, path, [(positions, types, cell, -1)], tmp_path)[0]
        for _ in range(12)
    ]
    for run in runs[1:]:
        assert run["energy"] == runs[0]["energy"]
        np.testing.assert_array_equal(run["forces"], runs[0]["forces"])


@pytest.mark.parametrize("name", sorted(NOT_POTENTIALS))
def test_models_without_energy_are_refused_in_one_line(name, tmp_path):
    model = models.build(name, type_numbers=[1, 8], **NOT_POTENTIALS[name])
    with pytest.raises(deploy.ExportError) as error:
        deploy.export(model, tmp_path / "x.pt")
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"export: {name} ")
    assert "only energy models deploy as potentials" in message
    train.atomic_save(
        {"model": {"name": name, "config": model.config, "state_dict": model.state_dict()}},
        tmp_path / "best.pt",
    )
    assert main(["export", str(tmp_path / "best.pt"), str(tmp_path / "x.pt")]) == 2


def test_export_errors_are_one_line(tmp_path, capsys):
    model = models.build("schnet", type_numbers=[1, 8], reduce="mean")
    with pytest.raises(deploy.ExportError, match=r"schnet's energy .* is not the sum of its"):
        deploy.export(model, tmp_path / "x.pt")
    with pytest.raises(ValueError, match=r"expected a name ending in \.pt2 for aoti"):
        deploy.export(model, tmp_path / "x.pt", "aoti")
    lnet = models.build("lnet", type_numbers=[1, 8], target="mu")
    with pytest.raises(deploy.ExportError, match=r"lnet predicts .*dipole.* not an energy"):
        deploy.export(lnet, tmp_path / "x.pt")


def test_trained_nequip_exports_from_the_command_line(tmp_path, capsys):
    water_atoms = data.load_water_density().atoms
    water_atoms.save(tmp_path / "water.npz")
    config = yaml.safe_load((ROOT / "examples" / "configs" / "water_nequip.yaml").read_text())
    config["output_dir"] = str(tmp_path / "run")
    config["data"] = {**config["data"], "source": "dataset", "path": str(tmp_path / "water.npz")}
    config["data"]["split"] = {"sizes": [16, 4, 4], "seed": 0}
    config["model"]["kwargs"].update(num_features=8, num_layers=2)
    config["training"].update(epochs=1)
    config["logging"] = {"progress": False, "tensorboard": False}
    (tmp_path / "nequip.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", str(tmp_path / "nequip.yaml")]) == 0
    python = deploy.Potential.from_model(tmp_path / "run")
    structure = water_atoms[0]
    want = python.compute(structure.positions, structure.numbers)
    for format, suffix in (("torchscript", "pt"), ("aoti", "pt2")):
        out = tmp_path / f"water.{suffix}"
        assert main(["export", str(tmp_path / "run"), str(out), "--format", format]) == 0
        got = deploy.load(out).compute(structure.positions, structure.numbers)
        assert_same(got, want, 1e-9, f"trained nequip, {format}")


def ghost_copies(positions, cell, receptive_field):
    """The periodic structure as its atoms (first) plus their images in the cells that reach
    ``receptive_field``: the local and ghost atoms a domain decomposition gives one rank."""
    heights = 1 / np.linalg.norm(np.linalg.inv(cell), axis=0)  # distances between cell faces
    reach = [int(np.ceil(receptive_field / h)) for h in heights]
    shifts = [np.array(s) - np.array(reach) for s in np.ndindex(*(2 * r + 1 for r in reach))]
    shifts.sort(key=lambda s: bool(s.any()))  # the central copy first
    return np.concatenate([positions + s @ cell for s in shifts]), len(shifts)


def ghost_call(potential, positions, types, n_local):
    """The potential on open-boundary atoms, the first ``n_local`` of them local."""
    i, j = neighbor_list("ij", positions, potential.r_max, sorted=True)
    return potential(
        torch.tensor(positions), torch.from_numpy(np.stack([j, i]).astype(np.int64)),
        torch.as_tensor(types), torch.zeros(3, 3, dtype=torch.float64),
        torch.zeros(len(i), 3, dtype=torch.float64), torch.arange(len(types)) < n_local,
    )  # fmt: skip


def test_ghost_atoms_give_the_periodic_result(evaluator, tmp_path):
    model = models.build("nequip", type_numbers=[1, 8], r_max=3.0, num_layers=2, num_features=8)
    torch.manual_seed(3)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    path = tmp_path / "ghost.pt"
    deploy.export(model.double(), path)
    potential = deploy.load(path)
    positions, numbers, cell = water(2, seed=2)
    want = potential.compute(positions, numbers, cell, True)
    n = len(numbers)
    everything, copies = ghost_copies(positions, cell, potential.metadata["receptive_field"])
    types = potential.atom_types(numbers * copies).tolist()
    out = ghost_call(potential, everything, types, n)
    from_cpp = evaluate_cpp(evaluator, path, [(everything, types, None, n)], tmp_path)[0]
    for got, what in ((out, "Python"), (from_cpp, "C++")):
        forces = np.asarray(got["forces"]).reshape(copies, n, 3).sum(0)  # ghosts to owners
        assert float(got["energy"]) == pytest.approx(want["energy"], abs=1e-10), what
        np.testing.assert_allclose(forces, want["forces"], atol=1e-10, err_msg=what)
        np.testing.assert_allclose(
            np.asarray(got["virial"]).reshape(3, 3), want["virial"], atol=1e-9, err_msg=what
        )
        np.testing.assert_allclose(
            np.asarray(got["atomic_energy"])[:n], want["atomic_energy"], atol=1e-10, err_msg=what
        )
    # Ghosts only up to one r_max (not the two layers' reach) give other energies.
    distance = np.linalg.norm(everything[:, None] - positions[None], axis=2).min(1)
    near = distance <= potential.r_max
    thin = ghost_call(potential, everything[near], np.array(types)[near], n)
    assert abs(float(thin["energy"]) - want["energy"]) > 1e-6


def test_calculator_and_potential_on_a_model_that_computes_forces():
    from ase.build import molecule

    model = models.build("nequip", type_numbers=[1, 8], num_features=4, num_layers=2).double()
    assert model.compute_forces
    atoms = molecule("H2O")
    atoms.calc = deploy.Calculator(model)
    want = eager_model(model, atoms.positions, list(atoms.numbers), None)
    assert atoms.get_potential_energy() == pytest.approx(want["energy"], abs=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), want["forces"], atol=1e-12)
    assert model.compute_forces  # the user's model is left as it was
