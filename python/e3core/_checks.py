"""Input checks shared by e3core's modules; ``check_columns`` is TorchScript-compatible, so
forward() can call it."""

import contextlib
import operator
from collections.abc import Iterator

import torch

from e3core._errors import ArgumentError, ShapeError

_suspended = [0]


@contextlib.contextmanager
def suspended_data_checks() -> Iterator[None]:
    """Within it, ``data_checks_suspended()`` is True: checks that branch on a tensor's values
    (not possible while a step is traced with symbolic sizes) put an assertion in the graph
    instead, or are skipped.

    Example::

        >>> with suspended_data_checks():
        ...     data_checks_suspended()
        True
    """
    _suspended[0] += 1
    try:
        yield
    finally:
        _suspended[0] -= 1


def data_checks_suspended() -> bool:
    """Whether a ``suspended_data_checks()`` block is active.

    Example::

        >>> data_checks_suspended()
        False
    """
    return _suspended[0] > 0


def check_columns(module: str, x: torch.Tensor, expected: int, name: str, dim: int = -1) -> None:
    """Raises ShapeError (a ValueError) unless ``x.shape[dim] == expected``, naming the module
    and the argument.

    Example::

        >>> check_columns("Gate", torch.zeros(2, 12), 14, "irreps_in.dim")
        Traceback (most recent call last):
        ...
        e3core.ShapeError: Gate: input has 12 columns but irreps_in.dim = 14
    """
    if x.dim() == 0:
        raise ShapeError(f"{module}: input is 0-dimensional but {name} = {expected}")
    size = x.shape[dim]
    if size != expected:
        if dim == -1:
            raise ShapeError(f"{module}: input has {size} columns but {name} = {expected}")
        raise ShapeError(f"{module}: input has size {size} in dim {dim} but {name} = {expected}")


def check_int(function: str, name: str, value: object, minimum: int) -> int:
    """``value`` as an int of at least ``minimum`` (numpy and 0-d tensor integers too), or a
    ``TypeError``/``ValueError`` naming the function and the argument.

    Example::

        >>> check_int("SymmetricContraction", "correlation", 0, 1)
        Traceback (most recent call last):
        ...
        e3core.ArgumentError: SymmetricContraction: correlation is 0, expected an int >= 1
    """
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{function}: {name} is {value!r} ({type(value).__name__}), expected an int "
            f">= {minimum}"
        ) from None
    if number < minimum:
        raise ArgumentError(f"{function}: {name} is {number}, expected an int >= {minimum}")
    return number


def check_degree(function: str, name: str, value: object) -> int:
    """``value`` as a degree l (an int >= 0; numpy and 0-d tensor integers too), or a
    ``TypeError``/``ValueError`` naming the function and the argument.

    Example::

        >>> check_degree("wigner_3j", "l2", 1.5)
        Traceback (most recent call last):
        ...
        TypeError: wigner_3j: l2 is 1.5 (float), expected an int >= 0
    """
    return check_int(function, name, value, 0)
