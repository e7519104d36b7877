"""Building e3nn 0.6's reference objects and comparing e3core's with them.

e3nn builds its tables (Clebsch-Gordan buffers, so(3) generators, grids) in torch's default
dtype, so its float64 references are built under a float64 default, restored afterwards.

Example::

    >>> import torch
    >>> with default_dtype(torch.float64):
    ...     torch.zeros(1).dtype
    torch.float64
    >>> torch.get_default_dtype()
    torch.float32
    >>> e3nn_D("1o", -torch.eye(3, dtype=torch.float64)).diagonal().tolist()
    [-1.0, -1.0, -1.0]
"""

from collections.abc import Iterator, Sequence

import e3nn.o3
import pytest
import torch
from e3core._dtype import default_dtype


@pytest.fixture(params=[torch.float64, torch.float32], ids=["float64", "float32"], name="dtype")
def dtype_as_default(request: pytest.FixtureRequest) -> Iterator[torch.dtype]:
    """The fixture ``dtype``: the test's dtype, also the default while the test runs.
    A test module uses it with ``from e3nn_reference import dtype_as_default  # noqa: F401``."""
    with default_dtype(request.param):
        yield request.param


def e3nn_D(irreps: str, R: torch.Tensor) -> torch.Tensor:
    """e3nn's representation matrix of the rotation (or improper rotation) ``R`` on ``irreps``,
    built under ``R``'s dtype as the default (e3nn's generators follow the default dtype).

    >>> e3nn_D("2x0e", torch.eye(3)).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    with default_dtype(R.dtype):
        return e3nn.o3.Irreps(str(irreps)).D_from_matrix(R)


def scaled_close(ours: torch.Tensor, theirs: torch.Tensor, tol: float) -> None:
    """Asserts ``ours`` equals ``theirs`` (cast to ``ours``' dtype) to ``tol`` relative to the
    largest entry of ``theirs`` (at least 1).

    >>> scaled_close(torch.tensor([100.0]), torch.tensor([100.001]), 1e-4)
    """
    scale = max(theirs.detach().abs().max().item(), 1.0)
    torch.testing.assert_close(ours, theirs.to(ours.dtype), atol=tol * scale, rtol=tol)


def assert_close_with_gradients(
    actual: torch.Tensor,
    expected: torch.Tensor,
    inputs_ours: Sequence[torch.Tensor],
    inputs_ref: Sequence[torch.Tensor],
    **tol: float,
) -> None:
    """Asserts ``actual`` equals ``expected`` and so do their gradients with respect to
    ``inputs_ours`` and ``inputs_ref`` (pairwise) along one random cotangent, to ``tol``
    (``rtol``, ``atol``).

    >>> x = torch.randn(3, requires_grad=True)
    >>> assert_close_with_gradients(2 * x, x + x, [x], [x])
    """
    torch.testing.assert_close(actual, expected, **tol)
    cotangent = torch.randn_like(expected)
    grads_ref = torch.autograd.grad(expected, list(inputs_ref), cotangent)
    grads_ours = torch.autograd.grad(actual, list(inputs_ours), cotangent)
    for a, b in zip(grads_ours, grads_ref, strict=True):
        torch.testing.assert_close(a, b, **tol)


def assert_state_dict_close(
    ours: torch.nn.Module, theirs: torch.nn.Module, dtype: torch.dtype, tol: float
) -> None:
    """Asserts ``ours`` has ``theirs``' state_dict keys, in order, with the same shapes, in
    ``dtype``, and values ``scaled_close`` to ``tol``.

    >>> assert_state_dict_close(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.float32, 10.0)
    """
    state, their_state = ours.state_dict(), theirs.state_dict()
    assert list(state) == list(their_state)
    for key in state:
        assert state[key].shape == their_state[key].shape and state[key].dtype == dtype
        scaled_close(state[key], their_state[key], tol)


def assert_close_to_float64(
    ours: torch.nn.Module, theirs: torch.nn.Module, x: torch.Tensor, dtype: torch.dtype, tol: float
) -> None:
    """Asserts ``ours`` on ``x`` cast to ``dtype`` gives, in ``dtype``, what ``theirs`` (built
    in float64) gives on the float64 ``x``, to ``tol``, and the gradients to ``10 tol``.

    >>> f = torch.nn.Tanh()
    >>> assert_close_to_float64(f, f, torch.randn(3, dtype=torch.float64), torch.float32, 1e-6)
    """
    x_ours, x_theirs = x.to(dtype).requires_grad_(), x.clone().requires_grad_()
    y, y_e3nn = ours(x_ours), theirs(x_theirs)
    assert y.shape == y_e3nn.shape and y.dtype == dtype
    torch.testing.assert_close(y, y_e3nn.to(dtype), atol=tol, rtol=tol)
    g = torch.randn_like(y_e3nn)
    (grad,) = torch.autograd.grad(y, x_ours, g.to(dtype))
    (grad_e3nn,) = torch.autograd.grad(y_e3nn, x_theirs, g)
    torch.testing.assert_close(grad, grad_e3nn.to(dtype), atol=tol * 10, rtol=tol * 10)
