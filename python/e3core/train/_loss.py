"""Losses: weighted sums of per-target terms (MSE, MAE, Huber) over graph and atom targets.

Example::

    >>> loss = Loss.from_spec([{"target": "energy", "weight": 1.0, "per_atom": True},
    ...                        {"target": "forces", "weight": 10.0}])
    >>> loss.targets, loss.needs_forces
    (['energy', 'forces'], True)
"""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from e3core.data import Batch
from e3core.train._metrics import absolute_error, squared_error

LOSS_KINDS = ("mse", "mae", "huber")


def target_of(batch: Batch, name: str) -> torch.Tensor:
    """The reference values of target ``name`` in ``batch`` (a graph target, an atom target or
    a probe target such as ``probe_density``).

    Example::

        >>> import numpy as np
        >>> from e3core.data import Structure, collate
        >>> b = collate([Structure(np.zeros((1, 3)), ["H"], targets={"energy": -0.5})])
        >>> target_of(b, "energy")
        tensor([-0.5000])
    """
    if name in batch.targets:
        return batch.targets[name]
    if name in batch.atom_targets:
        return batch.atom_targets[name]
    if name in batch.probes and name not in ("probe_positions", "probe_batch"):
        return batch.probes[name]
    raise KeyError(
        f"target {name!r} is not in the batch (targets: {sorted(batch.targets)}, "
        f"atom targets: {sorted(batch.atom_targets)}, probes: {sorted(batch.probes)})"
    )


@dataclass(frozen=True)
class LossTerm:
    """One term of a loss: ``weight`` × mean over the entries of ``target`` of ``kind``
    (``"mse"``, ``"mae"`` or ``"huber"`` with ``delta``) of prediction − reference.
    ``per_atom`` divides the errors of a graph target by the number of atoms of its structure
    (NequIP's per-atom energy loss).

    Example::

        >>> term = LossTerm("energy", weight=2.0, kind="huber", delta=0.5)
        >>> term.elementwise(torch.tensor([1.0]), torch.tensor([0.0]))
        tensor([0.3750])
    """

    target: str
    weight: float = 1.0
    kind: str = "mse"
    per_atom: bool = False
    delta: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in LOSS_KINDS:
            raise ValueError(f"LossTerm: kind is {self.kind!r}, expected one of {LOSS_KINDS}")
        if not self.weight >= 0:
            raise ValueError(f"LossTerm: weight is {self.weight!r}, expected a number >= 0")
        if not self.delta > 0:
            raise ValueError(f"LossTerm: delta is {self.delta!r}, expected a number > 0")

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of every entry (no reduction).

        Example::

            >>> LossTerm("e", kind="mae").elementwise(torch.tensor([1.0, -3.0]), torch.zeros(2))
            tensor([1., 3.])
        """
        if self.kind == "huber":
            return F.huber_loss(pred, target, reduction="none", delta=self.delta)
        error = pred - target
        return squared_error(error) if self.kind == "mse" else absolute_error(error)


class Loss:
    """A weighted sum of ``LossTerm`` s. Each term is the mean over all entries of its target
    in the batch (structures for graph targets, atoms × components for forces), so that the
    loss does not depend on how a dataset is cut into batches or processes: ``partial_sums``
    gives each term's (sum, count), which data-parallel training adds over processes before
    ``combine``.

    Example::

        >>> import numpy as np
        >>> from e3core.data import Structure, collate
        >>> b = collate([Structure(np.zeros((2, 3)), ["H", "H"], targets={"energy": -1.0})])
        >>> Loss.from_spec({"energy": 1.0})({"energy": torch.tensor([-0.5])}, b)
        tensor(0.2500)
    """

    def __init__(self, terms: Sequence[LossTerm]) -> None:
        terms = list(terms)
        if not terms:
            raise ValueError("Loss: terms is empty, expected at least one LossTerm")
        for term in terms:
            if not isinstance(term, LossTerm):
                raise TypeError(f"Loss: terms holds {term!r}, expected LossTerm objects")
        self.terms = terms

    @classmethod
    def from_spec(cls, spec: "Loss | Mapping[str, float] | Sequence[Any]") -> "Loss":
        """A loss from ``{target: weight}`` (MSE terms), a list of ``LossTerm`` s or of their
        keyword dicts (``{"target": "forces", "weight": 10, "kind": "huber"}``), or a Loss.

        Example::

            >>> Loss.from_spec({"energy": 1.0, "forces": 100.0}).terms[1]
            LossTerm(target='forces', weight=100.0, kind='mse', per_atom=False, delta=1.0)
        """
        if isinstance(spec, Loss):
            return spec
        if isinstance(spec, Mapping):
            return cls([LossTerm(str(k), float(w)) for k, w in spec.items()])
        terms = []
        for item in spec:
            if isinstance(item, LossTerm):
                terms.append(item)
            elif isinstance(item, Mapping):
                try:
                    terms.append(LossTerm(**item))
                except TypeError as error:
                    raise TypeError(f"Loss: bad term {dict(item)!r}: {error}") from None
            else:
                raise TypeError(f"Loss: spec holds {item!r}, expected LossTerm or dict")
        return cls(terms)

    @property
    def targets(self) -> list[str]:
        """The targets of the terms, in order, each once.

        Example::

            >>> Loss.from_spec({"energy": 1.0}).targets
            ['energy']
        """
        return list(dict.fromkeys(term.target for term in self.terms))

    @property
    def needs_forces(self) -> bool:
        """Whether a term is on ``forces`` (the model must then give them, or an energy to
        differentiate).

        Example::

            >>> Loss.from_spec({"energy": 1.0}).needs_forces
            False
        """
        return "forces" in self.targets

    def partial_sums(
        self, predictions: Mapping[str, torch.Tensor], batch: Batch
    ) -> list[tuple[torch.Tensor, int]]:
        """(sum of the elementwise loss, number of entries) of each term on this batch.

        Example::

            >>> import numpy as np
            >>> from e3core.data import Structure, collate
            >>> b = collate([Structure(np.zeros((1, 3)), ["H"], targets={"energy": 0.0})])
            >>> Loss.from_spec({"energy": 1.0}).partial_sums({"energy": torch.tensor([2.0])}, b)
            [(tensor(4.), 1)]
        """
        sums = []
        for term, count in zip(self.terms, self.counts(batch), strict=True):
            target = target_of(batch, term.target)
            pred = predictions[term.target].reshape(target.shape)
            if term.per_atom and term.target in batch.targets:
                n = batch.n_atoms.to(target.dtype).reshape((-1,) + (1,) * (target.dim() - 1))
                pred, target = pred / n, target / n
            values = term.elementwise(pred, target)
            sums.append((values.sum(), count))
        return sums

    def counts(self, batch: Batch) -> list[int]:
        """Number of entries of each term on this batch (known before the model runs).

        Example::

            >>> import numpy as np
            >>> from e3core.data import Structure, collate
            >>> s = Structure(np.zeros((2, 3)), ["H", "H"], targets={"energy": 0.0})
            >>> Loss.from_spec({"energy": 1.0}).counts(collate([s, s, s]))
            [3]
        """
        return [target_of(batch, term.target).numel() for term in self.terms]

    def scales(self, counts: Sequence[float]) -> list[float]:
        """weight / count of each term (0 for a count of zero): the loss is Σ scale × sum.

        Example::

            >>> Loss.from_spec({"a": 1.0, "b": 2.0}).scales([2, 0])
            [0.5, 0.0]
        """
        return [
            term.weight / float(c) if float(c) > 0 else 0.0
            for term, c in zip(self.terms, counts, strict=True)
        ]

    def combine(self, sums: Sequence[torch.Tensor], counts: Sequence[float]) -> torch.Tensor:
        """Σ weight × sum / count over the terms (counts of zero give zero).

        Example::

            >>> Loss.from_spec({"a": 1.0, "b": 2.0}).combine([torch.tensor(4.0), torch.tensor(1.0)],
            ...                                                [2, 1])
            tensor(4.)
        """
        total = sums[0].new_zeros(())
        for s, scale in zip(sums, self.scales(counts), strict=True):
            if scale != 0.0:
                total = total + scale * s
        return total

    def __call__(self, predictions: Mapping[str, torch.Tensor], batch: Batch) -> torch.Tensor:
        sums, counts = zip(*self.partial_sums(predictions, batch), strict=True)
        return self.combine(sums, counts)

    def spec(self) -> list[dict[str, Any]]:
        """The terms as keyword dicts (``Loss.from_spec(loss.spec())`` rebuilds the loss).

        Example::

            >>> Loss.from_spec({"energy": 1.0}).spec()[0]["kind"]
            'mse'
        """
        return [asdict(term) for term in self.terms]

    def __repr__(self) -> str:
        return f"Loss({self.terms})"
