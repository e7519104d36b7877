"""BatchNorm for irreps features: scalars centred, every irrep scaled by its (mean) norm."""

import torch

from e3core._checks import check_columns
from e3core._errors import ArgumentError, ShapeError
from e3core.o3._irreps import Irreps
from e3core.util.jit import compile_mode


@compile_mode("script")
class BatchNorm(torch.nn.Module):
    """Batch (or instance) normalization of irreps features, as ``e3nn.nn.BatchNorm``.

    Scalars (0e) are centred; every irrep copy is divided by the square root of its mean squared
    component (``normalization="component"``) or squared norm (``"norm"``), averaged over the
    batch and any middle dimensions (``reduce="mean"``) or maximised over the middle ones
    (``"max"``). Running statistics are kept for evaluation unless ``instance``. With ``affine``,
    each copy has a learnable ``weight`` and each 0e copy a ``bias`` (``include_bias``). Unlike
    e3nn's, it works under TorchScript.

    Args:
        irreps: irreps of the input (batch, ..., irreps.dim).
        eps: added to the variance.
        momentum: of the running averages.
        affine: learn ``weight`` (and ``bias``).
        reduce: ``"mean"`` or ``"max"``.
        instance: normalize each sample on its own (instance norm), without running statistics.
        include_bias: learn a bias on the scalars (with ``affine``).
        normalization: ``"component"`` or ``"norm"``.

    Example::

        >>> bn = BatchNorm("4x0e + 2x1o")
        >>> y = bn(torch.randn(32, 10))
        >>> y[:, :4].mean(0).abs().max() < 1e-6, bn.running_var.shape
        (tensor(True), torch.Size([6]))
    """

    eps: float
    momentum: float
    affine: bool
    instance: bool
    reduce: str
    normalization: str
    _dim: int
    _terms: list[tuple[int, int, bool]]

    def __init__(
        self,
        irreps: Irreps | str,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        reduce: str = "mean",
        instance: bool = False,
        include_bias: bool = True,
        normalization: str = "component",
    ) -> None:
        super().__init__()
        if reduce not in ("mean", "max"):
            raise ArgumentError(f"BatchNorm: reduce is {reduce!r}, expected 'mean' or 'max'")
        if normalization not in ("norm", "component"):
            raise ArgumentError(
                f"BatchNorm: normalization is {normalization!r}, expected 'norm' or 'component'"
            )
        self.irreps = Irreps(irreps)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.instance = instance
        self.include_bias = include_bias
        self.reduce = reduce
        self.normalization = normalization
        self._dim = self.irreps.dim
        self._terms = [(mul, ir.dim, ir.is_scalar()) for mul, ir in self.irreps]

        num_scalar = sum(mul for mul, ir in self.irreps if ir.is_scalar())
        num_features = self.irreps.num_irreps
        # Absent tensors are registered as None, so the state_dict keys are e3nn's and the
        # forward below can branch on them (TorchScript resolves `is None` on a None attribute).
        if instance:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
        else:
            self.register_buffer("running_mean", torch.zeros(num_scalar))
            self.register_buffer("running_var", torch.ones(num_features))
        if affine:
            self.weight = torch.nn.Parameter(torch.ones(num_features))
        else:
            self.register_parameter("weight", None)
        if affine and include_bias:
            self.bias = torch.nn.Parameter(torch.zeros(num_scalar))
        else:
            self.register_parameter("bias", None)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__} ({self.irreps}, eps={self.eps}, momentum={self.momentum})"
        )

    def _roll_avg(self, curr: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        return (1 - self.momentum) * curr + self.momentum * update.detach()

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalized ``input`` (batch, ..., irreps.dim)."""
        check_columns("BatchNorm", input, self._dim, "irreps.dim")
        if input.dim() < 2:
            shape = list(input.shape)
            raise ShapeError(
                f"BatchNorm: input has shape {shape}, expected (batch, ..., irreps.dim)"
            )
        running_mean, running_var = self.running_mean, self.running_var
        weight, bias = self.weight, self.bias
        batch = input.shape[0]
        x = input.reshape(batch, -1, self._dim)  # [batch, sample, features]

        new_means: list[torch.Tensor] = []
        new_vars: list[torch.Tensor] = []
        fields: list[torch.Tensor] = []
        ix = irm = irv = iw = ib = 0
        for mul, d, is_scalar in self._terms:
            field = x.narrow(2, ix, mul * d).reshape(batch, -1, mul, d)
            ix += mul * d

            if is_scalar:
                if running_mean is None:
                    field_mean = field.mean(1).reshape(batch, mul)
                elif self.training:
                    field_mean = field.mean([0, 1]).reshape(mul)
                    new_means.append(self._roll_avg(running_mean[irm : irm + mul], field_mean))
                else:
                    field_mean = running_mean[irm : irm + mul]
                irm += mul
                field = field - field_mean.reshape(-1, 1, mul, 1)

            if running_var is None or self.training:
                if self.normalization == "norm":
                    field_norm = field.pow(2).sum(3)  # [batch, sample, mul]
                else:
                    field_norm = field.pow(2).mean(3)
                if self.reduce == "mean":
                    field_norm = field_norm.mean(1)  # [batch, mul]
                else:
                    field_norm = field_norm.max(1).values
                if running_var is not None:
                    field_norm = field_norm.mean(0)  # [mul]
                    new_vars.append(self._roll_avg(running_var[irv : irv + mul], field_norm))
            else:
                field_norm = running_var[irv : irv + mul]
            irv += mul

            field_norm = (field_norm + self.eps).pow(-0.5)  # [(batch,) mul]
            if weight is not None:
                field_norm = field_norm * weight[iw : iw + mul]
                iw += mul
            field = field * field_norm.reshape(-1, 1, mul, 1)
            if bias is not None and is_scalar:
                field = field + bias[ib : ib + mul].reshape(mul, 1)
                ib += mul
            fields.append(field.reshape(batch, -1, mul * d))

        if running_mean is not None and len(new_means) > 0:
            running_mean.copy_(torch.cat(new_means))
        if running_var is not None and len(new_vars) > 0:
            running_var.copy_(torch.cat(new_vars))
        return torch.cat(fields, dim=2).reshape(input.shape)
