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


def silu_decompositions() -> dict:
    """e3core's SiLU ops as ATen ops, for the graphs that e3core traces and hands to TorchInductor
    (the compiled training step, the AOTInductor export): as custom ops they are opaque calls,
    while in ATen TorchInductor fuses them with the elementwise operators around them (the
    radial networks' biases and products), about 5 % of a small model's training step. The second
    derivative is ``e3core::silu_double_backward``'s formula.

    Example::

        >>> from torch.fx.experimental.proxy_tensor import make_fx
        >>> graph = make_fx(silu, decomposition_table=silu_decompositions())(torch.ones(2))
        >>> "e3core" in graph.code
        False
    """
    aten, ops = torch.ops.aten, torch.ops.e3core

    def double_backward(
        grad_grad_x: torch.Tensor, grad: torch.Tensor, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        s = torch.sigmoid(x)
        first = s * (1 + x * (1 - s))
        second = s * (1 - s) * (2 + x * (1 - 2 * s))
        return grad_grad_x * first, grad_grad_x * grad * second

    return {
        ops.silu.default: aten.silu.default,
        ops.silu_backward.default: aten.silu_backward.default,
        ops.silu_double_backward.default: double_backward,
    }
