"""e3core.math.silu and its ops (e3core::silu, silu_backward, silu_double_backward): torch's
values and derivatives to the bit or to rounding, gradcheck to the third derivative, opcheck,
the front ends, bad input, and its use by normalize2mom."""

import pytest
import torch
from e3core.math import normalize2mom, silu
from e3core.nn import FullyConnectedNet

# float32: the second derivative's factor 2 + x (1 - 2 sigmoid(x)) cancels near its zeros.
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}
DTYPES = [torch.float32, torch.float64]


def inputs(dtype, shape=(300, 7)):
    """Normals, with values where sigmoid saturates or vanishes when there is room for them
    (300 x 140 is beyond one thread's chunk: the CPU kernel's pass is split over threads)."""
    x = torch.randn(shape, dtype=dtype) * 4
    special = torch.tensor([0.0, -0.0, 40.0, -40.0, 100.0, -100.0], dtype=dtype)
    if x.numel() >= special.numel():
        x.view(-1)[: special.numel()] = special
    return x


def derivatives(act, x, g, gg):
    """(silu(x), its vector-Jacobian product with g, and that product's derivatives along gg
    with respect to g and x)."""
    x, g = x.clone().requires_grad_(), g.clone().requires_grad_()
    y = act(x)
    (gx,) = torch.autograd.grad(y, x, g, create_graph=True)
    gg_g, gg_x = torch.autograd.grad(gx, (g, x), gg)
    return y, gx, gg_g, gg_x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(300, 140), (5,), (), (0, 3)])
def test_matches_torch(dtype, shape):
    torch.manual_seed(len(shape))
    x, g, gg = (inputs(dtype, shape) for _ in range(3))
    ours = derivatives(silu, x, g, gg)
    theirs = derivatives(torch.nn.functional.silu, x, g, gg)
    # The value and first derivative are torch's kernels (torch itself switches to another
    # formula for its first derivative under create_graph); the second is fused here.
    assert torch.equal(ours[0], theirs[0])
    for a, b in zip(ours[1:], theirs[1:], strict=True):
        torch.testing.assert_close(a, b, **TOL[dtype])
    xr = x.clone().requires_grad_()
    first = [torch.autograd.grad(act(xr), xr, g)[0] for act in (silu, torch.nn.functional.silu)]
    assert torch.equal(*first)


def test_non_contiguous_inputs():
    x, g, gg = (torch.randn(40, 30, dtype=torch.float64).t() for _ in range(3))
    ours = derivatives(silu, x, g, gg)
    theirs = derivatives(torch.nn.functional.silu, x, g, gg)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TOL[torch.float64])


def test_other_dtypes_take_the_aten_form():
    x, g, gg = (torch.randn(50, 8) for _ in range(3))
    ours = derivatives(silu, x.bfloat16(), g.bfloat16(), gg.bfloat16())
    reference = derivatives(silu, x, g, gg)
    for a, b in zip(ours, reference, strict=True):
        assert a.dtype == torch.bfloat16
        torch.testing.assert_close(a.float(), b, rtol=0.05, atol=0.05)


def test_gradcheck_to_the_third_derivative():
    x = inputs(torch.float64, (6, 5)).div(4).requires_grad_()
    g = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    gg = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(silu, (x,))
    assert torch.autograd.gradgradcheck(silu, (x,))
    # The second derivative's own derivatives (the third of silu) go through its ATen form.
    backward = torch.ops.e3core.silu_backward
    assert torch.autograd.gradgradcheck(backward, (g, x))
    assert torch.autograd.gradcheck(torch.ops.e3core.silu_double_backward, (gg, g, x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_opcheck(dtype):
    x, g, gg = (torch.randn(20, 3, dtype=dtype) for _ in range(3))
    torch.library.opcheck(torch.ops.e3core.silu, (x.requires_grad_(),))
    torch.library.opcheck(torch.ops.e3core.silu_backward, (g.requires_grad_(), x))
    torch.library.opcheck(torch.ops.e3core.silu_double_backward, (gg, g.detach(), x.detach()))


def test_meta_shapes():
    x = torch.empty(4, 9, device="meta")
    assert silu(x).shape == (4, 9)
    a, b = torch.ops.e3core.silu_double_backward(x, x, x)
    assert a.shape == b.shape == (4, 9)


def test_errors_name_the_argument():
    x = torch.zeros(2)
    with pytest.raises(ValueError, match=r"silu_backward: grad has shape \[3\] but x has shape"):
        torch.ops.e3core.silu_backward(torch.zeros(3), x)
    with pytest.raises(ValueError, match="silu_backward: grad is Double but x is Float"):
        torch.ops.e3core.silu_backward(x.double(), x)
    with pytest.raises(ValueError, match=r"silu_double_backward: grad_grad_x has shape \[3\]"):
        torch.ops.e3core.silu_double_backward(torch.zeros(3), x, x)
    with pytest.raises(ValueError, match="silu_double_backward: grad is on meta but x is on cpu"):
        torch.ops.e3core.silu_double_backward(x, x.to("meta"), x)


def test_front_ends(tmp_path):
    def f(x: torch.Tensor) -> torch.Tensor:
        return silu(x) * 2

    x = torch.randn(7, 3)
    scripted = torch.jit.script(f)
    torch.jit.save(scripted, str(tmp_path / "f.pt"))
    torch.testing.assert_close(torch.jit.load(str(tmp_path / "f.pt"))(x), f(x))
    torch.testing.assert_close(torch.compile(f, fullgraph=True, backend="aot_eager")(x), f(x))
    net = FullyConnectedNet([3, 8, 2], torch.nn.functional.silu)
    program = torch.export.export(net, (x,), dynamic_shapes=({0: torch.export.Dim("n")},))
    torch.testing.assert_close(program.module()(x[:5]), net(x[:5]))


def test_normalize2mom_takes_it_for_torch_silu():
    act = normalize2mom(torch.nn.functional.silu)
    assert act.f is silu
    assert normalize2mom(torch.tanh).f is torch.tanh
    x = torch.randn(50)
    assert torch.equal(act(x), torch.nn.functional.silu(x) * act.cst)


@pytest.mark.parametrize("dtype", DTYPES)
def test_decompositions_match_the_ops(dtype):
    """The ATen forms that the compiled training step and the AOTInductor export trace give the
    ops' values, and a traced second derivative holds no e3core op."""
    from e3core.math._silu import silu_decompositions
    from torch.fx.experimental.proxy_tensor import make_fx

    torch.manual_seed(5)
    x, g, gg = (inputs(dtype, (300, 7)) for _ in range(3))
    table = silu_decompositions()
    ops = torch.ops.e3core
    torch.testing.assert_close(table[ops.silu.default](x), ops.silu(x), **TOL[dtype])
    torch.testing.assert_close(
        table[ops.silu_backward.default](g, x), ops.silu_backward(g, x), **TOL[dtype]
    )
    for a, b in zip(
        table[ops.silu_double_backward.default](gg, g, x),
        ops.silu_double_backward(gg, g, x),
        strict=True,
    ):
        torch.testing.assert_close(a, b, **TOL[dtype])
    traced = make_fx(lambda *a: derivatives(silu, *a), decomposition_table=table)(x, g, gg)
    assert "e3core" not in traced.code
    for a, b in zip(traced(x, g, gg), derivatives(silu, x, g, gg), strict=True):
        torch.testing.assert_close(a, b, **TOL[dtype])
