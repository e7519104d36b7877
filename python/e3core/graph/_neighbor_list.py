"""Neighbour search: pairs of atoms closer than a cutoff, by e3core's C++ cell list."""

from collections.abc import Sequence

import numpy as np
import torch

from e3core import _core

_QUANTITIES = "ijSdD"

Array = np.ndarray | torch.Tensor


def _pbc(pbc: bool | Sequence[bool] | np.ndarray | torch.Tensor) -> list[bool]:
    """Periodicity of the three axes, from one bool or three."""
    if isinstance(pbc, (bool, np.bool_)):
        return [bool(pbc)] * 3
    values = pbc.tolist() if isinstance(pbc, (np.ndarray, torch.Tensor)) else list(pbc)
    if len(values) != 3:
        raise ValueError(f"pbc is {pbc!r}, expected a bool or 3 bools (one per cell axis)")
    return [bool(p) for p in values]


def neighbor_list(
    quantities: str,
    positions: Array,
    cutoff: float,
    cell: Array | None = None,
    pbc: bool | Sequence[bool] = False,
    self_interaction: bool = False,
    *,
    full_list: bool = True,
    sorted: bool = False,
) -> Array | tuple[Array, ...]:
    """Pairs of atoms closer than ``cutoff``, as ``ase.neighborlist.neighbor_list``.

    ``positions`` is (n, 3) and ``cell`` (3, 3), its rows the lattice vectors (``None``: no
    periodic axis); ``pbc`` is one bool or one per cell axis. The letters of ``quantities``
    choose the outputs, returned in their order (a single array for one letter): ``i`` and
    ``j`` the atoms, ``S`` the integer cell shift, ``D = positions[j] - positions[i] + S @ cell``
    and ``d = |D|``. Periodic images are all found, of other atoms and of ``i`` itself, however
    large the cutoff; the pair ``(i, i, S = 0)`` only with ``self_interaction``.

    numpy input gives numpy arrays. torch input gives tensors, and ``d`` and ``D`` are computed
    in torch from the integer pairs, so they carry gradients to ``positions`` and ``cell``
    (forces and stress).

    ``full_list=False`` lists each unordered pair once (``i < j``, or ``S`` > 0 in the first
    non-zero component for an atom's own images). Pairs come grouped by atom in an order that
    depends only on the input; ``sorted=True`` sorts them by ``i``, then ``j``, then ``S``.

    Example::

        >>> positions = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.5]])
        >>> neighbor_list("ij", positions, 2.0)
        (array([0, 1]), array([1, 0]))
        >>> neighbor_list("S", np.zeros((1, 3)), 1.1, np.eye(3), pbc=True, sorted=True)
        array([[-1,  0,  0],
               [ 0, -1,  0],
               [ 0,  0, -1],
               [ 0,  0,  1],
               [ 0,  1,  0],
               [ 1,  0,  0]])
        >>> x = torch.tensor(positions, requires_grad=True)
        >>> neighbor_list("d", x, 2.0).sum().backward()
        >>> x.grad
        tensor([[ 0.,  0., -2.],
                [ 0.,  0.,  2.]], dtype=torch.float64)
    """
    if not quantities or any(q not in _QUANTITIES for q in quantities):
        raise ValueError(
            f'neighbor_list: quantities is "{quantities}", expected letters of "{_QUANTITIES}"'
        )
    periodic = _pbc(pbc)
    if not isinstance(positions, torch.Tensor):
        positions = np.asarray(positions)
        if positions.dtype not in (np.float32, np.float64):
            positions = positions.astype(np.float64)
        if cell is not None:
            cell = np.asarray(cell, dtype=positions.dtype)
        return _core.neighbor_list(
            positions,
            float(cutoff),
            cell,
            periodic,
            self_interaction,
            full_list,
            sorted,
            quantities,
        )

    if cell is not None:
        cell = torch.as_tensor(cell, dtype=positions.dtype, device=positions.device)
    i, j, shifts = torch.ops.e3core.neighbor_list(
        positions.detach(),
        float(cutoff),
        None if cell is None else cell.detach(),
        periodic,
        self_interaction,
        full_list,
        sorted,
    )
    vectors = None
    if "d" in quantities or "D" in quantities:
        vectors = positions.index_select(0, j) - positions.index_select(0, i)
        if cell is not None:
            vectors = vectors + shifts.to(positions.dtype) @ cell
    named = {"i": i, "j": j, "S": shifts, "D": vectors}
    if "d" in quantities:
        named["d"] = torch.linalg.vector_norm(vectors, dim=1)
    results = tuple(named[q] for q in quantities)
    return results[0] if len(results) == 1 else results


def radius_graph(
    positions: torch.Tensor,
    r_max: float,
    batch: torch.Tensor | None = None,
    max_num_neighbors: int | None = None,
    loop: bool = False,
) -> torch.Tensor:
    """Edges between atoms of the same molecule closer than ``r_max``, as
    ``torch_cluster.radius_graph`` (``flow="source_to_target"``), without periodicity.

    Returns ``edge_index`` (2, edges), int64: row 0 the sources ``j``, row 1 the targets ``i``,
    sorted by target, then source. ``batch`` (n,) int64 gives each atom's molecule (it need not
    be sorted). No self loops unless ``loop``. With ``max_num_neighbors`` each target keeps its
    nearest sources (ties: the lower index; with ``loop`` the atom itself counts), where
    torch_cluster keeps whichever it finds first. A C++ op: it works under TorchScript, and
    ``torch.compile``/``torch.export`` see an edge count that depends on the data.

    Example::

        >>> positions = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [5.0, 0.0, 0.0]])
        >>> radius_graph(positions, 1.5)
        tensor([[1, 0],
                [0, 1]])
    """
    if not isinstance(positions, torch.Tensor):
        raise TypeError(
            "radius_graph: positions is a "
            + type(positions).__name__
            + ", expected a torch.Tensor (torch.as_tensor(positions); neighbor_list takes "
            + "numpy arrays)"
        )
    return torch.ops.e3core.radius_graph(positions.detach(), r_max, batch, loop, max_num_neighbors)


@torch.library.register_fake("e3core::neighbor_list")
def _neighbor_list_fake(
    positions: torch.Tensor,
    cutoff: float,
    cell: torch.Tensor | None,
    pbc: list[bool],
    self_interaction: bool,
    full_list: bool,
    sorted: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shapes for FakeTensor, torch.compile and torch.export: the pair count is data-dependent."""
    pairs = torch.library.get_ctx().new_dynamic_size()
    index = positions.new_empty((pairs,), dtype=torch.long)
    return index, index.clone(), positions.new_empty((pairs, 3), dtype=torch.long)


@torch.library.register_fake("e3core::radius_graph")
def _radius_graph_fake(
    positions: torch.Tensor,
    r_max: float,
    batch: torch.Tensor | None,
    loop: bool,
    max_num_neighbors: int | None,
) -> torch.Tensor:
    """Shapes for FakeTensor, torch.compile and torch.export: the edge count is data-dependent."""
    edges = torch.library.get_ctx().new_dynamic_size()
    return positions.new_empty((2, edges), dtype=torch.long)
