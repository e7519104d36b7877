"""Densities from per-atom coefficients at arbitrary points, and the error metrics."""

import torch

from e3core.density._basis import DensityBasis
from e3core.o3 import spherical_harmonics


def _basis_tensors(
    basis: DensityBasis, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exponents (T, S) and radial normalisations (T, S), zero on masked slots."""
    exponents = torch.tensor(basis.exponents, dtype=torch.float64)
    l = torch.tensor(basis.slot_l, dtype=torch.float64)
    norms = torch.sqrt(
        2 * (2 * exponents).pow(l + 1.5) / torch.exp(torch.lgamma(l + 1.5))
    ) * torch.tensor(basis.slot_mask, dtype=torch.float64)
    return exponents.to(dtype=dtype, device=device), norms.to(dtype=dtype, device=device)


def atom_point_pairs(
    atom_ptr: torch.Tensor, point_batch: torch.Tensor, start: int, stop: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(point, atom) index pairs (each (pairs,) int64) of the points ``start:stop`` with every
    atom of their structure: ``point_batch`` (P,) gives each point's structure, structure g
    has atoms ``atom_ptr[g]:atom_ptr[g + 1]``. TorchScript-compatible.

    Example::

        >>> atom_point_pairs(torch.tensor([0, 2, 3]), torch.tensor([0, 1, 0]), 0, 3)
        (tensor([0, 0, 1, 2, 2]), tensor([0, 1, 2, 0, 1]))
    """
    points = torch.arange(start, stop, device=point_batch.device)
    graph = point_batch[start:stop]
    counts = atom_ptr[graph + 1] - atom_ptr[graph]
    pair_point = torch.repeat_interleave(points, counts)
    first = torch.cumsum(counts, 0) - counts
    offset = torch.arange(pair_point.shape[0], device=point_batch.device)
    offset = offset - torch.repeat_interleave(first, counts)
    pair_atom = atom_ptr[point_batch[pair_point]] + offset
    return pair_point, pair_atom


def _shift_ranges(
    positions: torch.Tensor,
    batch: torch.Tensor,
    points: torch.Tensor,
    point_batch: torch.Tensor,
    r_max: float,
    cell: torch.Tensor,
    pbc: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The lowest and highest integer cell shift (G, 3) along each axis that can bring an atom
    image within ``r_max`` of a point of its structure (0 on non-periodic axes)."""
    num_graphs = cell.shape[0]
    periodic = pbc.to(torch.bool)
    eye = torch.eye(3, dtype=cell.dtype, device=cell.device).expand(num_graphs, 3, 3)
    inverse = torch.linalg.inv(torch.where(periodic.any(1)[:, None, None], cell, eye))
    reach = r_max * torch.linalg.vector_norm(inverse, dim=1)  # per axis, in cell fractions
    atoms = torch.einsum("ni,nik->nk", positions, inverse[batch])
    probes = torch.einsum("pi,pik->pk", points, inverse[point_batch])
    start = torch.zeros(num_graphs, 3, dtype=cell.dtype, device=cell.device)
    a_min = start.scatter_reduce(0, batch[:, None].expand(-1, 3), atoms, "amin", include_self=False)
    a_max = start.scatter_reduce(0, batch[:, None].expand(-1, 3), atoms, "amax", include_self=False)
    index = point_batch[:, None].expand(-1, 3)
    p_min = start.scatter_reduce(0, index, probes, "amin", include_self=False)
    p_max = start.scatter_reduce(0, index, probes, "amax", include_self=False)
    low = torch.floor(p_min - a_max - reach).to(torch.long)
    high = torch.ceil(p_max - a_min + reach).to(torch.long)
    return low * periodic, high * periodic


def atom_point_edges(
    positions: torch.Tensor,
    batch: torch.Tensor,
    points: torch.Tensor,
    point_batch: torch.Tensor,
    r_max: float,
    cell: torch.Tensor | None = None,
    pbc: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The edges from atoms (and their periodic images) to points closer than ``r_max``:
    ``(point, atom, shift, vectors)``, ``point`` and ``atom`` (E,) int64, ``shift`` (E, 3) the
    integer cell shift of the atom's image and ``vectors`` (E, 3) = ``positions[atom] + shift @
    cell[g] - points[point]`` (the convention of ``Batch.edge_vectors``: source atom, target
    point). ``positions`` (N, 3) and ``batch`` (N,) are the atoms and their structures (sorted),
    ``points`` (P, 3) and ``point_batch`` (P,) the points; ``cell`` (G, 3, 3) (rows the lattice
    vectors) and ``pbc`` (G, 3) make the periodic axes periodic (default none). Every image is
    found, however small the cell; pairs come from ``atom_point_pairs``, one pass per candidate
    shift. Differentiable with respect to positions, points and cell; TorchScript-compatible.

    Example::

        >>> cell, pbc = 4.0 * torch.eye(3)[None], torch.tensor([[True, False, False]])
        >>> point, atom, shift, vectors = atom_point_edges(
        ...     torch.tensor([[0.5, 0.0, 0.0]]), torch.zeros(1, dtype=torch.long),
        ...     torch.tensor([[3.5, 0.0, 0.0]]), torch.zeros(1, dtype=torch.long), 1.5, cell, pbc)
        >>> shift, vectors
        (tensor([[1, 0, 0]]), tensor([[1., 0., 0.]]))
    """
    device = positions.device
    points = points.to(positions.dtype)
    num_graphs = 1 + max(
        int(batch.max()) if batch.numel() > 0 else -1,
        int(point_batch.max()) if point_batch.numel() > 0 else -1,
    )
    atom_ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
    atom_ptr[1:] = torch.cumsum(torch.bincount(batch, minlength=num_graphs), 0)
    pair_point, pair_atom = atom_point_pairs(atom_ptr, point_batch, 0, points.shape[0])
    graph = point_batch[pair_point]
    base = positions[pair_atom] - points[pair_point]
    low = torch.zeros(num_graphs, 3, dtype=torch.long, device=device)
    high = low
    lattice = torch.zeros(num_graphs, 3, 3, dtype=positions.dtype, device=device)
    if cell is not None and pbc is not None and bool(pbc.any()):
        lattice = cell.to(positions.dtype)
        low, high = _shift_ranges(
            positions.detach(), batch, points.detach(), point_batch, r_max, lattice.detach(), pbc
        )
    lows: list[int] = low.amin(0).tolist() if num_graphs > 0 else [0, 0, 0]
    highs: list[int] = high.amax(0).tolist() if num_graphs > 0 else [0, 0, 0]
    found_point: list[torch.Tensor] = []
    found_atom: list[torch.Tensor] = []
    found_shift: list[torch.Tensor] = []
    found_vectors: list[torch.Tensor] = []
    for a in range(lows[0], highs[0] + 1):
        for b in range(lows[1], highs[1] + 1):
            for c in range(lows[2], highs[2] + 1):
                shift = torch.tensor([a, b, c], dtype=torch.long, device=device)
                allowed = ((low <= shift) & (shift <= high)).all(1)[graph]
                vectors = base
                if a != 0 or b != 0 or c != 0:
                    offset = torch.einsum("k,gkx->gx", shift.to(positions.dtype), lattice)
                    vectors = base + offset[graph]
                near = allowed & (torch.linalg.vector_norm(vectors, dim=1) < r_max)
                found_point.append(pair_point[near])
                found_atom.append(pair_atom[near])
                found_shift.append(shift.expand(int(near.sum()), 3))
                found_vectors.append(vectors[near])
    return (
        torch.cat(found_point),
        torch.cat(found_atom),
        torch.cat(found_shift),
        torch.cat(found_vectors),
    )


def density_at(
    basis: DensityBasis,
    coefficients: torch.Tensor,
    positions: torch.Tensor,
    numbers: torch.Tensor,
    points: torch.Tensor,
    batch: torch.Tensor | None = None,
    point_batch: torch.Tensor | None = None,
    per_l: bool = False,
    max_pairs: int = 1 << 20,
) -> torch.Tensor:
    """The density sum_a sum_k c_ak phi_k(point - R_a) at ``points`` (P, 3).

    ``coefficients`` (N, basis.irreps.dim) are per-atom coefficients on the union irreps,
    ``positions`` (N, 3) and ``numbers`` (N,) the atoms; ``batch`` (N,) and ``point_batch`` (P,)
    say which structure each atom and point belongs to (atoms sorted by structure; default:
    one structure), so that a point sees only its own structure's atoms. Units are those of the
    basis (Angstrom: densities in e/Angstrom^3). With ``per_l`` the result is (P, lmax + 1), the
    density of each degree's components alone (their sum is the density). Differentiable with
    respect to coefficients, positions and points; pairs are processed ``max_pairs`` at a time.

    Example::

        >>> import math
        >>> basis = DensityBasis({1: [(0, 1.0)]})
        >>> rho = density_at(basis, torch.ones(1, 1), torch.zeros(1, 3), torch.tensor([1]),
        ...                  torch.zeros(1, 3))
        >>> rho, (2 / math.pi) ** 0.75  # N_0(1) Y_00
        (tensor([0.7127]), 0.7127054703549902)
    """
    width, n_atoms = basis.irreps.dim, coefficients.shape[0]
    if coefficients.dim() != 2 or coefficients.shape[1] != width:
        raise ValueError(
            f"coefficients has shape {tuple(coefficients.shape)} but expected (N, {width}) for "
            f"the irreps {basis.irreps}"
        )
    if positions.shape != (n_atoms, 3):
        raise ValueError(
            f"positions has shape {tuple(positions.shape)} but expected ({n_atoms}, 3)"
        )
    if numbers.shape != (n_atoms,):
        raise ValueError(f"numbers has shape {tuple(numbers.shape)} but expected ({n_atoms},)")
    if points.dim() != 2 or points.shape[1] != 3:
        raise ValueError(f"points has shape {tuple(points.shape)} but expected (P, 3)")
    device, dtype = coefficients.device, coefficients.dtype
    if batch is None:
        batch = torch.zeros(n_atoms, dtype=torch.long, device=device)
    if point_batch is None:
        point_batch = torch.zeros(points.shape[0], dtype=torch.long, device=device)
    if batch.shape != (n_atoms,) or point_batch.shape != (points.shape[0],):
        raise ValueError(
            f"batch has shape {tuple(batch.shape)} and point_batch {tuple(point_batch.shape)}, "
            f"expected ({n_atoms},) and ({points.shape[0]},)"
        )
    if n_atoms > 1 and bool((batch[1:] < batch[:-1]).any()):
        raise ValueError("batch is not sorted, expected the atoms of each structure together")
    last_atom = int(batch.max()) if n_atoms else -1
    last_point = int(point_batch.max()) if points.shape[0] else -1
    num_graphs = max(last_atom, last_point) + 1
    atom_ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
    atom_ptr[1:] = torch.cumsum(torch.bincount(batch, minlength=num_graphs), 0)
    types = torch.as_tensor(basis.type_index(numbers.cpu().numpy()), device=device)
    exponents, norms = _basis_tensors(basis, dtype, device)
    lmax = basis.lmax
    out = torch.zeros(points.shape[0], lmax + 1, dtype=dtype, device=device)
    per_atom = max(1, int((atom_ptr[1:] - atom_ptr[:-1]).max()) if num_graphs else 1)
    step = max(1, max_pairs // per_atom)
    for start in range(0, points.shape[0], step):
        pair_point, pair_atom = atom_point_pairs(
            atom_ptr, point_batch, start, min(start + step, points.shape[0])
        )
        vectors = points[pair_point].to(dtype) - positions[pair_atom].to(dtype)
        r2 = (vectors * vectors).sum(-1, keepdim=True)
        t = types[pair_atom]
        radial = norms[t] * torch.exp(-exponents[t] * r2)
        harmonics = spherical_harmonics(list(range(lmax + 1)), vectors, False, "integral")
        c = coefficients[pair_atom]
        values = []
        slot = 0
        component = 0
        for l, mul in enumerate(basis.multiplicities):
            size = 2 * l + 1
            block = c[:, component : component + mul * size].reshape(-1, mul, size)
            weighted = torch.einsum("eu,eum->em", radial[:, slot : slot + mul], block)
            values.append((weighted * harmonics[:, l * l : l * l + size]).sum(-1))
            slot += mul
            component += mul * size
        out = out.index_add(0, pair_point, torch.stack(values, dim=1))
    return out if per_l else out.sum(1)


def _per_graph(values: torch.Tensor, point_batch: torch.Tensor | None, num_graphs: int | None):
    if point_batch is None:
        return values.sum(0, keepdim=True)
    size = num_graphs if num_graphs is not None else int(point_batch.max()) + 1
    out = torch.zeros((size,) + values.shape[1:], dtype=values.dtype, device=values.device)
    return out.index_add(0, point_batch, values)


def density_error(
    rho_ref: torch.Tensor,
    rho_pred: torch.Tensor,
    weights: torch.Tensor,
    point_batch: torch.Tensor | None = None,
    num_graphs: int | None = None,
) -> torch.Tensor:
    """epsilon (%) = 100 * integral |rho_ref - rho_pred| / integral rho_ref per structure, the
    integrals as weighted sums over points (P,) with quadrature ``weights`` (P,). (G,).

    Example::

        >>> rho, w = torch.tensor([1.0, 3.0]), torch.tensor([0.5, 0.5])
        >>> density_error(rho, 1.1 * rho, w)
        tensor([10.0000])
    """
    if rho_ref.shape != rho_pred.shape or rho_ref.shape != weights.shape[: rho_ref.dim()]:
        raise ValueError(
            f"rho_ref has shape {tuple(rho_ref.shape)}, rho_pred {tuple(rho_pred.shape)} and "
            f"weights {tuple(weights.shape)}, expected the same (P,)"
        )
    absolute = _per_graph(weights * (rho_ref - rho_pred).abs(), point_batch, num_graphs)
    return 100 * absolute / _per_graph(weights * rho_ref, point_batch, num_graphs)


def density_errors_by_l(
    basis: DensityBasis,
    coefficients_ref: torch.Tensor,
    coefficients_pred: torch.Tensor,
    positions: torch.Tensor,
    numbers: torch.Tensor,
    points: torch.Tensor,
    weights: torch.Tensor,
    batch: torch.Tensor | None = None,
    point_batch: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """epsilon_total and epsilon_l (%) of predicted coefficients against reference ones
    (Rackers et al.): the densities of both evaluated at quadrature points; ``"total"`` is
    100 * integral |rho_ref - rho_pred| / integral rho_ref, ``"l0"``, ``"l1"``, ... the same with
    only the degree-l components of both densities in the numerator (the denominator stays the
    whole reference density). Each value is (G,).

    Example::

        >>> basis = DensityBasis({1: [(0, 1.0), (1, 1.0)]})
        >>> ref = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
        >>> grid = torch.linspace(-4, 4, 21)
        >>> points = torch.cartesian_prod(grid, grid, grid)
        >>> w = torch.full((points.shape[0],), 0.4**3)
        >>> errors = density_errors_by_l(basis, ref, 1.05 * ref, torch.zeros(1, 3),
        ...                              torch.tensor([1]), points, w)
        >>> [round(float(errors[k][0]), 3) for k in ("total", "l0", "l1")]
        [5.0, 5.0, 0.0]
    """
    num_graphs = None if point_batch is None else int(point_batch.max()) + 1
    if batch is not None:
        num_graphs = max(num_graphs or 0, int(batch.max()) + 1)
    ref = density_at(basis, coefficients_ref, positions, numbers, points, batch, point_batch, True)
    pred = density_at(
        basis, coefficients_pred, positions, numbers, points, batch, point_batch, True
    )
    total = _per_graph(weights * ref.sum(1), point_batch, num_graphs)
    errors = {"total": density_error(ref.sum(1), pred.sum(1), weights, point_batch, num_graphs)}
    for l in range(basis.lmax + 1):
        difference = weights * (ref[:, l] - pred[:, l]).abs()
        errors[f"l{l}"] = 100 * _per_graph(difference, point_batch, num_graphs) / total
    return errors


def density_mae_error(
    rho_ref: torch.Tensor,
    rho_pred: torch.Tensor,
    point_batch: torch.Tensor | None = None,
    num_graphs: int | None = None,
) -> torch.Tensor:
    """epsilon_mae (%) of densities at probe points (Koker et al.'s ChargeE3Net metric):
    100 * sum |rho_ref - rho_pred| / sum |rho_ref| over each structure's points. (G,).

    Example::

        >>> density_mae_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.3]))
        tensor([10.0000])
    """
    if rho_ref.shape != rho_pred.shape or rho_ref.dim() != 1:
        raise ValueError(
            f"rho_ref has shape {tuple(rho_ref.shape)} and rho_pred {tuple(rho_pred.shape)}, "
            "expected the same (P,)"
        )
    absolute = _per_graph((rho_ref - rho_pred).abs(), point_batch, num_graphs)
    return 100 * absolute / _per_graph(rho_ref.abs(), point_batch, num_graphs)
