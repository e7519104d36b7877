"""Edge vectors of a batch of graphs from positions, cells and integer cell shifts."""

import torch


def edge_vectors(
    positions: torch.Tensor,
    edge_index: torch.Tensor,
    edge_shift: torch.Tensor,
    cell: torch.Tensor,
    batch: torch.Tensor,
) -> torch.Tensor:
    """(E, 3): ``positions[j] - positions[i] + edge_shift @ cell[batch[j]]`` for each edge
    ``j -> i`` (``edge_index`` row 0 the sources ``j``, row 1 the targets ``i``), ase's ``D``.

    ``positions`` is (N, 3), ``edge_shift`` (E, 3) the integer shifts of the sources' periodic
    images, ``cell`` (G, 3, 3) with the lattice vectors as rows and ``batch`` (N,) the graph of
    each atom. Computed in torch, so gradients reach ``positions`` (forces) and ``cell``
    (stress); it works under TorchScript, ``torch.compile`` and ``torch.export``.

    Example::

        >>> positions = torch.tensor([[0.1, 0.0, 0.0], [0.5, 0.0, 0.0]])
        >>> edge_index = torch.tensor([[1, 0], [0, 1]])
        >>> edge_shift = torch.tensor([[-1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
        >>> edge_vectors(positions, edge_index, edge_shift, torch.eye(3)[None], torch.zeros(2,
        ...              dtype=torch.long))
        tensor([[-0.6000,  0.0000,  0.0000],
                [-0.4000,  0.0000,  0.0000]])
    """
    src, dst = edge_index[0], edge_index[1]
    vectors = positions.index_select(0, src) - positions.index_select(0, dst)
    graph = batch.index_select(0, src)
    shifts = edge_shift.to(cell.dtype)
    return vectors + torch.einsum("ek,ekx->ex", shifts, cell.index_select(0, graph))
