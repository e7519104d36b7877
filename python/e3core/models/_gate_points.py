"""e3nn's gate_points_2101 network (convolutions and gates), as Rackers et al. used it to predict
density-fitting coefficients per atom, on e3core's fused convolution.

Example::

    >>> model = GatePointsNetwork([1, 8], "4x0e+2x1o+1x2e", hidden_irreps(2, 4), layers=2)
    >>> data = {"positions": torch.randn(3, 3), "numbers": torch.tensor([8, 1, 1]),
    ...         "batch": torch.zeros(3, dtype=torch.long)}
    >>> model(data)["density_coefficients"].shape
    torch.Size([3, 15])
"""

import math

import numpy as np
import torch

from e3core import o3
from e3core.density import irreps_mask
from e3core.graph import TensorProductConv, radius_graph
from e3core.math import soft_one_hot_linspace
from e3core.nn import FullyConnectedNet, Gate

_ACT = {1: torch.nn.functional.silu, -1: torch.tanh}
_ACT_GATES = {1: torch.sigmoid, -1: torch.tanh}


def hidden_irreps(lmax: int, mul: int) -> str:
    """Hidden irreps of degrees 0..lmax, both parities, ``mul`` channels each.

    Example::

        >>> hidden_irreps(1, 8)
        '8x0e+8x0o+8x1o+8x1e'
    """
    if lmax < 0 or mul < 1:
        raise ValueError(f"lmax is {lmax} and mul {mul}, expected lmax >= 0 and mul >= 1")
    return "+".join(f"{mul}x{ir}" for ir in o3.Irrep.iterator(lmax))


def tp_path_exists(irreps_in1: o3.Irreps, irreps_in2: o3.Irreps, ir_out: o3.Irrep) -> bool:
    """Whether some irrep of ``irreps_in1`` times one of ``irreps_in2`` contains ``ir_out``.

    Example::

        >>> tp_path_exists(o3.Irreps("0e"), o3.Irreps("1o"), o3.Irrep("1e"))
        False
    """
    return any(ir_out in ir1 * ir2 for _, ir1 in irreps_in1 for _, ir2 in irreps_in2)


def smooth_cutoff(x: torch.Tensor) -> torch.Tensor:
    """e3nn's gate_points cutoff of x = r / r_max: 1 below 0.5, (1 - cos(pi u)) / 2 with
    u = 2 (x - 1) between, 0 from 1 on.

    Example::

        >>> smooth_cutoff(torch.tensor([0.2, 0.75, 1.2]))
        tensor([1.0000, 0.5000, 0.0000])
    """
    u = 2 * (x - 1)
    y = (1 - torch.cos(math.pi * u)) / 2
    return torch.where(u > 0, torch.zeros_like(y), torch.where(u < -1, torch.ones_like(y), y))


def mid_instructions(
    irreps_in: o3.Irreps, irreps_edge_attr: o3.Irreps, irreps_out: o3.Irreps
) -> tuple[o3.Irreps, list[tuple]]:
    """gate_points' "uvu" paths from ``irreps_in`` x ``irreps_edge_attr`` to the irreps of
    ``irreps_out``, and their (sorted) output irreps.

    Example::

        >>> mid_instructions(o3.Irreps("2x0e"), o3.Irreps("0e+1o"), o3.Irreps("1o"))
        (2x1o, [(0, 1, 0, 'uvu', True)])
    """
    irreps_mid = []
    instructions = []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_edge) in enumerate(irreps_edge_attr):
            for ir_out in ir_in * ir_edge:
                if ir_out in irreps_out:
                    instructions.append((i, j, len(irreps_mid), "uvu", True))
                    irreps_mid.append((mul, ir_out))
    irreps_mid, p, _ = o3.Irreps(irreps_mid).sort()
    return irreps_mid, [(i1, i2, p[k], mode, w) for i1, i2, k, mode, w in instructions]


def uvu_convolution(
    irreps_in: o3.Irreps,
    irreps_edge_attr: o3.Irreps,
    irreps_out: o3.Irreps,
    number_of_basis: int,
    radial_layers: int,
    radial_neurons: int,
) -> tuple[o3.Irreps, TensorProductConv, FullyConnectedNet]:
    """gate_points' convolution core: the irreps of its "uvu" paths (``mid_instructions``), the
    fused product ``tp`` over the edges and the radial network ``fc`` giving its per-edge
    weights from ``number_of_basis`` features (``radial_layers`` of ``radial_neurons``).

    Example::

        >>> irreps_mid, tp, fc = uvu_convolution(
        ...     o3.Irreps("2x0e"), o3.Irreps("0e+1o"), o3.Irreps("1o"), 8, 1, 16)
        >>> irreps_mid, fc.hs
        (2x1o, [8, 16, 2])
    """
    irreps_mid, instructions = mid_instructions(irreps_in, irreps_edge_attr, irreps_out)
    tp = TensorProductConv(
        irreps_in,
        irreps_edge_attr,
        irreps_mid,
        instructions,
        internal_weights=False,
        shared_weights=False,
    )
    fc = FullyConnectedNet(
        [number_of_basis] + radial_layers * [radial_neurons] + [tp.weight_numel],
        torch.nn.functional.silu,
    )
    return irreps_mid, tp, fc


class Convolution(torch.nn.Module):
    """gate_points_2101's convolution from source nodes to target nodes (the same set, or atoms
    to probes): a self connection and, from the sources, a linear layer, a "uvu" tensor product
    with the edge harmonics weighted by a radial network, a sum over edges / sqrt(num_neighbors)
    and a second linear layer. Linear layers are tensor products with the node attributes.

    Example::

        >>> conv = Convolution("0e", "2x0e", "0e", "2x0e", "0e+1o", "4x0e+2x1o", 8, 1, 16, 3.0)
        >>> x, attr = torch.ones(3, 1), torch.eye(2)[[0, 1, 1]]
        >>> src, dst = torch.tensor([1, 2, 0]), torch.tensor([0, 0, 1])
        >>> conv(x, attr, x, attr, src, dst, torch.randn(3, 4), torch.randn(3, 8)).shape
        torch.Size([3, 10])
    """

    def __init__(
        self,
        irreps_src: str | o3.Irreps,
        irreps_src_attr: str | o3.Irreps,
        irreps_dst: str | o3.Irreps,
        irreps_dst_attr: str | o3.Irreps,
        irreps_edge_attr: str | o3.Irreps,
        irreps_out: str | o3.Irreps,
        number_of_basis: int,
        radial_layers: int,
        radial_neurons: int,
        num_neighbors: float,
    ) -> None:
        super().__init__()
        irreps_src, irreps_dst = o3.Irreps(irreps_src), o3.Irreps(irreps_dst)
        irreps_edge_attr, irreps_out = o3.Irreps(irreps_edge_attr), o3.Irreps(irreps_out)
        self.num_neighbors = float(num_neighbors)
        self.sc = o3.FullyConnectedTensorProduct(irreps_dst, irreps_dst_attr, irreps_out)
        self.lin1 = o3.FullyConnectedTensorProduct(irreps_src, irreps_src_attr, irreps_src)
        # Unlike gate_points_2101 (e3nn's), the scalar paths stay where irreps_out has no 0e.
        irreps_mid, self.tp, self.fc = uvu_convolution(
            irreps_src,
            irreps_edge_attr,
            irreps_out + o3.Irreps("0e"),
            number_of_basis,
            radial_layers,
            radial_neurons,
        )
        self.lin2 = o3.FullyConnectedTensorProduct(irreps_mid, irreps_dst_attr, irreps_out)
        mask = self.sc.output_mask
        c_s, c_x = math.sin(math.pi / 8), math.cos(math.pi / 8)
        self.register_buffer("self_scale", torch.full_like(mask, c_s))
        self.register_buffer("conv_scale", (1 - mask) + c_x * mask)

    def forward(
        self,
        x_src: torch.Tensor,
        attr_src: torch.Tensor,
        x_dst: torch.Tensor,
        attr_dst: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_attr: torch.Tensor,
        edge_embedding: torch.Tensor,
    ) -> torch.Tensor:
        """Target features (targets, irreps_out.dim) from source features ``x_src``, the
        targets' own ``x_dst``, node attributes, edges src -> dst with their harmonics
        ``edge_attr`` and radial embedding ``edge_embedding``."""
        weight = self.fc(edge_embedding)
        self_connection = self.sc(x_dst, attr_dst)
        features = self.lin1(x_src, attr_src)
        # The fused op writes one row per row of its input: pad the sources to the targets.
        n_dst = x_dst.shape[0]
        if features.shape[0] < n_dst:
            padding = features.new_zeros(n_dst - features.shape[0], features.shape[1])
            features = torch.cat([features, padding])
        features = self.tp(features, edge_attr, weight, edge_src, edge_dst)[:n_dst]
        features = self.lin2(features, attr_dst) / math.sqrt(self.num_neighbors)
        return self.self_scale * self_connection + self.conv_scale * features


class _Layer(torch.nn.Module):
    """A convolution followed by a gate (atoms to atoms)."""

    def __init__(self, conv: Convolution, gate: Gate) -> None:
        super().__init__()
        self.conv = conv
        self.gate = gate

    def forward(
        self,
        x: torch.Tensor,
        attr: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_attr: torch.Tensor,
        edge_embedding: torch.Tensor,
    ) -> torch.Tensor:
        """The gated convolution of node features x."""
        return self.gate(self.conv(x, attr, x, attr, edge_src, edge_dst, edge_attr, edge_embedding))


def gate_for(irreps_hidden: o3.Irreps, irreps_in: o3.Irreps, irreps_edge_attr: o3.Irreps) -> Gate:
    """gate_points_2101's gate after a convolution of ``irreps_in`` with ``irreps_edge_attr``:
    the hidden scalars and gated irreps that some path reaches, one gate scalar per gated irrep.

    Example::

        >>> gate_for(o3.Irreps("8x0e+4x1o+4x2e"), o3.Irreps("0e"), o3.Irreps("0e+1o")).irreps_out
        8x0e+4x1o
    """
    scalars = o3.Irreps(
        [
            (m, ir)
            for m, ir in irreps_hidden
            if ir.l == 0 and tp_path_exists(irreps_in, irreps_edge_attr, ir)
        ]
    )
    gated = o3.Irreps(
        [
            (m, ir)
            for m, ir in irreps_hidden
            if ir.l > 0 and tp_path_exists(irreps_in, irreps_edge_attr, ir)
        ]
    )
    ir = "0e" if tp_path_exists(irreps_in, irreps_edge_attr, o3.Irrep("0e")) else "0o"
    gates = o3.Irreps([(m, ir) for m, _ in gated])
    return Gate(
        scalars,
        [_ACT[ir.p] for _, ir in scalars],
        gates,
        [_ACT_GATES[ir.p] for _, ir in gates],
        gated,
    )


def type_table(type_numbers: list[int]) -> torch.Tensor:
    """(119,) int64: the index of each atomic number in ``type_numbers``, -1 elsewhere.

    Example::

        >>> type_table([1, 8])[[1, 6, 8]]
        tensor([ 0, -1,  1])
    """
    if len(type_numbers) == 0 or len(set(type_numbers)) != len(type_numbers):
        raise ValueError(f"type_numbers is {type_numbers}, expected distinct atomic numbers")
    if any(not 1 <= z <= 118 for z in type_numbers):
        raise ValueError(f"type_numbers is {type_numbers}, expected atomic numbers in 1..118")
    table = torch.full((119,), -1, dtype=torch.long)
    table[torch.tensor(type_numbers)] = torch.arange(len(type_numbers))
    return table


def atom_types(table: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
    """Type indices of ``numbers`` through ``table``; in eager mode an atomic number the model
    does not know is an error.

    Example::

        >>> atom_types(type_table([1, 8]), torch.tensor([8, 1]))
        tensor([1, 0])
    """
    types = table[numbers]
    if not torch.jit.is_scripting() and bool((types < 0).any()):
        known = torch.nonzero(table >= 0).flatten().tolist()
        bad = int(numbers[types < 0][0])
        raise ValueError(
            f"numbers contains {bad}, expected one of the model's type_numbers {known}"
        )
    return types


class EdgeEmbedding(torch.nn.Module):
    """gate_points_2101's edge features: spherical harmonics (component normalisation) of the
    edge vectors times the smooth cutoff, and Gaussians of the length times sqrt(number).

    Example::

        >>> attr, embedding = EdgeEmbedding(2, 3.0, 8)(torch.randn(5, 3))
        >>> attr.shape, embedding.shape
        (torch.Size([5, 9]), torch.Size([5, 8]))
    """

    def __init__(self, lmax: int, r_max: float, number_of_basis: int) -> None:
        super().__init__()
        self.irreps = o3.Irreps.spherical_harmonics(lmax)
        self.sh = o3.SphericalHarmonics(self.irreps, True, "component")
        self.r_max = float(r_max)
        self.number_of_basis = int(number_of_basis)

    def forward(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(edge_attr, edge_embedding) of the edge vectors (E, 3)."""
        lengths = torch.linalg.vector_norm(vectors, dim=1)
        embedding = soft_one_hot_linspace(
            lengths, 0.0, self.r_max, self.number_of_basis, "gaussian", False
        ) * math.sqrt(self.number_of_basis)
        return smooth_cutoff(lengths / self.r_max)[:, None] * self.sh(vectors), embedding


def edge_vectors(data: dict[str, torch.Tensor], r_max: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(edge_index, vectors) of a batch: its own edges (``positions[j] - positions[i] +
    edge_shift @ cell[batch[j]]``) or, without ``edge_index``, a radius graph of r_max.

    Example::

        >>> data = {"positions": torch.tensor([[0.0, 0, 0], [1.0, 0, 0]]),
        ...         "batch": torch.zeros(2, dtype=torch.long)}
        >>> edge_vectors(data, 2.0)[1]
        tensor([[ 1.,  0.,  0.],
                [-1.,  0.,  0.]])
    """
    positions = data["positions"]
    if "edge_index" in data:
        edge_index = data["edge_index"]
    else:
        edge_index = radius_graph(positions, r_max, data["batch"])
    src, dst = edge_index[0], edge_index[1]
    vectors = positions[src] - positions[dst]
    if "edge_shift" in data and "cell" in data:
        cell = data["cell"][data["batch"][src]]
        vectors = vectors + torch.einsum("ei,eij->ej", data["edge_shift"].to(vectors.dtype), cell)
    return edge_index, vectors


def output_mask(
    irreps_out: o3.Irreps, type_irreps_out: list[str] | None, n_types: int
) -> torch.Tensor:
    """(types, irreps_out.dim) 0/1 mask: each type's own irreps fill the first channels of
    each degree of ``irreps_out`` (the layout of e3core.density.DensityBasis); all ones without
    ``type_irreps_out``.

    Example::

        >>> output_mask(o3.Irreps("2x0e+1x1o"), ["1x0e", "2x0e+1x1o"], 2)
        tensor([[1., 0., 0., 0., 0.],
                [1., 1., 1., 1., 1.]])
    """
    if type_irreps_out is None:
        return torch.ones(n_types, irreps_out.dim)
    if len(type_irreps_out) != n_types:
        raise ValueError(
            f"type_irreps_out has {len(type_irreps_out)} entries, expected one per type ({n_types})"
        )
    return torch.tensor(
        np.stack([irreps_mask(irreps_out, o3.Irreps(s)) for s in type_irreps_out]),
        dtype=torch.get_default_dtype(),
    )


class GatePointsNetwork(torch.nn.Module):
    """e3nn's gate_points_2101 network predicting per-atom irreps (Rackers et al.'s density
    coefficients): one-hot element inputs and attributes, ``layers`` convolutions each followed
    by a gate over ``irreps_hidden``, and a last convolution to ``irreps_out``. Edge attributes
    are spherical harmonics up to ``lmax_edge`` with gate_points' smooth cutoff at ``r_max``,
    radial networks of Gaussians. ``type_irreps_out`` (one irreps string per type, e.g. from
    ``DensityBasis.irreps_of``) zeroes the outputs an element lacks.

    Output: ``"density_coefficients"`` (N, irreps_out.dim).

    Example::

        >>> model = GatePointsNetwork([1, 8], "5x0e+2x1o", "16x0e+4x1o", layers=1, r_max=3.0)
        >>> model.config["irreps_hidden"], model.r_max
        ('16x0e+4x1o', 3.0)
    """

    name = "gate_points"

    def __init__(
        self,
        type_numbers: list[int],
        irreps_out: str,
        irreps_hidden: str,
        layers: int = 3,
        r_max: float = 3.5,
        lmax_edge: int = 4,
        number_of_basis: int = 10,
        radial_layers: int = 1,
        radial_neurons: int = 64,
        num_neighbors: float = 3.0,
        type_irreps_out: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.config = {
            "type_numbers": list(type_numbers),
            "irreps_out": str(irreps_out),
            "irreps_hidden": str(irreps_hidden),
            "layers": int(layers),
            "r_max": float(r_max),
            "lmax_edge": int(lmax_edge),
            "number_of_basis": int(number_of_basis),
            "radial_layers": int(radial_layers),
            "radial_neurons": int(radial_neurons),
            "num_neighbors": float(num_neighbors),
            "type_irreps_out": None if type_irreps_out is None else list(type_irreps_out),
        }
        self.r_max = float(r_max)
        # How far an output looks: the gated convolutions and the last one.
        self.receptive_field = (int(layers) + 1) * self.r_max
        self.irreps_out = o3.Irreps(irreps_out)
        self.irreps_hidden = o3.Irreps(irreps_hidden)
        self.register_buffer("type_table", type_table(list(type_numbers)))
        n_types = len(type_numbers)
        self.register_buffer("mask", output_mask(self.irreps_out, type_irreps_out, n_types))
        self.embedding = EdgeEmbedding(lmax_edge, r_max, number_of_basis)
        irreps_attr = o3.Irreps(f"{n_types}x0e")
        irreps = irreps_attr
        radial = (number_of_basis, radial_layers, radial_neurons, num_neighbors)
        blocks = []
        for _ in range(layers):
            gate = gate_for(self.irreps_hidden, irreps, self.embedding.irreps)
            conv = Convolution(
                irreps,
                irreps_attr,
                irreps,
                irreps_attr,
                self.embedding.irreps,
                gate.irreps_in,
                *radial,
            )
            blocks.append(_Layer(conv, gate))
            irreps = gate.irreps_out
        self.layers = torch.nn.ModuleList(blocks)
        self.out = Convolution(
            irreps,
            irreps_attr,
            irreps,
            irreps_attr,
            self.embedding.irreps,
            self.irreps_out,
            *radial,
        )
        self.n_types = n_types

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-atom coefficients of a batch (``e3core.data.Batch.as_dict()``)."""
        types = atom_types(self.type_table, data["numbers"])
        edge_index, vectors = edge_vectors(data, self.r_max)
        edge_attr, edge_embedding = self.embedding(vectors)
        attr = torch.nn.functional.one_hot(types, self.n_types).to(vectors.dtype)
        x = attr
        src, dst = edge_index[0], edge_index[1]
        for layer in self.layers:
            x = layer(x, attr, src, dst, edge_attr, edge_embedding)
        out = self.out(x, attr, x, attr, src, dst, edge_attr, edge_embedding)
        return {"density_coefficients": out * self.mask[types].to(out.dtype)}


def matched_hidden_irreps(lmax: int, parameters: int, **config: object) -> str:
    """``hidden_irreps(lmax, mul)`` with the ``mul`` whose GatePointsNetwork(**config) has the
    parameter count closest to ``parameters``: networks of different lmax at near-equal size.

    Example::

        >>> config = dict(type_numbers=[1, 8], irreps_out="2x0e+1x1o", layers=1)
        >>> irreps = matched_hidden_irreps(1, 20000, **config)
        >>> model = GatePointsNetwork(irreps_hidden=irreps, **config)
        >>> abs(sum(p.numel() for p in model.parameters()) / 20000 - 1) < 0.1
        True
    """

    def count(mul: int) -> int:
        model = GatePointsNetwork(irreps_hidden=hidden_irreps(lmax, mul), **config)
        return sum(p.numel() for p in model.parameters())

    low, high = 1, 2
    while count(high) < parameters:
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle) < parameters else (low, middle)
    best = min((low, high), key=lambda mul: abs(count(mul) - parameters))
    return hidden_irreps(lmax, best)
