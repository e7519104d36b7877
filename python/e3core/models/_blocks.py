"""Equivariant building blocks of NequIP and LNet: hidden irreps, gates and the interaction
block (Linear, radially weighted convolution with spherical harmonics, Linear, self-connection,
Gate)."""

from collections.abc import Iterable, Sequence

import torch

from e3core.graph._conv import TensorProductConv
from e3core.nn._fc import FullyConnectedNet
from e3core.nn._gate import Gate
from e3core.o3._irreps import Irrep, Irreps
from e3core.o3._linear import Linear
from e3core.o3._spherical_harmonics import SphericalHarmonics
from e3core.o3._tensor_product_families import FullyConnectedTensorProduct


def hidden_irreps(num_features: int, lmax: int, parity: bool) -> Irreps:
    """``num_features`` copies of every irrep up to ``lmax``: of both parities with ``parity``
    (NequIP's "o3_full"), or of the natural parity (-1)^l only (0e, 1o, 2e, ...: "o3_restricted",
    still equivariant under inversion, as the edge harmonics are 0e + 1o + 2e + ...).

    Example::

        >>> hidden_irreps(8, 1, True), hidden_irreps(8, 2, False)
        (8x0e+8x0o+8x1o+8x1e, 8x0e+8x1o+8x2e)
    """
    if num_features < 1 or lmax < 0:
        raise ValueError(
            f"num_features is {num_features} and lmax {lmax}: expected num_features >= 1, lmax >= 0"
        )
    terms = []
    for l in range(lmax + 1):
        natural = (-1) ** l
        for p in (natural, -natural) if parity else (natural,):
            terms.append((num_features, (l, p)))
    return Irreps(terms)


def products(irreps_1: Irreps, irreps_2: Irreps) -> list[Irrep]:
    """Every irrep in the tensor products of a term of ``irreps_1`` with one of ``irreps_2``.

    Example::

        >>> products(Irreps("4x0e"), Irreps("0e+1o"))
        [0e, 1o]
    """
    out: list[Irrep] = []
    for _, ir_1 in irreps_1:
        for _, ir_2 in irreps_2:
            out.extend(ir for ir in ir_1 * ir_2 if ir not in out)
    return out


def gate(irreps_hidden: Irreps, available: Iterable[Irrep]) -> Gate:
    """The Gate whose output is the part of ``irreps_hidden`` among the irreps ``available``
    to its input: even scalars through SiLU, odd ones through tanh; one gate scalar (0e if
    available, else 0o) per gated irrep, through SiLU (0e) or abs (0o), as NequIP's.

    Example::

        >>> gate(Irreps("4x0e+4x1o+4x1e"), [Irrep("0e"), Irrep("1o")]).irreps_out
        4x0e+4x1o
    """
    available = list(available)
    scalars = Irreps([(mul, ir) for mul, ir in irreps_hidden if ir.l == 0 and ir in available])
    gated = Irreps([(mul, ir) for mul, ir in irreps_hidden if ir.l > 0 and ir in available])
    gate_ir = "0e" if Irrep("0e") in available else "0o"
    gates = Irreps([(mul, gate_ir) for mul, _ in gated])
    act = {1: torch.nn.functional.silu, -1: torch.tanh}
    act_gate = {1: torch.nn.functional.silu, -1: torch.abs}
    return Gate(
        scalars,
        [act[ir.p] for _, ir in scalars],
        gates,
        [act_gate[ir.p] for _, ir in gates],
        gated,
    )


def conv_instructions(
    irreps_in: Irreps, irreps_edge: Irreps, irreps_wanted: Irreps
) -> tuple[Irreps, list[tuple[int, int, int, str, bool]]]:
    """NequIP's convolution paths: every ``irreps_in`` ⊗ ``irreps_edge`` path into an irrep of
    ``irreps_wanted``, mode "uvu" (one output term per path, weighted per edge), outputs sorted.

    Example::

        >>> conv_instructions(Irreps("4x0e"), Irreps("0e+1o"), Irreps("8x0e+4x1o"))
        (4x0e+4x1o, [(0, 0, 0, 'uvu', True), (0, 1, 1, 'uvu', True)])
    """
    out, instructions = [], []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_edge) in enumerate(irreps_edge):
            for ir_out in ir_in * ir_edge:
                if ir_out in irreps_wanted:
                    instructions.append((i, j, len(out)))
                    out.append((mul, ir_out))
    irreps_out, p, _ = Irreps(out).sort()
    return irreps_out, [(i, j, p[k], "uvu", True) for i, j, k in instructions]


class Interaction(torch.nn.Module):
    """NequIP's interaction block: ``Linear`` → convolution (``TensorProductConv``, "uvu",
    weights per edge from a radial ``FullyConnectedNet``, divided by sqrt(avg_num_neighbors)) →
    ``Linear``, plus a self-connection (``FullyConnectedTensorProduct`` of the input with the
    one-hot types), → ``Gate``. Its output ``irreps_out`` is the part of ``irreps_hidden`` that
    the input's products with the edge harmonics reach.

    Example::

        >>> block = Interaction(Irreps("4x0e"), Irreps("4x0e+4x1o"), Irreps("0e+1o"),
        ...                     Irreps("2x0e"), num_basis=3, radial_neurons=[8])
        >>> block.irreps_out
        4x0e+4x1o
        >>> x, attrs = torch.randn(2, 4), torch.eye(2)
        >>> sh, radial = torch.randn(2, 4), torch.randn(2, 3)
        >>> edges = torch.tensor([1, 0]), torch.tensor([0, 1])
        >>> block(x, attrs, sh, radial, *edges).shape
        torch.Size([2, 16])
    """

    def __init__(
        self,
        irreps_in: Irreps,
        irreps_hidden: Irreps,
        irreps_edge: Irreps,
        irreps_attr: Irreps,
        num_basis: int,
        radial_neurons: Sequence[int],
        avg_num_neighbors: float = 1.0,
    ) -> None:
        super().__init__()
        if not avg_num_neighbors > 0:
            raise ValueError(f"avg_num_neighbors is {avg_num_neighbors}, expected > 0")
        self.gate = gate(irreps_hidden, products(irreps_in, irreps_edge))
        self.linear_1 = Linear(irreps_in, irreps_in)
        irreps_mid, instructions = conv_instructions(irreps_in, irreps_edge, self.gate.irreps_in)
        self.conv = TensorProductConv(
            irreps_in,
            irreps_edge,
            irreps_mid,
            instructions,
            shared_weights=False,
            internal_weights=False,
        )
        # The messages' 1/sqrt(avg_num_neighbors) as the radial MLP's output variance: the
        # convolution is linear in its weights, and the factor then costs no operator.
        self.radial = FullyConnectedNet(
            [num_basis, *radial_neurons, self.conv.weight_numel],
            torch.nn.functional.silu,
            variance_out=1.0 / avg_num_neighbors,
        )
        self.linear_2 = Linear(irreps_mid, self.gate.irreps_in)
        self.self_connection = FullyConnectedTensorProduct(
            irreps_in, irreps_attr, self.gate.irreps_in
        )
        self.irreps_out = self.gate.irreps_out

    def forward(
        self,
        x: torch.Tensor,
        attrs: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_radial: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
    ) -> torch.Tensor:
        """New node features from ``x`` (N, irreps_in.dim), node attributes ``attrs`` (one-hot
        types), edge harmonics (E, irreps_edge.dim) and radial basis values (E, num_basis)."""
        weight = self.radial(edge_radial)
        message = self.conv(self.linear_1(x), edge_sh, weight, edge_src, edge_dst)
        h = self.linear_2(message) + self.self_connection(x, attrs)
        return self.gate(h)


class Interactions(torch.nn.Module):
    """The equivariant trunk of NequIP and LNet: the one-hot types embedded as
    ``num_features`` scalars (a ``Linear``), the edges' spherical harmonics up to ``lmax``
    ("component" normalization), and ``num_layers`` ``Interaction`` blocks with hidden irreps
    ``hidden_irreps(num_features, lmax, parity)``; the radial basis is the caller's. With
    ``scalar_output`` the last block keeps only ``num_features`` even scalars (as the nequip
    package's last layer): a readout of scalars needs nothing else, and the block computes
    only the paths into them.

    Example::

        >>> trunk = Interactions(2, num_features=4, lmax=1, parity=False, num_layers=2,
        ...                      num_basis=3, radial_neurons=[8])
        >>> trunk.irreps_out
        4x0e+4x1o
        >>> types, vectors, radial = torch.tensor([0, 1]), torch.randn(2, 3), torch.randn(2, 3)
        >>> trunk(types, vectors, radial, torch.tensor([1, 0]), torch.tensor([0, 1])).shape
        torch.Size([2, 16])
    """

    num_types: int

    def __init__(
        self,
        num_types: int,
        num_features: int,
        lmax: int,
        parity: bool,
        num_layers: int,
        num_basis: int,
        radial_neurons: Sequence[int],
        avg_num_neighbors: float = 1.0,
        scalar_output: bool = False,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers is {num_layers}, expected at least 1")
        self.num_types = num_types
        hidden = hidden_irreps(num_features, lmax, parity)
        irreps_attr = Irreps([(num_types, (0, 1))])
        irreps_edge = Irreps.spherical_harmonics(lmax)
        self.embedding = Linear(irreps_attr, Irreps([(num_features, (0, 1))]))
        self.sh = SphericalHarmonics(irreps_edge, normalize=True, normalization="component")
        irreps = self.embedding.irreps_out
        scalars = Irreps([(num_features, (0, 1))])
        blocks = []
        for layer in range(num_layers):
            last = layer == num_layers - 1
            block = Interaction(
                irreps,
                scalars if scalar_output and last else hidden,
                irreps_edge,
                irreps_attr,
                num_basis,
                radial_neurons,
                avg_num_neighbors,
            )
            blocks.append(block)
            irreps = block.irreps_out
        self.blocks = torch.nn.ModuleList(blocks)
        self.irreps_out = irreps

    def forward(
        self,
        types: torch.Tensor,
        vectors: torch.Tensor,
        edge_radial: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
    ) -> torch.Tensor:
        """Node features (N, irreps_out.dim) from the types (N,), the edge vectors (E, 3) and
        their radial basis values (E, num_basis)."""
        attrs = torch.nn.functional.one_hot(types, self.num_types).to(vectors.dtype)
        x = self.embedding(attrs)
        sh = self.sh(vectors)
        for block in self.blocks:
            x = block(x, attrs, sh, edge_radial, edge_src, edge_dst)
        return x
