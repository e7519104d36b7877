"""Batches of graphs: structures concatenated, with their edges, for models and training."""

from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import torch
import torch.utils.data

from e3core.data._dataset import AtomsDataset
from e3core.data._structure import Structure
from e3core.graph._edges import edge_vectors


@dataclass(eq=False)
class Batch:
    """Structures concatenated into one graph, as models take them (torch tensors).

    Atoms: ``positions`` (N, 3), ``numbers`` (N,) int64 and ``batch`` (N,) int64 (the graph of
    each atom); graphs: ``ptr`` (G + 1,) (graph g has atoms ``ptr[g]:ptr[g + 1]``), ``n_atoms``
    (G,), ``cell`` (G, 3, 3) (rows the lattice vectors, zeros when not periodic), ``pbc`` (G, 3).
    Edges (when a cutoff was given): ``edge_index`` (2, E) int64, row 0 the source ``j``, row 1
    the target ``i`` (torch_cluster's ``flow="source_to_target"`` and ``radius_graph``'s order:
    sorted by target, then source), and ``edge_shift`` (E, 3), the integer cell shift of the
    source's image, so that ``edge_vectors()`` = ``positions[j] - positions[i] + shift @ cell``.
    ``targets`` hold (G, ...) tensors, ``atom_targets`` (N, ...) tensors (forces), ``ids`` (G,).
    ``probes`` hold the probe points of density data (``DensityDataset.collate``):
    ``probe_positions`` (P, 3), ``probe_batch`` (P,) (the graph of each probe),
    ``probe_weights`` (P,) and the reference ``probe_density`` (P,), a probe target.

    Example::

        >>> structures = [Structure([[0, 0, 0], [0, 0, 1.0]], ["H", "H"], targets={"energy": -1.0}),
        ...               Structure(np.zeros((1, 3)), ["H"], targets={"energy": -0.5})]
        >>> batch = collate(structures, cutoff=1.5)
        >>> batch.batch, batch.edge_index, batch.targets["energy"]
        (tensor([0, 0, 1]), tensor([[1, 0],
                [0, 1]]), tensor([-1.0000, -0.5000]))
        >>> batch.edge_vectors()
        tensor([[ 0.,  0.,  1.],
                [ 0.,  0., -1.]])
    """

    positions: torch.Tensor
    numbers: torch.Tensor
    batch: torch.Tensor
    ptr: torch.Tensor
    n_atoms: torch.Tensor
    cell: torch.Tensor
    pbc: torch.Tensor
    edge_index: torch.Tensor | None = None
    edge_shift: torch.Tensor | None = None
    targets: dict[str, torch.Tensor] = field(default_factory=dict)
    atom_targets: dict[str, torch.Tensor] = field(default_factory=dict)
    probes: dict[str, torch.Tensor] = field(default_factory=dict)
    ids: torch.Tensor | None = None
    cutoff: float | None = None

    @property
    def num_graphs(self) -> int:
        """G, the number of structures.

        Example::

            >>> collate([Structure(np.zeros((1, 3)), ["H"])] * 3).num_graphs
            3
        """
        return int(self.n_atoms.shape[0])

    @property
    def num_nodes(self) -> int:
        """N, the number of atoms.

        Example::

            >>> collate([Structure(np.zeros((2, 3)), ["H", "H"])] * 3).num_nodes
            6
        """
        return int(self.positions.shape[0])

    @property
    def num_edges(self) -> int:
        """E, the number of edges (0 without a cutoff).

        Example::

            >>> collate([Structure([[0, 0, 0], [1.0, 0, 0]], ["H", "H"])], cutoff=2.0).num_edges
            2
        """
        return 0 if self.edge_index is None else int(self.edge_index.shape[1])

    def edge_vectors(
        self, positions: torch.Tensor | None = None, cell: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(E, 3): ``positions[j] - positions[i] + edge_shift @ cell[graph]`` for each edge
        ``j -> i``, computed in torch, so it carries gradients to ``positions`` and ``cell``
        (pass tensors that require grad, or set ``batch.positions.requires_grad_()``; forces as
        -dE/dR, stress from a strained cell).

        Example::

            >>> s = Structure([[0.1, 0, 0]], ["H"], cell=np.eye(3), pbc=[True, False, False])
            >>> batch = collate([s], cutoff=1.5)
            >>> batch.edge_shift, batch.edge_vectors()
            (tensor([[-1., 0., 0.],
                    [ 1., 0., 0.]]), tensor([[-1.,  0.,  0.],
                    [ 1.,  0.,  0.]]))
        """
        if self.edge_index is None or self.edge_shift is None:
            raise ValueError(
                "edge_vectors: this batch has no edges; collate it with a cutoff "
                "(collate(..., cutoff=5.0) or DataLoader(..., cutoff=5.0))"
            )
        positions = self.positions if positions is None else positions
        cell = self.cell if cell is None else cell
        return edge_vectors(positions, self.edge_index, self.edge_shift, cell, self.batch)

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> "Batch":
        """A copy on ``device``, with floating tensors (positions, cell, shifts, targets) cast to
        ``dtype``; integer and bool tensors keep theirs.

        Example::

            >>> batch = collate([Structure(np.zeros((1, 3)), ["H"])])
            >>> batch.to(dtype=torch.float64).positions.dtype
            torch.float64
        """

        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            if t is None:
                return None
            return t.to(device=device, dtype=dtype if t.is_floating_point() else None)

        return self._map(move)

    def pin_memory(self) -> "Batch":
        """A copy in pinned memory (what ``DataLoader(..., pin_memory=True)`` calls).

        Example::

            >>> b = collate([Structure(np.zeros((1, 3)), ["H"])])
            >>> b.pin_memory().num_graphs if torch.cuda.is_available() else 1
            1
        """
        return self._map(lambda t: None if t is None else t.pin_memory())

    def _map(self, fn: object) -> "Batch":
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dict):
                values[f.name] = {k: fn(v) for k, v in value.items()}
            elif isinstance(value, torch.Tensor):
                values[f.name] = fn(value)
            else:
                values[f.name] = value
        return Batch(**values)

    def as_dict(self) -> dict[str, torch.Tensor]:
        """The tensors by name in one flat dict (targets, atom targets and probes under their
        own names), for models that take ``Dict[str, Tensor]`` (TorchScript).

        Example::

            >>> b = collate([Structure(np.zeros((1, 3)), ["H"], targets={"energy": -0.5})])
            >>> sorted(b.as_dict())
            ['batch', 'cell', 'energy', 'n_atoms', 'numbers', 'pbc', 'positions', 'ptr']
        """
        out = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        out.update(self.targets)
        out.update(self.atom_targets)
        out.update(self.probes)
        return out

    def __repr__(self) -> str:
        def names(d: dict[str, torch.Tensor]) -> str:
            return ", ".join(f"{k} {tuple(v.shape)}" for k, v in d.items()) or "none"

        return (
            f"Batch({self.num_graphs} graphs, {self.num_nodes} atoms, {self.num_edges} edges"
            f"{'' if self.cutoff is None else f' (cutoff {self.cutoff})'}; "
            f"targets: {names(self.targets)}; atom_targets: {names(self.atom_targets)}"
            f"{f'; probes: {names(self.probes)}' if self.probes else ''})"
        )


def _edges(data: AtomsDataset, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """edge_index (2, E) and integer shifts (E, 3) of every structure, offset to the batch."""
    from e3core.graph import neighbor_list, radius_graph

    if not np.any(data.pbc):
        # One C++ call for the whole batch: graphs are separated by the batch vector.
        edge_index = radius_graph(
            torch.from_numpy(np.array(data.positions)),
            float(cutoff),
            torch.from_numpy(data.structure_index()),
        ).numpy()
        return edge_index, np.zeros((edge_index.shape[1], 3), dtype=np.int64)
    sources, targets, shifts = [], [], []
    for k in range(len(data)):
        a, b = int(data.ptr[k]), int(data.ptr[k + 1])
        periodic = bool(np.any(data.pbc[k]))
        i, j, s = neighbor_list(
            "ijS",
            data.positions[a:b],
            cutoff,
            data.cell[k] if periodic else None,
            data.pbc[k].tolist(),
            sorted=True,
        )
        sources.append(j + a)
        targets.append(i + a)
        shifts.append(s)
    edge_index = np.stack([np.concatenate(sources), np.concatenate(targets)]).astype(np.int64)
    return edge_index, np.concatenate(shifts).astype(np.int64)


def collate(
    data: Sequence[Structure] | AtomsDataset | Structure,
    cutoff: float | None = None,
    dtype: torch.dtype | None = None,
) -> Batch:
    """One ``Batch`` of ``data`` (structures, or an ``AtomsDataset``), with the edges between
    atoms closer than ``cutoff`` (Angstrom; periodic images included, ase's pairs) if given.

    Floating tensors get ``dtype`` (default ``torch.get_default_dtype()``); neighbours are found
    in float64 before the cast. float32 keeps about 7 significant digits: subtract atom
    references from large total energies (QM9's U0 is about -400 Ha) before training in it.

    Example::

        >>> batch = collate(load_qm9_sample()[:4], cutoff=5.0)
        >>> batch.num_graphs, batch.num_nodes, batch.edge_index.shape, batch.targets["U0"].shape
        (4, 16, torch.Size([2, 50]), torch.Size([4]))
        >>> collate([Structure(np.zeros((1, 3)), ["H"])], cutoff=-1.0)
        Traceback (most recent call last):
        ...
        ValueError: collate: cutoff is -1.0, expected a positive number of Angstrom or None
    """
    if isinstance(data, Structure):
        data = [data]
    if not isinstance(data, AtomsDataset):
        data = AtomsDataset.from_structures(data)
    if cutoff is not None:
        if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or not cutoff > 0:
            raise ValueError(
                f"collate: cutoff is {cutoff!r}, expected a positive number of Angstrom or None"
            )
        cutoff = float(cutoff)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if not dtype.is_floating_point:
        raise TypeError(f"collate: dtype is {dtype}, expected a floating dtype")

    def real(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(array)).to(dtype)

    edge_index = edge_shift = None
    if cutoff is not None:
        edges, shifts = _edges(data, cutoff)
        edge_index = torch.from_numpy(edges)
        edge_shift = torch.from_numpy(shifts).to(dtype)
    return Batch(
        positions=real(data.positions),
        numbers=torch.from_numpy(np.array(data.numbers)),
        batch=torch.from_numpy(data.structure_index()),
        ptr=torch.from_numpy(np.array(data.ptr)),
        n_atoms=torch.from_numpy(np.array(data.n_atoms)),
        cell=real(data.cell),
        pbc=torch.from_numpy(np.array(data.pbc)),
        edge_index=edge_index,
        edge_shift=edge_shift,
        targets={k: real(v) for k, v in data.targets.items()},
        atom_targets={k: real(v) for k, v in data.atom_targets.items()},
        ids=None if data.ids is None else torch.from_numpy(np.array(data.ids)),
        cutoff=cutoff,
    )


class Collater:
    """``collate`` with a fixed ``cutoff`` and ``dtype``, as a picklable callable (the
    ``collate_fn`` of a torch DataLoader with worker processes). Structures of a
    ``DensityDataset`` come with their probes (``DensityDataset.collate``), at most
    ``max_probes`` per structure drawn at random (seeded from torch's generator, so the draw
    follows ``torch.manual_seed`` and resumes with it).

    Example::

        >>> Collater(cutoff=5.0)(load_qm9_sample()[:2]).num_graphs
        2
        >>> Collater(3.0, max_probes=10)(load_water_density()[:2]).probes["probe_batch"].shape
        torch.Size([20])
    """

    def __init__(
        self,
        cutoff: float | None = None,
        dtype: torch.dtype | None = None,
        max_probes: int | None = None,
    ) -> None:
        self.cutoff, self.dtype, self.max_probes = cutoff, dtype, max_probes

    def __call__(self, data: Sequence[Structure] | AtomsDataset) -> Batch:
        from e3core.data._density_dataset import DensityDataset

        if isinstance(data, DensityDataset):
            seed = None if self.max_probes is None else int(torch.randint(1 << 62, ()))
            return data.collate(range(len(data)), self.cutoff, self.max_probes, seed, self.dtype)
        return collate(data, self.cutoff, self.dtype)

    def __repr__(self) -> str:
        return f"Collater(cutoff={self.cutoff}, dtype={self.dtype}, max_probes={self.max_probes})"


class DataLoader(torch.utils.data.DataLoader):
    """A ``torch.utils.data.DataLoader`` that yields ``Batch`` es of graphs with edges within
    ``cutoff`` (``collate_fn`` is ``Collater(cutoff, dtype, max_probes)``; ``max_probes``
    limits the probes per structure of a ``DensityDataset``). ``seed`` fixes the shuffling
    order (a ``torch.Generator``); other keyword arguments (``num_workers``, ``drop_last``,
    ``pin_memory``, ``sampler`` ...) are torch's.

    Example::

        >>> loader = DataLoader(load_qm9_sample()[:10], batch_size=4, shuffle=True, cutoff=5.0,
        ...                     seed=0)
        >>> [batch.num_graphs for batch in loader]
        [4, 4, 2]
    """

    def __init__(
        self,
        dataset: torch.utils.data.Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        cutoff: float | None = None,
        dtype: torch.dtype | None = None,
        seed: int | None = None,
        max_probes: int | None = None,
        **kwargs: object,
    ) -> None:
        if "collate_fn" in kwargs:
            raise TypeError(
                "DataLoader: collate_fn is set from cutoff and dtype; use "
                "torch.utils.data.DataLoader for another collate_fn"
            )
        if seed is not None:
            if "generator" in kwargs:
                raise TypeError("DataLoader: give seed or generator, not both")
            kwargs["generator"] = torch.Generator().manual_seed(int(seed))
        super().__init__(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            collate_fn=Collater(cutoff, dtype, max_probes),
            **kwargs,
        )
