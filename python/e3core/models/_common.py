"""What every e3core model shares: atom types, edges from the data dict, per-type scale and
shift, the reduction per graph, and energies' derivatives (forces, virial and stress)."""

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from e3core._checks import data_checks_suspended
from e3core.data._dataset import atomref_array
from e3core.graph._edges import edge_vectors
from e3core.graph._neighbor_list import radius_graph

PerType = float | Sequence[float] | Mapping[int | str, float]


def type_numbers_list(type_numbers: Sequence[int], model: str) -> list[int]:
    """``type_numbers`` checked (distinct atomic numbers 1..118) and returned as a list of ints.

    Example::

        >>> type_numbers_list([1, 6, 8], "NequIP")
        [1, 6, 8]
        >>> type_numbers_list([1, 1], "NequIP")
        Traceback (most recent call last):
        ...
        ValueError: NequIP: type_numbers is [1, 1], expected distinct atomic numbers 1..118
    """
    values = list(type_numbers) if isinstance(type_numbers, Sequence) else None
    ok = (
        values is not None
        and len(values) > 0
        and all(isinstance(z, (int, np.integer)) and not isinstance(z, bool) for z in values)
        and all(1 <= int(z) <= 118 for z in values)
        and len(set(values)) == len(values)
    )
    if not ok:
        raise ValueError(
            f"{model}: type_numbers is {type_numbers!r}, expected distinct atomic numbers 1..118"
        )
    return [int(z) for z in values]


def per_type_values(values: PerType, type_numbers: list[int], name: str) -> list[float]:
    """One float per type of ``type_numbers``, from a number (the same for every type), a list
    in the order of ``type_numbers``, or a dict by atomic number or element symbol
    (``qm9_atomrefs("U0")``, ``fit_atomrefs(...)``; keys may be strings, as after JSON).
    Elements of the dict that are not types are ignored.

    Example::

        >>> per_type_values({1: -0.5, 8: -75.0, 6: -38.0}, [1, 8], "atom_references")
        [-0.5, -75.0]
        >>> per_type_values(2.0, [1, 8], "scale")
        [2.0, 2.0]
        >>> per_type_values({"1": -0.5}, [1, 8], "atom_references")
        Traceback (most recent call last):
        ...
        ValueError: atom_references has no value for atomic number 8; give one for each of [1, 8]
    """
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        return [float(values)] * len(type_numbers)
    if isinstance(values, Mapping):
        keys = {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in values.items()}
        table = atomref_array(keys, name)
        missing = [z for z in type_numbers if math.isnan(table[z])]
        if missing:
            raise ValueError(
                f"{name} has no value for atomic number {missing[0]}; give one for each of "
                f"{type_numbers}"
            )
        return [float(table[z]) for z in type_numbers]
    if isinstance(values, Sequence) and not isinstance(values, str):
        if len(values) != len(type_numbers):
            raise ValueError(
                f"{name} has {len(values)} entries but type_numbers {type_numbers} has "
                f"{len(type_numbers)}: expected one per type, a number, or a dict by element"
            )
        return [float(v) for v in values]
    raise TypeError(
        f"{name} is {values!r}, expected a number, a list (one per type) or a dict by element"
    )


class AtomTypes(torch.nn.Module):
    """Atomic numbers (N,) to type indices 0 .. len(type_numbers) - 1, through a lookup buffer.

    An atomic number that is not a type raises ``ValueError`` in eager mode (TorchScript and
    traced or compiled graphs skip the check, which depends on the data and would synchronise a
    GPU).

    Example::

        >>> AtomTypes([1, 6, 8])(torch.tensor([8, 1, 1]))
        tensor([2, 0, 0])
        >>> AtomTypes([1, 6, 8])(torch.tensor([8, 9]))
        Traceback (most recent call last):
        ...
        ValueError: numbers[1] is 9, which is not one of type_numbers [1, 6, 8]
    """

    num_types: int

    def __init__(self, type_numbers: list[int]) -> None:
        super().__init__()
        self.type_numbers = list(type_numbers)
        self.num_types = len(type_numbers)
        index = torch.full((119,), -1, dtype=torch.long)
        index[torch.tensor(type_numbers)] = torch.arange(len(type_numbers))
        self.register_buffer("index", index)

    @torch.jit.unused
    def _check(self, numbers: torch.Tensor) -> None:
        if numbers.dim() != 1 or numbers.dtype != torch.long:
            raise ValueError(
                f"numbers has shape {tuple(numbers.shape)} and dtype {numbers.dtype} but "
                "expected (N,) int64 atomic numbers"
            )
        outside = (numbers < 0) | (numbers > 118)
        known = self.index[numbers.clamp(0, 118)] >= 0
        if data_checks_suspended():
            # A traced step cannot branch on values: the check runs in its graph, without the
            # offending entry's place.
            torch._assert_async(
                (known & ~outside).all(),
                f"numbers holds an atomic number that is not one of type_numbers "
                f"{self.type_numbers}",
            )
            return
        bad = torch.nonzero(outside | ~known).flatten()
        if bad.numel() > 0:
            k = int(bad[0])
            raise ValueError(
                f"numbers[{k}] is {int(numbers[k])}, which is not one of type_numbers "
                f"{self.type_numbers}"
            )

    def forward(self, numbers: torch.Tensor) -> torch.Tensor:
        """Type indices (N,) int64 of the atomic numbers ``numbers`` (N,) int64."""
        if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
            self._check(numbers)
        return self.index.index_select(0, numbers)

    def extra_repr(self) -> str:
        """Shown by print(module)."""
        return f"type_numbers={self.type_numbers}"


class ScaleShift(torch.nn.Module):
    """Per-atom values times a per-type scale, plus a per-type shift and atom reference:
    ``scale[t] * x + shift[t] + atom_references[t]`` (buffers, in the target's unit).

    Example::

        >>> m = ScaleShift([1, 8], scale=2.0, shift=0.1, atom_references={1: -0.5, 8: -75.0})
        >>> m(torch.tensor([1.0, 1.0]), torch.tensor([0, 1]))
        tensor([  1.6000, -72.9000])
    """

    def __init__(
        self,
        type_numbers: list[int],
        scale: PerType = 1.0,
        shift: PerType = 0.0,
        atom_references: PerType | None = None,
    ) -> None:
        super().__init__()
        scales = per_type_values(scale, type_numbers, "scale")
        shifts = per_type_values(shift, type_numbers, "shift")
        refs = per_type_values(
            0.0 if atom_references is None else atom_references, type_numbers, "atom_references"
        )
        self.register_buffer("scale", torch.tensor(scales, dtype=torch.get_default_dtype()))
        self.register_buffer(
            "shift",
            torch.tensor([s + r for s, r in zip(shifts, refs, strict=True)]).to(
                torch.get_default_dtype()
            ),
        )

    def forward(self, x: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """``x`` (N,) scaled and shifted by the types ``types`` (N,) of its atoms."""
        return x * self.scale.index_select(0, types) + self.shift.index_select(0, types)


def per_graph(x: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """The sum over the atoms of each graph of ``x`` (N, ...): (num_graphs, ...).

    Example::

        >>> per_graph(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0, 0, 1]), 2)
        tensor([3., 3.])
    """
    out = torch.zeros((num_graphs,) + x.shape[1:], dtype=x.dtype, device=x.device)
    return out.index_add(0, batch, x)


def graph_edges(data: dict[str, torch.Tensor], r_max: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``edge_index`` (2, E) and ``edge_shift`` (E, 3) of the data dict, or, when it has none
    (``collate`` without a cutoff), the radius graph of its molecules within ``r_max``.

    Edges longer than ``r_max`` contribute nothing to e3core's models (their radial functions
    vanish there), so a graph built with a larger cutoff gives the same outputs.

    Example::

        >>> data = {"positions": torch.tensor([[0.0, 0, 0], [1.0, 0, 0]]),
        ...         "batch": torch.zeros(2, dtype=torch.long), "pbc": torch.zeros(1, 3) > 0}
        >>> graph_edges(data, 2.0)
        (tensor([[1, 0],
                [0, 1]]), tensor([[0., 0., 0.],
                [0., 0., 0.]]))
    """
    if "edge_index" in data:
        return data["edge_index"], data["edge_shift"]
    if bool(data["pbc"].any()):
        raise ValueError(
            "the data has periodic structures but no edge_index: collate them with a cutoff "
            "(collate(..., cutoff=model.r_max)) to get their periodic images"
        )
    positions = data["positions"]
    edge_index = radius_graph(positions.detach(), r_max, data["batch"])
    shift = torch.zeros((edge_index.shape[1], 3), dtype=positions.dtype, device=positions.device)
    return edge_index, shift


def strained_geometry(
    positions: torch.Tensor,
    cell: torch.Tensor,
    batch: torch.Tensor,
    forces: bool,
    stress: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Positions and cells to differentiate the energy with respect to: ``(leaf, positions,
    cell, displacement)``.

    ``leaf`` is ``positions`` made to require gradients (forces = -dE/d leaf). With ``stress``,
    a zero displacement (G, 3, 3) that requires gradients strains positions and cells by the
    symmetric ε = (d + dᵀ) / 2: ``r (I + ε)``, ``cell (I + ε)`` (rows are vectors), so that
    dE/dε is the virial's negative (the strain trick); otherwise ``displacement`` is None and
    positions and cell are returned unchanged.

    Example::

        >>> leaf, pos, cell, d = strained_geometry(torch.zeros(2, 3), torch.eye(3)[None],
        ...                                        torch.zeros(2, dtype=torch.long), True, True)
        >>> leaf.requires_grad, d.shape, pos.grad_fn is not None
        (True, torch.Size([1, 3, 3]), True)
    """
    leaf = positions
    if (forces or stress) and not positions.requires_grad:
        leaf = positions.detach().requires_grad_(True)
    if not stress:
        return leaf, leaf, cell, None
    displacement = torch.zeros_like(cell).requires_grad_(True)
    symmetric = 0.5 * (displacement + displacement.transpose(-1, -2))
    strained = leaf + torch.bmm(leaf.unsqueeze(1), symmetric.index_select(0, batch)).squeeze(1)
    return leaf, strained, cell + torch.bmm(cell, symmetric), displacement


def energy_derivatives(
    energy: torch.Tensor,
    positions: torch.Tensor,
    displacement: torch.Tensor | None,
    cell: torch.Tensor,
    create_graph: bool,
) -> dict[str, torch.Tensor]:
    """``forces`` = -dE/dR (N, 3) and, given the displacement of ``strained_geometry``,
    ``virial`` = -dE/dε and ``stress`` = (1/V) dE/dε (G, 3, 3) (ase's sign: positive under
    tension; zeros for a graph without a cell volume), by autograd.

    ``create_graph=True`` (training on forces) keeps the graph of the derivatives, so a loss on
    them can be differentiated (double backward through e3core's ops).

    Example::

        >>> leaf, pos, cell, d = strained_geometry(torch.tensor([[0.0, 0, 0], [1.0, 0, 0]]),
        ...     torch.eye(3)[None] * 4, torch.zeros(2, dtype=torch.long), True, True)
        >>> energy = ((pos[1] - pos[0]) ** 2).sum()[None]  # a spring
        >>> out = energy_derivatives(energy, leaf, d, torch.eye(3)[None] * 4, False)
        >>> out["forces"][:, 0], out["virial"][0, 0, 0]
        (tensor([ 2., -2.]), tensor(-2.))
    """
    inputs = [positions]
    if displacement is not None:
        inputs.append(displacement)
    grads = torch.autograd.grad(
        [energy.sum()], inputs, create_graph=create_graph, allow_unused=True
    )
    dr = grads[0]
    out = {"forces": -dr if dr is not None else torch.zeros_like(positions)}
    if displacement is not None:
        de = grads[1]
        de = de if de is not None else torch.zeros_like(displacement)
        volume = torch.linalg.det(cell).abs()
        has_volume = (volume > 0)[:, None, None]
        safe = torch.where(volume > 0, volume, torch.ones_like(volume))[:, None, None]
        out["virial"] = -de
        out["stress"] = torch.where(has_volume, de / safe, torch.zeros_like(de))
    return out


class AtomisticModel(torch.nn.Module):
    """The common forward of e3core's models: types, edges and geometry from the data dict,
    per-atom outputs (``node_outputs``, in the subclass), their per-graph reduction
    (``graph_outputs``) and, when asked, forces, virial and stress of the target.

    Subclasses set ``name``, call ``__init__`` with the common settings, set
    ``receptive_field`` (message-passing layers times ``r_max``: how far an atom's energy
    looks, the ghost shell a domain decomposition needs) and implement
    ``node_outputs(types, vectors, edge_src, edge_dst)`` (N, k); the default ``graph_outputs``
    scales and shifts column 0 per type (``atomic_<target>``) and sums (or averages) it per
    graph (``<target>``).

    Example::

        >>> model = e3core.models.build("schnet", type_numbers=[1, 6], num_features=8)
        >>> isinstance(model, AtomisticModel), model.r_max
        (True, 5.0)
    """

    name: str = ""
    r_max: float
    receptive_field: float
    target: str
    compute_forces: bool
    compute_stress: bool
    mean: bool

    def __init__(
        self,
        type_numbers: Sequence[int],
        r_max: float,
        target: str,
        reduce: str,
        compute_forces: bool,
        compute_stress: bool,
        scale: PerType,
        shift: PerType,
        atom_references: PerType | None,
    ) -> None:
        super().__init__()
        model = type(self).__name__
        numbers = type_numbers_list(type_numbers, model)
        if isinstance(r_max, bool) or not isinstance(r_max, (int, float)) or not r_max > 0:
            raise ValueError(f"{model}: r_max is {r_max!r}, expected a positive float")
        if reduce not in ("sum", "mean"):
            raise ValueError(f"{model}: reduce is {reduce!r}, expected 'sum' or 'mean'")
        if not isinstance(target, str) or not target:
            raise ValueError(f"{model}: target is {target!r}, expected a name")
        self.r_max = float(r_max)
        # How far information travels (message-passing layers x r_max): subclasses set it.
        self.receptive_field = self.r_max
        self.target = target
        self.mean = reduce == "mean"
        self.compute_forces = bool(compute_forces)
        self.compute_stress = bool(compute_stress)
        self.types = AtomTypes(numbers)
        self.scale_shift = ScaleShift(numbers, scale, shift, atom_references)
        self.config: dict[str, object] = {
            "type_numbers": numbers,
            "r_max": self.r_max,
            "target": target,
            "reduce": reduce,
            "compute_forces": self.compute_forces,
            "compute_stress": self.compute_stress,
            "scale": per_type_values(scale, numbers, "scale"),
            "shift": per_type_values(shift, numbers, "shift"),
            "atom_references": None
            if atom_references is None
            else per_type_values(atom_references, numbers, "atom_references"),
        }

    def node_outputs(
        self,
        types: torch.Tensor,
        vectors: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
    ) -> torch.Tensor:
        """Per-atom outputs (N, k) from the types (N,) and edge vectors (E, 3)."""
        raise NotImplementedError

    def graph_outputs(
        self,
        node: torch.Tensor,
        types: torch.Tensor,
        positions: torch.Tensor,
        batch: torch.Tensor,
        n_atoms: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """``atomic_<target>`` (N,) and ``<target>`` (G,) from the per-atom outputs ``node``."""
        return self.scalar_outputs(node, types, batch, n_atoms)

    def scalar_outputs(
        self,
        node: torch.Tensor,
        types: torch.Tensor,
        batch: torch.Tensor,
        n_atoms: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Column 0 of ``node`` scaled and shifted per type (``atomic_<target>``) and summed or
        averaged per graph (``<target>``)."""
        atomic = self.scale_shift(node[:, 0], types)
        total = per_graph(atomic, batch, n_atoms.shape[0])
        if self.mean:
            total = total / n_atoms.clamp_min(1).to(total.dtype)
        return {"atomic_" + self.target: atomic, self.target: total}

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The model's outputs for a batch (``Batch.as_dict()``): see the class's docstring."""
        types = self.types(data["numbers"])
        edge_index, edge_shift = graph_edges(data, self.r_max)
        batch, cell = data["batch"], data["cell"]
        derivatives = self.compute_forces or self.compute_stress
        grad_enabled = torch.is_grad_enabled()
        if derivatives:
            torch.set_grad_enabled(True)
        leaf, positions, strained_cell, displacement = strained_geometry(
            data["positions"], cell, batch, self.compute_forces, self.compute_stress
        )
        vectors = edge_vectors(positions, edge_index, edge_shift, strained_cell, batch)
        node = self.node_outputs(types, vectors, edge_index[0], edge_index[1])
        out = self.graph_outputs(node, types, positions, batch, data["n_atoms"])
        if derivatives:
            out.update(
                energy_derivatives(
                    out[self.target], leaf, displacement, cell, self.training and grad_enabled
                )
            )
            torch.set_grad_enabled(grad_enabled)
            if not grad_enabled:
                for key in list(out.keys()):
                    out[key] = out[key].detach()
        return out
