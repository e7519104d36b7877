"""nn.S2Activation and nn.SO3Activation against e3nn, equivariance (approximate, at finite
resolution) and TorchScript."""

import e3nn.nn
import pytest
import torch
from e3core import ArgumentError, ShapeError, nn, o3
from e3core.util.test import assert_equivariant
from e3nn_reference import assert_close_to_float64, default_dtype

S2_CASES = [
    ("0e+1o+2e", torch.tanh, 20, None),  # p_val = 1, p_arg = -1
    ("0e+1e+2e+3e", torch.relu, (12, 13), 2),  # p_arg = 1, lmax_out
    ("0o+1e+2o", torch.tanh, 16, 3),  # odd input, odd act: 0o + 1e + ...
    ("0o+1o+2o", torch.abs, 16, None),  # odd input, even act: all even out
]


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize(("irreps", "act", "res", "lmax_out"), S2_CASES)
@pytest.mark.parametrize("normalization", ["component", "norm"])
def test_s2_activation_as_e3nns(dtype, tol, irreps, act, res, lmax_out, normalization):
    with default_dtype(torch.float64):
        theirs = e3nn.nn.S2Activation(irreps, act, res, normalization, lmax_out)
    with default_dtype(dtype):
        ours = nn.S2Activation(irreps, act, res, normalization, lmax_out)
    assert repr(ours) == repr(theirs)
    assert ours.irreps_in == theirs.irreps_in and ours.irreps_out == theirs.irreps_out
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = torch.randn(2, 3, ours.irreps_in.dim, dtype=torch.float64)
    assert_close_to_float64(ours, theirs, x, dtype, tol)


def test_s2_activation_loads_scripts_and_rotates_randomly():
    theirs = e3nn.nn.S2Activation("0e+1o+2e", torch.tanh, 20)
    ours = nn.S2Activation("0e+1o+2e", torch.tanh, 20)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(5, 9)
    torch.testing.assert_close(torch.jit.script(ours)(x), theirs(x))
    ours.random_rot = True
    scripted = torch.jit.script(ours)
    # A random rotation of the grid changes the result only by the grid's error.
    torch.testing.assert_close(scripted(x), theirs(x), atol=0.05, rtol=0.05)
    assert (scripted(x) - theirs(x)).abs().max() > 0


@pytest.mark.parametrize("random_rot", [False, True])
@pytest.mark.parametrize(("irreps", "act"), [("0e+1o+2e", torch.tanh), ("0o+1o+2o", torch.abs)])
def test_s2_activation_equivariant(irreps, act, random_rot):
    # e3nn's own test of S2Activation allows the grid's error; at res 100 it is below 1e-2.
    with default_dtype(torch.float64):
        m = nn.S2Activation(irreps, act, 100, random_rot=random_rot)
        assert_equivariant(m, [torch.randn(4, m.irreps_in.dim)], ntrials=3, tolerance=1e-2)


def test_s2_activation_refuses():
    with pytest.raises(ArgumentError, match="one copy"):
        nn.S2Activation("2x0e+1o", torch.tanh, 10)
    with pytest.raises(ArgumentError, match="l = 0, 1"):
        nn.S2Activation("0e+2e", torch.tanh, 10)
    with pytest.raises(ArgumentError, match="parities"):
        nn.S2Activation("0e+1o+2o", torch.tanh, 10)
    with pytest.raises(ArgumentError, match="even or odd"):
        nn.S2Activation("0o+1o", torch.nn.functional.silu, 10)
    with pytest.raises(ShapeError, match="irreps_in.dim"):
        nn.S2Activation("0e+1o", torch.tanh, 10)(torch.zeros(2, 3))


def rotate_so3(x, lmax, d_left, d_right):
    """Coefficients x^l (2l + 1, 2l + 1) ↦ D^l(left) x^l D^l(right): the two actions of SO(3)
    on the signal (from the left and from the right)."""
    pieces, start = [], 0
    for l in range(lmax + 1):
        n = 2 * l + 1
        block = x[..., start : start + n * n].unflatten(-1, (n, n))
        pieces.append((d_left[l] @ block @ d_right[l]).flatten(-2))
        start += n * n
    return torch.cat(pieces, dim=-1)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize(("lmax_in", "lmax_out", "act"), [(1, 1, torch.tanh), (2, 1, torch.relu)])
def test_so3_activation_as_e3nns(dtype, tol, lmax_in, lmax_out, act):
    with default_dtype(torch.float64):
        theirs = e3nn.nn.SO3Activation(lmax_in, lmax_out, act, 5)
    with default_dtype(dtype):
        ours = nn.SO3Activation(lmax_in, lmax_out, act, 5)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    dim = ours.grid_in.D.shape[-1]
    x = torch.randn(3, dim, dtype=torch.float64)
    assert_close_to_float64(ours, theirs, x, dtype, tol)
    torch.testing.assert_close(torch.jit.script(ours)(x.to(dtype)), ours(x.to(dtype)))
    theirs32 = e3nn.nn.SO3Activation(lmax_in, lmax_out, act, 5)
    nn.SO3Activation(lmax_in, lmax_out, act, 5).load_state_dict(theirs32.state_dict(), strict=True)


def test_so3_activation_equivariant():
    with default_dtype(torch.float64):
        m = nn.SO3Activation(2, 2, torch.tanh, 10)
        x = torch.randn(4, 35)
        errors = []
        for _ in range(3):
            left, right = o3.rand_angles(), o3.rand_angles()
            d_left = [o3.wigner_D(l, *left) for l in range(3)]
            d_right = [o3.wigner_D(l, *right) for l in range(3)]
            first = m(rotate_so3(x, 2, d_left, d_right))
            after = rotate_so3(m(x), 2, d_left, d_right)
            errors.append((first - after).abs().max())
        # Approximate: the grid's error, small but not zero.
        assert 0 < max(errors) < 0.05, errors
