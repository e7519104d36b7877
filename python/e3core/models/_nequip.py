"""NequIP (Batzner et al. 2022): an E(3)-equivariant interatomic potential, energy and forces
(and stress) by autograd."""

from collections.abc import Sequence

import torch

from e3core.math._radial import RadialBasis
from e3core.models._blocks import Interactions
from e3core.models._common import AtomisticModel, PerType
from e3core.o3._irreps import Irreps
from e3core.o3._linear import Linear


class NequIP(AtomisticModel):
    r"""NequIP, the equivariant interatomic potential of Batzner et al., "E(3)-equivariant graph
    neural networks for data-efficient and accurate interatomic potentials", Nat. Commun. 13,
    2453 (2022).

    Types are embedded as scalars (a ``Linear`` of the one-hot types); edges carry their
    spherical harmonics up to ``lmax`` ("component" normalization) and a Bessel basis times
    NequIP's polynomial cutoff (``e3core.math.RadialBasis``). ``num_layers`` interaction blocks
    (``Interaction``: Linear, ``TensorProductConv`` "uvu" with weights from a radial MLP,
    Linear, self-connection with the types, Gate) keep ``num_features`` copies of each irrep up
    to ``lmax`` (both parities with ``parity``); the last keeps only the scalars. Two
    ``Linear`` layers map the scalars to an atomic energy, scaled and shifted per type
    (``scale``, ``shift``, ``atom_references``), and summed per graph. Forces (-dE/dR) and,
    with ``compute_stress``, virial and stress (the strain trick) come from autograd, with
    ``create_graph`` in training mode.

    Args:
        type_numbers: the atomic numbers of the types, e.g. ``[1, 6, 7, 8]``.
        r_max: cutoff radius (Angstrom).
        num_layers: interaction blocks.
        num_features: multiplicity of each hidden irrep.
        lmax: highest degree of the hidden features and edge harmonics.
        parity: hidden features of both parities (otherwise only 0e, 1o, 2e, ...).
        num_basis: Bessel functions; ``polynomial_p``: the cutoff's order;
            ``trainable_bessel``: learn their frequencies.
        radial_neurons: hidden sizes of the radial MLP.
        avg_num_neighbors: divides the sum of messages by its square root
            (``e3core.data.average_num_neighbors``).
        target: name of the output per graph (``"energy"``; per atom ``"atomic_energy"``).
        reduce: ``"sum"`` (extensive, default) or ``"mean"`` over the atoms.
        compute_forces, compute_stress: outputs ``forces`` (N, 3), ``virial`` and ``stress``
            (G, 3, 3).
        scale, shift, atom_references: per-atom ``scale * e + shift + reference``: a number, a
            list per type, or a dict by element (``fit_atomrefs``, ``qm9_atomrefs``).
        scalar_last_layer: the last block outputs ``num_features`` even scalars only, as in
            the nequip package (its paths into other irreps would be computed for nothing:
            the readout reads scalars). ``False`` keeps every hidden irrep, as e3core's NequIP
            did before this option (checkpoints without it are rebuilt so).

    Example::

        >>> model = NequIP(type_numbers=[1, 6, 7, 8, 9], num_features=4, num_layers=2)
        >>> batch = data.collate(data.load_qm9_sample()[:3], cutoff=model.r_max)
        >>> out = model(batch.as_dict())
        >>> out["energy"].shape, out["atomic_energy"].shape, out["forces"].shape
        (torch.Size([3]), torch.Size([12]), torch.Size([12, 3]))
    """

    name = "nequip"
    # NequIP checkpoints written before scalar_last_layer existed have a full last layer.
    legacy_config = {"scalar_last_layer": False}

    def __init__(
        self,
        type_numbers: Sequence[int],
        r_max: float = 5.0,
        num_layers: int = 3,
        num_features: int = 32,
        lmax: int = 1,
        parity: bool = True,
        num_basis: int = 8,
        polynomial_p: float = 6.0,
        trainable_bessel: bool = True,
        radial_neurons: Sequence[int] = (64, 64),
        avg_num_neighbors: float = 1.0,
        target: str = "energy",
        reduce: str = "sum",
        compute_forces: bool = True,
        compute_stress: bool = False,
        scale: PerType = 1.0,
        shift: PerType = 0.0,
        atom_references: PerType | None = None,
        scalar_last_layer: bool = True,
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
        self.receptive_field = int(num_layers) * self.r_max
        self.config.update(
            num_layers=int(num_layers),
            num_features=int(num_features),
            lmax=int(lmax),
            parity=bool(parity),
            num_basis=int(num_basis),
            polynomial_p=float(polynomial_p),
            trainable_bessel=bool(trainable_bessel),
            radial_neurons=[int(n) for n in radial_neurons],
            avg_num_neighbors=float(avg_num_neighbors),
            scalar_last_layer=bool(scalar_last_layer),
        )
        self.interactions = Interactions(
            self.types.num_types,
            num_features,
            lmax,
            parity,
            num_layers,
            num_basis,
            radial_neurons,
            avg_num_neighbors,
            scalar_output=scalar_last_layer,
        )
        self.radial_basis = RadialBasis(self.r_max, num_basis, polynomial_p, trainable_bessel)
        irreps = self.interactions.irreps_out
        hidden_scalars = Irreps([(max(num_features // 2, 1), (0, 1))])
        self.readout = torch.nn.Sequential(
            Linear(irreps, hidden_scalars), Linear(hidden_scalars, Irreps("0e"))
        )

    def node_outputs(
        self,
        types: torch.Tensor,
        vectors: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
    ) -> torch.Tensor:
        """Atomic energies before scale and shift (N, 1)."""
        radial = self.radial_basis(torch.linalg.norm(vectors, dim=1))
        return self.readout(self.interactions(types, vectors, radial, edge_src, edge_dst))
