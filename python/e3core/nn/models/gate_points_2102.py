"""e3nn's ``nn.models.gate_points_2102`` (version of February 2021): gate_points_2101 whose
radial networks also see the scalar (0e) node attributes of both ends of each edge. e3nn's
constructor, submodule and parameter names (e3nn state_dicts load unchanged).

Example::

    >>> net = Network("0e", "8x0e+4x1o", "1o", "2x0e", "0e+1o+2e", layers=1, max_radius=2.0,
    ...               number_of_basis=5, radial_layers=1, radial_neurons=16, num_neighbors=3.0,
    ...               num_nodes=4.0)
    >>> data = {"pos": torch.randn(4, 3), "x": torch.ones(4, 1), "z": torch.randn(4, 2)}
    >>> net(data).shape
    torch.Size([1, 3])
"""

import torch

from e3core import o3
from e3core.nn import ExtractIr
from e3core.nn.models import gate_points_2101
from e3core.nn.models.gate_points_2101 import Compose, smooth_cutoff, tp_path_exists
from e3core.util.jit import compile_mode

__all__ = ["Compose", "Convolution", "Network", "smooth_cutoff", "tp_path_exists"]


@compile_mode("script")
class Convolution(gate_points_2101.Convolution):
    """gate_points_2101's convolution whose radial network takes ``number_of_edge_features``
    scalars per edge.

    Example::

        >>> conv = Convolution("0e", "0e", "0e+1o", "4x0e+2x1o", 8, 1, 16, 3.0)
        >>> conv.fc.hs
        [8, 16, 2]
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_node_attr: o3.Irreps,
        irreps_edge_attr: o3.Irreps,
        irreps_out: o3.Irreps | None,
        number_of_edge_features: int,
        radial_layers: int,
        radial_neurons: int,
        num_neighbors: float,
    ) -> None:
        super().__init__(
            irreps_in,
            irreps_node_attr,
            irreps_edge_attr,
            irreps_out,
            number_of_edge_features,
            radial_layers,
            radial_neurons,
            num_neighbors,
        )


@compile_mode("script")
class Network(gate_points_2101.Network):
    """e3nn's gate_points_2102 network: gate_points_2101's whose radial networks take the
    Gaussian embedding of the edge length and the 0e node attributes of the source and of the
    destination (``ext_z``). Same arguments, submodules and parameters as e3nn's.

    Example::

        >>> net = Network("0e", "4x0e+2x1o", "0e", "3x0e", "0e+1o", 1, 2.0, 4, 1, 8, 2.0, 3.0)
        >>> net.layers[0].first.fc.hs[0]
        10
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_hidden: o3.Irreps,
        irreps_out: o3.Irreps,
        irreps_node_attr: o3.Irreps,
        irreps_edge_attr: o3.Irreps,
        layers: int,
        max_radius: float,
        number_of_basis: int,
        radial_layers: int,
        radial_neurons: int,
        num_neighbors: float,
        num_nodes: float,
        reduce_output: bool = True,
    ) -> None:
        super().__init__(
            irreps_in,
            irreps_hidden,
            irreps_out,
            irreps_node_attr,
            irreps_edge_attr,
            layers,
            max_radius,
            number_of_basis,
            radial_layers,
            radial_neurons,
            num_neighbors,
            num_nodes,
            reduce_output,
        )
        self.ext_z = ExtractIr(self.irreps_node_attr, "0e")
        # ext_z's columns, for TorchScript (ExtractIr's output type is not a tensor there).
        columns = [
            torch.arange(s.start, s.stop)
            for s, (_, ir) in zip(
                self.irreps_node_attr.slices(), self.irreps_node_attr, strict=True
            )
            if ir == o3.Irrep("0e")
        ]
        self.register_buffer(
            "_scalar_columns",
            torch.cat(columns + [torch.zeros(0, dtype=torch.long)]),
            persistent=False,
        )

    def _number_of_edge_features(self) -> int:
        return self.number_of_basis + 2 * self.irreps_node_attr.count("0e")

    def _convolution(self) -> type:
        return Convolution

    def edge_features(
        self,
        z: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        embedded: torch.Tensor,
    ) -> torch.Tensor:
        """The radial network's input: the embedded edge lengths and the 0e attributes of
        both ends."""
        scalar_z = z.index_select(1, self._scalar_columns)
        return torch.cat([embedded, scalar_z[edge_src], scalar_z[edge_dst]], dim=1)
