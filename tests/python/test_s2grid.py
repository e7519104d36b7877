"""Signals on the sphere (o3.s2_grid, ToS2Grid, FromS2Grid, rfft, irfft) against e3nn."""

import e3nn.o3
import pytest
import torch
from e3core import ArgumentError, ShapeError, o3
from e3nn_reference import assert_state_dict_close, default_dtype, scaled_close

# e3nn builds its float32 tables in float32 (alphas, sin(m alpha)), e3core in float64 rounded
# once: they differ by e3nn's rounding, a few 1e-6 relative; in float64 they agree to 1e-12.
DTYPES = [(torch.float32, 1e-5), (torch.float64, 1e-12)]
NORMALIZATIONS = ["component", "norm", "integral"]
RESOLUTIONS = [None, 16, (16, 15), (16, 17), (16, 24), (20, 9)]


@pytest.mark.parametrize(("dtype", "tol"), DTYPES)
def test_grid_and_tables_as_e3nns(dtype, tol):
    with default_dtype(dtype):
        theirs = e3nn.o3.spherical_harmonics_s2_grid(5, 12, 13)
    ours = o3.spherical_harmonics_s2_grid(5, 12, 13, dtype=dtype)
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape and a.dtype == dtype
        scaled_close(a, b, tol)
    for a, b in zip(o3.s2_grid(7, 5), e3nn.o3.s2_grid(7, 5), strict=True):
        assert a.dtype == torch.get_default_dtype()
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(("dtype", "tol"), DTYPES)
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("res", RESOLUTIONS)
def test_to_s2_grid_as_e3nns(dtype, tol, normalization, res):
    with default_dtype(dtype):
        theirs = e3nn.o3.ToS2Grid(5, res, normalization=normalization)
    ours = o3.ToS2Grid(5, res, normalization=normalization, dtype=dtype)
    assert repr(ours) == repr(theirs)
    assert (ours.lmax, ours.res_beta, ours.res_alpha) == (
        theirs.lmax,
        theirs.res_beta,
        theirs.res_alpha,
    )
    assert_state_dict_close(ours, theirs, dtype, tol)
    x = torch.randn(2, 3, 36, dtype=dtype, requires_grad=True)
    y, y_e3nn = ours(x), theirs(x)
    assert y.shape == y_e3nn.shape == (2, 3, ours.res_beta, ours.res_alpha)
    scaled_close(y, y_e3nn, tol)
    g = torch.randn_like(y)
    (grad,) = torch.autograd.grad(y, x, g)
    (grad_e3nn,) = torch.autograd.grad(y_e3nn, x, g)
    scaled_close(grad, grad_e3nn, tol)
    scaled_close(ours.grid, theirs.grid, tol)


@pytest.mark.parametrize(("dtype", "tol"), DTYPES)
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("res", RESOLUTIONS)
def test_from_s2_grid_as_e3nns(dtype, tol, normalization, res):
    with default_dtype(dtype):
        theirs = e3nn.o3.FromS2Grid(res, 5, normalization=normalization, lmax_in=3)
    ours = o3.FromS2Grid(res, 5, normalization=normalization, lmax_in=3, dtype=dtype)
    assert repr(ours) == repr(theirs)
    assert_state_dict_close(ours, theirs, dtype, tol)
    x = torch.randn(4, ours.res_beta, ours.res_alpha, dtype=dtype, requires_grad=True)
    y, y_e3nn = ours(x), theirs(x)
    assert y.shape == y_e3nn.shape == (4, 36)
    scaled_close(y, y_e3nn, tol)
    g = torch.randn_like(y)
    (grad,) = torch.autograd.grad(y, x, g)
    (grad_e3nn,) = torch.autograd.grad(y_e3nn, x, g)
    scaled_close(grad, grad_e3nn, tol)


@pytest.mark.parametrize(
    ("lmax", "res"), [(None, 10), (None, (10, 7)), (4, None), (None, (None, 9)), (2, (12, None))]
)
def test_filled_resolutions_as_e3nns(lmax, res):
    for ours, theirs in [
        (o3.ToS2Grid(lmax, res), e3nn.o3.ToS2Grid(lmax, res)),
        (o3.FromS2Grid(res, lmax), e3nn.o3.FromS2Grid(res, lmax)),
    ]:
        assert (ours.lmax, ours.res_beta, ours.res_alpha) == (
            theirs.lmax,
            theirs.res_beta,
            theirs.res_alpha,
        )


def test_tensor_normalization_as_e3nns():
    n = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    with default_dtype(torch.float64):
        to_e3nn = e3nn.o3.ToS2Grid(2, 8, normalization=n)
        from_e3nn = e3nn.o3.FromS2Grid(8, 2, normalization=n)
    to = o3.ToS2Grid(2, 8, normalization=n, dtype=torch.float64)
    from_ = o3.FromS2Grid(8, 2, normalization=n, dtype=torch.float64)
    torch.testing.assert_close(to.shb, to_e3nn.shb)
    torch.testing.assert_close(from_.shb, from_e3nn.shb)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("res", [(12, 11), (12, 16), (14, 13)])  # res_alpha >= 2 lmax + 1
def test_round_trip(normalization, res):
    to = o3.ToS2Grid(5, res, normalization=normalization, dtype=torch.float64)
    from_ = o3.FromS2Grid(res, 5, normalization=normalization, dtype=torch.float64)
    x = torch.randn(3, 36, dtype=torch.float64)
    torch.testing.assert_close(from_(to(x)), x, atol=1e-12, rtol=1e-12)


def test_integral_normalization_integrates():
    # The "integral" harmonic Y_00 is 1 / sqrt(4 pi); its coefficient comes back as 1.
    to = o3.ToS2Grid(3, 10, normalization="integral", dtype=torch.float64)
    x = torch.zeros(16, dtype=torch.float64)
    x[0] = 1.0
    torch.testing.assert_close(to(x), torch.full((10, 9), (4 * torch.pi) ** -0.5).double())


@pytest.mark.parametrize(("dtype", "tol"), DTYPES)
def test_rfft_irfft_as_e3nns(dtype, tol):
    x = torch.randn(2, 5, 11, dtype=dtype, requires_grad=True)
    scaled_close(o3.rfft(x, 4), e3nn.o3.rfft(x, 4), tol)
    c = torch.randn(2, 7, dtype=dtype, requires_grad=True)
    y, y_e3nn = o3.irfft(c, 11), e3nn.o3.irfft(c, 11)
    scaled_close(y, y_e3nn, tol)
    scaled_close(*(torch.autograd.grad(t.sum(), c)[0] for t in (y, y_e3nn)), tol)
    sha = o3.spherical_harmonics_s2_grid(3, 8, 9, dtype=torch.float64)[3]
    z = torch.randn(9, dtype=torch.float64)
    torch.testing.assert_close(o3.rfft(z, 3), z @ sha)


def test_scripts_and_equivariant():
    to = o3.ToS2Grid(4, (10, 9))
    from_ = o3.FromS2Grid((10, 9), 4)
    x = torch.randn(2, 25)
    torch.testing.assert_close(torch.jit.script(to)(x), to(x))
    grid = torch.randn(2, 10, 9)
    torch.testing.assert_close(torch.jit.script(from_)(grid), from_(grid))
    # A rotation about the polar axis y by one grid step rolls the grid in alpha.
    irreps = o3.Irreps.spherical_harmonics(4)
    d = irreps.D_from_angles(torch.tensor(2 * torch.pi / 9), torch.tensor(0.0), torch.tensor(0.0))
    torch.testing.assert_close(to(x @ d.T), to(x).roll(1, -1), atol=1e-5, rtol=1e-5)


def test_e3nn_state_dict_loads():
    # Another normalization in the loaded tables: the forward follows them.
    theirs = e3nn.o3.FromS2Grid((12, 13), 4, normalization="integral")
    ours = o3.FromS2Grid((12, 13), 4)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(12, 13)
    torch.testing.assert_close(ours(x), theirs(x))


def test_errors():
    with pytest.raises(ArgumentError, match="normalization"):
        o3.ToS2Grid(2, normalization="bad")
    with pytest.raises(AssertionError, match="res_beta must be even"):
        o3.ToS2Grid(2, 9)
    with pytest.raises(ArgumentError, match="res_beta must be at least"):
        o3.FromS2Grid(6, 4)
    with pytest.raises(ValueError, match="lmax, res_beta and res_alpha are None"):
        o3.ToS2Grid()
    with pytest.raises(ArgumentError, match="res must be odd"):
        o3.irfft(torch.zeros(5), 4)
    with pytest.raises(ShapeError, match="columns"):
        o3.ToS2Grid(2)(torch.zeros(3, 8))
    with pytest.raises(ShapeError, match="res_beta, res_alpha"):
        o3.FromS2Grid(6, 2)(torch.zeros(6, 4))


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_float32_within_1e6_of_e3nns_float64(normalization):
    # e3nn's own float32 tables are ~2e-6 off; e3core's float32 outputs stay within 1e-6.
    with default_dtype(torch.float64):
        to_e3nn = e3nn.o3.ToS2Grid(8, (20, 21), normalization=normalization)
        from_e3nn = e3nn.o3.FromS2Grid((20, 21), 8, normalization=normalization)
    to = o3.ToS2Grid(8, (20, 21), normalization=normalization)
    from_ = o3.FromS2Grid((20, 21), 8, normalization=normalization)
    x = torch.randn(16, 81, dtype=torch.float64)
    grid = torch.randn(16, 20, 21, dtype=torch.float64)
    for ours, theirs in [(to(x.float()), to_e3nn(x)), (from_(grid.float()), from_e3nn(grid))]:
        assert ours.dtype == torch.float32
        assert (ours.double() - theirs).abs().max() < 1e-6 * theirs.abs().max()
