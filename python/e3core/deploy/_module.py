"""The deployed potential: a model behind the plain-tensor contract of simulation codes.

Inputs (one structure): ``pos`` (N, 3), ``edge_index`` (2, E) int64 (row 0 the source ``j``,
row 1 the target ``i``), ``atom_types`` (N,) int64 (indices into the model's type names),
``cell`` (3, 3) (rows the lattice vectors; zeros without a cell) and ``edge_cell_shift`` (E, 3),
the integer cell shifts ``S`` of the sources, in the floating dtype of ``pos``: the edge vector
is ``pos[j] - pos[i] + S @ cell``, as in ``e3core.data.Batch.edge_vectors``; ``local_mask``
(N,) bool, the atoms whose energies count (all of them, except under a domain decomposition,
where the others are ghost atoms: copies of other ranks' atoms).
Outputs, in this order: ``atomic_energy`` (N,), ``energy`` () (the sum of the atomic energies
of the atoms in ``local_mask``), ``forces`` (N, 3) = -dE/dpos (on ghosts too) and ``virial``
(3, 3) = -dE/dε for a symmetric strain ε of positions and cell together.

This is version 2 of the contract (``CONTRACT_VERSION``); version 1 had no ``local_mask``.
"""

import torch

# Names of the inputs and outputs, in the order of the contract.
INPUTS = ("pos", "edge_index", "atom_types", "cell", "edge_cell_shift", "local_mask")
OUTPUTS = ("atomic_energy", "energy", "forces", "virial")


class PotentialModule(torch.nn.Module):
    """A model of e3core's interface (``forward(Dict[str, Tensor]) -> Dict[str, Tensor]`` with
    an energy ``energy_key`` and its per-atom terms ``"atomic_" + energy_key``; e3core's models
    name them after their ``target``, "energy" by default) wrapped in the contract of simulation
    codes: plain tensors in, energies, forces and virial out, with the gradients taken inside
    (TorchScript, torch.export). ``type_numbers[t]`` is the atomic number of atom type ``t``.
    The model's energy must be the sum of its atomic energies; it should not compute forces
    itself (``e3core.deploy`` hands it a copy with ``compute_forces`` and ``compute_stress``
    off).

    Example::

        >>> model = SomeModel(type_numbers=[1, 8])  # doctest: +SKIP
        >>> potential = PotentialModule(model, [1, 8])  # doctest: +SKIP
        >>> inputs = example_inputs(model.r_max, 2, torch.float64)  # doctest: +SKIP
        >>> atomic_energy, energy, forces, virial = potential(*inputs)  # doctest: +SKIP
        >>> bool(torch.isclose(atomic_energy.sum(), energy))  # doctest: +SKIP
        True
    """

    def __init__(
        self, model: torch.nn.Module, type_numbers: list[int], energy_key: str = "energy"
    ) -> None:
        super().__init__()
        self.model = model
        self.energy_key = energy_key
        self.register_buffer("type_numbers", torch.tensor(type_numbers, dtype=torch.long))

    def data(
        self,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        atom_types: torch.Tensor,
        cell: torch.Tensor,
        edge_cell_shift: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """The model's input (a one-structure ``Batch.as_dict()``) from the contract's inputs."""
        zero = atom_types.new_zeros(1)
        count = atom_types.new_full((1,), pos.shape[0])
        return {
            "positions": pos,
            "numbers": self.type_numbers.index_select(0, atom_types),
            "batch": torch.zeros_like(atom_types),
            "ptr": torch.cat([zero, count]),
            "n_atoms": count,
            "cell": cell.unsqueeze(0),
            "pbc": (cell.abs().sum(dim=1) > 0).unsqueeze(0),
            "edge_index": edge_index,
            "edge_shift": edge_cell_shift.to(pos.dtype),
        }

    def forward(
        self,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        atom_types: torch.Tensor,
        cell: torch.Tensor,
        edge_cell_shift: torch.Tensor,
        local_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Energies, forces and virial of one structure (see the module's docstring)."""
        pos = pos.detach().requires_grad_(True)
        strain = torch.zeros((3, 3), dtype=pos.dtype, device=pos.device).requires_grad_(True)
        symmetric = 0.5 * (strain + strain.transpose(0, 1))
        out = self.model(
            self.data(
                pos + pos @ symmetric, edge_index, atom_types, cell + cell @ symmetric,
                edge_cell_shift,
            )
        )  # fmt: skip
        atomic_energy = out["atomic_" + self.energy_key]
        energy = torch.where(local_mask, atomic_energy, torch.zeros_like(atomic_energy)).sum()
        grads: list[torch.Tensor | None] = torch.autograd.grad(
            [energy], [pos, strain], allow_unused=True
        )
        dpos, dstrain = grads[0], grads[1]
        forces = torch.zeros_like(pos) if dpos is None else -dpos
        virial = torch.zeros_like(cell) if dstrain is None else -dstrain
        return atomic_energy.detach(), energy.detach(), forces.detach(), virial.detach()
