"""Export of a model to a TorchScript file or an AOTInductor package, with metadata, and load.

Both formats are zip archives that carry the same metadata: a flat JSON object of names to
JSON texts (``{"r_max": "5.0", "type_names": "[\\"H\\", \\"O\\"]", ...}``), in
``extra/e3core_metadata.json`` of a TorchScript file and in the AOTInductor package's model
metadata (``AOTIModelPackageLoader::get_metadata()``).
"""

import copy
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from e3core.data._structure import ATOMIC_NUMBERS, SYMBOLS
from e3core.deploy._module import INPUTS, OUTPUTS, PotentialModule
from e3core.math._silu import silu_decompositions

METADATA_FILE = "e3core_metadata.json"
FORMATS = ("torchscript", "aoti")
# Version of the input/output contract (PotentialModule): bumped when it changes.
CONTRACT_VERSION = 2


class ExportError(ValueError):
    """A model that cannot be exported: the message is one line naming the model and why.

    Example::

        >>> raise ExportError("export: gate_points predicts no energy")
        Traceback (most recent call last):
        ...
        e3core.deploy._export.ExportError: export: gate_points predicts no energy
    """


def parse_version(version: str) -> tuple[int, ...]:
    """The leading numbers of a version string, as a tuple to compare.

    Example::

        >>> parse_version("0.10.2.dev1") > parse_version("0.9")
        True
    """
    match = re.match(r"\d+(\.\d+)*", version.strip())
    if match is None:
        raise ValueError(f"version is {version!r}, expected numbers such as '0.1.0'")
    return tuple(int(part) for part in match.group(0).split("."))


def check_version(exported: str, path: str | os.PathLike = "the model") -> None:
    """Raises ValueError unless ``exported`` (the e3core version that exported a model) has the
    major and minor version of this e3core.

    Example::

        >>> check_version("0.1.7")
        >>> check_version("9.0.0")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: the model was exported by e3core 9.0.0, but this is e3core 0.1.0: ...
    """
    from e3core import __version__

    if parse_version(exported)[:2] != parse_version(__version__)[:2]:
        raise ValueError(
            f"{path} was exported by e3core {exported}, but this is e3core {__version__}: "
            "major and minor versions must match; export the model again with this version"
        )


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


def _type_numbers(model: torch.nn.Module) -> list[int]:
    config = getattr(model, "config", None)
    if not isinstance(config, Mapping) or "type_numbers" not in config:
        raise ValueError(
            f"export: the model ({type(model).__name__}) has no config['type_numbers'], the "
            "atomic numbers of its atom types (e3core's model interface)"
        )
    return [int(z) for z in config["type_numbers"]]


def energy_key(model: torch.nn.Module) -> str:
    """The output a model gives its energy under: its ``target`` (e3core's models), else
    ``"energy"``.

    Example::

        >>> energy_key(torch.nn.Linear(1, 1))
        'energy'
    """
    target = getattr(model, "target", None)
    return target if isinstance(target, str) else "energy"


def _model_name(model: torch.nn.Module) -> str:
    return str(getattr(model, "name", "") or type(model).__name__)


def energy_model(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` that computes no derivatives itself (``compute_forces`` and
    ``compute_stress`` off, where it has them): a potential takes forces and virial of its
    energy itself, once, and a model's own ``autograd.grad`` would free the graph first.

    Example::

        >>> from e3core import models
        >>> model = models.build("nequip", type_numbers=[1, 8], num_features=4, num_layers=1)
        >>> model.compute_forces, energy_model(model).compute_forces
        (True, False)
    """
    copied = copy.deepcopy(model)
    for flag in ("compute_forces", "compute_stress"):
        if isinstance(getattr(copied, flag, None), bool):
            setattr(copied, flag, False)
    return copied


def _checkpoint_model(
    checkpoint: Mapping[str, Any] | str | os.PathLike,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model of a checkpoint (a file, a run directory or a loaded dict, as e3core.train
    writes them), and the metadata of its ``extra`` (units, atomrefs)."""
    from e3core.train import load_checkpoint, model_from_checkpoint
    from e3core.train._run import resolve_checkpoint

    if not isinstance(checkpoint, Mapping):
        checkpoint = load_checkpoint(resolve_checkpoint(checkpoint))
    entry = checkpoint.get("model")
    if not isinstance(entry, Mapping) or "name" not in entry or "state_dict" not in entry:
        raise ValueError(
            "checkpoint has no 'model' entry with 'name', 'config' and 'state_dict' "
            "(an e3core checkpoint)"
        )
    model = model_from_checkpoint(checkpoint)
    extra = checkpoint.get("extra") or {}
    return model, {k: v for k, v in extra.items() if k in ("units", "atomrefs")}


def _as_model(
    source: torch.nn.Module | Mapping[str, Any] | str | os.PathLike,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    if isinstance(source, torch.nn.Module):
        return source, {}
    return _checkpoint_model(source)


def export_metadata(
    model: torch.nn.Module,
    format: str,
    dtype: torch.dtype,
    type_names: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What an exported model carries: e3core version, format, contract version, model name
    (kind) and configuration, cutoff ``r_max``, ``receptive_field`` (how far an atom's energy
    looks: message-passing layers times ``r_max``, the model's attribute), type names and
    atomic numbers, dtype, and ``extra`` entries (a checkpoint's units and atom references).

    Example::

        >>> model = torch.nn.Linear(1, 1)
        >>> model.config, model.r_max = {"type_numbers": [1, 8]}, 4.0
        >>> model.receptive_field = 8.0
        >>> meta = export_metadata(model, "torchscript", torch.float64)
        >>> meta["type_names"], meta["r_max"], meta["receptive_field"], meta["dtype"]
        (['H', 'O'], 4.0, 8.0, 'float64')
    """
    from e3core import __version__

    numbers = _type_numbers(model)
    names = [SYMBOLS[z] if 0 < z < len(SYMBOLS) else str(z) for z in numbers]
    if type_names is not None:
        names = [str(name) for name in type_names]
        if len(names) != len(numbers):
            raise ValueError(
                f"export: type_names has {len(names)} names but the model has {len(numbers)} "
                f"atom types (type_numbers {numbers})"
            )
    r_max = getattr(model, "r_max", None)
    if r_max is None:
        raise ValueError(f"export: the model ({type(model).__name__}) has no r_max attribute")
    receptive_field = getattr(model, "receptive_field", None)
    if receptive_field is None or not float(receptive_field) >= float(r_max):
        raise ValueError(
            f"export: the model ({type(model).__name__}) has receptive_field "
            f"{receptive_field!r}, expected an attribute >= r_max ({r_max}): its message-passing "
            "layers times r_max, the ghost shell that simulation codes need on many ranks"
        )
    config = getattr(model, "config", {})
    metadata = {
        "e3core_version": __version__,
        "format": format,
        "contract_version": CONTRACT_VERSION,
        "model_name": _model_name(model),
        "model_config": json.loads(json.dumps(config, default=str)),
        "r_max": float(r_max),
        "receptive_field": float(receptive_field),
        "type_names": names,
        "type_numbers": numbers,
        "dtype": _dtype_name(dtype),
        "inputs": list(INPUTS),
        "outputs": list(OUTPUTS),
    }
    metadata.update(extra or {})
    return metadata


def _encode(metadata: Mapping[str, Any]) -> dict[str, str]:
    return {key: json.dumps(value) for key, value in metadata.items()}


def example_inputs(
    r_max: float, n_types: int, dtype: torch.dtype, n_atoms: int = 8
) -> tuple[torch.Tensor, ...]:
    """A periodic structure of ``n_atoms`` atoms of ``n_types`` types (numpy seed 0) with its
    edges within ``r_max``, as the contract's inputs: the example that export traces with.

    Example::

        >>> pos, edge_index, types, cell, shifts, local = example_inputs(3.0, 2, torch.float64)
        >>> pos.shape, types.tolist(), bool(local.all())
        (torch.Size([8, 3]), [0, 1, 0, 1, 0, 1, 0, 1], True)
    """
    from e3core.graph import neighbor_list

    rng = np.random.default_rng(0)
    cell = np.eye(3) * 1.5 * r_max
    positions = rng.uniform(0, 1.5 * r_max, (n_atoms, 3))
    i, j, shifts = neighbor_list("ijS", positions, r_max, cell, True, sorted=True)
    return (
        torch.tensor(positions, dtype=dtype),
        torch.from_numpy(np.stack([j, i]).astype(np.int64)),
        torch.arange(n_atoms) % n_types,
        torch.tensor(cell, dtype=dtype),
        torch.from_numpy(shifts).to(dtype),
        torch.ones(n_atoms, dtype=torch.bool),
    )


def _export_aoti(
    potential: PotentialModule, path: Path, inputs: tuple[torch.Tensor, ...], meta: dict[str, str]
) -> None:
    from torch.fx.experimental.proxy_tensor import make_fx

    # torch.export cannot yet trace torch.autograd.grad reliably (constants of symbolic shape,
    # pytorch#187907): make_fx traces the forward and backward into one aten graph, which is
    # exported. The compile-session flag is on, as under torch.export, so that models skip
    # their eager-only checks.
    with torch.compiler._compile_session_context():
        graph = make_fx(
            potential,
            decomposition_table=silu_decompositions(),
            tracing_mode="symbolic",
            _allow_non_fake_inputs=True,
        )(*inputs)
    atoms = torch.export.Dim("n_atoms", min=1)
    edges = torch.export.Dim("n_edges", min=1)
    dynamic = ({0: atoms}, {1: edges}, {0: atoms}, {}, {0: edges}, {0: atoms})
    program = torch.export.export(graph, inputs, dynamic_shapes=dynamic, strict=False)
    torch._inductor.aoti_compile_and_package(
        program, package_path=str(path), inductor_configs={"aot_inductor.metadata": meta}
    )


def _is_torchscript_metadata(name: str) -> bool:
    return name.endswith("/extra/" + METADATA_FILE)


def _is_aoti_metadata(name: str) -> bool:
    return "/data/aotinductor/" in name and name.endswith("_metadata.json")


def _is_metadata_record(name: str) -> bool:
    return _is_torchscript_metadata(name) or _is_aoti_metadata(name)


def _checksum(archive: zipfile.ZipFile) -> str:
    # Every record but the metadata (which holds the checksum) and the writer's id of the
    # archive (a hash of all records' CRCs, the metadata's included).
    from e3core.train._checkpoint import archive_checksum

    def skip(name: str) -> bool:
        return _is_metadata_record(name) or name.endswith("/.data/serialization_id")

    return archive_checksum(archive, skip)


def _save_torchscript(scripted: Any, path: Path, metadata: dict[str, Any]) -> None:
    # The checksum of every record but the metadata's, which holds it: the archive saved once
    # gives it, then saved with it (TorchScript archives are deterministic: checked; their
    # debug records hold the file's name, so both saves write to ``path``).
    scripted.save(str(path), _extra_files={METADATA_FILE: json.dumps(_encode(metadata))})
    with zipfile.ZipFile(path) as archive:
        metadata["checksum"] = _checksum(archive)
    scripted.save(str(path), _extra_files={METADATA_FILE: json.dumps(_encode(metadata))})
    with zipfile.ZipFile(path) as archive:
        if _checksum(archive) != metadata["checksum"]:
            raise RuntimeError("TorchScript saved different archives from the same module")


def _write_aoti_with_checksum(staged: Path, path: Path) -> str:
    # Inductor writes the metadata at compile time: the package is written again, to ``path``,
    # with its metadata records holding the checksum of the other records.
    with zipfile.ZipFile(staged) as archive:
        checksum = _checksum(archive)
        records = [(info, archive.read(info)) for info in archive.infolist()]
    from e3core.train._checkpoint import atomic_write

    def write(file: Any) -> None:
        with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as out:
            for info, content in records:
                if _is_metadata_record(info.filename):
                    meta = json.loads(content)
                    meta["checksum"] = json.dumps(checksum)
                    content = json.dumps(meta).encode()
                out.writestr(info, content)

    atomic_write(path, write)
    return checksum


def export(
    source: torch.nn.Module | Mapping[str, Any] | str | os.PathLike,
    path: str | os.PathLike,
    format: str = "torchscript",
    *,
    dtype: torch.dtype | None = None,
    type_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Writes a model (an ``nn.Module`` of e3core's model interface, or a checkpoint) as a
    potential for simulation codes, in ``format`` ``"torchscript"`` (a file for
    ``torch::jit::load``) or ``"aoti"`` (a torch.export/AOTInductor package, ``.pt2``, for
    ``AOTIModelPackageLoader``); returns its metadata. Energy, forces and virial are computed
    inside the artefact (the contract of ``PotentialModule``). ``dtype`` casts the model
    (default: its own); ``type_names`` name the atom types (default: the element symbols of
    ``config["type_numbers"]``).

    Example::

        >>> meta = export(model, "water.pt")  # doctest: +SKIP
        >>> meta["type_names"], meta["r_max"]  # doctest: +SKIP
        (['H', 'O'], 5.0)
    """
    if format not in FORMATS:
        raise ValueError(f"export: format is {format!r}, expected one of {FORMATS}")
    if format == "aoti" and not str(path).endswith(".pt2"):
        raise ValueError(f"export: path is {str(path)!r}, expected a name ending in .pt2 for aoti")
    model, extra = _as_model(source)
    dtype = _model_dtype(model) if dtype is None else dtype
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"export: dtype is {dtype}, expected torch.float32 or torch.float64")
    model = energy_model(model).to(dtype).eval()
    metadata = export_metadata(model, format, dtype, type_names, extra)
    for name in metadata["type_names"]:
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"export: type name {name!r} must be non-empty, without spaces")
    potential = PotentialModule(model, metadata["type_numbers"], energy_key(model))
    inputs = example_inputs(metadata["r_max"], len(metadata["type_numbers"]), dtype)
    _check_potential(potential, inputs, metadata["model_name"])
    from e3core.train._checkpoint import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Staged under the same name in a temporary directory (the archives hold the file's
        # name), then written to ``path`` atomically: an export that fails or is killed leaves
        # an existing file at ``path`` as it was.
        with tempfile.TemporaryDirectory(prefix="e3core-export-") as tmp:
            staged = Path(tmp) / path.name
            if format == "torchscript":
                _save_torchscript(torch.jit.script(potential), staged, metadata)
                with staged.open("rb") as source:
                    atomic_write(path, lambda file: shutil.copyfileobj(source, file))
            else:
                _export_aoti(potential, staged, inputs, _encode(metadata))
                metadata["checksum"] = _write_aoti_with_checksum(staged, path)
    except Exception as error:
        raise ExportError(
            f"export: {metadata['model_name']} cannot be exported to {format}: "
            f"{type(error).__name__}: {_first_line(error)}"
        ) from error
    return metadata


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"


def _check_potential(
    potential: PotentialModule, inputs: tuple[torch.Tensor, ...], name: str
) -> None:
    """Runs the potential eagerly on the example: a model that is not an energy model, or
    whose energy is not the sum of its atomic energies, fails here with ExportError."""
    key = potential.energy_key
    try:
        with torch.no_grad():
            out = potential.model(potential.data(*inputs[:5]))
    except Exception as error:
        raise ExportError(
            f"export: {name} does not run on a potential's inputs (positions, types, cell, "
            f"edges): {type(error).__name__}: {_first_line(error)}; only energy models deploy "
            "as potentials"
        ) from error
    missing = [k for k in (key, "atomic_" + key) if k not in out]
    if missing:
        raise ExportError(
            f"export: {name} predicts {', '.join(sorted(out))}, not an energy ({key!r} and "
            f"'atomic_{key}'): only energy models deploy as potentials"
        )
    total, atomic = out[key].sum(), out["atomic_" + key]
    if atomic.shape != inputs[0].shape[:1]:
        raise ExportError(
            f"export: {name}'s atomic_{key} has shape {tuple(atomic.shape)}, expected "
            f"({inputs[0].shape[0]},), one energy per atom"
        )
    tol = 1e-4 if atomic.dtype == torch.float32 else 1e-10
    if not torch.isclose(total, atomic.sum(), rtol=tol, atol=tol):
        raise ExportError(
            f"export: {name}'s {key} ({float(total):.6g}) is not the sum of its atomic_{key} "
            f"({float(atomic.sum()):.6g}): a potential must be extensive (reduce='sum')"
        )
    try:
        potential(*inputs)
    except Exception as error:
        raise ExportError(
            f"export: {name} fails as a potential: {type(error).__name__}: {_first_line(error)}"
        ) from error


def _archive_format(names: Sequence[str]) -> str | None:
    if any(_is_torchscript_metadata(name) for name in names):
        return "torchscript"
    if any("/data/aotinductor/" in name for name in names):
        return "aoti"
    return None


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of an exported model, read from the file without loading the model;
    ``FileNotFoundError`` or ``ValueError`` (not an e3core export) otherwise.

    Example::

        >>> read_metadata("water.pt")["type_names"]  # doctest: +SKIP
        ['H', 'O']
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"exported model {path} is a directory, expected a file (a .pt or .pt2 written by "
            "e3core.deploy.export)"
        )
    if not path.is_file():
        raise FileNotFoundError(f"exported model {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not an exported e3core model (neither a TorchScript file nor an "
            "AOTInductor package: not a zip archive)"
        )
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        fmt = _archive_format(names)
        if fmt == "torchscript":
            record = next(n for n in names if _is_torchscript_metadata(n))
        elif fmt == "aoti":
            record = next((n for n in names if _is_aoti_metadata(n)), None)
        else:
            record = None
        if record is None:
            raise ValueError(
                f"{path} is not an exported e3core model (a zip archive without e3core's "
                "metadata; export models with e3core.deploy.export)"
            )
        encoded = json.loads(archive.read(record))
        if "checksum" in encoded:  # exports before checksums were stored have none
            try:
                actual = _checksum(archive)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
                raise ValueError(
                    f"exported model {path} is corrupted: {type(error).__name__}: {error}"
                ) from None
            if json.loads(encoded["checksum"]) != actual:
                raise ValueError(
                    f"exported model {path} is corrupted: its records do not match the sha256 "
                    "checksum of its metadata; export the model again"
                )
    if "e3core_version" not in encoded:
        raise ValueError(f"{path} is not an exported e3core model (no e3core_version)")
    return {k: json.loads(v) for k, v in encoded.items() if not k.startswith("AOTI_")}


class Potential:
    """An exported (or wrapped) potential: the contract's call, and ``compute`` on positions
    and atomic numbers with e3core's neighbour list. ``metadata`` is the export's.

    Example::

        >>> potential = load("water.pt")  # doctest: +SKIP
        >>> cell = np.eye(3) * 10
        >>> out = potential.compute(positions, [8, 1, 1], cell, pbc=True)  # doctest: +SKIP
        >>> out["energy"], out["forces"].shape  # doctest: +SKIP
        (-14.2, (3, 3))
    """

    def __init__(self, runner: Any, metadata: Mapping[str, Any]) -> None:
        self.runner, self.metadata = runner, dict(metadata)
        self.r_max = float(self.metadata["r_max"])
        self.type_names = list(self.metadata["type_names"])
        self.type_numbers = list(self.metadata["type_numbers"])
        self.dtype = getattr(torch, self.metadata["dtype"])
        self._type_of = {z: t for t, z in enumerate(self.type_numbers)}

    @classmethod
    def from_model(
        cls, source: torch.nn.Module | Mapping[str, Any] | str | os.PathLike
    ) -> "Potential":
        """A potential that runs a model (or a checkpoint's) in Python, without export.

        Example::

            >>> potential = Potential.from_model("runs/water/best.pt")  # doctest: +SKIP
        """
        model, extra = _as_model(source)
        model = energy_model(model).eval()
        metadata = export_metadata(model, "python", _model_dtype(model), extra=extra)
        return cls(PotentialModule(model, metadata["type_numbers"], energy_key(model)), metadata)

    def __call__(
        self,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        atom_types: torch.Tensor,
        cell: torch.Tensor,
        edge_cell_shift: torch.Tensor,
        local_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The contract's outputs by name for the contract's inputs (``local_mask``: every
        atom by default).

        Example::

            >>> inputs = example_inputs(potential.r_max, 2, torch.float64)  # doctest: +SKIP
            >>> potential(*inputs)["forces"].shape  # doctest: +SKIP
            torch.Size([8, 3])
        """
        if local_mask is None:
            local_mask = torch.ones(pos.shape[0], dtype=torch.bool, device=pos.device)
        outputs = self.runner(pos, edge_index, atom_types, cell, edge_cell_shift, local_mask)
        return dict(zip(OUTPUTS, outputs, strict=True))

    def atom_types(self, numbers: Sequence[int] | np.ndarray | Sequence[str]) -> torch.Tensor:
        """Atom types (indices into ``type_names``) of atomic numbers or element symbols.

        Example::

            >>> potential.atom_types(["O", "H", "H"])  # doctest: +SKIP
            tensor([1, 0, 0])
        """
        types = []
        for k, z in enumerate(list(numbers)):
            z = ATOMIC_NUMBERS.get(z, -1) if isinstance(z, str) else int(z)
            if z not in self._type_of:
                raise ValueError(
                    f"numbers[{k}] is {numbers[k]!r}, an atom type the model does not know "
                    f"(it knows {', '.join(self.type_names)})"
                )
            types.append(self._type_of[z])
        return torch.tensor(types, dtype=torch.long)

    def compute(
        self,
        positions: np.ndarray | Sequence[Sequence[float]],
        numbers: Sequence[int] | np.ndarray | Sequence[str],
        cell: np.ndarray | None = None,
        pbc: bool | Sequence[bool] = False,
    ) -> dict[str, np.ndarray]:
        """Energy, atomic energies, forces and virial (numpy, float64) of one structure, its
        edges from ``e3core.graph.neighbor_list`` within ``r_max``.

        Example::

            >>> out = potential.compute([[0, 0, 0], [0, 0, 1.0]], ["H", "H"])  # doctest: +SKIP
            >>> out["forces"].shape  # doctest: +SKIP
            (2, 3)
        """
        from e3core.graph import neighbor_list

        positions = np.asarray(positions, dtype=np.float64)
        if positions.ndim != 2 or positions.shape[1] != 3:
            raise ValueError(f"positions has shape {positions.shape} but expected (N, 3)")
        types = self.atom_types(numbers)
        if types.shape[0] != positions.shape[0]:
            raise ValueError(
                f"numbers has {types.shape[0]} entries but positions has {positions.shape[0]} atoms"
            )
        cell = np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64)
        periodic = [bool(p) for p in np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))]
        i, j, shifts = neighbor_list(
            "ijS", positions, self.r_max, cell if any(periodic) else None, periodic, sorted=True
        )
        out = self(
            torch.tensor(positions, dtype=self.dtype),
            torch.from_numpy(np.stack([j, i]).astype(np.int64)),
            types,
            torch.tensor(cell, dtype=self.dtype),
            torch.from_numpy(shifts).to(self.dtype),
        )
        result = {k: v.detach().to(torch.float64).numpy() for k, v in out.items()}
        result["energy"] = float(result["energy"])
        return result


class _Unoptimized:
    """A TorchScript module run without the graph executor's optimisations (profiling,
    differentiable subgraphs), as ``e3core::Model`` runs it: with them, an exported NequIP took
    up to 1.7x the eager model's time on 2 CPU cores (1,536 atoms: 958 ms, against 581 ms eager
    and 551 ms unoptimised)."""

    def __init__(self, module: torch.jit.ScriptModule) -> None:
        self.module = module

    def __call__(self, *inputs: torch.Tensor) -> Any:
        with torch.jit.optimized_execution(False):
            return self.module(*inputs)


def load(path: str | os.PathLike) -> Potential:
    """Loads an exported model (either format, told apart by its content) as a ``Potential``,
    after checking its e3core version (``check_version``).

    Example::

        >>> potential = load("water.pt2")  # doctest: +SKIP
        >>> potential.metadata["format"], potential.type_names  # doctest: +SKIP
        ('aoti', ['H', 'O'])
    """
    metadata = read_metadata(path)
    check_version(metadata["e3core_version"], path)
    contract = metadata.get("contract_version", 1)
    if contract != CONTRACT_VERSION:
        raise ValueError(
            f"{path} uses contract version {contract}, but this e3core runs contract version "
            f"{CONTRACT_VERSION}; export the model again with this version"
        )
    if metadata["format"] == "torchscript":
        runner = _Unoptimized(torch.jit.load(str(path), map_location="cpu"))
    else:
        runner = torch._inductor.aoti_load_package(str(path))
    return Potential(runner, metadata)
