"""Learning a symmetry-breaking input by gradient (Smidt et al., "Finding symmetry breaking order
parameters with Euclidean neural networks", Phys. Rev. Research 3, L012002 (2021)).

An equivariant network moves the four corners of a square; the task is to turn it into a
rectangle. A network's output has at least the symmetry of its input, so from the square alone
(D4h) it can only give squares: the best it can do is not to move (the rectangle's deformation
is orthogonal to every square-symmetric one). Give every node a shared input feature with
components l = 0..4 and learn it by gradient together with the weights: it becomes an order
parameter whose symmetry-breaking part (what is left after averaging over D4h) has only the
B1g components, Y(2, 2) and Y(4, 2) (the square lies in the xz plane, y being e3nn's polar axis;
the rectangle is stretched along x, and Y(l, 2) is proportional to z^2 - x^2 on that plane).

    python examples/symmetry_breaking.py
"""

import itertools

import torch
from e3core import o3
from e3core.models import Convolution, EdgeEmbedding, gate_for

SQUARE = torch.tensor([[1.0, 0, 1], [-1, 0, 1], [-1, 0, -1], [1, 0, -1]])
RECTANGLE = SQUARE * torch.tensor([1.3, 1.0, 0.7])
ORDER_IRREPS = o3.Irreps.spherical_harmonics(4)  # 0e+1o+2e+3o+4e


def square_group() -> torch.Tensor:
    """The 16 matrices of D4h for the square in the xz plane: (16, 3, 3).

    Example::

        >>> square_group().shape
        torch.Size([16, 3, 3])
    """
    generators = [
        torch.tensor([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]]),  # C4 about y
        torch.diag(torch.tensor([-1.0, 1, 1])),  # mirror x -> -x
        -torch.eye(3),  # inversion
    ]
    group = [torch.eye(3)]
    while True:
        new = [g @ h for g, h in itertools.product(group, generators)]
        new = [m for m in new if not any(torch.allclose(m, g) for g in group)]
        if not new:
            return torch.stack(group)
        for m in new:
            if not any(torch.allclose(m, g) for g in group):
                group.append(m)


class CornerNetwork(torch.nn.Module):
    """Two gate_points convolutions over the complete graph of the corners: node inputs are a
    constant scalar and the shared feature ``order`` (ORDER_IRREPS), outputs one vector (1o) per
    node, the corner's displacement.

    Example::

        >>> CornerNetwork()(SQUARE, torch.zeros(ORDER_IRREPS.dim)).shape
        torch.Size([4, 3])
    """

    def __init__(self, hidden: str = "8x0e+8x0o+4x1o+4x1e+4x2e+4x2o", r_max: float = 4.0) -> None:
        super().__init__()
        self.embedding = EdgeEmbedding(4, r_max, 8)
        irreps_in = o3.Irreps("0e") + ORDER_IRREPS
        attr = o3.Irreps("0e")
        gate = gate_for(o3.Irreps(hidden), irreps_in, self.embedding.irreps)
        radial = (8, 1, 16, 3.0)
        self.conv1 = Convolution(
            irreps_in, attr, irreps_in, attr, self.embedding.irreps, gate.irreps_in, *radial
        )
        self.gate = gate
        self.conv2 = Convolution(
            gate.irreps_out, attr, gate.irreps_out, attr, self.embedding.irreps, "1x1o", *radial
        )

    def forward(self, positions: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
        """Displacements (n, 3) of the corners at ``positions`` (n, 3) given the feature."""
        n = positions.shape[0]
        dst, src = (
            i.flatten() for i in torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        )
        keep = src != dst  # every other corner, sorted by target
        src, dst = src[keep], dst[keep]
        edge_attr, embedding = self.embedding(positions[src] - positions[dst])
        x = torch.cat([torch.ones(n, 1), order.expand(n, -1)], dim=1)
        ones = torch.ones(n, 1)
        h = self.gate(self.conv1(x, ones, x, ones, src, dst, edge_attr, embedding))
        return self.conv2(h, ones, h, ones, src, dst, edge_attr, embedding)


def train(
    learn_order: bool, steps: int = 200, seed: int = 0, lr_order: float = 1.0
) -> tuple[float, torch.Tensor]:
    """Trains the weights (and the shared feature if ``learn_order``) to map the square onto
    the rectangle; returns the final mean squared error and the feature (ORDER_IRREPS.dim,).

    Example::

        >>> loss, order = train(False, steps=5)
        >>> order.abs().max().item()
        0.0
    """
    torch.manual_seed(seed)
    model = CornerNetwork()
    order = torch.zeros(ORDER_IRREPS.dim, requires_grad=learn_order)
    # Plain gradient descent on the feature: Adam's per-component scaling would blow rounding
    # noise in the components that the symmetry keeps at zero up to full-size steps.
    optimizers = [torch.optim.Adam(model.parameters(), lr=1e-2)]
    if learn_order:
        optimizers.append(torch.optim.SGD([order], lr=lr_order))
    target = RECTANGLE - SQUARE
    loss = torch.tensor(0.0)
    for _ in range(steps):
        for optimizer in optimizers:
            optimizer.zero_grad()
        loss = (model(SQUARE, order) - target).pow(2).mean()
        loss.backward()
        for optimizer in optimizers:
            optimizer.step()
    return float(loss.detach()), order.detach()


def symmetry_breaking_part(order: torch.Tensor) -> torch.Tensor:
    """``order`` minus its average over D4h: the part that breaks the square's symmetry.

    Example::

        >>> symmetry_breaking_part(torch.zeros(ORDER_IRREPS.dim)).abs().max().item()
        0.0
    """
    d = torch.stack([ORDER_IRREPS.D_from_matrix(g) for g in square_group()])
    return order - (d @ order).mean(0)


def components(vector: torch.Tensor, threshold: float = 1e-2) -> dict[str, float]:
    """The components Y(l, m) of a feature on ORDER_IRREPS larger than ``threshold`` times the
    largest.

    Example::

        >>> components(torch.eye(ORDER_IRREPS.dim)[8])
        {'Y(2, 2)': 1.0}
    """
    names = [f"Y({l}, {m})" for l in range(ORDER_IRREPS.lmax + 1) for m in range(-l, l + 1)]
    largest = float(vector.abs().max())
    return {
        name: round(float(v), 4)
        for name, v in zip(names, vector, strict=True)
        if largest > 0 and abs(float(v)) > threshold * largest
    }


def main() -> None:
    """Both trainings and the learned order parameter."""
    bound = float((RECTANGLE - SQUARE).pow(2).mean())
    loss, _ = train(False)
    print(f"square input only:        loss {loss:.4f} (best square-symmetric output: {bound:.4f})")
    loss, order = train(True)
    print(f"learned input feature:    loss {loss:.2e}")
    print("symmetry-breaking part:  ", components(symmetry_breaking_part(order)))
    print("invariant part:          ", components(order - symmetry_breaking_part(order)))


if __name__ == "__main__":
    main()
