"""Whole models against the nequip package: NequIP potentials of e3core and of ``nequip`` 0.19.1
at matched hyper-parameters, energy + forces + virial of periodic water and a training step.

Run from the repository root, with e3core installed and the benchmark dependencies (nequip
0.19.1, which brings e3nn 0.6: ``pip install nequip==0.19.1``)::

    python bench/bench_models.py                  # every configuration (12 minutes on 2 cores)
    python bench/bench_models.py --quick          # l_max 1, 32 features, 192 atoms, 3 rounds
    python bench/bench_models.py --nequip-aoti    # also nequip's AOTInductor deployment
    python bench/bench_models.py --configs 1x32 2x64 --sizes 4 --rounds 7

Both models have 4 interaction layers, hidden features of both parities up to ``l_max`` (1 or
2) with ``num_features`` (32 or 64) channels each, 8 Bessel functions (not trainable) times the
polynomial cutoff (p = 6), radial MLPs with one hidden layer of 128 (SiLU), r_max 5 Å, float32,
types H and O, seed 0 (different random weights: the energies of the two packages are not
compared, each e3core format is checked against e3core's eager model). The differences of
architecture that remain are printed with the parameter counts.

Inference: a periodic box of 4^3 or 8^3 water molecules at 1 g/cm^3 (192 or 1,536 atoms,
56 neighbours per atom within 5 Å; ``tests/python/deploy_model.py``'s ``water``), the
edges computed once beforehand (by each package's own neighbour list: not timed). Contenders:
nequip eager (its ``NequIPGNNModel`` in eval mode), nequip AOTInductor (``--nequip-aoti``: the
package ``nequip-compile --mode aotinductor --target pair_nequip`` builds, with
``nequip.utils.aot.aot_export_model``; 100 s per configuration on 2 idle cores, hence an
option), from_e3nn (nequip's eager model with its e3nn modules replaced by e3core's,
``e3core.from_e3nn(model)``; its energy, forces and virial must agree with nequip's to 1e-4 of
the largest magnitude before it is timed, and the tables give nequip eager / from_e3nn, whose
goal is never below 1), e3core eager (``deploy.Potential.from_model``), e3core TorchScript and
AOTInductor exports (``deploy.export`` then ``deploy.load``). Each computes energies, forces and
the virial. Each round runs every contender once, in turn, after two warm-up calls each; the
tables give medians over ``--rounds`` (5) rounds. Training: forward + backward of an
energy-and-forces loss (forces with ``create_graph``; zero targets) and an Adam step on 16 QM9
molecules (``e3core.data.load_qm9_sample()``, types H, C, N, O, F), alternated the same way,
for nequip eager, from_e3nn (checked the same way first), e3core eager, and each package's
compiled training: nequip's ``compile_mode="compile"`` (its model traced with the forces and
compiled by ``torch.compile``; about 5 minutes of compilation per configuration on 2 cores)
and e3core's ``Trainer(compile=True)`` (the whole step traced and compiled by TorchInductor;
about 30 s); ``--no-compiled-training`` skips both, ``--training-only`` the inference.

The floor: the multiply-adds a step cannot avoid, counted from each model's own layers (radial
MLPs per edge; linear layers and the self-connection per atom; per edge and path of the
convolution, channels x the fewer of its Clebsch-Gordan entries and d1 x d_out, plus the weight
product), F for the forward, 3 F for energy + forces (the backward costs about 2 F) and 9 F for a
training step (the backward of that graph costs about twice it again), divided by the float32
matrix-product rate measured in the same run (``timing.matmul_rate``).

Memory: every contender allocates through torch's CPU allocator, which ``import e3core`` makes
e3core's caching allocator (``e3core.memory``); ``--no-cpu-cache`` restores torch's own for the
whole run, to see what the page faults of fresh allocations cost each package.

Output: markdown for docs/benchmarks.md, preceded by the machine, its load average before and
after, the date and the versions. Progress goes to stderr. Run it on a quiet machine: with other
processes on the cores, torch's OpenMP threads spin for each other and every time grows several
fold, not alike for both packages (``OMP_WAIT_POLICY=passive`` limits that, but doubles the
times of a quiet machine).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from timing import alternating_times, cpu_model, load_average, matmul_rate, medians

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

from deploy_model import water  # noqa: E402

R_MAX = 5.0
NUM_LAYERS = 4
NUM_BASIS = 8
RADIAL_WIDTH = 128
AVG_NUM_NEIGHBORS = 50.0
WATER_TYPES = (1, 8)
QM9_TYPES = (1, 6, 7, 8, 9)
SYMBOLS = {1: "H", 6: "C", 7: "N", 8: "O", 9: "F"}
CONFIGS = ("1x32", "1x64", "2x32", "2x64")
# Contenders of the inference table, in the order of each round.
NEQUIP_EAGER, NEQUIP_AOTI = "nequip eager", "nequip AOTI"
E3_EAGER, E3_TS, E3_AOTI = "e3core eager", "e3core TorchScript", "e3core AOTI"
NEQUIP_COMPILE, E3_COMPILED = "nequip compile", "e3core compiled"
# nequip's eager model with its e3nn modules replaced by e3core's (``e3core.from_e3nn``).
FROM_E3NN = "from_e3nn"
# Largest relative deviation of from_e3nn's energy, forces and virial from nequip's own.
FROM_E3NN_TOLERANCE = 1e-4


def log(message: str) -> None:
    """A progress line on stderr, with the time."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_config(config: str) -> tuple[int, int]:
    """``"2x64"`` -> (l_max 2, 64 features).

    Example::

        >>> parse_config("1x32")
        (1, 32)
    """
    lmax, features = config.split("x")
    return int(lmax), int(features)


# --- the two models ---------------------------------------------------------------------------


def e3core_model(lmax: int, features: int, type_numbers: tuple[int, ...]) -> torch.nn.Module:
    """``e3core.models.NequIP`` at the benchmark's settings, float32, seed 0."""
    from e3core import models

    torch.manual_seed(0)
    return models.NequIP(
        type_numbers=list(type_numbers),
        r_max=R_MAX,
        num_layers=NUM_LAYERS,
        num_features=features,
        lmax=lmax,
        num_basis=NUM_BASIS,
        trainable_bessel=False,
        radial_neurons=(RADIAL_WIDTH,),
        avg_num_neighbors=AVG_NUM_NEIGHBORS,
    ).to(torch.float32)


def nequip_global_state() -> None:
    """nequip's global state (required before building its models), without what it changes
    for everyone else: it sets the default dtype to float64 and TorchScript's fusion strategy,
    both put back here so that e3core's models and exports run as they would alone."""
    from nequip.utils.global_state import global_state_initialized, set_global_state

    if global_state_initialized():
        return
    dtype = torch.get_default_dtype()
    strategy = torch.jit.set_fusion_strategy([("STATIC", 2), ("DYNAMIC", 10)])
    torch.jit.set_fusion_strategy(strategy)
    set_global_state()
    torch.set_default_dtype(dtype)
    torch.jit.set_fusion_strategy(strategy)


def nequip_model(
    lmax: int, features: int, type_numbers: tuple[int, ...], compile_mode: str = "eager"
) -> torch.nn.Module:
    """``nequip.model.NequIPGNNModel`` at the benchmark's settings, float32, seed 0;
    ``compile_mode="compile"`` is nequip's compiled training (``torch.compile`` of the model
    traced with its forces)."""
    nequip_global_state()
    from nequip.model import NequIPGNNModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NequIPGNNModel(
            seed=0,
            model_dtype="float32",
            compile_mode=compile_mode,
            r_max=R_MAX,
            type_names=[SYMBOLS[z] for z in type_numbers],
            num_layers=NUM_LAYERS,
            l_max=lmax,
            parity=True,
            num_features=features,
            num_bessels=NUM_BASIS,
            bessel_trainable=False,
            polynomial_cutoff_p=6,
            radial_mlp_depth=1,
            radial_mlp_width=RADIAL_WIDTH,
            avg_num_neighbors=AVG_NUM_NEIGHBORS,
            per_type_energy_scales=1.0,
            per_type_energy_shifts=0.0,
        )


def parameters(model: torch.nn.Module) -> int:
    """Number of parameters (both models keep their fixed Bessel frequencies as buffers)."""
    return sum(p.numel() for p in model.parameters())


def nequip_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The ``ConvNetLayer`` modules of a ``NequIPGNNModel``, in order."""
    named = dict(model.named_modules())
    return [m for n, m in named.items() if n.split(".")[-1].startswith("layer")]


def layer_summaries(model: torch.nn.Module, package: str) -> list[dict[str, object]]:
    """Per interaction layer: output irreps, convolution paths, self-connection's second input
    (None without one) and its weights, radial MLP weight shapes and whether it has biases."""
    rows = []
    if package == "nequip":
        for layer in nequip_layers(model):
            conv = layer.conv
            sc = conv.sc
            mlp = conv.edge_mlp
            rows.append(
                {
                    "out": str(layer.equivariant_nonlin.irreps_out),
                    "paths": len(conv.tp_scatter.tp.instructions),
                    "sc": None if sc is None else str(sc.irreps_in2),
                    "sc_weights": 0 if sc is None else sc.weight_numel,
                    "radial": [tuple(p.shape) for p in mlp.parameters() if p.dim() == 2],
                    "radial_bias": any(p.dim() == 1 for p in mlp.parameters()),
                }
            )
    else:
        for block in model.interactions.blocks:
            sc = block.self_connection
            rows.append(
                {
                    "out": str(block.irreps_out),
                    "paths": len(block.conv.instructions),
                    "sc": str(sc.irreps_in2),
                    "sc_weights": sc.weight_numel,
                    "radial": [tuple(p.shape) for p in block.radial.parameters() if p.dim() == 2],
                    "radial_bias": any(p.dim() == 1 for p in block.radial.parameters()),
                }
            )
    return rows


def readout_summary(model: torch.nn.Module, package: str) -> str:
    """The readout from the last layer's scalars to the atomic energy, in words."""
    if package == "nequip":
        named = dict(model.named_modules())
        readout = next(m for n, m in named.items() if n.endswith("per_atom_energy_readout"))
        shapes = [tuple(p.shape) for p in readout.parameters() if p.dim() == 2]
        return " -> ".join(["linear " + "x".join(map(str, s)) for s in shapes]) + " (no bias)"
    return " -> ".join(f"Linear({lin.irreps_in} -> {lin.irreps_out})" for lin in model.readout)


def sorted_irreps(irreps: str) -> str:
    """Irreps sorted and simplified, to compare e3nn's and e3core's orders.

    Example::

        >>> sorted_irreps("32x1e+32x0e+32x1o")
        '32x0e+32x1o+32x1e'
    """
    from e3core import o3

    return str(o3.Irreps(irreps).sort().irreps.simplify())


def differences(theirs_model: torch.nn.Module, ours_model: torch.nn.Module) -> list[str]:
    """The architectural differences between nequip's and e3core's model of a configuration,
    found by comparing their layers (so that a change on either side shows here)."""
    ours = layer_summaries(ours_model, "e3core")
    theirs = layer_summaries(theirs_model, "nequip")
    notes = []
    for k, (a, b) in enumerate(zip(theirs, ours, strict=True)):
        if sorted_irreps(a["out"]) != sorted_irreps(b["out"]) or a["paths"] != b["paths"]:
            notes.append(
                f"layer {k}: nequip outputs {a['out']} ({a['paths']} convolution paths), "
                f"e3core {b['out']} ({b['paths']} paths)"
            )
        if a["sc"] != b["sc"]:
            notes.append(
                f"layer {k}: self-connection with "
                + ("none in nequip" if a["sc"] is None else f"{a['sc']} in nequip")
                + f" ({a['sc_weights']} weights), with {b['sc']} in e3core "
                f"({b['sc_weights']} weights)"
            )
        if a["radial"] != b["radial"] or a["radial_bias"] != b["radial_bias"]:
            notes.append(
                f"layer {k}: radial MLP {a['radial']} (bias {a['radial_bias']}) in nequip, "
                f"{b['radial']} (bias {b['radial_bias']}) in e3core"
            )
    notes.append(
        f"readout: nequip {readout_summary(theirs_model, 'nequip')}; "
        f"e3core {readout_summary(ours_model, 'e3core')}"
    )
    return notes


# --- inputs ----------------------------------------------------------------------------------


def float32(data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The floating tensors of a data dict in float32."""
    return {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in data.items()}


def nequip_data(atoms_list: list, type_numbers: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """nequip's input for ase ``Atoms``: ``from_ase``, its type mapper, its neighbour list
    (``compute_neighborlist_``) and, for several structures, ``batched_from_list``; float32."""
    nequip_global_state()
    from nequip.data import AtomicDataDict, compute_neighborlist_, from_ase
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper

    mapper = ChemicalSpeciesToAtomTypeMapper(model_type_names=[SYMBOLS[z] for z in type_numbers])
    frames = [compute_neighborlist_(mapper(from_ase(atoms)), R_MAX) for atoms in atoms_list]
    if len(frames) == 1:
        return float32(frames[0])
    return float32(AtomicDataDict.batched_from_list(frames))


@dataclass
class Box:
    """A periodic water box: ase Atoms, e3core's contract inputs and nequip's data dict."""

    n_side: int
    atoms: object = None
    contract: tuple[torch.Tensor, ...] = ()
    nequip: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import ase
        from e3core.graph import neighbor_list

        positions, numbers, cell = water(self.n_side)
        self.atoms = ase.Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True)
        i, j, shifts = neighbor_list("ijS", positions, R_MAX, cell, True, sorted=True)
        types = torch.tensor([WATER_TYPES.index(z) for z in numbers])
        self.contract = (
            torch.tensor(positions, dtype=torch.float32),
            torch.from_numpy(np.stack([j, i]).astype(np.int64)),
            types,
            torch.tensor(cell, dtype=torch.float32),
            torch.from_numpy(shifts).to(torch.float32),
        )
        self.nequip = nequip_data([self.atoms], WATER_TYPES)
        if self.nequip["edge_index"].shape[1] != self.edges:
            raise RuntimeError(
                f"nequip's neighbour list has {self.nequip['edge_index'].shape[1]} edges, "
                f"e3core's {self.edges}"
            )

    @property
    def n_atoms(self) -> int:
        return len(self.atoms)

    @property
    def edges(self) -> int:
        return int(self.contract[1].shape[1])


# --- inference contenders ----------------------------------------------------------------------


def e3core_contenders(
    lmax: int, features: int, work: Path
) -> tuple[dict[str, Callable], dict[str, float]]:
    """e3core's eager potential and its two exports, loaded: ``{name: potential}``, and the
    seconds each export took."""
    from e3core import deploy

    model = e3core_model(lmax, features, WATER_TYPES)
    model.requires_grad_(False)
    potentials: dict[str, Callable] = {E3_EAGER: deploy.Potential.from_model(model)}
    seconds = {}
    for name, format, suffix in ((E3_TS, "torchscript", "pt"), (E3_AOTI, "aoti", "pt2")):
        path = work / f"e3core_{lmax}x{features}.{suffix}"
        start = time.perf_counter()
        deploy.export(model, path, format)
        seconds[name] = time.perf_counter() - start
        potentials[name] = deploy.load(path)
        log(f"e3core {lmax}x{features}: {format} export {seconds[name]:.0f} s")
    return potentials, seconds


def nequip_aoti(model: torch.nn.Module, box: Box, path: Path) -> Callable:
    """nequip's AOTInductor package of ``model`` for one structure (what ``nequip-compile
    --mode aotinductor --target pair_nequip`` does: positions, edges, types, cell and shifts
    in; atomic energies, forces and virial out), loaded; a function of nequip's data dict."""
    from nequip.scripts._compile_utils import COMPILE_TARGET_DICT
    from nequip.utils.aot import aot_export_model

    target = COMPILE_TARGET_DICT["pair_nequip"]
    batch_map = target["batch_map_settings"](
        {
            "graph": torch.export.Dim.STATIC,
            "node": torch.export.Dim("num_nodes", min=2, max=1_000_000),
            "edge": torch.export.Dim("num_edges", min=2, max=100_000_000),
        }
    )
    data = target["data_settings"](dict(box.nequip))
    aot_export_model(
        model=model,
        device="cpu",
        input_fields=target["input"],
        output_fields=target["output"],
        data=data,
        batch_map=batch_map,
        output_path=str(path),
        inductor_configs={},
        seed=1,
    )
    runner = torch._inductor.aoti_load_package(str(path))
    fields = target["input"]
    return lambda d: runner([d[k] for k in fields])


def agreement(reference: dict[str, torch.Tensor], out: dict[str, torch.Tensor]) -> float:
    """Largest deviation of energy, forces and virial from the reference, each relative to the
    reference's largest magnitude."""
    worst = 0.0
    for key in ("energy", "forces", "virial"):
        ref, value = reference[key].double(), out[key].double()
        scale = max(float(ref.abs().max()), 1e-12)
        worst = max(worst, float((value - ref).abs().max()) / scale)
    return worst


def nequip_outputs(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A nequip model's energy, forces and virial under ``agreement``'s keys, detached."""
    keys = {"energy": "total_energy", "forces": "forces", "virial": "virial"}
    return {k: out[v].detach() for k, v in keys.items()}


def check_from_e3nn(
    theirs: torch.nn.Module, converted: torch.nn.Module, data: dict[str, torch.Tensor]
) -> float:
    """from_e3nn's deviation from nequip's model on ``data`` (``agreement``); raises where it
    exceeds FROM_E3NN_TOLERANCE, so that no wrong result is timed."""
    deviation = agreement(nequip_outputs(theirs(dict(data))), nequip_outputs(converted(dict(data))))
    if not deviation < FROM_E3NN_TOLERANCE:
        raise RuntimeError(
            f"{FROM_E3NN}: energy, forces or virial deviate from nequip's by {deviation:.1e}"
        )
    return deviation


# --- training ----------------------------------------------------------------------------------


def qm9_sample(count: int) -> tuple[list, object]:
    """The first ``count`` molecules of e3core's QM9 sample, as ase Atoms and as e3core's
    collated batch (edges within r_max)."""
    import ase
    from e3core import data

    molecules = list(data.load_qm9_sample())[:count]
    atoms = [ase.Atoms(numbers=m.numbers, positions=m.positions) for m in molecules]
    return atoms, data.collate(molecules, cutoff=R_MAX, dtype=torch.float32)


def train_step(
    model: torch.nn.Module, inputs: dict[str, torch.Tensor], energy_key: str, **options: object
) -> Callable[[], float]:
    """One training step of a model (in training mode: forces with create_graph) on its
    inputs (``model(inputs, **options)``): mean-squared energies and forces (zero targets),
    backward, Adam step (torch's fused Adam, e3core's Trainer default, for every contender: the
    models are compared, not the optimizers)."""
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)

    def step() -> float:
        out = model(dict(inputs), **options)
        loss = out[energy_key].square().mean() + out["forces"].square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def compiled_train_step(model: torch.nn.Module, batch: object) -> Callable[[], float]:
    """e3core's compiled training step (``Trainer(compile=True)``) on the batch with zero
    energy and force targets: the loss of ``train_step``, torch's fused Adam; compiled here,
    before it is timed."""
    from e3core import train

    batch = replace(
        batch,
        targets={"energy": torch.zeros(batch.num_graphs)},
        atom_targets={"forces": torch.zeros_like(batch.positions)},
    )
    trainer = train.Trainer(
        model, None, None, {"energy": 1.0, "forces": 1.0}, optimizer={"lr": 1e-3},
        dtype=torch.float32, progress=False, tensorboard=False, plots=False, compile=True,
    )  # fmt: skip
    start = time.perf_counter()
    trainer.train_step(batch)
    log(f"e3core's training step compiled in {time.perf_counter() - start:.0f} s")
    return lambda: float(trainer.train_step(batch)[0])


def train_steps(
    lmax: int, features: int, atoms: list, batch: object, compiled: bool
) -> dict[str, Callable]:
    """Both packages' training steps on the molecules (nequip's ForceStressOutput computes the
    virial too, as it always does), and nequip's model converted by ``e3core.from_e3nn``
    (checked against nequip's first); with ``compiled``, also each package's compiled training
    (nequip's ``compile_mode="compile"``, e3core's ``Trainer(compile=True)``)."""
    from e3core import from_e3nn

    theirs, data = nequip_model(lmax, features, QM9_TYPES), nequip_data(atoms, QM9_TYPES)
    converted = from_e3nn(theirs)
    deviation = check_from_e3nn(theirs, converted, data)
    log(f"training {lmax}x{features}: {FROM_E3NN} deviates from nequip by {deviation:.1e}")
    steps = {
        NEQUIP_EAGER: train_step(theirs, data, "total_energy"),
        FROM_E3NN: train_step(converted, data, "total_energy"),
        E3_EAGER: train_step(e3core_model(lmax, features, QM9_TYPES), batch.as_dict(), "energy"),
    }
    if compiled:
        start = time.perf_counter()
        step = train_step(nequip_model(lmax, features, QM9_TYPES, "compile"), data, "total_energy")
        step()
        log(f"nequip's training step compiled in {time.perf_counter() - start:.0f} s")
        steps[NEQUIP_COMPILE] = step
        steps[E3_COMPILED] = compiled_train_step(e3core_model(lmax, features, QM9_TYPES), batch)
    return steps


# --- the floor ---------------------------------------------------------------------------------


def _cg_entries(l1: int, l2: int, l3: int) -> int:
    from e3core import o3

    return int((o3.wigner_3j(l1, l2, l3).abs() > 1e-10).sum())


PARTS = ("radial MLPs", "convolutions", "linear layers", "self-connections")


def forward_multiply_adds(model: torch.nn.Module, atoms: int, edges: int) -> dict[str, int]:
    """Multiply-adds of one forward pass of either package's NequIP that no implementation can
    avoid, by part (``PARTS``): per edge the radial MLPs and, per convolution path, channels x
    (the fewer of its Clebsch-Gordan entries and d1 x d_out, plus the weight product
    min(d1, d_out)); per atom the linear layers (readout included) and the self-connection (with
    scalar second inputs: the fewer of mul1 mul_out (mul2 + d) and mul1 mul2 d (mul_out + 1)).
    Spherical harmonics, radial basis, gates and sums are elementwise: not counted."""
    parts = dict.fromkeys(PARTS, 0)
    for name, module in model.named_modules():
        last, kind = name.split(".")[-1], type(module).__name__
        matrices = sum(p.numel() for p in module.parameters() if p.dim() == 2)
        if last in ("edge_mlp", "radial"):
            parts["radial MLPs"] += edges * matrices
        elif last == "per_atom_energy_readout":
            parts["linear layers"] += atoms * matrices
        elif kind == "Linear" and hasattr(module, "instructions"):
            for ins in module.instructions:
                mul_in, ir = module.irreps_in[ins.i_in]
                parts["linear layers"] += atoms * mul_in * module.irreps_out[ins.i_out].mul * ir.dim
        elif kind in ("TensorProduct", "TensorProductConv", "FullyConnectedTensorProduct"):
            for ins in module.instructions:
                mul1, ir1 = module.irreps_in1[ins.i_in1]
                mul2, ir2 = module.irreps_in2[ins.i_in2]
                mulo, iro = module.irreps_out[ins.i_out]
                if ins.connection_mode == "uvu":
                    cg = min(_cg_entries(ir1.l, ir2.l, iro.l), ir1.dim * iro.dim)
                    parts["convolutions"] += edges * mul1 * mul2 * (cg + min(ir1.dim, iro.dim))
                elif ins.connection_mode == "uvw" and ir2.dim == 1:
                    d = iro.dim
                    macs = min(mul1 * mulo * (mul2 + d), mul1 * mul2 * d * (mulo + 1))
                    parts["self-connections"] += atoms * macs
                else:
                    raise NotImplementedError(f"{name}: {ins.connection_mode} with {ir2}")
    return parts


# --- output ------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    """A table cell: the number, or a dash."""
    return "–" if value is None else f"{value:.{digits}f}"


@dataclass
class Results:
    """What a run measured, by (l_max, features) and, for inference, atoms."""

    rate: float = 0.0
    params: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    notes: dict[tuple, list[str]] = field(default_factory=dict)
    export_seconds: dict[tuple, dict[str, float]] = field(default_factory=dict)
    inference: dict[tuple, dict[str, float]] = field(default_factory=dict)
    agree: dict[tuple, dict[str, float]] = field(default_factory=dict)
    floors: dict[tuple, dict[str, dict[str, int]]] = field(default_factory=dict)
    training: dict[tuple, dict[str, float]] = field(default_factory=dict)
    train_floors: dict[tuple, dict[str, dict[str, int]]] = field(default_factory=dict)


def run_inference(
    config: tuple[int, int],
    potentials: dict[str, Callable],
    boxes: list[Box],
    args: argparse.Namespace,
    work: Path,
    results: Results,
) -> None:
    """Builds nequip's model of a configuration (and its AOTInductor package), checks e3core's
    formats against its eager model and times every contender on every box."""
    lmax, features = config
    ours = e3core_model(lmax, features, WATER_TYPES)
    theirs = nequip_model(lmax, features, WATER_TYPES).eval()
    results.notes[config] = differences(theirs, ours)
    results.params[config] = (parameters(theirs), parameters(ours))
    theirs.requires_grad_(False)
    from e3core import from_e3nn

    converted = from_e3nn(theirs)
    aoti = None
    if args.nequip_aoti:
        start = time.perf_counter()
        path = work / f"nequip_{lmax}x{features}.nequip.pt2"
        aoti = nequip_aoti(copy.deepcopy(theirs), boxes[0], path)
        seconds = time.perf_counter() - start
        results.export_seconds[config]["nequip AOTInductor"] = seconds
        log(f"nequip {lmax}x{features}: AOTInductor compile {seconds:.0f} s")
    for box in boxes:
        key = (lmax, features, box.n_atoms)
        outputs = {name: p(*box.contract) for name, p in potentials.items()}
        results.agree[key] = {n: agreement(outputs[E3_EAGER], o) for n, o in outputs.items()}
        results.agree[key][FROM_E3NN] = check_from_e3nn(theirs, converted, box.nequip)
        cases: dict[str, Callable] = {NEQUIP_EAGER: lambda b=box: theirs(dict(b.nequip))}
        if aoti is not None:
            cases[NEQUIP_AOTI] = lambda b=box: aoti(b.nequip)
        cases[FROM_E3NN] = lambda b=box: converted(dict(b.nequip))
        for name, potential in potentials.items():
            cases[name] = lambda b=box, p=potential: p(*b.contract)
        load = load_average()
        times = medians(alternating_times(cases, args.rounds, warmup=2))
        results.inference[key] = times
        log(
            f"{lmax}x{features}, {box.n_atoms} atoms (load {load}): "
            + ", ".join(f"{n} {t:.0f} ms" for n, t in times.items())
        )
        results.floors[key] = {
            "nequip": forward_multiply_adds(theirs, box.n_atoms, box.edges),
            "e3core": forward_multiply_adds(ours, box.n_atoms, box.edges),
        }


def run_training(
    config: tuple[int, int], atoms: list, batch: object, args: argparse.Namespace, results: Results
) -> None:
    """Times both packages' training steps of a configuration and counts their floors."""
    lmax, features = config
    cases = train_steps(lmax, features, atoms, batch, not args.no_compiled_training)
    rounds = args.rounds
    results.training[config] = medians(alternating_times(cases, rounds, warmup=2))
    log(f"training {lmax}x{features}: {results.training[config]}")
    n_atoms, n_edges = int(batch.positions.shape[0]), int(batch.edge_index.shape[1])
    results.train_floors[config] = {
        "nequip": forward_multiply_adds(nequip_model(*config, QM9_TYPES), n_atoms, n_edges),
        "e3core": forward_multiply_adds(e3core_model(*config, QM9_TYPES), n_atoms, n_edges),
    }


def best(times: dict[str, float], package: str) -> float:
    """The package's fastest contender."""
    names = (
        (NEQUIP_EAGER, NEQUIP_AOTI, NEQUIP_COMPILE)
        if package == "nequip"
        else (E3_EAGER, E3_TS, E3_AOTI, E3_COMPILED)
    )
    return min(times[n] for n in names if n in times)


def print_tables(results: Results) -> None:
    """The markdown tables: parameters and differences, inference, agreement, training, floor."""
    print("Parameters and architectural differences (l_max x features):\n")
    for (lmax, features), (n_theirs, n_ours) in results.params.items():
        print(f"- {lmax}x{features}: nequip {n_theirs:,} parameters, e3core {n_ours:,}")
        for note in results.notes[(lmax, features)]:
            print(f"  - {note}")
    print()
    columns = [NEQUIP_EAGER, NEQUIP_AOTI, FROM_E3NN, E3_EAGER, E3_TS, E3_AOTI]
    ratio_names = ["nequip best / e3core best", "nequip eager / e3core eager"]
    ratio_names += [f"nequip eager / {FROM_E3NN}", "TorchScript / eager", "AOTI / eager"]
    header = ["l_max x features", "atoms", *[f"{c} (ms)" for c in columns], *ratio_names]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for (lmax, features, atoms), times in results.inference.items():
        ratios = [
            best(times, "nequip") / best(times, "e3core"),
            times[NEQUIP_EAGER] / times[E3_EAGER],
            times[NEQUIP_EAGER] / times[FROM_E3NN],
            times[E3_TS] / times[E3_EAGER],
            times[E3_AOTI] / times[E3_EAGER],
        ]
        cells = [f"{lmax}x{features}", str(atoms), *[fmt(times.get(c)) for c in columns]]
        print("| " + " | ".join(cells + [fmt(r, 2) for r in ratios]) + " |")
    print()
    print(
        "Largest deviation of each e3core format from its eager model, and of from_e3nn from "
        "nequip eager (energy, forces, virial; relative to the largest magnitude):\n"
    )
    print(f"| l_max x features | atoms | TorchScript | AOTI | {FROM_E3NN} / nequip eager |")
    print("|---|---:|---:|---:|---:|")
    for (lmax, features, atoms), dev in results.agree.items():
        cells = [dev[E3_TS], dev[E3_AOTI], dev[FROM_E3NN]]
        print(f"| {lmax}x{features} | {atoms} | " + " | ".join(f"{d:.1e}" for d in cells) + " |")
    print()
    print("Training step (QM9 molecules: forward, forces with create_graph, backward, Adam):\n")
    columns = [NEQUIP_EAGER, NEQUIP_COMPILE, FROM_E3NN, E3_EAGER, E3_COMPILED]
    ratio_names = ["nequip eager / e3core eager", "nequip best / e3core best"]
    ratio_names.append(f"nequip eager / {FROM_E3NN}")
    header = ["l_max x features", *[f"{c} (ms)" for c in columns], *ratio_names]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for (lmax, features), times in results.training.items():
        ratios = [
            times[NEQUIP_EAGER] / times[E3_EAGER],
            best(times, "nequip") / best(times, "e3core"),
            times[NEQUIP_EAGER] / times[FROM_E3NN],
        ]
        cells = [f"{lmax}x{features}", *[fmt(times.get(c)) for c in columns]]
        print("| " + " | ".join(cells + [fmt(r, 2) for r in ratios]) + " |")
    print()
    print(
        "The floor: unavoidable multiply-adds of each model (F per forward; 3 F for energy + "
        "forces + virial, 9 F for a training step) at the measured matrix-product rate:\n"
    )
    header = ["l_max x features", "step"]
    for package in ("nequip", "e3core"):
        header += [f"{package} F (G)", f"{package} floor (ms)", f"{package} best / floor"]
    header.append("e3core F: " + " / ".join(PARTS) + " (%)")
    print("| " + " | ".join(header) + " |")
    print("|---|---|" + "---:|" * (len(header) - 3) + "---|")
    rows = [
        (f"{k[0]}x{k[1]}", f"{k[2]} atoms", results.floors[k], 3, t)
        for k, t in results.inference.items()
    ]
    rows += [
        (f"{k[0]}x{k[1]}", "training", results.train_floors[k], 9, t)
        for k, t in results.training.items()
    ]
    for config, step, macs, factor, times in rows:
        cells = [config, step]
        for package in ("nequip", "e3core"):
            total = sum(macs[package].values())
            floor_ms = factor * total / results.rate * 1e3
            measured = times[package] if package in times else best(times, package)
            cells += [f"{total / 1e9:.3f}", f"{floor_ms:.1f}", f"{measured / floor_ms:.1f}"]
        ours = macs["e3core"]
        cells.append(" / ".join(f"{100 * ours[p] / sum(ours.values()):.0f}" for p in PARTS))
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    """Builds, checks and times every configuration, then prints the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1x32, 192 atoms, 3 rounds")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), help="l_max x features")
    parser.add_argument(
        "--sizes", nargs="+", type=int, default=[4, 8],
        help="water molecules per side of the box (4: 192 atoms, 8: 1,536)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--train-molecules", type=int, default=16)
    parser.add_argument(
        "--nequip-aoti", action="store_true", help="also compile nequip with AOTInductor (slow)"
    )
    parser.add_argument(
        "--no-compiled-training", action="store_true",
        help="skip the compiled training steps (nequip's takes minutes to compile)",
    )  # fmt: skip
    parser.add_argument(
        "--training-only", action="store_true", help="only the training steps (no inference)"
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--no-cpu-cache", action="store_true",
        help="run with torch's own CPU allocator instead of e3core.memory's cache",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.configs, args.sizes, args.rounds = ["1x32"], [4], 3
    torch.set_num_threads(args.threads)
    load_before = load_average()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="e3core-bench-models-"))
    configs = [parse_config(c) for c in args.configs]
    results = Results()

    # e3core first, before nequip's global state exists (see nequip_global_state).
    import e3core

    cpu_cache = e3core.memory.set_cpu_cache(not args.no_cpu_cache)
    boxes = [] if args.training_only else [Box(n) for n in args.sizes]
    potentials = {}
    for config in [] if args.training_only else configs:
        potentials[config], results.export_seconds[config] = e3core_contenders(*config, work)
    results.rate = matmul_rate()
    log(f"matrix product: {results.rate / 1e9:.1f} G multiply-adds/s")
    for config in potentials:
        run_inference(config, potentials[config], boxes, args, work, results)
    atoms, batch = qm9_sample(args.train_molecules)
    for config in configs:
        run_training(config, atoms, batch, args, results)
    load_after = load_average()
    minutes = (time.perf_counter() - started) / 60
    shutil.rmtree(work, ignore_errors=True)

    import e3nn
    import nequip

    print(
        f"- date: {datetime.datetime.now().isoformat(timespec='minutes')}; {cpu_model()}, "
        f"{os.cpu_count()} cores, {platform.system()}; torch threads {torch.get_num_threads()}"
    )
    print(f"- load average (1, 5, 15 min): {load_before} before, {load_after} after")
    env = [
        f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY") if k in os.environ
    ]
    if env:
        print(f"- environment: {', '.join(env)}")
    print(
        f"- e3core's CPU memory cache (e3core.memory) {'on' if cpu_cache else 'off'}: torch's CPU "
        "allocator, the same for every contender"
    )
    print(
        f"- versions: e3core {e3core.__version__}, nequip {nequip.__version__}, e3nn "
        f"{e3nn.__version__}, torch {torch.__version__}, python {platform.python_version()}"
    )
    print(
        f"- float32 matrix product (torch.mm 2048^3): {results.rate / 1e9:.1f} G multiply-adds/s;"
        f" medians of {args.rounds} alternating rounds; the run took {minutes:.0f} min"
    )
    sizes = ", ".join(f"{b.n_atoms} atoms / {b.edges} edges" for b in boxes)
    print(
        f"- water boxes: {sizes}; training: {args.train_molecules} QM9 molecules, "
        f"{batch.positions.shape[0]} atoms / {batch.edge_index.shape[1]} edges"
    )
    for (lmax, features), seconds in results.export_seconds.items():
        text = ", ".join(f"{n} {s:.0f} s" for n, s in seconds.items())
        print(f"- export times {lmax}x{features}: {text}")
    print()
    print_tables(results)


if __name__ == "__main__":
    main()
