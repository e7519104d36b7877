"""Makes python/e3core/data/water_density.npz: water clusters with DFT energies, forces and
electron densities (density-fitting coefficients and the density on grid points).

Geometries of 1-4 water molecules come from Langevin MD with ASE's rigid TIP3P (300 K, 2 fs steps,
one frame every --interval steps, a new cluster when one falls apart), each frame then displaced
by Gaussian noise (--noise Angstrom per coordinate) so that bonds and angles vary. For each
structure PySCF computes PBE0/def2-SVP (RKS with density fitting) energy and forces, fits the
density on the uncontracted def2-universal-jfit basis (PySCF's 'weigend') in the Coulomb metric,
c = J^-1 (P|rho), and evaluates the density on a coarse Becke grid (points and weights). See
docs/density.md for the format and the conventions.

The run is resumable: the geometries and each finished structure are kept in OUTPUT.parts/, a
rerun skips what is done; the parts are packed into OUTPUT at the end (or, with --pack-done,
whatever is finished: structures are computed with the cluster sizes interleaved).

    OMP_NUM_THREADS=1 nice -n 19 python scripts/make_water_density.py [--counts 100,80,60,50]
"""

import argparse
import json
import os
import time

import numpy as np
from e3core.data import BOHR_ANGSTROM, HARTREE_EV
from e3core.density import DensityBasis, pyscf_to_e3nn

DEFAULT_OUTPUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "python",
    "e3core",
    "data",
    "water_density.npz",
)
AUXBASIS = "def2-universal-jfit"


def random_cluster(n: int, rng: np.random.Generator) -> np.ndarray:
    """Positions (3n, 3) of n TIP3P waters (O, H, H) at random orientations, each oxygen 2.8 A
    from a random earlier one and at least 2.5 A from all."""
    from ase.calculators.tip3p import angleHOH, rOH
    from scipy.spatial.transform import Rotation

    angle = np.deg2rad(angleHOH)
    water = np.array([[0.0, 0, 0], [rOH, 0, 0], [rOH * np.cos(angle), rOH * np.sin(angle), 0]])
    oxygens = [np.zeros(3)]
    while len(oxygens) < n:
        direction = rng.normal(size=3)
        trial = oxygens[rng.integers(len(oxygens))] + 2.8 * direction / np.linalg.norm(direction)
        if min(np.linalg.norm(trial - o) for o in oxygens) > 2.5:
            oxygens.append(trial)
    rotations = Rotation.random(n, random_state=rng.integers(2**31)).as_matrix()
    return np.concatenate([water @ r.T + o for r, o in zip(rotations, oxygens, strict=True)])


def connected(positions: np.ndarray, threshold: float = 4.0) -> bool:
    """Whether the oxygens form one cluster with links shorter than threshold (Angstrom)."""
    oxygens = positions[::3]
    reached = {0}
    frontier = [0]
    while frontier:
        i = frontier.pop()
        for j in range(len(oxygens)):
            if j not in reached and np.linalg.norm(oxygens[i] - oxygens[j]) < threshold:
                reached.add(j)
                frontier.append(j)
    return len(reached) == len(oxygens)


def sample_geometries(
    n: int, count: int, interval: int, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """count frames (count, 3n, 3) of an n-water TIP3P MD run, each with Gaussian noise."""
    from ase import Atoms, units
    from ase.calculators.tip3p import TIP3P
    from ase.constraints import FixBondLengths
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    def start() -> tuple[Atoms, Langevin]:
        atoms = Atoms("OH2" * n, positions=random_cluster(n, rng))
        atoms.calc = TIP3P(rc=20.0)
        bonds = [(3 * i + j, 3 * i + (j + 1) % 3) for i in range(n) for j in range(3)]
        atoms.constraints = FixBondLengths(bonds)
        MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=rng)
        md = Langevin(atoms, 2 * units.fs, temperature_K=300, friction=0.02, rng=rng)
        md.run(200)
        return atoms, md

    atoms, md = start()
    frames = []
    while len(frames) < count:
        md.run(interval)
        if not connected(atoms.positions):
            atoms, md = start()
            continue
        frames.append(atoms.positions + rng.normal(scale=noise, size=atoms.positions.shape))
    return np.array(frames)


def compute(
    numbers: np.ndarray, positions: np.ndarray, args: argparse.Namespace, basis: DensityBasis
) -> dict[str, np.ndarray]:
    """Energy, forces, fitted coefficients and the grid density of one structure."""
    import scipy.linalg
    from pyscf import df, dft, gto
    from pyscf.dft import gen_grid

    symbols = ["H" if z == 1 else "O" for z in numbers]
    mol = gto.M(
        atom=list(zip(symbols, positions, strict=True)),
        basis=args.basis,
        unit="Angstrom",
        verbose=0,
    )
    mf = dft.RKS(mol, xc=args.xc).density_fit()
    energy = mf.kernel()
    if not mf.converged:
        raise RuntimeError("SCF did not converge")
    gradient = mf.nuc_grad_method().kernel()
    dm = mf.make_rdm1()

    # Coulomb-metric fit on the uncontracted auxiliary basis, one element at a time in PySCF's
    # shell order (which is ascending l, as DensityBasis wants).
    auxmol = df.make_auxmol(mol, basis.to_pyscf(["H", "O"]))
    j3c = df.incore.aux_e2(mol, auxmol, "int3c2e", aosym="s1").reshape(mol.nao, mol.nao, -1)
    j2c = auxmol.intor("int2c2e")
    fit = scipy.linalg.solve(j2c, np.einsum("ijp,ij->p", j3c, dm), assume_a="pos")

    grids = gen_grid.Grids(mol)
    grids.level = 0
    grids.atom_grid = tuple(args.grid)
    grids.build()
    ao = dft.numint.eval_ao(mol, grids.coords)
    rho = dft.numint.eval_rho(mol, ao, dm)
    rho_fit = dft.numint.eval_ao(auxmol, grids.coords) @ fit

    coefficients = np.zeros((len(numbers), basis.irreps.dim))
    offsets = auxmol.offset_nr_by_atom()
    for atom, z in enumerate(numbers):
        ls = [auxmol.bas_angular(b) for b in range(offsets[atom, 0], offsets[atom, 1])]
        atom_fit = fit[offsets[atom, 2] : offsets[atom, 3]]
        coefficients[atom] = basis.pad(pyscf_to_e3nn(atom_fit, ls), int(z))
    # Basis functions normalised in Angstrom: c_A = c_Bohr * BOHR^-3/2.
    coefficients *= BOHR_ANGSTROM**-1.5
    weights = grids.weights
    return {
        "energy": np.array(energy * HARTREE_EV),
        "forces": -gradient * HARTREE_EV / BOHR_ANGSTROM,
        "density_coefficients": coefficients,
        "probe_positions": grids.coords * BOHR_ANGSTROM,
        "probe_weights": weights * BOHR_ANGSTROM**3,
        "probe_density": rho / BOHR_ANGSTROM**3,
        "pyscf_fit": fit,
        "fit_error": np.array(
            100 * np.sum(weights * np.abs(rho - rho_fit)) / np.sum(weights * rho)
        ),
    }


def interleaved(n_atoms: np.ndarray) -> np.ndarray:
    """The structures in an order that mixes the cluster sizes in proportion, so that any
    prefix (an interrupted run packed with --pack-done) has all of them."""
    fraction = np.zeros(len(n_atoms))
    for n in np.unique(n_atoms):
        where = np.flatnonzero(n_atoms == n)
        fraction[where] = (np.arange(len(where)) + 0.5) / len(where)
    return np.argsort(fraction, kind="stable")


def pack(
    parts: str,
    geometries: dict[str, np.ndarray],
    ids: list[int],
    basis: DensityBasis,
    output: str,
    metadata: dict,
) -> None:
    """Concatenates the structures ``ids`` into one npz (float32 for the bulky arrays)."""
    ptr = np.concatenate([[0], np.cumsum(geometries["n_atoms"])])
    atoms = np.concatenate([np.arange(ptr[i], ptr[i + 1]) for i in ids])
    results = [dict(np.load(os.path.join(parts, f"{i:05d}.npz"))) for i in ids]
    arrays = {
        "ids": np.array(ids),
        "numbers": geometries["numbers"][atoms].astype(np.int8),
        "positions": geometries["positions"][atoms],
        "n_atoms": geometries["n_atoms"][ids],
        "energy": np.array([r["energy"] for r in results]),
        "forces": np.concatenate([r["forces"] for r in results]),
        "density_coefficients": np.concatenate([r["density_coefficients"] for r in results]).astype(
            np.float32
        ),
        "n_probes": np.array([len(r["probe_weights"]) for r in results]),
        "probe_positions": np.concatenate([r["probe_positions"] for r in results]).astype(
            np.float32
        ),
        "probe_weights": np.concatenate([r["probe_weights"] for r in results]).astype(np.float32),
        "probe_density": np.concatenate([r["probe_density"] for r in results]).astype(np.float32),
        "fit_error": np.array([r["fit_error"] for r in results]),
        "metadata": np.array(json.dumps(metadata)),
        **basis.to_arrays(),
    }
    np.savez_compressed(output, **arrays)


def main() -> None:
    """Samples the geometries (once), computes the missing structures, packs the file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--counts", default="100,80,60,50", help="structures with 1, 2, 3, 4, ... waters"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--interval", type=int, default=15, help="MD steps between frames")
    parser.add_argument("--noise", type=float, default=0.03, help="Angstrom per coordinate")
    parser.add_argument("--xc", default="pbe0")
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument(
        "--grid",
        type=int,
        nargs=2,
        default=[12, 26],
        help="radial and angular (Lebedev) points per atom, before pruning",
    )
    parser.add_argument("--limit", type=int, default=None, help="compute at most this many")
    parser.add_argument(
        "--pack-done", action="store_true", help="pack the finished structures, even if not all"
    )
    args = parser.parse_args()
    import pyscf

    counts = [int(c) for c in args.counts.split(",")]
    parts = args.output + ".parts"
    os.makedirs(parts, exist_ok=True)
    settings = {
        key: value
        for key, value in vars(args).items()
        if key not in ("output", "limit", "pack_done")
    }
    geometry_file = os.path.join(parts, "geometries.npz")
    if os.path.exists(geometry_file):
        geometries = dict(np.load(geometry_file))
        if json.loads(str(geometries["settings"])) != settings:
            raise SystemExit(f"{parts} holds a run with other settings; remove it or match them")
    else:
        rng = np.random.default_rng(args.seed)
        frames = []
        for n, count in enumerate(counts, start=1):
            start = time.perf_counter()
            frames += list(sample_geometries(n, count, args.interval, args.noise, rng))
            print(
                f"MD: {count} frames of {n} waters in {time.perf_counter() - start:.0f} s",
                flush=True,
            )
        geometries = {
            "numbers": np.concatenate([np.tile([8, 1, 1], len(f) // 3) for f in frames]),
            "positions": np.concatenate(frames),
            "n_atoms": np.array([len(f) for f in frames]),
            "settings": np.array(json.dumps(settings)),
        }
        np.savez(geometry_file, **geometries)

    basis = DensityBasis.from_pyscf(AUXBASIS, ["H", "O"])
    print(
        f"auxiliary basis {AUXBASIS}, uncontracted: "
        + ", ".join(f"{z}: {basis.irreps_of(z)}" for z in basis.numbers),
        flush=True,
    )
    ptr = np.concatenate([[0], np.cumsum(geometries["n_atoms"])])
    total = len(geometries["n_atoms"])
    done = 0
    finished = sum(os.path.exists(os.path.join(parts, f"{i:05d}.npz")) for i in range(total))
    times = []
    for i in interleaved(geometries["n_atoms"]):
        path = os.path.join(parts, f"{i:05d}.npz")
        if os.path.exists(path):
            continue
        if args.limit is not None and done >= args.limit:
            break
        start = time.process_time()
        result = compute(
            geometries["numbers"][ptr[i] : ptr[i + 1]],
            geometries["positions"][ptr[i] : ptr[i + 1]],
            args,
            basis,
        )
        times.append(time.process_time() - start)
        np.savez(path + ".tmp.npz", **result, seconds=np.array(times[-1]))
        os.replace(path + ".tmp.npz", path)
        done += 1
        finished += 1
        print(
            f"[{finished}/{total}] structure {i}, {geometries['n_atoms'][i] // 3} waters: "
            f"{times[-1]:.1f} s CPU, fit error {float(result['fit_error']):.3f} %",
            flush=True,
        )
    ids = [i for i in range(total) if os.path.exists(os.path.join(parts, f"{i:05d}.npz"))]
    if len(ids) < total and not args.pack_done:
        print(f"{len(ids)}/{total} structures done; rerun to continue (or --pack-done)")
        return
    seconds = [float(np.load(os.path.join(parts, f"{i:05d}.npz"))["seconds"]) for i in ids]
    waters = geometries["n_atoms"][ids] // 3
    metadata = {
        **settings,
        "auxbasis": AUXBASIS + " (uncontracted)",
        "scf": "RKS, density fitting (PySCF default auxiliary basis), conv_tol 1e-9, grids level 3",
        "grid": f"Becke, pruned (nwchem), {args.grid[0]} radial x {args.grid[1]} angular per atom",
        "pyscf": pyscf.__version__,
        "cpu_seconds_per_structure": {
            str(n): float(np.mean(np.array(seconds)[waters == n])) for n in sorted(set(waters))
        },
        "units": {
            "positions": "Angstrom",
            "energy": "eV",
            "forces": "eV/Angstrom",
            "probe_density": "e/Angstrom^3",
            "probe_weights": "Angstrom^3",
            "basis_exponents": "Angstrom^-2",
        },
    }
    pack(parts, geometries, ids, basis, args.output, metadata)
    print(
        f"wrote {len(ids)} structures to {args.output} "
        f"({os.path.getsize(args.output) / 2**20:.1f} MiB)"
    )


if __name__ == "__main__":
    main()
