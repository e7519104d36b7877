"""e3nn.math's linear algebra and Bessel functions, and e3nn.nn.Identity, against e3nn."""

import e3core
import e3nn.math
import e3nn.nn
import pytest
import torch
from e3core import math, nn
from e3nn.util.test import assert_auto_jitable

DTYPES = [(torch.float32, 1e-6), (torch.float64, 1e-12)]
# The rank cut-off: e3nn's default 1e-9 is for float64; float32 round-off is about 1e-7.
EPS = {torch.float32: 1e-4, torch.float64: 1e-9}


@pytest.mark.parametrize(("dtype", "tol"), DTYPES)
def test_direct_sum(dtype, tol):
    generator = torch.Generator().manual_seed(0)
    blocks = [
        torch.randn(4, m, n, generator=generator, dtype=dtype) for m, n in [(2, 3), (1, 1), (3, 2)]
    ]
    ours, theirs = math.direct_sum(*blocks), e3nn.math.direct_sum(*blocks)
    assert ours.shape == (4, 6, 6) and ours.dtype == dtype
    torch.testing.assert_close(ours, theirs, atol=0, rtol=0)


def dependent_rows(dtype: torch.dtype, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randn(3, 5, generator=generator, dtype=dtype)
    # A fourth row in the span of the first two, and a zero row: both dropped.
    return torch.cat([rows, (2 * rows[0] - rows[1])[None], torch.zeros(1, 5, dtype=dtype)])


@pytest.mark.parametrize(("dtype", "tol"), DTYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_orthonormalize(dtype, tol, seed):
    original = dependent_rows(dtype, seed)
    eps = EPS[dtype]
    y, a = math.orthonormalize(original, eps)
    y_e3nn, a_e3nn = e3nn.math.orthonormalize(original, eps)
    assert y.shape == (3, 5) and a.shape == (3, 5)
    torch.testing.assert_close(y, y_e3nn, atol=tol, rtol=0)
    torch.testing.assert_close(a, a_e3nn, atol=tol, rtol=0)
    torch.testing.assert_close(a @ original, y, atol=10 * tol, rtol=0)
    torch.testing.assert_close(y @ y.T, torch.eye(3, dtype=dtype), atol=10 * tol, rtol=0)


@pytest.mark.parametrize(("dtype", "tol"), DTYPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_complete_basis(dtype, tol, seed):
    eps = EPS[dtype]
    vecs, _ = math.orthonormalize(dependent_rows(dtype, seed), eps)
    ours, theirs = math.complete_basis(vecs, eps), e3nn.math.complete_basis(vecs, eps)
    assert ours.shape == (2, 5)
    torch.testing.assert_close(ours, theirs, atol=tol, rtol=0)
    basis = torch.cat([vecs, ours])
    torch.testing.assert_close(basis @ basis.T, torch.eye(5, dtype=dtype), atol=10 * tol, rtol=0)
    assert math.complete_basis(torch.eye(3, dtype=dtype)).shape == (0, 3)


def test_orthonormalize_of_nothing_independent():
    y, a = math.orthonormalize(torch.zeros(2, 3))
    assert y.shape == (0, 3) and a.shape == (0, 2)
    with pytest.raises(e3core.ArgumentError, match=r"original has shape \[3\], expected \(n, d\)"):
        math.orthonormalize(torch.zeros(3))


@pytest.mark.parametrize(("dtype", "tol"), DTYPES)
@pytest.mark.parametrize("x_max", [1.0, 2.5])
def test_bessel(dtype, tol, x_max):
    x = torch.cat([torch.zeros(1, dtype=dtype), torch.linspace(0.01, x_max, 40, dtype=dtype)])
    ours, theirs = math.bessel(x, 6, x_max), e3nn.math.bessel(x, 6, x_max)
    assert ours.shape == (41, 6) and ours.dtype == dtype
    torch.testing.assert_close(ours, theirs, atol=tol * 100, rtol=tol)
    r = x[1:].clone().requires_grad_(True)
    grad = torch.autograd.grad(math.bessel(r, 6, x_max).sum(), r)[0]
    r_e3nn = x[1:].clone().requires_grad_(True)
    grad_e3nn = torch.autograd.grad(e3nn.math.bessel(r_e3nn, 6, x_max).sum(), r_e3nn)[0]
    torch.testing.assert_close(grad, grad_e3nn, atol=tol * 1000, rtol=tol * 10)


def test_bessel_is_orthonormal_with_weight_x_squared():
    x = torch.linspace(0, 2.0, 20001, dtype=torch.float64)
    b = math.bessel(x, 4, 2.0)
    gram = torch.trapezoid(x[:, None, None] ** 2 * b[:, :, None] * b[:, None, :], x, dim=0)
    torch.testing.assert_close(gram, torch.eye(4, dtype=torch.float64), atol=1e-6, rtol=0)
    with pytest.raises(e3core.ArgumentError, match="bessel: n is 0"):
        math.bessel(x, 0)


def test_identity_as_e3nns():
    ours = nn.Identity("2x0e+1x1o", "1x0e+1x0e+1x1o")
    theirs = e3nn.nn.Identity("2x0e+1x1o", "1x0e+1x0e+1x1o")
    assert str(ours.irreps_out) == str(theirs.irreps_out) and repr(ours) == repr(theirs)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(4, 5)
    assert torch.equal(ours(x), x)
    assert_auto_jitable(ours)
    with pytest.raises(AssertionError):
        e3nn.nn.Identity("1x0e", "1x1o")
    with pytest.raises(AssertionError, match="irreps_in 1x0e and irreps_out 1x1o differ"):
        nn.Identity("1x0e", "1x1o")
