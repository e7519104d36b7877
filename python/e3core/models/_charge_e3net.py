"""ChargeE3Net (Koker et al.): the electron density at arbitrary probe points from an atom graph
and probe vertices that receive messages from atoms only.

Example::

    >>> model = ChargeE3Net([1, 8], "8x0e+4x1o+2x2e", layers=2)
    >>> data = {"positions": torch.randn(3, 3), "numbers": torch.tensor([8, 1, 1]),
    ...         "batch": torch.zeros(3, dtype=torch.long), "probe_positions": torch.randn(10, 3)}
    >>> model(data)["probe_density"].shape
    torch.Size([10])
"""

import torch

from e3core import o3
from e3core.density import atom_point_edges
from e3core.models._gate_points import (
    Convolution,
    EdgeEmbedding,
    _Layer,
    atom_types,
    edge_vectors,
    gate_for,
    type_table,
)
from e3core.nn import Gate


class _ProbeLayer(torch.nn.Module):
    """An atom-to-probe convolution followed by a gate."""

    def __init__(self, conv: Convolution, gate: Gate) -> None:
        super().__init__()
        self.conv = conv
        self.gate = gate

    def forward(
        self,
        atoms: torch.Tensor,
        atom_attr: torch.Tensor,
        probes: torch.Tensor,
        probe_attr: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
        edge_attr: torch.Tensor,
        edge_embedding: torch.Tensor,
    ) -> torch.Tensor:
        """New probe features from the atoms' features of this layer and the probes' own."""
        out = self.conv(
            atoms, atom_attr, probes, probe_attr, edge_src, edge_dst, edge_attr, edge_embedding
        )
        return self.gate(out)


class ChargeE3Net(torch.nn.Module):
    """Koker et al.'s ChargeE3Net: atoms and probe points are vertices; atoms exchange messages
    over the atom graph (radius ``r_max``), probes receive messages from the atoms within
    ``r_max`` and send none. Each of the ``layers`` is a gate_points convolution and gate
    (hidden features ``irreps_hidden``, L up to 4 and beyond, edge harmonics up to
    ``lmax_edge``) on the atoms and one from the atoms' features of the same layer to the probes;
    a last atom-to-probe convolution gives the density (one scalar per probe).

    Because nothing flows from probes to atoms, the atoms' features of every layer depend on the
    structure alone: ``atom_features(data)`` computes them once and ``density(features, ...)``
    evaluates any number of probe batches with them. ``forward`` does both for
    ``data["probe_positions"]`` (P, 3) (and ``data["probe_batch"]`` (P,), default all in the
    first structure): all probes of the batch see the atom features computed once, and it
    returns ``"probe_density"`` (P,). Periodic structures (``cell``, ``pbc`` of the batch) are
    periodic for both kinds of edges: the atom graph is the batch's own (``collate`` with a
    cutoff: periodic images included) and probes receive messages from every atom image within
    ``r_max`` (``e3core.density.atom_point_edges``).

    Example::

        >>> model = ChargeE3Net([1, 8], "8x0e+4x1o", layers=1, r_max=3.0)
        >>> model.name, model.r_max
        ('charge_e3net', 3.0)
    """

    name = "charge_e3net"

    def __init__(
        self,
        type_numbers: list[int],
        irreps_hidden: str,
        layers: int = 3,
        r_max: float = 4.0,
        lmax_edge: int = 4,
        number_of_basis: int = 10,
        radial_layers: int = 1,
        radial_neurons: int = 64,
        num_neighbors: float = 3.0,
        num_probe_neighbors: float = 8.0,
    ) -> None:
        super().__init__()
        self.config = {
            "type_numbers": list(type_numbers),
            "irreps_hidden": str(irreps_hidden),
            "layers": int(layers),
            "r_max": float(r_max),
            "lmax_edge": int(lmax_edge),
            "number_of_basis": int(number_of_basis),
            "radial_layers": int(radial_layers),
            "radial_neurons": int(radial_neurons),
            "num_neighbors": float(num_neighbors),
            "num_probe_neighbors": float(num_probe_neighbors),
        }
        self.r_max = float(r_max)
        # How far a probe looks: the atoms' convolutions, then the probe's own.
        self.receptive_field = (int(layers) + 1) * self.r_max
        self.n_types = len(type_numbers)
        self.register_buffer("type_table", type_table(list(type_numbers)))
        self.embedding = EdgeEmbedding(lmax_edge, r_max, number_of_basis)
        hidden = o3.Irreps(irreps_hidden)
        atom_attr = o3.Irreps(f"{self.n_types}x0e")
        probe_attr = o3.Irreps("0e")
        radial = (number_of_basis, radial_layers, radial_neurons)
        atoms, probes = atom_attr, probe_attr
        atom_layers, probe_layers = [], []
        for _ in range(layers):
            gate = gate_for(hidden, atoms, self.embedding.irreps)
            conv = Convolution(
                atoms,
                atom_attr,
                atoms,
                atom_attr,
                self.embedding.irreps,
                gate.irreps_in,
                *radial,
                num_neighbors,
            )
            probe_conv = Convolution(
                atoms,
                atom_attr,
                probes,
                probe_attr,
                self.embedding.irreps,
                gate.irreps_in,
                *radial,
                num_probe_neighbors,
            )
            atom_layers.append(_Layer(conv, gate))
            probe_layers.append(_ProbeLayer(probe_conv, gate))
            atoms = probes = gate.irreps_out
        self.atom_layers = torch.nn.ModuleList(atom_layers)
        self.probe_layers = torch.nn.ModuleList(probe_layers)
        self.out = Convolution(
            atoms,
            atom_attr,
            probes,
            probe_attr,
            self.embedding.irreps,
            "0e",
            *radial,
            num_probe_neighbors,
        )

    @torch.jit.export
    def atom_features(self, data: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The atoms' attributes (one-hot elements) and their features before each layer and
        after the last: ``layers + 2`` tensors (N, ...), reusable for any probes."""
        types = atom_types(self.type_table, data["numbers"])
        edge_index, vectors = edge_vectors(data, self.r_max)
        edge_attr, edge_embedding = self.embedding(vectors)
        attr = torch.nn.functional.one_hot(types, self.n_types).to(vectors.dtype)
        features = [attr, attr]
        x = attr
        for layer in self.atom_layers:
            x = layer(x, attr, edge_index[0], edge_index[1], edge_attr, edge_embedding)
            features.append(x)
        return features

    @torch.jit.export
    def density(
        self,
        features: list[torch.Tensor],
        positions: torch.Tensor,
        batch: torch.Tensor,
        probe_positions: torch.Tensor,
        probe_batch: torch.Tensor,
        cell: torch.Tensor | None = None,
        pbc: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The density (P,) at ``probe_positions`` (P, 3) of structures ``probe_batch`` (P,),
        from ``atom_features`` of atoms at ``positions`` (N, 3) in structures ``batch`` (N,),
        with the periodic images that ``cell`` (G, 3, 3) and ``pbc`` (G, 3) give."""
        probe, atom, _, vectors = atom_point_edges(
            positions, batch, probe_positions, probe_batch, self.r_max, cell, pbc
        )
        edge_attr, edge_embedding = self.embedding(vectors)
        attr = features[0]
        ones = torch.ones(probe_positions.shape[0], 1, dtype=attr.dtype, device=attr.device)
        h = ones
        for t, layer in enumerate(self.probe_layers):
            h = layer(features[t + 1], attr, h, ones, atom, probe, edge_attr, edge_embedding)
        out = self.out(features[-1], attr, h, ones, atom, probe, edge_attr, edge_embedding)
        return out[:, 0]

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"probe_density": (P,)}`` at ``data["probe_positions"]``."""
        periodic = "pbc" in data and bool(data["pbc"].any())
        if periodic and ("edge_index" not in data or "cell" not in data):
            raise ValueError(
                "pbc has periodic axes but the data has no edge_index or cell: collate it with "
                "a cutoff (collate(..., cutoff=model.r_max)) to get the atoms' periodic images"
            )
        probes = data["probe_positions"]
        if "probe_batch" in data:
            probe_batch = data["probe_batch"]
        else:
            probe_batch = torch.zeros(probes.shape[0], dtype=torch.long, device=probes.device)
        cell: torch.Tensor | None = None
        pbc: torch.Tensor | None = None
        if periodic:
            cell, pbc = data["cell"], data["pbc"]
        features = self.atom_features(data)
        rho = self.density(
            features, data["positions"], data["batch"], probes, probe_batch, cell, pbc
        )
        return {"probe_density": rho}
