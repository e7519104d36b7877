"""SchNet (Schütt et al. 2018): the invariant baseline, continuous-filter convolutions on
interatomic distances."""

import math
from collections.abc import Sequence

import torch

from e3core.math._soft_one_hot_linspace import soft_one_hot_linspace
from e3core.models._common import AtomisticModel, PerType


class ShiftedSoftplus(torch.nn.Module):
    """``softplus(x) - log(2)``, SchNet's activation (0 at x = 0).

    Example::

        >>> ShiftedSoftplus()(torch.tensor([0.0, 10.0]))
        tensor([0.0000, 9.3069])
    """

    log2: float

    def __init__(self) -> None:
        super().__init__()
        self.log2 = math.log(2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The activation of ``x``, elementwise."""
        return torch.nn.functional.softplus(x) - self.log2


def cosine_cutoff(r: torch.Tensor, r_max: float) -> torch.Tensor:
    """SchNet's (Behler's) cutoff ``(cos(pi r / r_max) + 1) / 2`` for r < r_max, 0 beyond.

    Example::

        >>> cosine_cutoff(torch.tensor([0.0, 1.0, 2.0, 3.0]), 2.0)
        tensor([1.0000, 0.5000, 0.0000, 0.0000])
    """
    return 0.5 * (torch.cos(r * (math.pi / r_max)) + 1.0) * (r < r_max)


def _dense(n_in: int, n_out: int) -> torch.nn.Sequential:
    """A linear layer followed by the shifted softplus."""
    return torch.nn.Sequential(torch.nn.Linear(n_in, n_out), ShiftedSoftplus())


class SchNetInteraction(torch.nn.Module):
    """SchNet's interaction block: atom-wise linear (no bias) → continuous-filter convolution
    (filters from an MLP of the radial basis, times the cosine cutoff; messages x_j · W(r_ij)
    summed on i) → dense with shifted softplus → dense. Its output is added to the features.

    Example::

        >>> block = SchNetInteraction(num_features=8, num_filters=8, num_basis=5)
        >>> x, rbf, cut = torch.randn(2, 8), torch.randn(2, 5), torch.ones(2)
        >>> block(x, rbf, cut, torch.tensor([1, 0]), torch.tensor([0, 1])).shape
        torch.Size([2, 8])
    """

    def __init__(self, num_features: int, num_filters: int, num_basis: int) -> None:
        super().__init__()
        self.in2f = torch.nn.Linear(num_features, num_filters, bias=False)
        self.filter_network = torch.nn.Sequential(
            _dense(num_basis, num_filters), torch.nn.Linear(num_filters, num_filters)
        )
        self.f2out = torch.nn.Sequential(
            _dense(num_filters, num_features), torch.nn.Linear(num_features, num_features)
        )

    def forward(
        self,
        x: torch.Tensor,
        rbf: torch.Tensor,
        cutoff: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
    ) -> torch.Tensor:
        """The update of the features ``x`` (N, F) from the radial basis ``rbf`` (E, B) and the
        cutoff ``cutoff`` (E,) of the edges ``edge_src -> edge_dst``."""
        w = self.filter_network(rbf) * cutoff[:, None]
        h = self.in2f(x).index_select(0, edge_src) * w
        h = torch.zeros((x.shape[0], h.shape[1]), dtype=h.dtype, device=h.device).index_add(
            0, edge_dst, h
        )
        return self.f2out(h)


class SchNet(AtomisticModel):
    """SchNet, the invariant continuous-filter network of Schütt, Sauceda, Kindermans,
    Tkatchenko and Müller, "SchNet - A deep learning architecture for molecules and
    materials", J. Chem. Phys. 148, 241722 (2018), as in SchNetPack.

    An embedding of the types (``num_features``), Gaussian radial basis functions of the
    distances (``num_basis`` on [0, r_max], ``soft_one_hot_linspace(..., "gaussian")``),
    ``num_interactions`` residual interaction blocks (``SchNetInteraction``), then atom-wise
    layers (dense to ``num_features // 2`` with shifted softplus, dense to 1): a value per atom,
    scaled and shifted per type (``scale``, ``shift``, ``atom_references``), summed (or
    averaged, ``reduce="mean"``) per graph. Invariant by construction; forces (-dE/dR) and
    stress by autograd when asked.

    Args:
        type_numbers: the atomic numbers of the types.
        r_max: cutoff radius (Angstrom).
        num_features: atom feature size; ``num_filters``: filter size (default the same).
        num_interactions: interaction blocks; ``num_basis``: Gaussians.
        target, reduce, compute_forces, compute_stress, scale, shift, atom_references: as
            ``NequIP``'s (``compute_forces`` is False by default here).

    Example::

        >>> model = SchNet(type_numbers=[1, 6, 7, 8, 9], num_features=16, target="U0")
        >>> batch = data.collate(data.load_qm9_sample()[:3], cutoff=model.r_max)
        >>> out = model(batch.as_dict())
        >>> out["U0"].shape, out["atomic_U0"].shape
        (torch.Size([3]), torch.Size([12]))
    """

    name = "schnet"
    num_basis: int

    def __init__(
        self,
        type_numbers: Sequence[int],
        r_max: float = 5.0,
        num_features: int = 128,
        num_filters: int | None = None,
        num_interactions: int = 3,
        num_basis: int = 50,
        target: str = "energy",
        reduce: str = "sum",
        compute_forces: bool = False,
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
        num_filters = num_features if num_filters is None else num_filters
        for key, value in [
            ("num_features", num_features),
            ("num_filters", num_filters),
            ("num_interactions", num_interactions),
            ("num_basis", num_basis),
        ]:
            if not value >= 1:
                raise ValueError(f"SchNet: {key} is {value}, expected at least 1")
        self.config.update(
            num_features=int(num_features),
            num_filters=int(num_filters),
            num_interactions=int(num_interactions),
            num_basis=int(num_basis),
        )
        self.num_basis = int(num_basis)
        self.receptive_field = int(num_interactions) * self.r_max
        self.embedding = torch.nn.Embedding(self.types.num_types, num_features)
        self.interactions = torch.nn.ModuleList(
            [
                SchNetInteraction(num_features, num_filters, num_basis)
                for _ in range(num_interactions)
            ]
        )
        hidden = max(num_features // 2, 1)
        self.readout = torch.nn.Sequential(_dense(num_features, hidden), torch.nn.Linear(hidden, 1))

    def node_outputs(
        self,
        types: torch.Tensor,
        vectors: torch.Tensor,
        edge_src: torch.Tensor,
        edge_dst: torch.Tensor,
    ) -> torch.Tensor:
        """Per-atom values before scale and shift (N, 1)."""
        r = torch.linalg.norm(vectors, dim=1)
        rbf = soft_one_hot_linspace(r, 0.0, self.r_max, self.num_basis, "gaussian", False)
        cutoff = cosine_cutoff(r, self.r_max)
        x = self.embedding(types)
        for interaction in self.interactions:
            x = x + interaction(x, rbf, cutoff, edge_src, edge_dst)
        return self.readout(x)
