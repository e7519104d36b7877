"""The fused tensor-product convolution: message passing without per-edge outputs in memory."""

import torch

from e3core.o3._tensor_product import TensorProduct, _shape_error


def _check_index(index: torch.Tensor, name: str, edges: int) -> None:
    if index.dtype != torch.long:
        raise TypeError(
            "TensorProductConv: "
            + name
            + " has dtype "
            + str(index.dtype)
            + ", expected torch.int64 (convert it with "
            + name
            + ".long())"
        )
    if index.dim() != 1 or index.shape[0] != edges:
        raise ValueError(_shape_error(name, index, "(" + str(edges) + ",), one entry per edge"))


def _check_rows(t: torch.Tensor, name: str, rows: str, dim: int) -> None:
    if t.dim() != 2 or t.shape[1] != dim:
        raise ValueError(_shape_error(name, t, "(" + rows + ", " + str(dim) + ")"))


class TensorProductConv(TensorProduct):
    r"""Sum over the edges into each node of a tensor product of the source's features.

    ``out[i] = sum over edges e with edge_dst[e] = i of TP(x[edge_src[e]], edge_attr[e], w[e])``,
    computed in one C++ pass: the per-edge products are never written to memory, and each node's
    sum is accumulated in a fixed order (deterministic, no atomics). Gradients with respect to
    ``x``, ``edge_attr`` and the weights, and their gradients (training on forces), are C++ ops
    too.

    The constructor is ``o3.TensorProduct``'s; ``irreps_in1`` are the node features,
    ``irreps_in2`` the edge attributes (typically spherical harmonics). Weights are usually one
    vector per edge (``shared_weights=False``, e.g. from a radial network) or shared.

    Example::

        >>> conv = TensorProductConv(
        ...     "4x0e+2x1o", "0e+1o", "4x0e+2x1o", [(0, 0, 0, "uvu", True), (1, 0, 1, "uvu", True)],
        ...     shared_weights=False, internal_weights=False)
        >>> x, attr = torch.randn(3, 10), torch.randn(5, 4)
        >>> src, dst = torch.tensor([0, 1, 2, 2, 1]), torch.tensor([1, 0, 0, 1, 2])
        >>> conv(x, attr, torch.randn(5, conv.weight_numel), src, dst).shape
        torch.Size([3, 10])
    """

    def forward(  # type: ignore[override]
        self,
        x: torch.Tensor,
        edge_attr: torch.Tensor,
        weight: torch.Tensor | None,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
    ) -> torch.Tensor:
        """The convolution of node features ``x`` (nodes, irreps_in1.dim) over the edges
        ``edge_src[e] -> edge_dst[e]`` with attributes ``edge_attr`` (edges, irreps_in2.dim).

        Returns (nodes, irreps_out.dim). ``weight`` is (edges, weight_numel), or
        (weight_numel,) with shared weights, or None to use the internal weights.
        """
        _check_rows(x, "x", "nodes", self._in1_dim)
        _check_rows(edge_attr, "edge_attr", "edges", self._in2_dim)
        edges = edge_attr.shape[0]
        _check_index(edge_src, "edge_src", edges)
        _check_index(edge_dst, "edge_dst", edges)
        w = self._get_weights(weight)
        if w.dim() == 2 and w.shape[0] != edges:
            raise ValueError(
                "weight has "
                + str(w.shape[0])
                + " rows but there are "
                + str(edges)
                + " edges: expected one weight vector per edge"
            )
        return torch.ops.e3core.tensor_product(
            x, edge_attr, w, self.plan, edge_src, edge_dst, [x.shape[0], self._out_dim]
        )
