"""e3core's errors for refused arguments, catchable as e3nn's were.

e3nn refuses invalid instructions, mismatched irreps and wrongly shaped inputs with ``assert``
(AssertionError) and a missing weight with RuntimeError; e3core's messages name the argument
and what was expected, in errors that are ValueErrors and also those classes, so that code
written for e3nn keeps catching them.

Example::

    >>> import torch
    >>> from e3core import o3
    >>> try:
    ...     o3.Norm("2x1o")(torch.zeros(3, 5))
    ... except AssertionError as error:
    ...     print(type(error).__name__, "|", error)
    ShapeError | Norm: input has 5 columns but irreps_in.dim = 6
"""

import contextlib
from collections.abc import Iterator

__all__ = ["ArgumentError", "MissingWeightError", "ShapeError"]


class ArgumentError(ValueError, AssertionError):
    """An argument or input that e3core refuses: a ValueError, and an AssertionError where e3nn
    asserts.

    Example::

        >>> issubclass(ArgumentError, ValueError), issubclass(ArgumentError, AssertionError)
        (True, True)
    """

    __module__ = "e3core"


class MissingWeightError(ArgumentError, RuntimeError):
    """A module without internal weights called without them (e3nn raises RuntimeError).

    Example::

        >>> issubclass(MissingWeightError, RuntimeError)
        True
    """

    __module__ = "e3core"


class ShapeError(ArgumentError, RuntimeError):
    """An input tensor of the wrong shape (e3nn raises AssertionError or, from a reshape,
    RuntimeError).

    Example::

        >>> issubclass(ShapeError, RuntimeError), issubclass(ShapeError, AssertionError)
        (True, True)
    """

    __module__ = "e3core"


@contextlib.contextmanager
def refused_as_argument_error() -> Iterator[None]:
    """Turns the ValueErrors of the C++ core (invalid instructions, degrees) into
    ArgumentErrors with the same message.

    Example::

        >>> with refused_as_argument_error():
        ...     raise ValueError("instruction 0: 1x0e x 1x0e cannot give 1x1o")
        Traceback (most recent call last):
        ...
        e3core.ArgumentError: instruction 0: 1x0e x 1x0e cannot give 1x1o
    """
    try:
        yield
    except ArgumentError:
        raise
    except ValueError as error:
        raise ArgumentError(str(error)) from error
