"""A small energy model with the shared model interface, for the deployment tests.

Per-type energies, plus an equivariant message-passing term: one-hot types convolved with the
spherical harmonics of the edges (``o3.SphericalHarmonics`` and ``graph.TensorProductConv``, so
that exported models need e3core's ops) and weighted by a smooth radial basis; the atomic energy
takes the scalars and the squared norms of the vectors.

Example::

    >>> model = PairModel(type_numbers=[1, 8], r_max=3.0)
    >>> model.r_max
    3.0
"""

import functools
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from e3core import graph, math, o3


class PairModel(torch.nn.Module):
    """Energy of atoms from per-type energies and an equivariant pair term (test model).

    Example::

        >>> PairModel(type_numbers=[1, 8]).config["type_numbers"]
        [1, 8]
    """

    name = "pair_test"

    def __init__(self, type_numbers: list[int], r_max: float = 3.0, seed: int = 0) -> None:
        super().__init__()
        self.config = {"type_numbers": list(type_numbers), "r_max": float(r_max), "seed": seed}
        self.r_max = float(r_max)
        self.receptive_field = self.r_max  # one convolution
        generator = torch.Generator().manual_seed(seed)
        n_types = len(type_numbers)
        table = torch.full((max(type_numbers) + 1,), -1, dtype=torch.long)
        table[torch.tensor(type_numbers)] = torch.arange(n_types)
        self.register_buffer("type_table", table)
        self.type_energy = torch.nn.Parameter(torch.randn(n_types, generator=generator))
        self.sh = o3.SphericalHarmonics("0e+1o+2e", normalize=True, normalization="component")
        irreps_in = o3.Irreps(f"{n_types}x0e")
        self.conv = graph.TensorProductConv(
            irreps_in,
            self.sh.irreps_out,
            "4x0e+2x1o+1x2e",
            [(0, 0, 0, "uvw", True), (0, 1, 1, "uvw", True), (0, 2, 2, "uvw", True)],
            shared_weights=False,
            internal_weights=False,
        )
        self.radial = math.RadialBasis(r_max, num_basis=6, trainable=False)
        self.radial_weight = torch.nn.Parameter(
            0.3 * torch.randn(6, self.conv.weight_numel, generator=generator)
        )
        self.norm = o3.Norm("4x0e+2x1o+1x2e", squared=True)
        self.readout = torch.nn.Parameter(0.01 * torch.randn(7, generator=generator))

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Energies of the batch ``data`` (``e3core.data.Batch.as_dict()``'s keys).

        Example::

            >>> from e3core.data import Structure, collate
            >>> s = Structure([[0, 0, 0], [0, 0, 1.0]], ["H", "O"])
            >>> PairModel([1, 8])(collate([s], cutoff=3.0).as_dict())["energy"].shape
            torch.Size([1])
        """
        positions, numbers, batch = data["positions"], data["numbers"], data["batch"]
        types = self.type_table[numbers]
        if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
            if bool((types < 0).any()):
                raise ValueError("numbers holds an atomic number the model does not know")
        src, dst = data["edge_index"][0], data["edge_index"][1]
        shifts = data["edge_shift"].to(positions.dtype)
        vectors = positions.index_select(0, src) - positions.index_select(0, dst)
        vectors = vectors + torch.einsum("ek,ekx->ex", shifts, data["cell"][batch[src]])
        lengths = torch.linalg.vector_norm(vectors, dim=1)
        weight = self.radial(lengths) @ self.radial_weight
        onehot = torch.nn.functional.one_hot(types, self.type_energy.shape[0]).to(positions.dtype)
        features = self.conv(onehot, self.sh(vectors), weight, src, dst)
        atomic = self.type_energy[types] + self.norm(features) @ self.readout
        energy = torch.zeros(
            data["n_atoms"].shape[0], dtype=atomic.dtype, device=atomic.device
        ).index_add(0, batch, atomic)
        return {"energy": energy, "atomic_energy": atomic}


def make_model(dtype: torch.dtype = torch.float64) -> PairModel:
    """The test model over H and O, in ``dtype``.

    Example::

        >>> make_model().type_energy.dtype
        torch.float64
    """
    return PairModel(type_numbers=[1, 8], r_max=3.0).to(dtype)


# Every (format, dtype) exported in the tests, with the tolerance on energies and forces.
EXPORTS = [
    ("torchscript", torch.float64, 1e-6),
    ("torchscript", torch.float32, 1e-4),
    ("aoti", torch.float64, 1e-6),
    ("aoti", torch.float32, 1e-4),
]

_EXPORTS = Path(tempfile.mkdtemp(prefix="e3core-deploy-"))


@functools.cache
def exported(format: str, dtype: torch.dtype) -> Path:
    """The test model exported once per session in ``format`` and ``dtype`` (AOTInductor
    compiles take about a minute, so both test files share them).

    Example::

        >>> exported("torchscript", torch.float64).suffix
        '.pt'
    """
    from e3core import deploy

    path = _EXPORTS / f"model_{str(dtype)[6:]}.{'pt' if format == 'torchscript' else 'pt2'}"
    deploy.export(make_model(dtype), path, format)
    return path


def water(n_side: int = 2, seed: int = 0) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Positions, atomic numbers and cubic cell of ``n_side**3`` jittered water molecules.

    Example::

        >>> positions, numbers, cell = water(2)
        >>> positions.shape, numbers[:3]
        ((24, 3), [8, 1, 1])
    """
    rng = np.random.default_rng(seed)
    spacing = 3.104
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    oxygens = (grid + 0.5) * spacing
    h1 = oxygens + np.array([0.757, 0.586, 0.0])
    h2 = oxygens + np.array([-0.757, 0.586, 0.0])
    positions = np.stack([oxygens, h1, h2], 1).reshape(-1, 3)
    positions = positions + rng.normal(0, 0.1, positions.shape)
    return positions, [8, 1, 1] * len(grid), np.eye(3) * n_side * spacing


def flip_weights(src: Path, dst: Path, n: int = 8) -> str:
    """A copy of the export ``src`` with ``n`` bytes of its largest data record (weights of a
    TorchScript file, the compiled library of an AOTInductor package) flipped in place."""
    data = bytearray(open(src, "rb").read())
    with zipfile.ZipFile(src) as archive:
        records = [i for i in archive.infolist() if "metadata" not in i.filename]
        weights = [i for i in records if "/data/" in i.filename]
        info = max(weights or records, key=lambda i: i.file_size)
        content = archive.read(info)
    start = data.find(content) + len(content) // 2
    for k in range(n):
        data[start + k] ^= 0x5A
    open(dst, "wb").write(bytes(data))
    return info.filename
