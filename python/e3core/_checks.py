"""Input checks shared by e3core's modules; TorchScript-compatible, so forward() can call them."""

import torch


def check_columns(module: str, x: torch.Tensor, expected: int, name: str, dim: int = -1) -> None:
    """Raises ValueError unless ``x.shape[dim] == expected``, naming the module and the argument.

    Example::

        >>> check_columns("Gate", torch.zeros(2, 12), 14, "irreps_in.dim")
        Traceback (most recent call last):
        ...
        ValueError: Gate: input has 12 columns but irreps_in.dim = 14
    """
    if x.dim() == 0:
        raise ValueError(f"{module}: input is 0-dimensional but {name} = {expected}")
    size = x.shape[dim]
    if size != expected:
        if dim == -1:
            raise ValueError(f"{module}: input has {size} columns but {name} = {expected}")
        raise ValueError(f"{module}: input has size {size} in dim {dim} but {name} = {expected}")
