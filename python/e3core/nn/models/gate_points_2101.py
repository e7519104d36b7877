"""e3nn's ``nn.models.gate_points_2101``: a network of convolutions and gates on point clouds
(version of January 2021), with e3nn's constructor, submodule and parameter names (e3nn
state_dicts load unchanged), on e3core's fused convolution and neighbour search.

Example::

    >>> net = Network("0e", "8x0e+4x1o", "1o", None, "0e+1o+2e", layers=2, max_radius=2.0,
    ...               number_of_basis=5, radial_layers=1, radial_neurons=16, num_neighbors=3.0,
    ...               num_nodes=4.0)
    >>> net({"pos": torch.randn(4, 3), "x": torch.ones(4, 1)}).shape
    torch.Size([1, 3])
"""

import math

import torch

from e3core import o3
from e3core._errors import ArgumentError
from e3core.graph import radius_graph
from e3core.math import soft_one_hot_linspace
from e3core.models._gate_points import gate_for, smooth_cutoff, tp_path_exists, uvu_convolution
from e3core.nn import Gate
from e3core.util.jit import compile_mode

__all__ = ["Compose", "Convolution", "Network", "smooth_cutoff", "tp_path_exists"]


@compile_mode("script")
class Convolution(torch.nn.Module):
    """gate_points_2101's equivariant convolution, as e3nn's: a self connection ``sc``, and a
    linear layer ``lin1``, a "uvu" tensor product ``tp`` with the edge attributes weighted by the
    radial network ``fc``, a sum over the edges into each node / sqrt(num_neighbors) and a
    second linear layer ``lin2``; linear layers are tensor products with the node attributes.
    The product and the sum are one fused op (no per-edge features in memory).

    Example::

        >>> conv = Convolution("0e", "0e", "0e+1o", "4x0e+2x1o", 8, 1, 16, 3.0)
        >>> x, src, dst = torch.ones(3, 1), torch.tensor([1, 2, 0]), torch.tensor([0, 0, 1])
        >>> conv(x, x, src, dst, torch.randn(3, 4), torch.randn(3, 8)).shape
        torch.Size([3, 10])
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_node_attr: o3.Irreps,
        irreps_edge_attr: o3.Irreps,
        irreps_out: o3.Irreps,
        number_of_basis: int,
        radial_layers: int,
        radial_neurons: int,
        num_neighbors: float,
    ) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_node_attr = o3.Irreps(irreps_node_attr)
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        self.irreps_out = o3.Irreps(irreps_out)
        self.num_neighbors = float(num_neighbors)
        self.sc = o3.FullyConnectedTensorProduct(
            self.irreps_in, self.irreps_node_attr, self.irreps_out
        )
        self.lin1 = o3.FullyConnectedTensorProduct(
            self.irreps_in, self.irreps_node_attr, self.irreps_in
        )
        irreps_mid, self.tp, self.fc = uvu_convolution(
            self.irreps_in,
            self.irreps_edge_attr,
            self.irreps_out,
            number_of_basis,
            radial_layers,
            radial_neurons,
        )
        self.lin2 = o3.FullyConnectedTensorProduct(
            irreps_mid, self.irreps_node_attr, self.irreps_out
        )

    def forward(
        self,
        node_input: torch.Tensor,
        node_attr: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_attr: torch.Tensor,
        edge_length_embedded: torch.Tensor,
    ) -> torch.Tensor:
        """Node features (nodes, irreps_out.dim) from ``node_input``, ``node_attr``, the edges
        ``edge_src[e] -> edge_dst[e]``, their attributes and radial embedding."""
        weight = self.fc(edge_length_embedded)
        s = self.sc(node_input, node_attr)
        x = self.lin1(node_input, node_attr)
        x = self.tp(x, edge_attr, weight, edge_src, edge_dst) / math.sqrt(self.num_neighbors)
        x = self.lin2(x, node_attr)
        c_s, c_x = math.sin(math.pi / 8), math.cos(math.pi / 8)
        m = self.sc.output_mask
        return c_s * s + ((1 - m) + c_x * m) * x


@compile_mode("script")
class Compose(torch.nn.Module):
    """``second(first(*inputs))`` for a convolution ``first`` and a gate ``second``, as e3nn's.

    Example::

        >>> conv = Convolution("0e", "0e", "0e", "2x0e+1x0e+1x1o", 4, 1, 8, 2.0)
        >>> gate = Gate("2x0e", [torch.relu], "1x0e", [torch.sigmoid], "1x1o")
        >>> x, src, dst = torch.ones(2, 1), torch.tensor([0, 1]), torch.tensor([1, 0])
        >>> Compose(conv, gate)(x, x, src, dst, torch.ones(2, 1), torch.ones(2, 4)).shape
        torch.Size([2, 5])
    """

    def __init__(self, first: Convolution, second: Gate) -> None:
        super().__init__()
        self.first = first
        self.second = second
        self.irreps_in = self.first.irreps_in
        self.irreps_out = self.second.irreps_out

    def forward(
        self,
        node_input: torch.Tensor,
        node_attr: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_attr: torch.Tensor,
        edge_features: torch.Tensor,
    ) -> torch.Tensor:
        """The gated convolution of ``node_input``."""
        x = self.first(node_input, node_attr, edge_src, edge_dst, edge_attr, edge_features)
        return self.second(x)


def build_layers(
    irreps: o3.Irreps,
    irreps_hidden: o3.Irreps,
    irreps_out: o3.Irreps,
    irreps_node_attr: o3.Irreps,
    irreps_edge_attr: o3.Irreps,
    layers: int,
    number_of_edge_features: int,
    radial_layers: int,
    radial_neurons: int,
    num_neighbors: float,
    convolution: type = Convolution,
) -> torch.nn.ModuleList:
    """gate_points' layers: ``layers`` Compose(convolution, Gate) from ``irreps``, then a
    ``convolution`` to ``irreps_out``.

    Example::

        >>> mods = build_layers(o3.Irreps("0e"), o3.Irreps("4x0e+2x1o"), o3.Irreps("1o"),
        ...                     o3.Irreps("0e"), o3.Irreps("0e+1o"), 1, 5, 1, 8, 2.0)
        >>> [type(m).__name__ for m in mods]
        ['Compose', 'Convolution']
    """
    radial = (number_of_edge_features, radial_layers, radial_neurons, num_neighbors)
    modules = torch.nn.ModuleList()
    for _ in range(layers):
        gate = gate_for(irreps_hidden, irreps, irreps_edge_attr)
        conv = convolution(irreps, irreps_node_attr, irreps_edge_attr, gate.irreps_in, *radial)
        irreps = gate.irreps_out
        modules.append(Compose(conv, gate))
    modules.append(convolution(irreps, irreps_node_attr, irreps_edge_attr, irreps_out, *radial))
    return modules


def scatter_sum(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """Rows of ``src`` summed by ``index`` into ``dim_size`` rows (e3nn's ``scatter``).

    Example::

        >>> scatter_sum(torch.ones(3, 2), torch.tensor([0, 1, 1]), 2)
        tensor([[1., 1.],
                [2., 2.]])
    """
    return src.new_zeros(dim_size, src.shape[1]).index_add_(0, index, src)


@compile_mode("script")
class Network(torch.nn.Module):
    r"""e3nn's gate_points_2101 equivariant network: ``layers`` gated convolutions over
    ``irreps_hidden`` and a last convolution to ``irreps_out``, on the radius graph of
    ``max_radius`` (edge attributes :math:`h(r) Y(\vec r / r)` with gate_points' smooth cutoff
    :math:`h`, Gaussian radial embedding). Same arguments, submodules and parameters as e3nn's.

    The input is a dict with ``pos`` (nodes, 3) and optionally ``x`` (input features), ``z``
    (node attributes) and ``batch`` (the graph of each node). The output is summed over each
    graph / sqrt(num_nodes) (``reduce_output``), else per node.

    Example::

        >>> net = Network(None, "4x0e+2x1o", "0e", None, "0e+1o", 1, 2.0, 4, 1, 8, 2.0, 3.0)
        >>> net({"pos": torch.randn(3, 3)}).shape
        torch.Size([1, 1])
    """

    def __init__(
        self,
        irreps_in: o3.Irreps | None,
        irreps_hidden: o3.Irreps,
        irreps_out: o3.Irreps,
        irreps_node_attr: o3.Irreps | None,
        irreps_edge_attr: o3.Irreps | None,
        layers: int,
        max_radius: float,
        number_of_basis: int,
        radial_layers: int,
        radial_neurons: int,
        num_neighbors: float,
        num_nodes: float,
        reduce_output: bool = True,
    ) -> None:
        super().__init__()
        self.max_radius = float(max_radius)
        self.number_of_basis = int(number_of_basis)
        self.num_neighbors = num_neighbors
        self.num_nodes = float(num_nodes)
        self.reduce_output = reduce_output

        self.irreps_in = o3.Irreps(irreps_in) if irreps_in is not None else None
        self.irreps_hidden = o3.Irreps(irreps_hidden)
        self.irreps_out = o3.Irreps(irreps_out)
        self.irreps_node_attr = (
            o3.Irreps(irreps_node_attr) if irreps_node_attr is not None else o3.Irreps("0e")
        )
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        self.input_has_node_in = irreps_in is not None
        self.input_has_node_attr = irreps_node_attr is not None
        self._node_attr_is_one = self.irreps_node_attr == o3.Irreps("0e")
        # Not a parameter: e3nn computes the harmonics with a function.
        self.sh = o3.SphericalHarmonics(self.irreps_edge_attr, True, "component")
        self.layers = build_layers(
            self.irreps_in if self.irreps_in is not None else o3.Irreps("0e"),
            self.irreps_hidden,
            self.irreps_out,
            self.irreps_node_attr,
            self.irreps_edge_attr,
            layers,
            self._number_of_edge_features(),
            radial_layers,
            radial_neurons,
            num_neighbors,
            self._convolution(),
        )

    def _number_of_edge_features(self) -> int:
        return self.number_of_basis

    def _convolution(self) -> type:
        return Convolution

    def preprocess(
        self, data: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(batch, edge_src, edge_dst, edge_attr, edge_length_embedded) of ``data``: the
        radius graph of ``pos``, its harmonics times the cutoff and its Gaussian embedding."""
        pos = data["pos"]
        if "batch" in data:
            batch = data["batch"]
        else:
            batch = pos.new_zeros(pos.shape[0], dtype=torch.long)
        edge_index = radius_graph(pos, self.max_radius, batch)
        edge_src, edge_dst = edge_index[0], edge_index[1]
        edge_vec = pos[edge_src] - pos[edge_dst]
        edge_length = torch.linalg.vector_norm(edge_vec, dim=1)
        edge_length_embedded = soft_one_hot_linspace(
            edge_length, 0.0, self.max_radius, self.number_of_basis, "gaussian", False
        ).mul(self.number_of_basis**0.5)
        edge_attr = smooth_cutoff(edge_length / self.max_radius)[:, None] * self.sh(edge_vec)
        return batch, edge_src, edge_dst, edge_attr, edge_length_embedded

    def node_inputs(self, data: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, z): the input features and node attributes, ones where the network has none."""
        pos = data["pos"]
        if self.input_has_node_in and "x" in data:
            x = data["x"]
        else:
            if self.input_has_node_in:
                raise ArgumentError("data has no 'x' but the network has irreps_in")
            x = pos.new_ones((pos.shape[0], 1))
        if self.input_has_node_attr and "z" in data:
            z = data["z"]
        else:
            if not self._node_attr_is_one:
                raise ArgumentError("data has no 'z' but the network has irreps_node_attr")
            z = pos.new_ones((pos.shape[0], 1))
        return x, z

    def edge_features(
        self,
        z: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        embedded: torch.Tensor,
    ) -> torch.Tensor:
        """The radial network's input: the embedded edge lengths."""
        return embedded

    def forward(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """The network's output for ``data`` (``pos``, and ``x``, ``z``, ``batch`` if any)."""
        batch, edge_src, edge_dst, edge_attr, embedded = self.preprocess(data)
        x, z = self.node_inputs(data)
        features = self.edge_features(z, edge_src, edge_dst, embedded)
        for lay in self.layers:
            x = lay(x, z, edge_src, edge_dst, edge_attr, features)
        if self.reduce_output:
            return scatter_sum(x, batch, int(batch.max()) + 1).div(self.num_nodes**0.5)
        return x
