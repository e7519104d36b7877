"""NormActivation: each irrep scaled by a nonlinearity of its norm."""

from collections.abc import Callable

import torch

from e3core._checks import check_columns
from e3core._e3nn_compat import ignore_e3nn_tensor_product_entries
from e3core._errors import ArgumentError
from e3core.o3._irreps import Irreps
from e3core.o3._norm import Norm, irrep_copy_index
from e3core.util.jit import compile_mode


@compile_mode("script")
class NormActivation(torch.nn.Module):
    r"""Norm-based activation, as ``e3nn.nn.NormActivation``.

    Each irrep copy :math:`x` becomes :math:`\sigma(|x| + b) \, x / |x|` (``normalize=True``) or
    :math:`\sigma(|x| + b) \, x`, with the optional learnable bias ``biases`` (one per copy).
    With ``normalize``, norms below ``epsilon`` (default 1e-8) are raised to it, so zero inputs
    give no NaN. ``normalize=False`` (which crashes in e3nn 0.6) uses the plain norm.

    Args:
        irreps_in: irreps of the input (and output).
        scalar_nonlinearity: :math:`\sigma`, e.g. ``torch.sigmoid``; scriptable for TorchScript.
        normalize: divide each irrep by its norm before scaling.
        epsilon: smallest norm when normalizing; not allowed without ``normalize``.
        bias: learn an additive bias on the norms.

    Example::

        >>> n = NormActivation("2x1e", torch.sigmoid)
        >>> n(torch.ones(1, 6)).reshape(1, 2, 3).norm(dim=-1)
        tensor([[0.8497, 0.8497]])
    """

    epsilon: float | None
    _eps_squared: float
    normalize: bool

    def __init__(
        self,
        irreps_in: Irreps | str,
        scalar_nonlinearity: Callable[[torch.Tensor], torch.Tensor],
        normalize: bool = True,
        epsilon: float | None = None,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.irreps_in = Irreps(irreps_in)
        self.irreps_out = Irreps(irreps_in)
        if epsilon is not None and not normalize:
            raise ArgumentError("NormActivation: epsilon is only used with normalize=True; drop it")
        if epsilon is None and normalize:
            epsilon = 1e-8
        if epsilon is not None and not epsilon > 0:
            raise ArgumentError(f"NormActivation: epsilon must be strictly positive, got {epsilon}")
        self.epsilon = epsilon
        self._eps_squared = epsilon * epsilon if epsilon is not None else 0.0
        # With an epsilon, take squared norms and do the clamp and the sqrt here.
        self.norm = Norm(self.irreps_in, squared=epsilon is not None)
        self.scalar_nonlinearity = scalar_nonlinearity
        self.normalize = normalize
        self.bias = bias
        if bias:
            self.biases = torch.nn.Parameter(torch.zeros(self.irreps_in.num_irreps))
        else:
            self.register_parameter("biases", None)
        self.register_buffer("_copy", irrep_copy_index(self.irreps_in), persistent=False)
        ignore_e3nn_tensor_product_entries(self, "scalar_multiplier")

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Activated ``features`` (..., irreps_in.dim)."""
        check_columns("NormActivation", features, self._copy.shape[0], "irreps_in.dim")
        norms = self.norm(features)
        if self._eps_squared > 0:
            norms = norms.clamp_min(self._eps_squared).sqrt()
        nonlin_arg = norms
        biases = self.biases
        if biases is not None:
            nonlin_arg = nonlin_arg + biases
        scalings = self.scalar_nonlinearity(nonlin_arg)
        if self.normalize:
            scalings = scalings / norms
        return features * scalings.index_select(-1, self._copy)
