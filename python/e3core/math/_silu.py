"""SiLU as an e3core op: torch's values, with a fused second derivative."""

import torch


def silu(x: torch.Tensor) -> torch.Tensor:
    r"""SiLU, :math:`x \sigma(x)`, with the values and first derivative of
    ``torch.nn.functional.silu``.

    Its second derivative, which training on forces takes through every radial network, is one
    fused pass (``e3core::silu_double_backward``) instead of autograd's dozen elementwise
    operations; third and higher derivatives are autograd's. e3core's activations
    (``normalize2mom``, hence ``FullyConnectedNet``, ``Activation`` and ``Gate``) use it in
    place of ``torch.nn.functional.silu``. It is a TorchScript- and export-friendly op.

    Example::

        >>> x = torch.tensor([-1.0, 0.0, 2.0])
        >>> torch.equal(silu(x), torch.nn.functional.silu(x))
        True
    """
    return torch.ops.e3core.silu(x)
