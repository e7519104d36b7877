"""torch's default dtype and device, read in a TorchScript-compatible way (e3nn.util's)."""

import torch


def torch_get_default_tensor_type() -> str:
    """The type name of a new tensor, such as ``"torch.FloatTensor"``.

    Example::

        >>> torch_get_default_tensor_type() in ("torch.FloatTensor", "torch.DoubleTensor")
        True
    """
    return torch.empty(0).type()


def torch_get_default_device() -> torch.device:
    """The device of a new tensor.

    Example::

        >>> torch_get_default_device()
        device(type='cpu')
    """
    return torch.empty(0).device


def explicit_default_types(
    dtype: torch.dtype | None, device: torch.device | None
) -> tuple[torch.dtype, torch.device]:
    """``dtype`` and ``device``, torch's defaults where None.

    Example::

        >>> explicit_default_types(torch.float64, None)
        (torch.float64, device(type='cpu'))
    """
    return (
        torch.empty(0).dtype if dtype is None else dtype,
        torch_get_default_device() if device is None else device,
    )


def prod(values: object) -> object:
    """The product of an iterable (1 when empty), as ``e3nn.util.prod``.

    Example::

        >>> prod([2, 3, 4]), prod([])
        (24, 1)
    """
    out: object = 1
    for value in values:  # type: ignore[attr-defined]
        out *= value  # type: ignore[operator]
    return out
