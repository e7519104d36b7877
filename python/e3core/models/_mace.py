"""MACE (Batatia et al. 2022): an interatomic potential whose layers couple each atom's
neighbourhood features with themselves up to a body order (the symmetric contraction)."""

import math
from collections.abc import Callable, Sequence

import torch

from e3core._checks import check_int
from e3core.graph._conv import TensorProductConv
from e3core.math._radial import PolynomialCutoff, sin_over_r
from e3core.models._blocks import conv_instructions as nequip_conv_instructions
from e3core.models._common import AtomisticModel, PerType
from e3core.nn._activation import Activation
from e3core.nn._fc import FullyConnectedNet
from e3core.nn._symmetric_contraction import SymmetricContraction
from e3core.o3._irreps import Irrep, Irreps
from e3core.o3._linear import Linear
from e3core.o3._spherical_harmonics import SphericalHarmonics
from e3core.o3._tensor_product_families import FullyConnectedTensorProduct

_GATES = {"silu": torch.nn.functional.silu, "tanh": torch.tanh, "abs": torch.abs}


def conv_instructions(
    irreps_in: Irreps, irreps_edge: Irreps, irreps_wanted: Irreps
) -> tuple[Irreps, list[tuple[int, int, int, str, bool]]]:
    """MACE's convolution paths: NequIP's (``e3core.models._blocks.conv_instructions``) in
    the order of their outputs (mace-torch's order, which sets the layout of the per-edge
    weights).

    Example::

        >>> irreps, paths = conv_instructions(Irreps("4x0e+4x1o"), Irreps("0e+1o"), Irreps("0e+1o"))
        >>> irreps, [path[:3] for path in paths]
        (4x0e+4x0e+4x1o+4x1o, [(0, 0, 0), (1, 1, 1), (0, 1, 2), (1, 0, 3)])
    """
    irreps_out, instructions = nequip_conv_instructions(irreps_in, irreps_edge, irreps_wanted)
    return irreps_out, sorted(instructions, key=lambda path: path[2])


class NodeEmbedding(torch.nn.Module):
    """The elements' embedding: a ``Linear`` of the one-hot elements to scalars.

    Example::

        >>> NodeEmbedding(Irreps("3x0e"), Irreps("4x0e"))(torch.eye(3)).shape
        torch.Size([3, 4])
    """

    def __init__(self, irreps_attr: Irreps, irreps_out: Irreps) -> None:
        super().__init__()
        self.linear = Linear(irreps_attr, irreps_out)

    def forward(self, attrs: torch.Tensor) -> torch.Tensor:
        """Scalars (N, irreps_out.dim) of the one-hot elements ``attrs``."""
        return self.linear(attrs)


class MACEInteraction(torch.nn.Module):
    """MACE's interaction block (mace-torch's ``RealAgnosticInteractionBlock``, or with
    ``residual`` its ``RealAgnosticResidualInteractionBlock``): ``linear_up``, the convolution
    with the edge harmonics ("uvu", per-edge weights from the radial MLP ``conv_tp_weights``,
    the sum over neighbours divided by ``avg_num_neighbors``), ``linear`` into
    ``irreps_target``. The self-connection ``skip_tp`` (a ``FullyConnectedTensorProduct``
    with the one-hot elements) maps the input to ``irreps_hidden`` with ``residual``, for the
    product block to add; without it, it maps the messages to themselves.

    Returns the messages (N, irreps_target.dim) and the self-connection (or None).

    Example::

        >>> block = MACEInteraction(Irreps("4x0e"), Irreps("2x0e"), Irreps("0e+1o"),
        ...                         Irreps("4x0e+4x1o"), Irreps("4x0e"), 3, [8], 2.0, False)
        >>> sh, radial = torch.randn(2, 4), torch.randn(2, 3)
        >>> m, sc = block(torch.randn(2, 4), torch.eye(2), sh, radial, torch.tensor([1, 0]),
        ...               torch.tensor([0, 1]))
        >>> m.shape, sc is None
        (torch.Size([2, 16]), True)
    """

    residual: bool

    def __init__(
        self,
        irreps_in: Irreps,
        irreps_attr: Irreps,
        irreps_edge: Irreps,
        irreps_target: Irreps,
        irreps_hidden: Irreps,
        num_bessel: int,
        radial_MLP: Sequence[int],
        avg_num_neighbors: float,
        residual: bool,
    ) -> None:
        super().__init__()
        if not avg_num_neighbors > 0:
            raise ValueError(f"MACE: avg_num_neighbors is {avg_num_neighbors}, expected > 0")
        self.residual = residual
        self.linear_up = Linear(irreps_in, irreps_in)
        irreps_mid, instructions = conv_instructions(irreps_in, irreps_edge, irreps_target)
        self.conv_tp = TensorProductConv(
            irreps_in,
            irreps_edge,
            irreps_mid,
            instructions,
            shared_weights=False,
            internal_weights=False,
        )
        # The sum over neighbours divided by avg_num_neighbors, as the radial MLP's output
        # variance: the convolution and the Linear after it are linear in the weights.
        self.conv_tp_weights = FullyConnectedNet(
            [num_bessel, *radial_MLP, self.conv_tp.weight_numel],
            torch.nn.functional.silu,
            variance_out=1.0 / avg_num_neighbors**2,
        )
        self.linear = Linear(irreps_mid, irreps_target)
        if residual:
            self.skip_tp = FullyConnectedTensorProduct(irreps_in, irreps_attr, irreps_hidden)
        else:
            self.skip_tp = FullyConnectedTensorProduct(irreps_target, irreps_attr, irreps_target)
        self.irreps_out = irreps_target

    def forward(
        self,
        x: torch.Tensor,
        attrs: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_radial: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Messages (N, irreps_target.dim) and the self-connection of node features ``x``
        (N, irreps_in.dim) with one-hot elements ``attrs``."""
        sc: torch.Tensor | None = None
        if self.residual:
            sc = self.skip_tp(x, attrs)
        weight = self.conv_tp_weights(edge_radial)
        message = self.linear(self.conv_tp(self.linear_up(x), edge_sh, weight, edge_src, edge_dst))
        if not self.residual:
            message = self.skip_tp(message, attrs)
        return message, sc


class ProductBasis(torch.nn.Module):
    """MACE's product basis (mace-torch's ``EquivariantProductBasisBlock``): the symmetric
    contraction of the messages up to ``correlation`` with per-element weights, a ``Linear``,
    plus the interaction's self-connection when there is one.

    Example::

        >>> block = ProductBasis(Irreps("4x0e+4x1o"), Irreps("4x0e"), 2, 3)
        >>> block(torch.randn(5, 16), None, torch.tensor([0, 1, 2, 0, 1])).shape
        torch.Size([5, 4])
    """

    def __init__(
        self, irreps_in: Irreps, irreps_out: Irreps, correlation: int, num_elements: int
    ) -> None:
        super().__init__()
        self.symmetric_contractions = SymmetricContraction(
            irreps_in, irreps_out, correlation, num_elements
        )
        self.linear = Linear(irreps_out, irreps_out)

    def forward(
        self, x: torch.Tensor, sc: torch.Tensor | None, types: torch.Tensor
    ) -> torch.Tensor:
        """New node features (N, irreps_out.dim) from messages ``x`` (N, irreps_in.dim) of
        nodes of the element indices ``types`` (N,)."""
        out = self.linear(self.symmetric_contractions.contract(x, types))
        if sc is not None:
            out = out + sc
        return out


class LinearReadout(torch.nn.Module):
    """An atomic energy per layer: a ``Linear`` of the node features to one scalar.

    Example::

        >>> LinearReadout(Irreps("4x0e+4x1o"))(torch.randn(3, 16)).shape
        torch.Size([3, 1])
    """

    def __init__(self, irreps_in: Irreps) -> None:
        super().__init__()
        self.linear = Linear(irreps_in, Irreps("0e"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1) energies of the node features ``x``."""
        return self.linear(x)


class NonLinearReadout(torch.nn.Module):
    """The last layer's atomic energy: ``Linear`` to ``irreps_mlp`` scalars, their activation,
    ``Linear`` to one scalar.

    Example::

        >>> r = NonLinearReadout(Irreps("4x0e"), Irreps("8x0e"), torch.nn.functional.silu)
        >>> r(torch.randn(3, 4)).shape
        torch.Size([3, 1])
    """

    def __init__(
        self,
        irreps_in: Irreps,
        irreps_mlp: Irreps,
        gate: Callable[[torch.Tensor], torch.Tensor] | None,
    ) -> None:
        super().__init__()
        self.linear_1 = Linear(irreps_in, irreps_mlp)
        self.non_linearity = Activation(irreps_mlp, [gate] * len(irreps_mlp))
        self.linear_2 = Linear(irreps_mlp, Irreps("0e"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1) energies of the node features ``x``."""
        return self.linear_2(self.non_linearity(self.linear_1(x)))


def _correlations(correlation: int | Sequence[int], num_interactions: int) -> list[int]:
    """One correlation order per interaction, each at least 1."""
    if not isinstance(correlation, Sequence):
        return [check_int("MACE", "correlation", correlation, 1)] * num_interactions
    if len(correlation) != num_interactions:
        raise ValueError(
            f"MACE: correlation is {correlation!r}, expected an int >= 1 or a list of "
            f"{num_interactions} (one per interaction)"
        )
    return [check_int("MACE", f"correlation[{i}]", c, 1) for i, c in enumerate(correlation)]


class MACE(AtomisticModel):
    r"""MACE, the interatomic potential of Batatia et al., "MACE: Higher order equivariant
    message passing neural networks for fast and accurate force fields", NeurIPS 2022, as
    mace-torch 0.3 builds it (its ``MACE`` and ``ScaleShiftMACE``, convert them with
    ``e3core.from_mace``).

    Elements are embedded as ``hidden_irreps``' scalars (a ``Linear`` of the one-hot
    elements); edges carry their spherical harmonics up to ``max_ell`` ("component"
    normalization) and ``num_bessel`` Bessel functions (``e3core.math.bessel``) times the
    polynomial cutoff of order ``num_polynomial_cutoff``. Each of ``num_interactions`` layers
    is an interaction (``MACEInteraction``: the convolution of the node features with the edge
    harmonics, weighted by a radial MLP ``radial_MLP``, summed over neighbours and divided by
    ``avg_num_neighbors``) and a product basis (``ProductBasis``: the symmetric contraction
    up to body order ``correlation`` + 1 with per-element weights), with a self-connection
    from the layer's input (the first layer's only with ``residual_first``). Every layer's
    features give an atomic energy (a ``Linear``; the last layer keeps only the scalars and
    reads them through a hidden layer ``MLP_irreps`` with the activation ``gate``, unless it
    is also the first, as in mace-torch); their sum
    is scaled and shifted (``scale``, ``shift``: mace-torch's ``atomic_inter_scale`` and
    ``atomic_inter_shift``) and added to the atomic reference energies
    (``atom_references``: mace-torch's ``atomic_energies``). Forces (-dE/dR) and, with
    ``compute_stress``, virial and stress come from autograd.

    Args:
        type_numbers: the atomic numbers of the elements, e.g. ``[1, 8]``.
        r_max: cutoff radius (Angstrom).
        num_interactions: layers.
        hidden_irreps: the layers' features, the same multiplicity for every irrep and the
            even scalars first, e.g. ``"128x0e+128x1o"`` (MACE-MP "medium").
        max_ell: highest degree of the edge harmonics.
        correlation: the product basis' highest power (one int, or one per layer).
        num_bessel, num_polynomial_cutoff: the radial basis.
        radial_MLP: hidden sizes of the radial MLPs.
        MLP_irreps: the last readout's hidden scalars.
        gate: the last readout's activation, ``"silu"``, ``"tanh"``, ``"abs"`` or None.
        avg_num_neighbors: divides the sum of messages (``e3core.data.average_num_neighbors``).
        residual_first: the first layer's self-connection from its input (mace-torch's
            ``RealAgnosticResidualInteractionBlock`` first; its training script's models
            have ``RealAgnosticInteractionBlock`` there, the default here).
        target, reduce, compute_forces, compute_stress, scale, shift, atom_references: as
            ``e3core.models.NequIP``.

    Example::

        >>> model = MACE(type_numbers=[1, 6, 7, 8, 9], hidden_irreps="4x0e+4x1o", max_ell=2,
        ...              radial_MLP=[8], MLP_irreps="4x0e")
        >>> batch = data.collate(data.load_qm9_sample()[:3], cutoff=model.r_max)
        >>> out = model(batch.as_dict())
        >>> out["energy"].shape, out["forces"].shape
        (torch.Size([3]), torch.Size([12, 3]))
    """

    name = "mace"
    num_types: int
    num_bessel: int

    def __init__(
        self,
        type_numbers: Sequence[int],
        r_max: float = 5.0,
        num_interactions: int = 2,
        hidden_irreps: str = "32x0e+32x1o",
        max_ell: int = 3,
        correlation: int | Sequence[int] = 3,
        num_bessel: int = 8,
        num_polynomial_cutoff: int = 5,
        radial_MLP: Sequence[int] = (64, 64, 64),
        MLP_irreps: str = "16x0e",
        gate: str | None = "silu",
        avg_num_neighbors: float = 1.0,
        residual_first: bool = False,
        target: str = "energy",
        reduce: str = "sum",
        compute_forces: bool = True,
        compute_stress: bool = False,
        scale: PerType = 1.0,
        shift: PerType = 0.0,
        atom_references: PerType | None = None,
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
        num_interactions = check_int("MACE", "num_interactions", num_interactions, 1)
        max_ell = check_int("MACE", "max_ell", max_ell, 0)
        if gate is not None and gate not in _GATES:
            raise ValueError(f"MACE: gate is {gate!r}, expected one of {sorted(_GATES)} or None")
        hidden = Irreps(hidden_irreps)
        muls = {mul for mul, _ in hidden}
        if len(hidden) == 0 or len(muls) != 1 or hidden[0].ir != Irrep("0e"):
            raise ValueError(
                f"MACE: hidden_irreps is {hidden_irreps!r}, expected irreps of one multiplicity "
                "with the even scalars first, e.g. '32x0e+32x1o'"
            )
        mlp = Irreps(MLP_irreps)
        if len(mlp) == 0 or any(ir.l != 0 for _, ir in mlp):
            raise ValueError(f"MACE: MLP_irreps is {MLP_irreps!r}, expected scalars, e.g. '16x0e'")
        correlations = _correlations(correlation, num_interactions)
        self.receptive_field = num_interactions * self.r_max
        self.config.update(
            num_interactions=num_interactions,
            hidden_irreps=str(hidden),
            max_ell=max_ell,
            correlation=correlations,
            num_bessel=int(num_bessel),
            num_polynomial_cutoff=int(num_polynomial_cutoff),
            radial_MLP=[int(n) for n in radial_MLP],
            MLP_irreps=str(mlp),
            gate=gate,
            avg_num_neighbors=float(avg_num_neighbors),
            residual_first=bool(residual_first),
        )
        self.num_types = self.types.num_types
        self.num_bessel = int(num_bessel)
        num_features = muls.pop()
        irreps_attr = Irreps([(self.num_types, (0, 1))])
        irreps_edge = Irreps.spherical_harmonics(max_ell)
        scalars = Irreps([hidden[0]])
        # Odd scalars among the hidden features: the messages then carry both parities.
        if hidden.count("0o") > 0:
            edge_parities = Irreps([(1, (l, p)) for l in range(max_ell + 1) for p in (1, -1)])
        else:
            edge_parities = irreps_edge
        irreps_target = Irreps([(num_features, ir) for _, ir in edge_parities]).sort()[0]
        irreps_target_first = Irreps([(num_features, ir) for _, ir in irreps_edge]).sort()[0]

        self.node_embedding = NodeEmbedding(irreps_attr, scalars)
        self.cutoff = PolynomialCutoff(self.r_max, num_polynomial_cutoff)
        self.spherical_harmonics = SphericalHarmonics(
            irreps_edge, normalize=True, normalization="component"
        )
        interactions, products, readouts = [], [], []
        irreps_in = scalars
        for layer in range(num_interactions):
            first, last = layer == 0, layer == num_interactions - 1
            irreps_out = scalars if last else hidden
            target_irreps = (irreps_target_first if first else irreps_target).simplify()
            residual = residual_first or not first
            interactions.append(
                MACEInteraction(
                    irreps_in,
                    irreps_attr,
                    irreps_edge,
                    target_irreps,
                    irreps_out,
                    num_bessel,
                    radial_MLP,
                    avg_num_neighbors,
                    residual,
                )
            )
            products.append(
                ProductBasis(target_irreps, irreps_out, correlations[layer], self.num_types)
            )
            # mace-torch's first readout is linear, even when it is also the last.
            if last and not first:
                readouts.append(NonLinearReadout(irreps_out, mlp, _GATES.get(gate or "")))
            else:
                readouts.append(LinearReadout(irreps_out))
            irreps_in = irreps_out
        self.interactions = torch.nn.ModuleList(interactions)
        self.products = torch.nn.ModuleList(products)
        self.readouts = torch.nn.ModuleList(readouts)

    def node_outputs(
        self,
        types: torch.Tensor,
        vectors: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
    ) -> torch.Tensor:
        """Atomic energies before scale, shift and references (N, 1): the sum of the layers'
        readouts."""
        attrs = torch.nn.functional.one_hot(types, self.num_types).to(vectors.dtype)
        lengths = torch.linalg.norm(vectors, dim=1)
        # e3nn's Bessel basis (mace-torch's), its frequencies made in the lengths' dtype:
        # a buffer made in float32 would carry pi's float32 rounding into a float64 model.
        frequencies = math.pi * torch.arange(
            1, self.num_bessel + 1, dtype=lengths.dtype, device=lengths.device
        )
        prefactor = math.sqrt(2.0 / self.r_max)
        radial = sin_over_r(lengths, frequencies, self.r_max, prefactor)
        radial = radial * self.cutoff(lengths)[:, None]
        sh = self.spherical_harmonics(vectors)
        x = self.node_embedding(attrs)
        energy = torch.zeros((x.shape[0], 1), dtype=x.dtype, device=x.device)
        # TorchScript's zip takes no strict; the three lists have one entry per layer.
        layers = zip(self.interactions, self.products, self.readouts)  # noqa: B905
        for interaction, product, readout in layers:
            message, sc = interaction(x, attrs, sh, radial, edge_src, edge_dst)
            x = product(message, sc, types)
            energy = energy + readout(x)
        return energy
