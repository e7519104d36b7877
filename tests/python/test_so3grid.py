"""o3.Legendre and o3.SO3Grid against e3nn."""

import e3nn.o3
import pytest
import torch
from e3core import ArgumentError, ShapeError, o3
from e3nn_reference import assert_state_dict_close, default_dtype, scaled_close


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("ls", [[0], [3], [0, 1, 2, 3], [5, 2, 2, 8]])
def test_legendre_as_e3nns(dtype, tol, ls):
    generator = torch.Generator().manual_seed(0)
    # On the circle (cos beta, sin beta), as the harmonics use it, and off it.
    beta = torch.rand(6, generator=generator, dtype=torch.float64) * 3.1
    z = torch.cat([beta.cos(), torch.randn(6, generator=generator, dtype=torch.float64)])
    y = torch.cat([beta.sin(), torch.randn(6, generator=generator, dtype=torch.float64)])
    with default_dtype(torch.float64):
        theirs_module = e3nn.o3.Legendre(ls)
    zz, yy = (t.to(dtype).requires_grad_() for t in (z, y))
    ours = o3.Legendre(ls)(zz, yy)
    assert ours.dtype == dtype
    z64, y64 = (t.clone().requires_grad_() for t in (z, y))
    theirs = theirs_module(z64, y64)
    assert ours.shape == theirs.shape
    scaled_close(ours, theirs, tol)
    g = torch.randn(theirs.shape, dtype=torch.float64)
    grads_e3nn = torch.autograd.grad(theirs, [z64, y64], g, materialize_grads=True)
    if ls == [0]:  # a constant: e3nn's gradients are zero, e3core's output needs none
        assert not ours.requires_grad and all((h == 0).all() for h in grads_e3nn)
        return
    grads = torch.autograd.grad(ours, [zz, yy], g.to(dtype), materialize_grads=True)
    for a, b in zip(grads, grads_e3nn, strict=True):
        scaled_close(a, b, tol * 10)


def test_legendre_scripts_and_refuses():
    module = o3.Legendre([1, 4])
    z, y = torch.rand(2, 3), torch.rand(2, 3)
    torch.testing.assert_close(torch.jit.script(module)(z, y), module(z, y))
    with pytest.raises(ArgumentError, match="empty"):
        o3.Legendre([])
    with pytest.raises(ArgumentError, match="ls\\[1\\]"):
        o3.Legendre([1, -2])


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-6), (torch.float64, 1e-12)])
@pytest.mark.parametrize(("lmax", "resolution", "aspect_ratio"), [(0, 2, 2), (2, 4, 2), (3, 5, 1)])
def test_so3_grid_as_e3nns(dtype, tol, lmax, resolution, aspect_ratio):
    # e3nn's float32 wigner_D is ~4e-5 off; compare both dtypes with e3nn built in float64.
    with default_dtype(torch.float64):
        theirs = e3nn.o3.SO3Grid(lmax, resolution, aspect_ratio=aspect_ratio)
    with default_dtype(dtype):
        ours = o3.SO3Grid(lmax, resolution, aspect_ratio=aspect_ratio)
    assert (ours.res_alpha, ours.res_beta, ours.res_gamma) == (
        theirs.res_alpha,
        theirs.res_beta,
        theirs.res_gamma,
    )
    assert_state_dict_close(ours, theirs, dtype, tol)
    x = torch.randn(2, 3, ours.D.shape[-1], dtype=torch.float64)
    x_ours = x.to(dtype).requires_grad_()
    x_theirs = x.clone().requires_grad_()
    grid, grid_e3nn = ours.to_grid(x_ours), theirs.to_grid(x_theirs)
    assert grid.shape == grid_e3nn.shape
    scaled_close(grid, grid_e3nn, tol * 10)
    back, back_e3nn = ours.from_grid(grid), theirs.from_grid(grid_e3nn)
    scaled_close(back, back_e3nn, tol * 10)
    scaled_close(back, x, tol * 10)  # the quadrature is exact up to lmax
    g = torch.randn_like(x)
    (grad,) = torch.autograd.grad(back, x_ours, g.to(dtype))
    (grad_e3nn,) = torch.autograd.grad(back_e3nn, x_theirs, g)
    scaled_close(grad, grad_e3nn, tol * 10)


def test_so3_grid_scripts_loads_and_refuses():
    grid = o3.SO3Grid(2, 3)
    scripted = torch.jit.script(grid)
    x = torch.randn(4, 35)
    torch.testing.assert_close(scripted.to_grid(x), grid.to_grid(x))
    values = grid.to_grid(x)
    torch.testing.assert_close(scripted.from_grid(values), grid.from_grid(values))
    grid.load_state_dict(e3nn.o3.SO3Grid(2, 3).state_dict(), strict=True)
    assert repr(grid) == "SO3Grid (2)"
    with pytest.raises(AssertionError, match="component"):
        o3.SO3Grid(2, 3, normalization="norm")
    with pytest.raises(ShapeError, match="columns"):
        grid.to_grid(torch.zeros(34))
    with pytest.raises(ShapeError, match="res_alpha"):
        grid.from_grid(torch.zeros(12, 6, 11))


def test_so3_grid_rotates_by_the_regular_representation():
    # f(g) = sum_l x^l . D^l(g): with x^l -> D^l(R)^T x^l, f(g) -> f(R g).
    with default_dtype(torch.float64):
        grid = o3.SO3Grid(2, 4)
    x = torch.randn(35, dtype=torch.float64)
    angles = (torch.tensor(2 * torch.pi / 16, dtype=torch.float64), torch.tensor(0.0).double())
    # R about y by one grid step in alpha: f(R g) is f shifted by one step in alpha.
    blocks, start = [], 0
    for l in range(3):
        d = o3.wigner_D(l, angles[0], angles[1], angles[1])
        n = (2 * l + 1) ** 2
        blocks.append((d.T @ x[start : start + n].reshape(2 * l + 1, 2 * l + 1)).flatten())
        start += n
    rotated = torch.cat(blocks)
    torch.testing.assert_close(grid.to_grid(rotated), grid.to_grid(x).roll(-1, 0))
