"""The C++ side of deployment: e3core installed as a CMake package, examples/cpp/md built
against it with find_package(e3core), run on exported models (TorchScript and AOTInductor):
energies and forces equal Python's, NVE energy is conserved, bad files give messages.

The library is built and installed once (cmake_package.py); the example into build/deploy/md.
"""

import json
import re
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from cmake_package import BUILD, HAVE_TOOLS, ROOT, generator, installed_prefix, run_checked
from deploy_model import EXPORTS, PairModel, exported, flip_weights, make_model
from e3core import deploy

MD_BUILD = BUILD / "md"

pytestmark = pytest.mark.skipif(
    not HAVE_TOOLS, reason="the C++ deployment tests need cmake and a C++ compiler"
)


@pytest.fixture(scope="module")
def md_program() -> Path:
    """examples/cpp/md built against an installed e3core (built here if not yet)."""
    prefix = installed_prefix()
    if not (MD_BUILD / "CMakeCache.txt").is_file():
        run_checked(
            ["cmake", "-S", str(ROOT / "examples" / "cpp" / "md"), "-B", str(MD_BUILD),
             *generator(), f"-DCMAKE_PREFIX_PATH={prefix}"]
        )  # fmt: skip
    run_checked(["cmake", "--build", str(MD_BUILD)])
    return MD_BUILD / "e3core_md"


def run_md(program: Path, *args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(program), *map(str, args)], capture_output=True, text=True, timeout=600
    )


def read_dump(path: Path) -> dict[str, np.ndarray]:
    rows = (line.split() for line in path.read_text().splitlines())
    return {row[0]: np.array(row[1:], dtype=np.float64) for row in rows}


@pytest.mark.parametrize(("format", "dtype", "tol"), EXPORTS)
def test_cpp_equals_python(md_program, tmp_path, format, dtype, tol):
    path = exported(format, dtype)
    dump = tmp_path / "first.txt"
    result = run_md(md_program, path, "--steps", 0, "--dump", dump)
    assert result.returncode == 0, result.stderr
    assert f"({format}, {str(dtype)[6:]})" in result.stdout
    got = read_dump(dump)
    positions = got["positions"].reshape(-1, 3)
    python = deploy.Potential.from_model(make_model(torch.float64))
    numbers = np.array(python.type_numbers)[got["atom_types"].astype(int)]
    want = python.compute(positions, numbers, got["cell"].reshape(3, 3), True)
    scale = max(1.0, abs(want["energy"]))
    assert got["energy"][0] == pytest.approx(want["energy"], abs=tol * scale)
    np.testing.assert_allclose(got["atomic_energies"], want["atomic_energy"], atol=tol * scale)
    np.testing.assert_allclose(got["forces"].reshape(-1, 3), want["forces"], atol=tol * scale)
    np.testing.assert_allclose(got["virial"].reshape(3, 3), want["virial"], atol=tol * scale)


def test_cpp_nve_energy_drift(md_program):
    path = exported("torchscript", torch.float64)
    drifts = []
    for dt in (0.5, 0.25):
        result = run_md(md_program, path, "--steps", 200, "--dt", dt, "--print-every", 50)
        assert result.returncode == 0, result.stderr
        match = re.search(r"= ([0-9.e+-]+) eV/atom over 200 steps", result.stdout)
        assert match is not None, result.stdout
        drifts.append(float(match.group(1)))
        rows = [line.split() for line in result.stdout.splitlines()[2:-1]]
        potentials = [float(row[1]) for row in rows]
        assert len(rows) == 5 and max(potentials) - min(potentials) > 100 * drifts[-1]
    assert drifts[1] < 1e-4, drifts  # eV/atom over 50 fs
    # Velocity Verlet is second order: the error falls as dt^2 when forces are -dE/dR.
    assert 2.5 < drifts[0] / drifts[1] < 6, drifts


def test_cpp_errors(md_program, tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    torch.save({"a": torch.zeros(1)}, tmp_path / "weights.pt")
    src = exported("torchscript", torch.float64)
    changes = [
        ("future", "e3core_version", "1.0.0"),
        ("contract1", "contract_version", 1),
        ("nofield", "receptive_field", 0.5),
    ]
    for name, key, value in changes:
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp_path / f"{name}.pt", "w") as zout:
            for item in zin.infolist():
                data = zin.read(item)
                if item.filename.endswith(deploy.METADATA_FILE):
                    meta = json.loads(data)
                    meta[key] = json.dumps(value)
                    data = json.dumps(meta).encode()
                zout.writestr(item, data)
    carbon = tmp_path / "carbon.pt"
    deploy.export(PairModel(type_numbers=[1, 6]).double(), carbon)
    flip_weights(src, tmp_path / "flipped.pt")
    flip_weights(exported("aoti", torch.float64), tmp_path / "flipped.pt2")
    (tmp_path / "folder.pt").mkdir()
    cases = {
        tmp_path / "flipped.pt": f"'{tmp_path / 'flipped.pt'}' is corrupted: its records do not",
        tmp_path / "flipped.pt2": f"'{tmp_path / 'flipped.pt2'}' is corrupted: its records do",
        tmp_path / "folder.pt": f"'{tmp_path / 'folder.pt'}' is a directory, expected a file",
        tmp_path / "missing.pt": "does not exist",
        tmp_path / "junk.pt": "not a torch zip archive",
        tmp_path / "weights.pt": "without e3core's metadata",
        tmp_path / "future.pt": "exported by e3core 1.0.0, but this is e3core",
        tmp_path / "contract1.pt": "uses contract version 1, but this e3core runs contract",
        tmp_path / "nofield.pt": "receptive_field 0.500000 and 2 type names (expected r_max > 0",
        carbon: "names[0] is 'O', an unknown atom type (the model knows H, C)",
    }
    for path, message in cases.items():
        result = run_md(md_program, path, "--steps", 1)
        assert result.returncode == 1, (path, result.returncode, result.stderr)
        assert message in result.stderr, result.stderr
