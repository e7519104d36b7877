"""e3core.o3.SphericalHarmonics and the spherical_harmonics op: e3nn parity, equivariance,
derivatives, every torch front end (opcheck, TorchScript, compile, export) and bad input."""

import io
import math

import e3core  # noqa: F401  (registers torch.ops.e3core)
import e3nn.o3
import pytest
import torch
from e3core import o3

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-11, atol=1e-11)}
DTYPES = [torch.float32, torch.float64]
NORMALIZATIONS = ["integral", "component", "norm"]
sh_op = torch.ops.e3core.spherical_harmonics


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize(
    "irreps_out", [0, 3, [2, 0, 1], [4, 4], "0e+1o+2e+3o", "1e+2e", "2x0e+2x1o", list(range(13))]
)
def test_module_matches_e3nn(irreps_out, normalize, normalization, dtype):
    torch.manual_seed(0)
    x = torch.randn(64, 3, dtype=dtype)
    ours = o3.SphericalHarmonics(irreps_out, normalize, normalization)
    ref = e3nn.o3.SphericalHarmonics(irreps_out, normalize, normalization)
    assert str(ours.irreps_out) == str(ref.irreps_out)
    assert str(ours.irreps_in) == str(ref.irreps_in)
    expected = ref(x)
    scale = expected.abs().amax(dim=-1, keepdim=True).clamp_min(1)
    torch.testing.assert_close(ours(x) / scale, expected / scale, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_match_e3nn(dtype):
    torch.manual_seed(1)
    x = torch.randn(32, 3, dtype=dtype)
    g = torch.randn(32, 49, dtype=dtype)
    grads = []
    for fn in (o3.spherical_harmonics, e3nn.o3.spherical_harmonics):
        xr = x.clone().requires_grad_()
        (fn(list(range(7)), xr, True, "component") * g).sum().backward()
        grads.append(xr.grad)
    # float32: both sum 49 rounded products per component.
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else TOL[dtype]
    torch.testing.assert_close(grads[0], grads[1], **tol)


def test_function_accepts_batch_shapes():
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    out = o3.spherical_harmonics("0e+1o+2e", x, True)
    assert out.shape == (2, 5, 9)
    torch.testing.assert_close(out, e3nn.o3.spherical_harmonics("0e+1o+2e", x, True))


@pytest.mark.parametrize("lmax", [1, 4, 8, 12, 16, 20])
@pytest.mark.parametrize("normalize", [True, False])
def test_equivariance(lmax, normalize):
    torch.manual_seed(lmax)
    x = torch.randn(16, 3, dtype=torch.float64)
    sh = o3.SphericalHarmonics(list(range(lmax + 1)), normalize, "component")
    for det in (1, -1):
        R = o3.rand_matrix(dtype=torch.float64) * det
        D = sh.irreps_out.D_from_matrix(R)
        y = sh(x)
        scale = y.abs().amax().clamp_min(1)
        torch.testing.assert_close(sh(x @ R.T) / scale, y @ D.T / scale, rtol=0, atol=1e-10)


def test_normalizations_on_the_sphere():
    x = torch.nn.functional.normalize(torch.randn(1000, 3, dtype=torch.float64), dim=-1)
    ls = list(range(17))
    comp = o3.spherical_harmonics(ls, x, False, "component")
    norm = o3.spherical_harmonics(ls, x, False, "norm")
    for l in ls:
        block = slice(l * l, (l + 1) * (l + 1))
        torch.testing.assert_close(
            comp[:, block].pow(2).sum(-1), torch.full((1000,), 2.0 * l + 1, dtype=x.dtype)
        )
        torch.testing.assert_close(norm[:, block].norm(dim=-1), torch.ones(1000, dtype=x.dtype))
    integral = o3.spherical_harmonics(ls, x, False, "integral")
    torch.testing.assert_close(integral, comp / math.sqrt(4 * math.pi))


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("lmax", [0, 1, 2, 5, 9])
def test_gradcheck_and_gradgradcheck(lmax, normalize):
    torch.manual_seed(lmax)
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)

    def f(v: torch.Tensor) -> torch.Tensor:
        return sh_op(v, lmax, normalize, "component")

    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


def test_gradgradcheck_of_the_backward_op():
    torch.manual_seed(3)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    g = torch.randn(5, 16, dtype=torch.float64, requires_grad=True)

    def f(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.e3core.spherical_harmonics_backward(g, x, 3, True, "norm")

    assert torch.autograd.gradcheck(f, (g, x))


def test_third_derivative_is_refused():
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = sh_op(x, 3, True, "integral").pow(2).sum()
    (g,) = torch.autograd.grad(y, x, create_graph=True)
    (gg,) = torch.autograd.grad(g.pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="third derivative"):
        torch.autograd.grad(gg.sum(), x)


def test_zero_vector_like_e3nn():
    x = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    ours = o3.spherical_harmonics(list(range(5)), x, True, "component")
    ref = e3nn.o3.spherical_harmonics(list(range(5)), x, True, "component")
    torch.testing.assert_close(ours, ref)
    assert torch.all(ours[:, 1:] == 0)
    torch.testing.assert_close(ours[:, 0], torch.ones(3, dtype=x.dtype))
    (gx,) = torch.autograd.grad(ours.sum(), x)
    assert torch.isfinite(gx).all()


def test_nan_rows_stay_in_their_row():
    x = torch.randn(4, 3)
    x[1, 0] = float("nan")
    out = sh_op(x, 2, True, "integral")
    assert torch.isnan(out[1, 1:]).all()
    assert torch.isfinite(out[[0, 2, 3]]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batch(dtype):
    x = torch.zeros(0, 3, dtype=dtype, requires_grad=True)
    out = sh_op(x, 4, True, "integral")
    assert out.shape == (0, 25)
    out.sum().backward()
    assert x.grad.shape == (0, 3)


def test_non_contiguous_input():
    x = torch.randn(3, 10, dtype=torch.float64)[:, :9].reshape(3, 3, 3)[:, 0]
    assert not x.is_contiguous()
    torch.testing.assert_close(sh_op(x, 3, True, "norm"), sh_op(x.contiguous(), 3, True, "norm"))


def test_bad_input_messages():
    with pytest.raises(ValueError, match=r"x has shape \[5, 4\], expected \(\.\.\., 3\)"):
        sh_op(torch.randn(5, 4), 2, True, "integral")
    with pytest.raises(TypeError, match="x has dtype Int, expected float32 or float64"):
        sh_op(torch.ones(5, 3, dtype=torch.int32), 2, True, "integral")
    with pytest.raises(ValueError, match="lmax is -1"):
        sh_op(torch.randn(5, 3), -1, True, "integral")
    with pytest.raises(ValueError, match='normalization is "unit"'):
        sh_op(torch.randn(5, 3), 2, True, "unit")
    with pytest.raises(ValueError, match="grad_sh has shape"):
        torch.ops.e3core.spherical_harmonics_backward(
            torch.randn(5, 8), torch.randn(5, 3), 2, True, "integral"
        )
    with pytest.raises(TypeError, match="grad_sh has dtype Double but x has Float"):
        torch.ops.e3core.spherical_harmonics_backward(
            torch.randn(5, 9, dtype=torch.float64), torch.randn(5, 3), 2, True, "integral"
        )
    with pytest.raises(ValueError, match="normalization is 'unit'"):
        o3.SphericalHarmonics(2, True, "unit")
    with pytest.raises(ValueError, match="parity"):
        o3.SphericalHarmonics("0e+2o", True)
    with pytest.raises(ValueError, match="irreps_in is 2x1o"):
        o3.SphericalHarmonics(2, True, irreps_in="2x1o")
    with pytest.raises(ValueError, match=r"l\[0\] is -1, expected an int >= 0"):
        o3.SphericalHarmonics([-1], True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_opcheck(dtype):
    x = torch.randn(7, 3, dtype=dtype, requires_grad=True)
    g = torch.randn(7, 16, dtype=dtype, requires_grad=True)
    gg = torch.randn(7, 3, dtype=dtype)
    for normalize in (True, False):
        torch.library.opcheck(sh_op, (x, 3, normalize, "component"))
        torch.library.opcheck(
            torch.ops.e3core.spherical_harmonics_backward, (g, x, 3, normalize, "component")
        )
        torch.library.opcheck(
            torch.ops.e3core.spherical_harmonics_double_backward,
            (gg, g.detach(), x.detach(), 3, normalize, "component"),
        )


def test_torchscript_save_and_load():
    module = o3.SphericalHarmonics([0, 2, 3], True, "component")
    scripted = torch.jit.script(module)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    x = torch.randn(10, 3, requires_grad=True)
    torch.testing.assert_close(loaded(x), module(x))
    (g1,) = torch.autograd.grad(loaded(x).sum(), x)
    (g2,) = torch.autograd.grad(module(x).sum(), x)
    torch.testing.assert_close(g1, g2)


def test_compile_fullgraph_with_double_backward():
    module = o3.SphericalHarmonics(list(range(4)), True, "integral")
    w = torch.randn(16, dtype=torch.float64)

    def force_loss(x: torch.Tensor) -> torch.Tensor:
        energy = (module(x) * w).sum()
        (forces,) = torch.autograd.grad(energy, x, create_graph=True)
        return forces.pow(2).sum()

    x = torch.randn(12, 3, dtype=torch.float64, requires_grad=True)
    compiled = torch.compile(module, fullgraph=True)
    torch.testing.assert_close(compiled(x), module(x))
    (g1,) = torch.autograd.grad(compiled(x).sum(), x)
    (g2,) = torch.autograd.grad(module(x).sum(), x)
    torch.testing.assert_close(g1, g2)
    # Force training compiles the whole loss, autograd.grad included.
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        compiled_loss = torch.compile(force_loss, fullgraph=True)
        (through_compiled,) = torch.autograd.grad(compiled_loss(x), x)
    (eager,) = torch.autograd.grad(force_loss(x), x)
    torch.testing.assert_close(through_compiled, eager)


def test_export_and_dynamic_batch():
    module = o3.SphericalHarmonics([1, 2], True, "norm")
    x = torch.randn(8, 3)
    batch = torch.export.Dim("batch")
    program = torch.export.export(module, (x,), dynamic_shapes=({0: batch},))
    assert any("e3core.spherical_harmonics" in str(node.target) for node in program.graph.nodes)
    y = torch.randn(21, 3)
    torch.testing.assert_close(program.module()(y), module(y))
