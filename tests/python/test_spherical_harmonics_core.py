"""Spherical harmonics kernels against e3nn 0.6: values, Jacobians, autograd, edge cases."""

import e3core  # noqa: F401 - registers torch.ops.e3core
import numpy as np
import pytest
import torch
from e3core import _core

e3nn_o3 = pytest.importorskip("e3nn.o3")

NORMALIZATIONS = ["integral", "component", "norm"]


def vectors(n, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, 3))
    # Include axis-aligned and tiny vectors, where recursions often lose accuracy.
    x[:6] = np.concatenate([np.eye(3), -np.eye(3)])
    x[6] *= 1e-5
    return x.astype(dtype)


def reference(x, lmax, normalize, normalization):
    xt = torch.from_numpy(np.asarray(x, dtype=np.float64))
    return e3nn_o3.spherical_harmonics(list(range(lmax + 1)), xt, normalize, normalization).numpy()


def close(actual, expected, rtol):
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("lmax", range(13))
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_match_e3nn(lmax, normalization, normalize, dtype):
    # 37 vectors: not a multiple of any lane block, so the remainder path is covered too.
    x = vectors(37, dtype)
    if not normalize:
        x = x / np.linalg.norm(x, axis=1, keepdims=True).clip(0.5)
    sh = _core.spherical_harmonics(x, lmax, normalize, normalization)
    assert sh.dtype == dtype and sh.shape == (37, (lmax + 1) ** 2)
    close(sh, reference(x, lmax, normalize, normalization), 1e-14 if dtype == np.float64 else 3e-5)


@pytest.mark.parametrize("lmax", [0, 1, 2, 3, 5, 8, 9, 12])
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_match_e3nn_jacobian(lmax, normalization, normalize, dtype):
    x = vectors(21, np.float64, seed=1)[7:]  # away from the origin, where e3nn's is smooth
    sh, dsh = _core.spherical_harmonics(x.astype(dtype), lmax, normalize, normalization, True)
    assert dsh.shape == (14, 3, (lmax + 1) ** 2)
    close(sh, reference(x, lmax, normalize, normalization), 1e-14 if dtype == np.float64 else 3e-5)
    xt = torch.from_numpy(x)
    ls = list(range(lmax + 1))
    jac = torch.autograd.functional.jacobian(
        lambda v: e3nn_o3.spherical_harmonics(ls, v, normalize, normalization).sum(0), xt
    )  # [dim, n, 3]
    expected = jac.permute(1, 2, 0).numpy()
    close(dsh, expected, 1e-12 if dtype == np.float64 else 1e-4)


@pytest.mark.parametrize("lmax", range(11))
@pytest.mark.parametrize("normalize", [True, False])
def test_torch_op_gradcheck(lmax, normalize):
    x = torch.from_numpy(vectors(9, np.float64, seed=2)[7:]).requires_grad_()
    for normalization in NORMALIZATIONS:

        def fn(v, normalization=normalization):
            return torch.ops.e3core.spherical_harmonics(v, lmax, normalize, normalization)

        assert torch.autograd.gradcheck(fn, (x,))
        assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("lmax", [1, 4, 9])
def test_torch_op_backward_matches_e3nn(lmax):
    x = torch.from_numpy(vectors(50, np.float64, seed=3)[7:])
    g = torch.randn(x.shape[0], (lmax + 1) ** 2, dtype=torch.float64)
    xa = x.clone().requires_grad_()
    torch.ops.e3core.spherical_harmonics(xa, lmax, True, "integral").backward(g)
    xb = x.clone().requires_grad_()
    e3nn_o3.spherical_harmonics(list(range(lmax + 1)), xb, True, "integral").backward(g)
    close(xa.grad.numpy(), xb.grad.numpy(), 1e-12)


@pytest.mark.parametrize("lmax", [0, 1, 3, 8, 10])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_vectors(lmax, dtype):
    x = np.zeros((3, 3), dtype=dtype)
    sh, dsh = _core.spherical_harmonics(x, lmax, True, "integral", True)
    close(sh, reference(x, lmax, True, "integral"), 1e-7)
    assert np.all(sh[:, 1:] == 0)
    assert np.all(np.isfinite(dsh))
    xt = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    torch.ops.e3core.spherical_harmonics(xt, lmax, True, "integral").sum().backward()
    assert torch.isfinite(xt.grad).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gradients", [False, True])
def test_empty_batch(dtype, gradients):
    x = np.zeros((0, 3), dtype=dtype)
    out = _core.spherical_harmonics(x, 4, True, "integral", gradients)
    sh = out[0] if gradients else out
    assert sh.shape == (0, 25)
    if gradients:
        assert out[1].shape == (0, 3, 25)
    xt = torch.zeros(0, 3, dtype=torch.float64, requires_grad=True)
    torch.ops.e3core.spherical_harmonics(xt, 4, True, "integral").sum().backward()
    assert xt.grad.shape == (0, 3)


def test_batch_shape_and_many_vectors():
    # Enough vectors to be split over threads and lane blocks; leading dims are kept.
    x = vectors(2 * 1000 + 3, np.float64, seed=4).reshape(1, 2003, 3)
    sh = _core.spherical_harmonics(x, 6)
    assert sh.shape == (1, 2003, 49)
    close(sh[0], reference(x[0], 6, True, "integral"), 1e-14)
