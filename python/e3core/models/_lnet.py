"""LNet (L0Net / L1Net, Miller et al. 2020): gated equivariant convolutions with hidden
features up to l = 0 or 1, for QM9's graph targets and its dipole moment."""

from collections.abc import Sequence

import torch

from e3core.math._soft_one_hot_linspace import soft_one_hot_linspace
from e3core.models._blocks import Interactions, gate, hidden_irreps
from e3core.models._common import AtomisticModel, PerType, per_graph
from e3core.o3._irreps import Irrep, Irreps
from e3core.o3._linear import Linear

_DIPOLE = "mu"
RADIAL_BASES = ("smooth_finite", "cosine")


class LNet(AtomisticModel):
    r"""L0Net (``lmax=0``) and L1Net (``lmax=1``), the networks of Miller, Geiger, Smidt and
    Noé, "Relevance of rotationally equivariant convolutions for predicting molecular
    properties", arXiv:2008.08461 (2020), which compares them on QM9 at equal parameter counts
    (``lnet_num_features`` picks the multiplicities).

    An atom-wise embedding of the types (a ``Linear`` of their one-hot vectors to
    ``num_features`` scalars); edges carry a radial basis on [0, r_max]
    (``soft_one_hot_linspace(..., radial_basis, cutoff=True)``, times sqrt(num_basis)) and
    spherical harmonics up to ``lmax``; ``num_layers`` gated convolution blocks
    (``Interaction``) keep ``num_features`` copies of each irrep up to ``lmax`` (both parities
    with ``parity``); ``num_atomwise`` atom-wise gated layers (Linear, Gate) follow, and a last
    ``Linear`` gives the outputs per atom.

    - A graph target (``"U0"``, ``"homo"``, ...): one scalar per atom, times ``scale`` plus
      ``shift`` and ``atom_references`` per type (``qm9_atomrefs("U0")`` or ``fit_atomrefs``),
      summed (``reduce="sum"``, extensive targets) or averaged (``"mean"``, intensive ones):
      outputs ``<target>`` (G,) and ``atomic_<target>`` (N,).
    - The dipole moment ``"mu"``: each atom gets a charge q_i (0e) and, with ``lmax=1``, a
      vector p_i (1o). The charges are made neutral per molecule (their mean subtracted) so the
      dipole does not depend on the origin, and the dipole is
      ``d = sum_i (q_i - mean q) r_i + sum_i p_i``, times ``scale`` per type (e·Angstrom with
      ``scale=1``; Debye, QM9's unit, with ``scale=1 / DEBYE_E_ANGSTROM``); outputs ``mu`` =
      |d| (G,), ``dipole`` d (G, 3) and ``atomic_charges`` (N,). ``shift`` and
      ``atom_references`` must stay unset.

    Args:
        type_numbers: the atomic numbers of the types (QM9: ``[1, 6, 7, 8, 9]``).
        target: the QM9 target (default ``"U0"``), or ``"mu"``.
        lmax: 0 (L0Net) or 1 (L1Net).
        num_features: multiplicity of each hidden irrep.
        num_layers, num_atomwise: convolution blocks and atom-wise gated layers.
        num_basis, r_max: the radial basis; ``radial_neurons``: hidden sizes of the radial MLPs.
        radial_basis: ``"smooth_finite"`` (default): e3nn's smooth bumps on the cosine basis's
            grid and supports, infinitely differentiable, so forces are smooth; ``"cosine"``:
            the paper's basis, whose functions have kinks at the grid points and at r_max, so
            forces jump there (fine for properties, not for dynamics). Configurations saved
            before this option existed load as ``"cosine"`` (``e3core.models.upgrade_config``).
        parity, avg_num_neighbors: as ``NequIP``'s.
        reduce, compute_forces, scale, shift, atom_references: as ``NequIP``'s (no forces and
            no stress by default; none for ``"mu"``).

    Example::

        >>> l1 = LNet(type_numbers=[1, 6, 7, 8, 9], target="mu", lmax=1, num_features=4)
        >>> batch = data.collate(data.load_qm9_sample()[:3], cutoff=l1.r_max)
        >>> out = l1(batch.as_dict())
        >>> out["mu"].shape, out["dipole"].shape, out["atomic_charges"].shape
        (torch.Size([3]), torch.Size([3, 3]), torch.Size([12]))
    """

    name = "lnet"
    legacy_config = {"radial_basis": "cosine"}
    num_basis: int
    radial_basis: str
    dipole: bool
    basis_factor: float

    def __init__(
        self,
        type_numbers: Sequence[int],
        target: str = "U0",
        lmax: int = 1,
        num_features: int = 16,
        num_layers: int = 3,
        num_atomwise: int = 1,
        num_basis: int = 10,
        r_max: float = 5.0,
        radial_neurons: Sequence[int] = (64,),
        parity: bool = True,
        avg_num_neighbors: float = 1.0,
        reduce: str = "sum",
        compute_forces: bool = False,
        compute_stress: bool = False,
        scale: PerType = 1.0,
        shift: PerType = 0.0,
        atom_references: PerType | None = None,
        radial_basis: str = "smooth_finite",
    ) -> None:
        super().__init__(
            type_numbers,
            r_max,
            target,
            reduce,
            compute_forces,
            compute_stress,
            scale,
            shift,
            atom_references,
        )
        if lmax not in (0, 1):
            raise ValueError(
                f"LNet: lmax is {lmax!r}, expected 0 (L0Net) or 1 (L1Net); NequIP takes any lmax"
            )
        if radial_basis not in RADIAL_BASES:
            raise ValueError(
                f"LNet: radial_basis is {radial_basis!r}, expected one of {RADIAL_BASES}"
            )
        if num_atomwise < 0:
            raise ValueError(f"LNet: num_atomwise is {num_atomwise}, expected at least 0")
        self.dipole = target == _DIPOLE
        if self.dipole and (
            compute_forces
            or compute_stress
            or reduce != "sum"
            or atom_references is not None
            or any(s != 0.0 for s in self.config["shift"])
        ):
            raise ValueError(
                "LNet: target 'mu' is a dipole from per-atom charges and vectors: leave "
                "compute_forces, compute_stress, reduce, shift and atom_references unset"
            )
        self.receptive_field = int(num_layers) * self.r_max
        self.config.update(
            lmax=int(lmax),
            num_features=int(num_features),
            num_layers=int(num_layers),
            num_atomwise=int(num_atomwise),
            num_basis=int(num_basis),
            radial_neurons=[int(n) for n in radial_neurons],
            parity=bool(parity),
            avg_num_neighbors=float(avg_num_neighbors),
            radial_basis=str(radial_basis),
        )
        self.num_basis = int(num_basis)
        self.radial_basis = str(radial_basis)
        self.basis_factor = float(num_basis) ** 0.5
        self.interactions = Interactions(
            self.types.num_types,
            num_features,
            lmax,
            parity,
            num_layers,
            num_basis,
            radial_neurons,
            avg_num_neighbors,
        )
        hidden = hidden_irreps(num_features, lmax, parity)
        irreps = self.interactions.irreps_out
        atomwise = []
        for _ in range(num_atomwise):
            g = gate(hidden, [ir for _, ir in irreps])
            atomwise.append(torch.nn.Sequential(Linear(irreps, g.irreps_in), g))
            irreps = g.irreps_out
        vectors = self.dipole and Irrep("1o") in irreps
        irreps_out = Irreps("0e+1o") if vectors else Irreps("0e")
        atomwise.append(Linear(irreps, irreps_out))
        self.atomwise = torch.nn.Sequential(*atomwise)

    def node_outputs(
        self,
        types: torch.Tensor,
        vectors: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
    ) -> torch.Tensor:
        """Per-atom outputs: a scalar (N, 1), or for ``"mu"`` a charge and a vector (N, 4)."""
        lengths = torch.linalg.norm(vectors, dim=1)
        radial = soft_one_hot_linspace(
            lengths, 0.0, self.r_max, self.num_basis, self.radial_basis, True
        )
        radial = radial * self.basis_factor
        return self.atomwise(self.interactions(types, vectors, radial, edge_src, edge_dst))

    def graph_outputs(
        self,
        node: torch.Tensor,
        types: torch.Tensor,
        positions: torch.Tensor,
        batch: torch.Tensor,
        n_atoms: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """The target per graph (and per atom), or for ``"mu"`` the dipole and its norm."""
        if not self.dipole:
            return self.scalar_outputs(node, types, batch, n_atoms)
        graphs = n_atoms.shape[0]
        scale = self.scale_shift.scale.index_select(0, types)
        charges = node[:, 0] * scale
        mean = per_graph(charges, batch, graphs) / n_atoms.clamp_min(1).to(charges.dtype)
        charges = charges - mean.index_select(0, batch)
        dipole = per_graph(charges[:, None] * positions, batch, graphs)
        if node.shape[1] > 1:
            dipole = dipole + per_graph(node[:, 1:4] * scale[:, None], batch, graphs)
        # |d| with a finite gradient at d = 0 (the norm is at least 1e-9 in the output's unit).
        mu = torch.sqrt((dipole * dipole).sum(dim=1).clamp_min(1e-18))
        return {self.target: mu, "dipole": dipole, "atomic_charges": charges}


def lnet_num_features(num_parameters: int, lmax: int, **config: object) -> int:
    """The ``num_features`` whose ``LNet(lmax=lmax, num_features=..., **config)`` has the number
    of parameters nearest ``num_parameters``: L0Net and L1Net at (nearly) equal parameter
    counts, as Miller et al. compare them. The count grows with ``num_features``, so a
    bisection over it needs about 2 log2(num_features) model builds.

    Example::

        >>> l1 = LNet(type_numbers=[1, 6, 7, 8, 9], lmax=1, num_features=8)
        >>> n1 = sum(p.numel() for p in l1.parameters())
        >>> f0 = lnet_num_features(n1, lmax=0, type_numbers=[1, 6, 7, 8, 9])
        >>> l0 = LNet(type_numbers=[1, 6, 7, 8, 9], lmax=0, num_features=f0)
        >>> f0 > 8, abs(sum(p.numel() for p in l0.parameters()) / n1 - 1) < 0.03
        (True, True)
    """
    if "num_features" in config:
        raise TypeError("lnet_num_features: num_features is what it finds; do not pass it")

    def count(features: int) -> int:
        model = LNet(lmax=lmax, num_features=features, **config)
        return sum(p.numel() for p in model.parameters())

    low, high = 1, 1
    while count(high) < num_parameters:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if count(middle) < num_parameters:
            low = middle
        else:
            high = middle
    return low if num_parameters - count(low) <= count(high) - num_parameters else high
