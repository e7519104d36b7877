"""The CUDA backend against the CPU one: every op in float32 and float64 (harmonics, Wigner D
matrices, the tensor-product family, the fused convolution, the neighbour search), their derivatives
(gradcheck, gradgradcheck and opcheck on the GPU), bit-for-bit repeatability, empty inputs,
errors, and models on the GPU under rotations and inversion. The GPU tests are skipped on a
machine without one; the registrations are checked everywhere."""

import copy

import e3core  # noqa: F401  (registers torch.ops.e3core)
import numpy as np
import pytest
import torch
from e3core import graph, o3
from e3core.data import collate
from test_models import CONFIGS, expected_transform, make_model, structures, transformed
from test_tensor_product import MODES, OP_CASES, op_case, random_case, single_slot_calls

ops = torch.ops.e3core
OPS = [
    "neighbor_list",
    "radius_graph",
    "spherical_harmonics",
    "spherical_harmonics_backward",
    "spherical_harmonics_double_backward",
    "tensor_product",
    "tensor_product_grad_x1",
    "tensor_product_grad_x2",
    "tensor_product_grad_weight",
    "tensor_product_backward",
    "tensor_product_double_backward",
    "silu",
    "silu_backward",
    "silu_double_backward",
    "wigner_D",
]
DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-10, atol=1e-10)}
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("name", OPS)
def test_every_op_has_a_cuda_entry(name):
    # A kernel where e3core was built with CUDA, else an entry that says how to get one; the
    # SiLU ops are ATen compositions on every device but the CPU's fused second derivative.
    has = torch._C._dispatch_has_kernel_for_dispatch_key
    assert has(f"e3core::{name}", "CUDA") or has(f"e3core::{name}", "CompositeExplicitAutograd")


@pytest.mark.skipif(
    torch.version.cuda is not None, reason="a CUDA torch: e3core's CUDA kernels are registered"
)
def test_a_cpu_only_build_explains_itself_to_cuda_tensors():
    # With a CPU build of torch the CUDA entries are the explanation (called directly here,
    # since no CUDA tensor can exist).
    cuda_key = torch._C.DispatchKeySet(torch._C.DispatchKey.CUDA)
    x = torch.randn(4, 3)
    with pytest.raises(NotImplementedError, match="built without CUDA kernels"):
        ops.spherical_harmonics.default.redispatch(cuda_key, x, 2, True, "component")
    with pytest.raises(NotImplementedError, match="e3core::radius_graph: got a CUDA tensor"):
        ops.radius_graph.default.redispatch(cuda_key, x, 1.0, None, False, None)


def cuda(t):
    return None if t is None else t.detach().cuda().requires_grad_(t.requires_grad)


# --- spherical harmonics ---------------------------------------------------------------------


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lmax", [0, 1, 3, 8])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("normalization", ["integral", "component", "norm"])
def test_spherical_harmonics_match_the_cpu(dtype, lmax, normalize, normalization):
    torch.manual_seed(lmax)
    x = torch.randn(301, 3, dtype=dtype)
    x[7] = 0.0
    dim = (lmax + 1) ** 2
    g, gg = torch.randn(301, dim, dtype=dtype), torch.randn(301, 3, dtype=dtype)
    args = (lmax, normalize, normalization)
    for op, inputs in [
        (ops.spherical_harmonics, (x,)),
        (ops.spherical_harmonics_backward, (g, x)),
        (ops.spherical_harmonics_double_backward, (gg, g, x)),
    ]:
        expected = op(*inputs, *args)
        got = op(*[t.cuda() for t in inputs], *args)
        for a, b in zip(
            expected if isinstance(expected, tuple) else [expected],
            got if isinstance(got, tuple) else [got],
            strict=True,
        ):
            torch.testing.assert_close(b.cpu(), a, **TOL[dtype])


@gpu
def test_spherical_harmonics_derivatives_on_the_gpu():
    x = torch.randn(9, 3, dtype=torch.float64, device="cuda", requires_grad=True)
    g = torch.randn(9, 16, dtype=torch.float64, device="cuda", requires_grad=True)
    gg = torch.randn(9, 3, dtype=torch.float64, device="cuda")
    torch.library.opcheck(ops.spherical_harmonics, (x, 3, True, "component"))
    torch.library.opcheck(ops.spherical_harmonics_backward, (g, x, 3, True, "component"))
    torch.library.opcheck(
        ops.spherical_harmonics_double_backward,
        (gg, g.detach(), x.detach(), 3, True, "component"),
    )
    sh = o3.SphericalHarmonics(3, True, "component")
    assert torch.autograd.gradcheck(sh, (x,))
    assert torch.autograd.gradgradcheck(sh, (x,))
    empty = torch.zeros(0, 3, device="cuda")
    assert sh(empty).shape == (0, 16)


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_silu_matches_the_cpu(dtype):
    x, g, gg = (torch.randn(301, 70, dtype=dtype) * 3 for _ in range(3))
    for op, inputs in [
        (ops.silu, (x,)),
        (ops.silu_backward, (g, x)),
        (ops.silu_double_backward, (gg, g, x)),
    ]:
        expected = op(*inputs)
        got = op(*[t.cuda() for t in inputs])
        for a, b in zip(
            expected if isinstance(expected, tuple) else [expected],
            got if isinstance(got, tuple) else [got],
            strict=True,
        ):
            torch.testing.assert_close(b.cpu(), a, **TOL[dtype])
    xg = x[:9, :4].double().cuda().requires_grad_()
    assert torch.autograd.gradgradcheck(ops.silu, (xg,))
    torch.library.opcheck(ops.silu_double_backward, (xg.detach(), xg.detach(), xg.detach()))


# --- tensor products -------------------------------------------------------------------------


def grads(outputs, inputs, seed=0):
    """The output, its gradients with a fixed grad_out, and the gradients of their sum of
    squares (double backward)."""
    g = torch.randn(outputs.shape, generator=torch.Generator().manual_seed(seed))
    g = g.to(outputs)
    first = torch.autograd.grad(outputs, inputs, g, create_graph=True)
    second = torch.autograd.grad(sum((f**2).sum() for f in first), inputs)
    return [outputs, *first, *second]


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shared", [True, False])
def test_tensor_products_match_the_cpu(dtype, mode, shared):
    irreps1, irreps2, irreps_out, instructions = random_case(mode, 3)
    tp = o3.TensorProduct(
        irreps1, irreps2, irreps_out, instructions, shared_weights=shared, internal_weights=False
    ).to(dtype)
    tp_gpu = copy.deepcopy(tp).cuda()
    torch.manual_seed(1)
    batch = 37
    x1 = torch.randn(batch, tp.irreps_in1.dim, dtype=dtype, requires_grad=True)
    x2 = torch.randn(batch, tp.irreps_in2.dim, dtype=dtype, requires_grad=True)
    w = torch.randn((tp.weight_numel,) if shared else (batch, tp.weight_numel), dtype=dtype)
    w.requires_grad_()
    inputs = [x1, x2, w]
    expected = grads(tp(*inputs), inputs)
    inputs_gpu = [cuda(t) for t in inputs]
    got = grads(tp_gpu(*inputs_gpu), inputs_gpu)
    for a, b in zip(expected, got, strict=True):
        torch.testing.assert_close(b.cpu(), a, **TOL[dtype])


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_wigner_D_matches_the_cpu(dtype):
    angles = [x.requires_grad_() for x in o3.rand_angles(301, dtype=dtype)]
    for l, order in [(0, [0, 0, 0]), (1, [0, 0, 0]), (3, [1, 2, 0]), (8, [0, 0, 0])]:
        expected = ops.wigner_D(*angles, l, order)
        got = ops.wigner_D(*[cuda(a) for a in angles], l, order)
        torch.testing.assert_close(got.cpu(), expected, **TOL[dtype])
    angles_gpu = [cuda(a) for a in angles]
    expected = grads(o3.wigner_D(4, *angles), angles)
    got = grads(o3.wigner_D(4, *angles_gpu), angles_gpu)
    for a, b in zip(expected, got, strict=True):
        torch.testing.assert_close(b.cpu(), a, **TOL[dtype])
    small = [a[:5].detach().double().cuda().requires_grad_() for a in angles]
    assert torch.autograd.gradgradcheck(lambda a, b, c: o3.wigner_D(2, a, b, c), small)
    torch.library.opcheck(ops.wigner_D, (*small, 2, [0, 1, 0]))
    empty = torch.zeros(0, dtype=dtype, device="cuda")
    assert ops.wigner_D(empty, empty, empty, 3, [0, 0, 0]).shape == (0, 7, 7)


def nequip_conv(dtype, nodes=50, edges=400, seed=0):
    tp = graph.TensorProductConv(
        "8x0e+4x1o+2x2e",
        "0e+1o+2e",
        "8x0e+4x1o+2x2e+4x1e",
        [
            (0, 0, 0, "uvu", True),
            (1, 1, 0, "uvu", True),
            (1, 0, 1, "uvu", True),
            (0, 1, 1, "uvu", True),
            (2, 1, 1, "uvu", True),
            (2, 2, 2, "uvu", True),
            (1, 1, 3, "uvu", True),
        ],
        shared_weights=False,
        internal_weights=False,
    ).to(dtype)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(nodes, tp.irreps_in1.dim, dtype=dtype, generator=g, requires_grad=True)
    attr = torch.randn(edges, tp.irreps_in2.dim, dtype=dtype, generator=g, requires_grad=True)
    w = torch.randn(edges, tp.weight_numel, dtype=dtype, generator=g, requires_grad=True)
    src = torch.randint(0, nodes, (edges,), generator=g)
    dst = torch.randint(0, nodes - 1, (edges,), generator=g)  # the last node receives nothing
    return tp, [x, attr, w], src, dst


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_convolution_matches_the_cpu_bit_for_bit_on_repeat(dtype):
    tp, inputs, src, dst = nequip_conv(dtype)
    expected = grads(tp(*inputs, src, dst), inputs)
    tp_gpu = copy.deepcopy(tp).cuda()
    inputs_gpu = [cuda(t) for t in inputs]
    runs = [grads(tp_gpu(*inputs_gpu, src.cuda(), dst.cuda()), inputs_gpu) for _ in range(2)]
    for a, b, c in zip(expected, *runs, strict=True):
        torch.testing.assert_close(b.cpu(), a, **TOL[dtype])
        assert torch.equal(b, c)  # no atomics: the same bits every time


@gpu
def test_shared_weight_gradients_of_a_large_batch():
    # Summed over the batch in chunks of samples: many chunks, then their ordered sum.
    tp = o3.FullyConnectedTensorProduct("8x0e+8x1o", "0e+1o", "8x0e+8x1o").double()
    tp_gpu = copy.deepcopy(tp).cuda()
    x1 = torch.randn(20000, tp.irreps_in1.dim, dtype=torch.float64)
    x2 = torch.randn(20000, tp.irreps_in2.dim, dtype=torch.float64)
    tp(x1, x2).square().sum().backward()
    tp_gpu(x1.cuda(), x2.cuda()).square().sum().backward()
    torch.testing.assert_close(tp_gpu.weight.grad.cpu(), tp.weight.grad, rtol=1e-10, atol=1e-8)


@gpu
@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_tensor_product_ops_opcheck_gradcheck_on_the_gpu(case):
    tp, x1, x2, w, src, dst, shape = op_case(**case)
    plan = tp.plan.cuda()
    src, dst = cuda(src), cuda(dst)
    gout = torch.randn(shape, dtype=torch.float64, device="cuda")
    x1, x2, w = (t.cuda() for t in (x1, x2, w))
    for op, inputs, out_shape in single_slot_calls(x1, x2, w, gout, shape):
        inputs = [t.clone().requires_grad_() for t in inputs]
        torch.library.opcheck(op, (*inputs, plan, src, dst, out_shape))
    inputs = [t.clone().requires_grad_() for t in (x1, x2, w, gout)]
    torch.library.opcheck(ops.tensor_product_backward, (*inputs, plan, src, dst, [True] * 3))

    def f(a, b, c):
        return ops.tensor_product(a, b, c, plan, src, dst, shape)

    assert torch.autograd.gradcheck(f, inputs[:3])
    assert torch.autograd.gradgradcheck(f, inputs[:3])


@gpu
def test_empty_inputs_and_mixed_devices():
    tp, inputs, src, dst = nequip_conv(torch.float32)
    tp = tp.cuda()
    x, attr, w = (t.detach().cuda() for t in inputs)
    out = tp(x, attr[:0], w[:0], src[:0].cuda(), dst[:0].cuda())
    assert out.shape == (x.shape[0], tp.irreps_out.dim) and not out.any()
    with pytest.raises(ValueError, match="is on cpu"):
        tp(x, attr.cpu(), w, src.cuda(), dst.cuda())
    with pytest.raises(ValueError, match="out of range"):
        tp(x, attr, w, src.cuda() + 1000, dst.cuda())


# --- neighbour search -------------------------------------------------------------------------


@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True), (False, False, False)])
@pytest.mark.parametrize("full_list", [True, False])
@pytest.mark.parametrize("self_interaction", [False, True])
def test_neighbor_list_finds_the_cpu_pairs(dtype, pbc, full_list, self_interaction):
    rng = np.random.default_rng(0)
    cell = torch.tensor([[5.0, 0, 0], [1.5, 4.0, 0], [0.5, -1.0, 4.5]], dtype=dtype)
    positions = torch.tensor(rng.uniform(-1, 6, (300, 3)), dtype=dtype)
    args = (3.5, cell, list(pbc), self_interaction, full_list, True)
    expected = ops.neighbor_list(positions, *args)
    got = ops.neighbor_list(positions.cuda(), args[0], cell.cuda(), *args[2:])
    for a, b in zip(expected, got, strict=True):
        assert torch.equal(b.cpu(), a)


@gpu
@pytest.mark.parametrize("max_num_neighbors", [None, 3])
@pytest.mark.parametrize("loop", [False, True])
def test_radius_graph_finds_the_cpu_edges(max_num_neighbors, loop):
    rng = np.random.default_rng(1)
    positions = torch.tensor(rng.uniform(0, 4, (200, 3)))
    batch = torch.tensor(rng.integers(0, 7, 200))  # molecules need not be contiguous
    expected = ops.radius_graph(positions, 1.5, batch, loop, max_num_neighbors)
    got = ops.radius_graph(positions.cuda(), 1.5, batch.cuda(), loop, max_num_neighbors)
    assert torch.equal(got.cpu(), expected)


@gpu
@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e150])
def test_neighbour_search_refuses_what_the_cpu_refuses(value):
    positions = torch.zeros(4, 3, dtype=torch.float64)
    positions[2, 1] = value
    message = r"positions\[2\] is .*expected finite coordinates of magnitude at most 1e\+?100"
    for device in ("cpu", "cuda"):
        with pytest.raises(ValueError, match=message):
            ops.neighbor_list(positions.to(device), 1.0, None, [False] * 3, False, True, False)
        with pytest.raises(ValueError, match=message):
            ops.radius_graph(positions.to(device), 1.0, None, False, None)


# --- models ----------------------------------------------------------------------------------


def on(device, batch):
    return {k: v.to(device) for k, v in batch.items()}


@gpu
@pytest.mark.parametrize("key", list(CONFIGS))
@pytest.mark.parametrize("improper", [False, True])
def test_models_on_the_gpu(key, improper):
    model = make_model(key)
    model_gpu = copy.deepcopy(model).cuda()
    structs = structures(key)
    batch = collate(structs, cutoff=3.0, dtype=torch.float64).as_dict()
    expected = model(batch)
    got = model_gpu(on("cuda", batch))
    for k in expected:
        torch.testing.assert_close(got[k].cpu(), expected[k], rtol=1e-9, atol=1e-9, msg=k)
    r = o3.rand_matrix(dtype=torch.float64) * (-1.0 if improper else 1.0)
    moved = collate([transformed(s, r.numpy()) for s in structs], cutoff=3.0, dtype=torch.float64)
    rotated = model_gpu(on("cuda", moved.as_dict()))
    for k, v in got.items():
        want = expected_transform(k, v.cpu(), r)
        torch.testing.assert_close(rotated[k].cpu(), want, rtol=1e-9, atol=1e-9, msg=k)


@gpu
def test_graph_built_on_the_gpu():
    rng = np.random.default_rng(2)
    positions = torch.tensor(rng.uniform(0, 6, (500, 3)))
    expected = graph.radius_graph(positions, 2.0)
    got = graph.radius_graph(positions.cuda(), 2.0)
    assert torch.equal(got.cpu(), expected)
