"""e3core.math: soft one-hot bases and soft_unit_step against e3nn 0.6 (values and gradients),
NequIP's radial basis and cutoff, normalize2mom, front ends (TorchScript, compile, export) and
errors. The docstring examples of e3core.math run in test_nn.py with those of e3core.nn."""

import copy
import math

import e3nn.math
import pytest
import torch
from e3core.math import (
    BesselBasis,
    PolynomialCutoff,
    RadialBasis,
    moment,
    normalize2mom,
    soft_one_hot_linspace,
    soft_unit_step,
)

BASES = ["gaussian", "cosine", "smooth_finite", "fourier", "bessel"]
DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-13)}


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    """The test's dtype; float64 is also the default while it runs, because e3nn's
    smooth_finite basis takes exp(2) from a tensor of the default dtype."""
    saved = torch.get_default_dtype()
    if request.param == torch.float64:
        torch.set_default_dtype(torch.float64)
    yield request.param
    torch.set_default_dtype(saved)


def values_and_gradient(fn, x):
    x = x.clone().requires_grad_()
    y = fn(x)
    (grad,) = torch.autograd.grad((y * torch.linspace(-1, 2, y.numel()).reshape(y.shape)).sum(), x)
    return y, grad


def grid(dtype, start=-0.5, end=1.5):
    """Points inside and outside [start, end], the grid points and the ends themselves."""
    x = torch.linspace(start - 1.0, end + 1.0, 97, dtype=dtype)
    return torch.cat([x, torch.tensor([start, end, 0.25, 0.75], dtype=dtype)])


# e3nn fails with one function and no cutoff (a grid of one point); see test_one_function.
@pytest.mark.parametrize(
    "number, cutoff", [(1, True), (2, True), (2, False), (5, True), (5, False)]
)
@pytest.mark.parametrize("basis", BASES)
def test_soft_one_hot_linspace_matches_e3nn(basis, cutoff, number, dtype):
    x = grid(dtype)
    if basis == "bessel":
        x = x[x != -0.5]  # e3nn divides by zero at x = start (see the test below)
    args = (-0.5, 1.5, number, basis, cutoff)
    y, grad = values_and_gradient(lambda t: soft_one_hot_linspace(t, *args), x)
    y_ref, grad_ref = values_and_gradient(lambda t: e3nn.math.soft_one_hot_linspace(t, *args), x)
    assert y.shape == (x.numel(), number) and y.dtype == dtype
    torch.testing.assert_close(y, y_ref, **TOL[dtype])
    torch.testing.assert_close(grad, grad_ref, **TOL[dtype])


@pytest.mark.parametrize("cutoff", [True, False])
def test_bessel_basis_is_finite_at_start(cutoff):
    x = torch.tensor([1.0, 1.0 + 1e-9, 1.5], dtype=torch.float64, requires_grad=True)
    y = soft_one_hot_linspace(x, 1.0, 3.0, 4, "bessel", cutoff)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(y).all() and torch.isfinite(grad).all()
    n = torch.arange(1, 5, dtype=torch.float64)
    limit = 1.0 * n * math.pi / 2.0  # sqrt(2 / c) * n pi / c with c = 2
    torch.testing.assert_close(y[0], torch.zeros(4, dtype=torch.float64) if cutoff else limit)
    if not cutoff:
        torch.testing.assert_close(y[1], limit)  # continuous
        assert grad[0] == 0  # the function is even in x - start
    torch.testing.assert_close(
        y[2], e3nn.math.soft_one_hot_linspace(x[2:], 1.0, 3.0, 4, "bessel", cutoff)[0].detach()
    )


def test_one_function_without_cutoff():
    x = torch.linspace(-1, 2, 7, dtype=torch.float64)
    fourier = soft_one_hot_linspace(x, 0.0, 1.0, 1, "fourier", cutoff=False)
    torch.testing.assert_close(fourier, torch.full((7, 1), 0.75**-0.5, dtype=torch.float64))
    bessel = soft_one_hot_linspace(x, 0.0, 1.0, 1, "bessel", cutoff=False)
    expected = e3nn.math.soft_one_hot_linspace(x, 0.0, 1.0, 2, "bessel", cutoff=False)[:, :1]
    torch.testing.assert_close(bessel[x != 0], expected[x != 0])


def test_soft_unit_step_matches_e3nn(dtype):
    x = torch.cat([torch.linspace(-2, 5, 71, dtype=dtype), torch.tensor([0.0, 1e-3], dtype=dtype)])
    y, grad = values_and_gradient(soft_unit_step, x)
    y_ref, grad_ref = values_and_gradient(e3nn.math.soft_unit_step, x)
    torch.testing.assert_close(y, y_ref, **TOL[dtype])
    torch.testing.assert_close(grad, grad_ref, **TOL[dtype])
    x = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(soft_unit_step(x).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x)
    assert torch.isfinite(gg).all() and (gg[x <= 0] == 0).all()


@pytest.mark.parametrize("f", [torch.tanh, torch.relu, torch.nn.functional.silu, torch.abs])
def test_normalize2mom_matches_e3nn(f):
    ours, ref = normalize2mom(f), e3nn.math.normalize2mom(f)
    assert (ours.cst, ours._is_id) == (ref.cst, ref._is_id)
    assert moment(f, 2).item() == e3nn.math.moment(f, 2).item()
    x = torch.randn(100)
    torch.testing.assert_close(ours(x), ref(x))


def test_normalize2mom_of_a_module_with_float32_parameters():
    # e3nn evaluates modules in float64 and fails on float32 parameters.
    act = normalize2mom(torch.nn.PReLU())
    assert 1.0 < act.cst < 2.0
    assert act(torch.ones(3)).dtype == torch.float32


def nequip_bessel(r, r_max, num_basis):
    """NequIP's BesselBasis (nequip/nn/radial_basis.py): prefactor 2 / r_max."""
    w = torch.linspace(1.0, num_basis, num_basis, dtype=r.dtype) * math.pi
    return 2.0 / r_max * (torch.sin(w * r[..., None] / r_max) / r[..., None])


def nequip_cutoff(r, r_max, p):
    """NequIP's _poly_cutoff."""
    u = r / r_max
    out = 1.0 - (p + 1.0) * (p + 2.0) / 2.0 * u**p + p * (p + 2.0) * u ** (p + 1.0)
    return (out - p * (p + 1.0) / 2 * u ** (p + 2.0)) * (u < 1.0)


@pytest.mark.parametrize("trainable", [True, False])
def test_bessel_basis(trainable, dtype):
    basis = BesselBasis(r_max=4.5, num_basis=6, trainable=trainable).to(dtype)
    assert isinstance(basis.bessel_weights, torch.nn.Parameter) == trainable
    assert list(basis.state_dict()) == ["bessel_weights"]
    r = torch.linspace(0.01, 6.0, 50, dtype=dtype)
    torch.testing.assert_close(basis(r), nequip_bessel(r, 4.5, 6), **TOL[dtype])
    # The same functions as e3nn's "bessel" basis, whose prefactor is sqrt(2 / r_max).
    e3nn_basis = e3nn.math.soft_one_hot_linspace(r, 0.0, 4.5, 6, "bessel", cutoff=False)
    torch.testing.assert_close(basis(r), e3nn_basis * math.sqrt(2 / 4.5), **TOL[dtype])


def test_bessel_basis_at_zero_value_and_gradients():
    basis = BesselBasis(r_max=2.0, num_basis=3).double()
    r = torch.tensor([0.0, 1e-7], dtype=torch.float64, requires_grad=True)
    y = basis(r)
    torch.testing.assert_close(y[0], y[1], rtol=1e-10, atol=0)  # continuous at 0
    grads = torch.autograd.grad(y[0].sum(), [r, basis.bessel_weights], retain_graph=True)
    assert grads[0][0] == 0 and torch.isfinite(grads[1]).all()
    torch.testing.assert_close(grads[1], torch.full((3,), 1.0 / 2.0, dtype=torch.float64))
    (force,) = torch.autograd.grad(y.sum(), r, create_graph=True)
    (curvature,) = torch.autograd.grad(force.sum(), r)
    assert torch.isfinite(force).all() and torch.isfinite(curvature).all()


@pytest.mark.parametrize("p", [2, 6, 9.5])
def test_polynomial_cutoff(p, dtype):
    cutoff = PolynomialCutoff(r_max=3.0, p=p)
    r = torch.linspace(0.0, 4.0, 81, dtype=dtype, requires_grad=True)
    y = cutoff(r)
    torch.testing.assert_close(y, nequip_cutoff(r, 3.0, p), **TOL[dtype])
    assert y[0] == 1 and (y[r >= 3.0] == 0).all()


@pytest.mark.parametrize("p", [2, 6, 9.5])
def test_polynomial_cutoff_is_smooth_at_r_max(p):
    # Near r_max the envelope is c (1 - r / r_max)^3: value, slope and curvature go to 0.
    r = torch.tensor([3.0 * (1 - 1e-4)], dtype=torch.float64, requires_grad=True)
    y = PolynomialCutoff(r_max=3.0, p=p)(r)
    (d1,) = torch.autograd.grad(y.sum(), r, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), r)
    assert 0 < y.item() < 1e-9 and abs(d1.item()) < 1e-5 and abs(d2.item()) < 0.1


def test_radial_basis_is_bessel_times_cutoff():
    rb = RadialBasis(r_max=5.0, num_basis=4, p=5, trainable=False)
    assert list(rb.state_dict()) == ["basis.bessel_weights"]
    r = torch.cat([torch.zeros(1), torch.rand(20) * 6])
    expected = BesselBasis(5.0, 4)(r) * PolynomialCutoff(5.0, 5)(r)[:, None]
    torch.testing.assert_close(rb(r), expected)
    r = r.requires_grad_()
    (grad,) = torch.autograd.grad(rb(r).sum(), r)
    assert torch.isfinite(grad).all() and grad[0] == 0


MODULES = {
    "bessel": lambda: BesselBasis(3.0, 5),
    "bessel_fixed": lambda: BesselBasis(3.0, 5, trainable=False),
    "cutoff": lambda: PolynomialCutoff(3.0, 4),
    "radial": lambda: RadialBasis(3.0, 5),
    "normalize2mom": lambda: normalize2mom(torch.nn.functional.silu),
}


@pytest.mark.parametrize("frontend", ["script", "compile", "export"])
@pytest.mark.parametrize("name", MODULES)
def test_module_frontends(name, frontend, tmp_path):
    module = MODULES[name]()
    x = torch.rand(6, 4) * 4
    if frontend == "script":
        path = tmp_path / "module.pt"
        torch.jit.save(torch.jit.script(copy.deepcopy(module)), str(path))
        transformed = torch.jit.load(str(path))
    elif frontend == "compile":
        transformed = torch.compile(module, fullgraph=True, backend="aot_eager")
    else:
        batch = torch.export.Dim("batch")
        program = torch.export.export(module, (x,), dynamic_shapes=({0: batch},))
        transformed = program.module()
    for y in (x, torch.cat([torch.zeros(1, 4), x])):  # another batch size, with r = 0
        torch.testing.assert_close(transformed(y), module(y))


@pytest.mark.parametrize("basis", BASES)
def test_soft_one_hot_linspace_scripts_and_compiles(basis):
    def encode(x: torch.Tensor) -> torch.Tensor:
        return soft_one_hot_linspace(x, 0.0, 2.0, 6, basis, True)

    x = torch.rand(10) * 3
    scripted = torch.jit.script(soft_one_hot_linspace)
    torch.testing.assert_close(scripted(x, 0.0, 2.0, 6, basis, True), encode(x))
    torch.testing.assert_close(
        torch.compile(encode, fullgraph=True, backend="aot_eager")(x), encode(x)
    )


@pytest.mark.parametrize(
    "fn, match",
    [
        (
            lambda: soft_one_hot_linspace(torch.zeros(3), 0.0, 1.0, 4, "gaussian"),
            "cutoff must be specified",
        ),
        (
            lambda: soft_one_hot_linspace(torch.zeros(3), 0.0, 1.0, 4, "gauss", cutoff=True),
            'basis="gauss" is not a valid entry; expected one of gaussian, cosine',
        ),
        (lambda: soft_one_hot_linspace(torch.zeros(3), 0.0, 1.0, 4, cutoff=True), 'basis="None"'),
        (
            lambda: soft_one_hot_linspace(torch.zeros(3), 0.0, 1.0, 0, "cosine", cutoff=True),
            "number must be at least 1, got 0",
        ),
        (
            lambda: soft_one_hot_linspace(torch.zeros(3), 0.0, 1.0, 1, "cosine", cutoff=False),
            'basis="cosine" without cutoff needs number >= 2',
        ),
        (lambda: BesselBasis(0.0), "BesselBasis: r_max must be positive, got 0.0"),
        (lambda: BesselBasis(1.0, num_basis=0), "BesselBasis: num_basis must be at least 1"),
        (lambda: PolynomialCutoff(-1.0), "PolynomialCutoff: r_max must be positive"),
        (lambda: PolynomialCutoff(1.0, p=1), "PolynomialCutoff: p must be at least 2, got 1"),
    ],
)
def test_errors(fn, match):
    with pytest.raises(ValueError, match=match):
        fn()


def test_scripted_soft_one_hot_linspace_reports_bad_basis():
    scripted = torch.jit.script(soft_one_hot_linspace)
    with pytest.raises(Exception, match='basis="sine" is not a valid entry'):
        scripted(torch.zeros(2), 0.0, 1.0, 3, "sine", True)
