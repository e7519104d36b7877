"""e3core.o3 tensor products and Linear: e3nn parity for every connection mode, normalization and
weight sharing, the ops' derivatives (gradcheck, gradgradcheck, opcheck), the one-pass backward
against the transposes, equivariance,
TorchScript / compile / export, and bad input."""

import io
import random

import e3core  # noqa: F401  (registers torch.ops.e3core)
import e3nn.o3
import pytest
import torch
from e3core import o3

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=2e-5, atol=2e-5), torch.float64: dict(rtol=1e-11, atol=1e-11)}
MODES = ["uvw", "uvu", "uvv", "uuw", "uuu", "uvuv", "uvu<v", "u<vw"]
ops = torch.ops.e3core


@pytest.fixture
def e3nn_dtype(request):
    """Builds e3nn's reference in the test's dtype (its Clebsch-Gordan buffers follow the
    default dtype), and restores the default."""
    old = torch.get_default_dtype()
    yield lambda dtype: torch.set_default_dtype(dtype)
    torch.set_default_dtype(old)


def random_case(mode: str, seed: int, lmax: int = 4):
    """Random irreps (l <= lmax, both parities) and valid instructions for one mode, with some
    outputs fed by several paths (so that path normalization sums are exercised)."""
    rng = random.Random(seed)
    diagonal = mode in ("uuw", "uuu", "uvu<v", "u<vw")

    def irreps(n):
        return [(rng.randint(1, 3), (rng.randint(0, lmax), rng.choice([1, -1]))) for _ in range(n)]

    in1 = irreps(rng.randint(1, 3))
    in2 = (
        [(mul, ir) for mul, (_, ir) in zip([m for m, _ in in1], irreps(len(in1)), strict=True)]
        if diagonal
        else irreps(rng.randint(1, 2))
    )
    if mode in ("uvu<v", "u<vw"):
        in1 = [(max(mul, 2), ir) for mul, ir in in1]
        in2 = [(mul, in1[i][1]) for i, (mul, _) in enumerate(in1)]
    out, index, instructions = [], {}, []
    for i1, (mul1, (l1, p1)) in enumerate(in1):
        for i2, (mul2, (l2, p2)) in enumerate(in2):
            if diagonal and i1 != i2:
                continue
            for l in range(abs(l1 - l2), min(l1 + l2, lmax) + 1):
                mul_out = {
                    "uvw": rng.randint(1, 3),
                    "uvu": mul1,
                    "uvv": mul2,
                    "uuw": rng.randint(1, 3),
                    "uuu": mul1,
                    "uvuv": mul1 * mul2,
                    "uvu<v": mul1 * (mul1 - 1) // 2,
                    "u<vw": rng.randint(1, 3),
                }[mode]
                key = (mul_out, l, p1 * p2)
                if key not in index or rng.random() < 0.3:
                    index[key] = len(out)
                    out.append((mul_out, (l, p1 * p2)))
                has_weight = mode in ("uvw", "u<vw") or rng.random() < 0.7
                if mode == "uuw" and mul_out != 1:
                    has_weight = True
                path_weight = rng.choice([1.0, 1.0, 0.5, 2.0])
                instructions.append((i1, i2, index[key], mode, has_weight, path_weight))
    fmt = lambda terms: "+".join(f"{m}x{l}{'e' if p == 1 else 'o'}" for m, (l, p) in terms)  # noqa: E731
    return fmt(in1), fmt(in2), fmt(out), instructions


def assert_same_instructions(ours, ref):
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref, strict=True):
        assert tuple(a)[:-2] == tuple(b)[:-2] and tuple(a.path_shape) == tuple(b.path_shape)
        assert a.path_weight == pytest.approx(b.path_weight, rel=1e-15)


def pair(mode, seed, dtype, set_default, shared=True, **kwargs):
    irreps1, irreps2, irreps_out, instructions = random_case(mode, seed)
    set_default(dtype)
    ref = e3nn.o3.TensorProduct(
        irreps1, irreps2, irreps_out, instructions, shared_weights=shared, **kwargs
    )
    ours = o3.TensorProduct(
        irreps1, irreps2, irreps_out, instructions, shared_weights=shared, **kwargs
    ).to(dtype)
    return ref, ours


def compare(ref, ours, dtype, batch=5, shared=True, inputs=None):
    torch.manual_seed(0)
    x = torch.randn(batch, ref.irreps_in1.dim, dtype=dtype, requires_grad=True)
    y = torch.randn(batch, ref.irreps_in2.dim, dtype=dtype, requires_grad=True)
    args = [x, y]
    if ref.weight_numel > 0 and not ref.internal_weights:
        shape = (ref.weight_numel,) if shared else (batch, ref.weight_numel)
        args.append(torch.randn(shape, dtype=dtype, requires_grad=True))
    elif ref.internal_weights:
        with torch.no_grad():
            ours.weight.copy_(ref.weight)
    expected = ref(*args)
    got = ours(*args)
    torch.testing.assert_close(got, expected, **TOL[dtype])
    g = torch.randn_like(expected)
    wrt = args + ([ref.weight] if ref.internal_weights and ref.weight_numel else [])
    wrt_ours = args + ([ours.weight] if ref.internal_weights and ref.weight_numel else [])
    for a, b in zip(
        torch.autograd.grad(expected, wrt, g), torch.autograd.grad(got, wrt_ours, g), strict=True
    ):
        torch.testing.assert_close(b, a, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_modes_match_e3nn(mode, seed, dtype, e3nn_dtype):
    shared = seed != 1
    ref, ours = pair(mode, seed, dtype, e3nn_dtype, shared=shared, internal_weights=False)
    assert ours.weight_numel == ref.weight_numel
    assert_same_instructions(ours.instructions, ref.instructions)
    assert repr(ours) == repr(ref)
    compare(ref, ours, dtype, shared=shared)


def sparse_channels(irreps, batch: int, dtype, seed: int) -> torch.Tensor:
    """Rows of ``irreps`` with most channels zero, as one-hot atom types give: per sample, each
    channel (all 2l+1 components) kept with probability 1/3; some rows entirely zero; and single
    components zero in kept channels (which must not be skipped)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, irreps.dim, dtype=dtype, generator=g)
    x[:, ::3] = 0
    keep = torch.rand(batch, irreps.num_irreps, generator=g) < 1 / 3
    keep[::7] = False
    sizes = [ir.dim for mul, ir in irreps for _ in range(mul)]
    return x * torch.repeat_interleave(keep, torch.tensor(sizes), dim=1).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("mode", MODES)
def test_zero_channels_of_x2_match_e3nn(mode, shared, dtype, e3nn_dtype):
    """The kernels skip the channels of x2 that are zero (one-hot atom types); outputs and every
    gradient stay e3nn's, over several blocks of samples."""
    ref, ours = pair(mode, 3, dtype, e3nn_dtype, shared=shared, internal_weights=False)
    batch = 37
    torch.manual_seed(1)
    x = torch.randn(batch, ref.irreps_in1.dim, dtype=dtype, requires_grad=True)
    y = sparse_channels(ref.irreps_in2, batch, dtype, seed=2).requires_grad_()
    shape = (ref.weight_numel,) if shared else (batch, ref.weight_numel)
    w = torch.randn(shape, dtype=dtype, requires_grad=True)
    for wrt in ([x, y, w], [x, w], [w]):
        assert_gradients_match(ref, ours, (x, y, w), wrt, dtype)


def assert_gradients_match(ref, ours, inputs, wrt, dtype):
    """ours(*inputs) and its gradients with respect to ``wrt`` are e3nn's; returns the two
    packages' gradients (e3nn's first), differentiable again."""
    expected, got = ref(*inputs), ours(*inputs)
    torch.testing.assert_close(got, expected, **TOL[dtype])
    g = torch.randn_like(expected)
    grads = [torch.autograd.grad(o, wrt, g, create_graph=True) for o in (expected, got)]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, **TOL[dtype])
    return grads


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("muls", [(1, 8), (3, 3), (8, 1), (2, 5)])
def test_uvv_in_both_orientations_matches_e3nn(muls, shared, dtype, e3nn_dtype):
    """The "uvv" paths with no more channels in x1 than in x2 run with x1 and x2 exchanged (as
    "uvu" with transposed weights), the others as they are: outputs, every gradient and the
    double backward stay e3nn's, with zero channels in both inputs."""
    m1, m2 = muls
    irreps1, irreps2 = f"{m1}x0e+{m1}x1o+{m1}x2e", f"{m2}x1o+{m2}x2e"
    out, instructions = [], []
    for i1, ir1 in enumerate(["0e", "1o", "2e"]):
        for i2, ir2 in enumerate(["1o", "2e"]):
            for ir in e3nn.o3.Irrep(ir1) * e3nn.o3.Irrep(ir2):
                if ir.l <= 2:
                    instructions.append((i1, i2, len(out), "uvv", True, 1.0 + 0.1 * len(out)))
                    out.append((m2, ir))
    e3nn_dtype(dtype)
    kwargs = dict(shared_weights=shared, internal_weights=False)
    ref = e3nn.o3.TensorProduct(irreps1, irreps2, out, instructions, **kwargs)
    ours = o3.TensorProduct(irreps1, irreps2, out, instructions, **kwargs).to(dtype)
    batch = 29
    x = sparse_channels(ref.irreps_in1, batch, dtype, seed=5).requires_grad_()
    y = sparse_channels(ref.irreps_in2, batch, dtype, seed=6).requires_grad_()
    shape = (ref.weight_numel,) if shared else (batch, ref.weight_numel)
    w = torch.randn(shape, dtype=dtype, requires_grad=True)
    grads = assert_gradients_match(ref, ours, (x, y, w), [x, y, w], dtype)
    # A force-like second derivative: y's gradient differentiated again.
    second = [torch.autograd.grad(gr[1].square().sum(), [x, w]) for gr in grads]
    for a, b in zip(*second, strict=True):
        torch.testing.assert_close(b, a, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [3, 150])
def test_uvw_paths_of_a_scalar_x2_as_matrix_products_match_e3nn(batch, dtype, e3nn_dtype):
    """Paths "uvw" with shared weights and a scalar x2 of many channels (a fully connected
    product with an embedding, nequip's self-connection) run as torch's matrix products, beside
    paths the kernels run: outputs, every gradient and the double backward stay e3nn's."""
    e3nn_dtype(dtype)
    args = ("48x0e+48x1o+3x2e", "16x0e+2x1o", "48x0e+48x1o+3x2e")
    ref = e3nn.o3.FullyConnectedTensorProduct(*args)
    ours = o3.FullyConnectedTensorProduct(*args).to(dtype)
    with torch.no_grad():
        ours.weight.copy_(ref.weight)
    torch.manual_seed(2)
    x = torch.randn(batch, ref.irreps_in1.dim, dtype=dtype, requires_grad=True)
    y = torch.randn(batch, ref.irreps_in2.dim, dtype=dtype, requires_grad=True)
    expected, got = ref(x, y), ours(x, y)
    torch.testing.assert_close(got, expected, **TOL[dtype])
    g = torch.randn_like(expected)
    wrt = [[x, y, ref.weight], [x, y, ours.weight]]
    grads = [
        torch.autograd.grad(o, w, g, create_graph=True)
        for o, w in zip((expected, got), wrt, strict=True)
    ]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, **TOL[dtype])
    # Forces-like: y's gradient differentiated again, into x and the weights.
    second = [
        torch.autograd.grad(gr[1].square().sum(), w[::2]) for gr, w in zip(grads, wrt, strict=True)
    ]
    for a, b in zip(*second, strict=True):
        torch.testing.assert_close(b, a, **TOL[dtype])


def assert_module_gradients_match(ref, ours, expected, got, g, inputs, dtype) -> None:
    """e3nn's module ``ref`` and ours (the same internal weights, outputs ``expected`` and
    ``got``) agree: outputs, gradients of ``inputs`` and of each one's weights for ``g``, and
    the second derivatives of the first input's gradient's squared sum with respect to the
    weights (a force-like loss)."""
    torch.testing.assert_close(got, expected, **TOL[dtype])
    grads = [
        torch.autograd.grad(o, [*inputs, m.weight], g, create_graph=True)
        for o, m in ((expected, ref), (got, ours))
    ]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, **TOL[dtype])
    second = [
        torch.autograd.grad(gr[0].square().sum(), [m.weight])
        for gr, m in zip(grads, (ref, ours), strict=True)
    ]
    torch.testing.assert_close(second[1][0], second[0][0], **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [3, 400])
def test_wide_linear_as_matrix_products_matches_e3nn(batch, dtype, e3nn_dtype):
    """A Linear's paths of l = 0 to 3 (two into one output block of scalars; 8 channels of
    1e) run as torch's matrix products, beside a path of l = 4 that the kernels run: outputs,
    the gradients and the second derivatives of a force-like loss stay e3nn's."""
    e3nn_dtype(dtype)
    args = ("64x0e+72x0e+128x1o+128x2e+128x3o+8x1e+8x4e", "96x0e+128x1o+128x2e+128x3o+8x1e+8x4e")
    ref = e3nn.o3.Linear(*args)
    ours = o3.Linear(*args).to(dtype)
    ours.load_state_dict(ref.state_dict())
    torch.manual_seed(3)
    x = torch.randn(batch, ref.irreps_in.dim, dtype=dtype, requires_grad=True)
    expected, got = ref(x), ours(x)
    assert_module_gradients_match(ref, ours, expected, got, torch.randn_like(expected), [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [3, 400])
@pytest.mark.parametrize("x2_grad", [False, True])
def test_self_connection_by_type_matches_e3nn(batch, x2_grad, dtype, e3nn_dtype):
    """A self-connection (features times one-hot atom types, some rows all zero) runs as
    torch's matrix products type by type: outputs, the gradients (x2's too, which the types'
    zero channels have) and the second derivatives of a force-like loss stay e3nn's."""
    e3nn_dtype(dtype)
    args = ("16x0e+8x1o+4x2e+2x3o", "4x0e", "12x0e+8x1o+4x2e+2x3o")
    ref = e3nn.o3.FullyConnectedTensorProduct(*args)
    ours = o3.FullyConnectedTensorProduct(*args).to(dtype)
    ours.load_state_dict(ref.state_dict())
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(batch, ref.irreps_in1.dim, dtype=dtype, generator=generator)
    x.requires_grad_(True)
    types = torch.randint(0, 5, (batch,), generator=generator)
    attrs = torch.nn.functional.one_hot(types, 5)[:, :4].to(dtype).requires_grad_(x2_grad)
    expected, got = ref(x, attrs), ours(x, attrs)
    g = torch.randn(expected.shape, dtype=dtype, generator=generator)
    assert_module_gradients_match(
        ref, ours, expected, got, g, [x, attrs] if x2_grad else [x], dtype
    )


@pytest.mark.parametrize("module", ["linear", "self_connection"])
def test_products_in_parts_match_e3nn_on_any_thread_count(module, e3nn_dtype):
    """At 1,000 rows a Linear's and a self-connection's matrix products run in parts of the
    samples (tasks, each summing its share of the weights' gradient): e3nn's outputs and
    gradients, with the same bits on one thread and on two."""
    e3nn_dtype(torch.float64)
    irreps = "32x0e+32x1o+16x2e"
    generator = torch.Generator().manual_seed(6)
    x = torch.randn(1000, o3.Irreps(irreps).dim, dtype=torch.float64, generator=generator)
    x.requires_grad_(True)
    if module == "linear":
        ref, ours = e3nn.o3.Linear(irreps, irreps), o3.Linear(irreps, irreps)
        inputs = [x]
    else:
        args = (irreps, "5x0e", irreps)
        ref = e3nn.o3.FullyConnectedTensorProduct(*args)
        ours = o3.FullyConnectedTensorProduct(*args)
        types = torch.randint(0, 5, (1000,), generator=generator)
        inputs = [x, torch.nn.functional.one_hot(types, 5).double()]
    ours.load_state_dict(ref.state_dict())
    expected = ref(*inputs)
    g = torch.randn(expected.shape, dtype=torch.float64, generator=generator)
    expected = [expected, *torch.autograd.grad(expected, [x, ref.weight], g)]
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            out = ours(*inputs)
            results.append([out, *torch.autograd.grad(out, [x, ours.weight], g)])
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(results[0], expected, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("irrep_normalization", ["component", "norm", "none"])
@pytest.mark.parametrize("path_normalization", ["element", "path", "none"])
def test_normalizations_match_e3nn(irrep_normalization, path_normalization, e3nn_dtype):
    for n, mode in enumerate(["uvw", "uvu", "uuu"]):
        ref, ours = pair(
            mode,
            10 + n,
            torch.float64,
            e3nn_dtype,
            irrep_normalization=irrep_normalization,
            path_normalization=path_normalization,
            in1_var=None,
            out_var=None,
        )
        compare(ref, ours, torch.float64)


def test_variances_match_e3nn(e3nn_dtype):
    irreps1, irreps2, irreps_out, instructions = random_case("uvw", 3)
    e3nn_dtype(torch.float64)
    n1, n2, no = (len(o3.Irreps(i)) for i in (irreps1, irreps2, irreps_out))
    kw = dict(in1_var=[0.5 + i for i in range(n1)], in2_var=[2.0] * n2, out_var=[0.3] * no)
    ref = e3nn.o3.TensorProduct(irreps1, irreps2, irreps_out, instructions, **kw)
    ours = o3.TensorProduct(irreps1, irreps2, irreps_out, instructions, **kw).double()
    compare(ref, ours, torch.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_families_match_e3nn(dtype, e3nn_dtype):
    cases = [
        ("FullyConnectedTensorProduct", ("2x0e+3x1o+1x2e", "0e+1o+2e", "2x0e+2x1o+2x2e+1x1e"), {}),
        (
            "FullyConnectedTensorProduct",
            ("3x1o", "2x1e", "1x0o+2x1e"),
            {"irrep_normalization": "norm"},
        ),
        ("FullTensorProduct", ("2x0e+1x1o", "1x1o+1x2e"), {}),
        ("FullTensorProduct", ("2x1o+1x2e", "1x1o"), {"filter_ir_out": ["0e", "2e"]}),
        ("ElementwiseTensorProduct", ("2x0e+3x1o", "4x1e+1x2o"), {}),
        ("ElementwiseTensorProduct", ("5x1o + 5x1e", "10x1e"), {"filter_ir_out": ["0e", "0o"]}),
        ("TensorSquare", ("3x0e+2x1o+1x2e",), {}),
        ("TensorSquare", ("2x1o+1x2e",), {"irrep_normalization": "norm"}),
        ("TensorSquare", ("2x0e+2x1o",), {"irreps_out": "3x0e+2x1e+1x2e"}),
    ]
    for name, args, kwargs in cases:
        e3nn_dtype(dtype)
        ref = getattr(e3nn.o3, name)(*args, **kwargs)
        ours = getattr(o3, name)(*args, **kwargs).to(dtype)
        assert str(ours.irreps_out) == str(ref.irreps_out), name
        assert repr(ours) == repr(ref), name
        ours.load_state_dict(ref.state_dict())
        torch.manual_seed(0)
        xs = [
            torch.randn(6, i.dim, dtype=dtype)
            for i in (
                (ref.irreps_in,) if name == "TensorSquare" else (ref.irreps_in1, ref.irreps_in2)
            )
        ]
        torch.testing.assert_close(ours(*xs), ref(*xs), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "args,kwargs",
    [
        (("4x0e+2x1o+3x2e", "3x0e+1x1o+2x2e"), {}),
        (("4x0e+2x1o", "3x0e+1x0e+2x1o"), {"biases": True}),
        (("4x0e+2x1o", "3x0e+2x1o"), {"biases": [True, False], "path_normalization": "path"}),
        (("2x0e+2x0e+1x1o", "3x0e+1x1o"), {"instructions": [(0, 0), (2, 1)]}),
        (("2x1e+1x0e", "3x0e"), {"biases": True}),
    ],
)
def test_linear_matches_e3nn(args, kwargs, dtype, e3nn_dtype):
    e3nn_dtype(dtype)
    ref = e3nn.o3.Linear(*args, **kwargs)
    ours = o3.Linear(*args, **kwargs).to(dtype)
    with torch.no_grad():
        if ref.bias.numel():
            ref.bias.normal_()
    ours.load_state_dict(ref.state_dict())
    assert repr(ours) == repr(ref)
    assert_same_instructions(ours.instructions, ref.instructions)
    x = torch.randn(2, 7, ref.irreps_in.dim, dtype=dtype, requires_grad=True)
    expected, got = ref(x), ours(x)
    torch.testing.assert_close(got, expected, **TOL[dtype])
    g = torch.randn_like(expected)
    params = [p for p in (ref.weight, ref.bias) if p.numel()]
    mine = [p for p in (ours.weight, ours.bias) if p.numel()]
    for a, b in zip(
        torch.autograd.grad(expected, [x] + params, g),
        torch.autograd.grad(got, [x] + mine, g),
        strict=True,
    ):
        torch.testing.assert_close(b, a, **TOL[dtype])


def test_linear_with_per_sample_weights(e3nn_dtype):
    e3nn_dtype(torch.float64)
    ref = e3nn.o3.Linear("3x0e+2x1o", "2x0e+2x1o", shared_weights=False)
    ours = o3.Linear("3x0e+2x1o", "2x0e+2x1o", shared_weights=False).double()
    x = torch.randn(4, 9)
    w = torch.randn(4, ref.weight_numel)
    torch.testing.assert_close(ours(x, w), ref(x, w))


def test_weight_list_and_views_follow_e3nn(e3nn_dtype):
    e3nn_dtype(torch.float64)
    args = ("2x0e+1x1o", "1x0e+1x1o", "2x0e+3x1o")
    ref = e3nn.o3.FullyConnectedTensorProduct(*args, internal_weights=False)
    ours = o3.FullyConnectedTensorProduct(*args, internal_weights=False).double()
    ws = [torch.randn(i.path_shape) for i in ref.instructions]
    x, y = torch.randn(3, 5), torch.randn(3, 4)
    torch.testing.assert_close(ours(x, y, ws), ref(x, y, ws))
    flat = torch.cat([w.flatten() for w in ws])
    for a, b in zip(ours.weight_views(flat), ref.weight_views(flat), strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(ours.weight_view_for_instruction(1, flat), ws[1])


def test_broadcasting_matches_e3nn(e3nn_dtype):
    e3nn_dtype(torch.float64)
    ref = e3nn.o3.FullyConnectedTensorProduct("2x0e+1x1o", "1x1o", "2x1o+1x0e")
    ours = o3.FullyConnectedTensorProduct("2x0e+1x1o", "1x1o", "2x1o+1x0e").double()
    ours.load_state_dict(ref.state_dict())
    for xs, ys in [((4, 1), (1, 3)), ((5,), (2, 5)), ((3,), ()), ((), ())]:
        x, y = torch.randn(*xs, 5), torch.randn(*ys, 3)
        torch.testing.assert_close(ours(x, y), ref(x, y))
    ref = e3nn.o3.FullyConnectedTensorProduct("1x1o", "1x1o", "1x0e", shared_weights=False)
    ours = o3.FullyConnectedTensorProduct("1x1o", "1x1o", "1x0e", shared_weights=False).double()
    x, y, w = torch.randn(4, 3), torch.randn(3), torch.randn(2, 1, 1)
    torch.testing.assert_close(ours(x, y, w), ref(x, y, w))


def test_uvw_check_value():
    # E3NN_FACTS: 1o x 1o -> 0e with weight 1 is x.y / sqrt(3).
    tp = o3.FullyConnectedTensorProduct("1o", "1o", "0e", internal_weights=False)
    x, y = torch.randn(10, 3, dtype=torch.float64), torch.randn(10, 3, dtype=torch.float64)
    out = tp(x, y, torch.ones(1, dtype=torch.float64))
    torch.testing.assert_close(out[:, 0], (x * y).sum(-1) / 3**0.5)


# --- the ops themselves -------------------------------------------------------------------


def op_case(mode="uvu", seed=4, shared=False, conv=False, batch=4, nodes=3):
    irreps1, irreps2, irreps_out, instructions = random_case(mode, seed, lmax=2)
    tp = o3.TensorProduct(
        irreps1, irreps2, irreps_out, instructions, shared_weights=shared, internal_weights=False
    )
    g = torch.Generator().manual_seed(seed)
    d = dict(dtype=torch.float64, generator=g)
    rows = nodes if conv else batch
    x1 = torch.randn(rows, tp.irreps_in1.dim, **d)
    x2 = torch.randn(batch, tp.irreps_in2.dim, **d)
    w = torch.randn((tp.weight_numel,) if shared else (batch, tp.weight_numel), **d)
    src = dst = None
    if conv:
        src = torch.randint(0, nodes, (batch,), generator=g)
        dst = torch.randint(0, nodes, (batch,), generator=g)
    return tp, x1, x2, w, src, dst, [rows, tp.irreps_out.dim]


OP_CASES = [
    dict(mode="uvu"),
    dict(mode="uvw", shared=True),
    dict(mode="uuu", conv=True),
    dict(mode="uvu", conv=True, shared=True),
    dict(mode="u<vw", seed=2),
    dict(mode="uvv", conv=True),
]


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_op_gradcheck_and_gradgradcheck(case):
    tp, x1, x2, w, src, dst, shape = op_case(**case)
    args = [t.clone().requires_grad_() for t in (x1, x2, w)]

    def f(a, b, c):
        return ops.tensor_product(a, b, c, tp.plan, src, dst, shape)

    assert torch.autograd.gradcheck(f, args)
    assert torch.autograd.gradgradcheck(f, args)
    # The gradient ops, each differentiated again (third derivatives of the forward).
    gout = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    grad_ops = [
        (ops.tensor_product_grad_x1, [args[1], args[2], gout], list(x1.shape)),
        (ops.tensor_product_grad_x2, [args[0], args[2], gout], list(x2.shape)),
        (ops.tensor_product_grad_weight, [args[0], args[1], gout], list(w.shape)),
    ]
    for op, inputs, out_shape in grad_ops:
        assert torch.autograd.gradcheck(
            lambda a, b, c, op=op, s=out_shape: op(a, b, c, tp.plan, src, dst, s), inputs
        )


def single_slot_calls(x1, x2, w, gout, shape):
    """The four single-slot ops' (op, inputs, result shape) for one product."""
    return [
        (ops.tensor_product, (x1, x2, w), shape),
        (ops.tensor_product_grad_x1, (x2, w, gout), list(x1.shape)),
        (ops.tensor_product_grad_x2, (x1, w, gout), list(x2.shape)),
        (ops.tensor_product_grad_weight, (x1, x2, gout), list(w.shape)),
    ]


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_opcheck(case):
    tp, x1, x2, w, src, dst, shape = op_case(**case)
    gout = torch.randn(shape, dtype=torch.float64)
    for op, inputs, out_shape in single_slot_calls(x1, x2, w, gout, shape):
        inputs = [t.clone().requires_grad_() for t in inputs]
        torch.library.opcheck(op, (*inputs, tp.plan, src, dst, out_shape))


def backward_by_transposes(tp, x1, x2, w, gout, src, dst):
    return (
        ops.tensor_product_grad_x1(x2, w, gout, tp.plan, src, dst, list(x1.shape)),
        ops.tensor_product_grad_x2(x1, w, gout, tp.plan, src, dst, list(x2.shape)),
        ops.tensor_product_grad_weight(x1, x2, gout, tp.plan, src, dst, list(w.shape)),
    )


def nequip_case(conv: bool, shared: bool, dtype=torch.float64):
    """x2 of multiplicity 1 (spherical harmonics) and "uvu": the joint x2 / weight gradients."""
    tp = o3.TensorProduct(
        "3x0e+2x1o+2x2e",
        "0e+1o+2e",
        "3x0e+2x0e+2x1e+2x2e+3x2e+2x1o+2x3o",
        [(0, 0, 0, "uvu", True), (1, 1, 1, "uvu", True), (1, 1, 2, "uvu", True)]
        + [(2, 0, 3, "uvu", True), (2, 2, 3, "uvu", True), (0, 2, 4, "uvu", True)]
        + [(1, 0, 5, "uvu", False), (2, 1, 5, "uvu", True), (1, 2, 5, "uvu", True)]
        + [(2, 1, 6, "uvu", True)],
        shared_weights=shared,
        internal_weights=False,
    )
    g = torch.Generator().manual_seed(7)
    d = dict(dtype=dtype, generator=g)
    edges, nodes = 23, 5
    x1 = torch.randn(nodes if conv else edges, tp.irreps_in1.dim, **d)
    x2 = torch.randn(edges, tp.irreps_in2.dim, **d)
    w = torch.randn((tp.weight_numel,) if shared else (edges, tp.weight_numel), **d)
    src = torch.randint(0, nodes, (edges,), generator=g) if conv else None
    dst = torch.randint(0, nodes, (edges,), generator=g) if conv else None
    return tp, x1, x2, w, src, dst, [x1.shape[0], tp.irreps_out.dim]


BACKWARD_CASES = [(m, c, s) for m in MODES for c in (False, True) for s in (False, True)]


@pytest.mark.parametrize("mode,conv,shared", BACKWARD_CASES)
def test_backward_op_equals_the_transposes(mode, conv, shared):
    tp, x1, x2, w, src, dst, shape = op_case(mode, conv=conv, shared=shared, batch=9, nodes=4)
    gout = torch.randn(shape, dtype=torch.float64)
    got = ops.tensor_product_backward(x1, x2, w, gout, tp.plan, src, dst, [True, True, True])
    for a, b in zip(got, backward_by_transposes(tp, x1, x2, w, gout, src, dst), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("conv,shared", [(False, False), (True, False), (True, True)])
def test_backward_op_joint_x2_weight_gradients(dtype, conv, shared):
    tp, x1, x2, w, src, dst, shape = nequip_case(conv, shared, dtype)
    gout = torch.randn(shape, dtype=dtype)
    expected = backward_by_transposes(tp, x1, x2, w, gout, src, dst)
    for mask in ([True, True, True], [False, True, True], [True, False, True], [True, True, False]):
        got = ops.tensor_product_backward(x1, x2, w, gout, tp.plan, src, dst, mask)
        for a, b, wanted in zip(got, expected, mask, strict=True):
            if wanted:
                torch.testing.assert_close(a, b, **TOL[dtype])
            else:
                assert a.numel() == 0


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_backward_op_opcheck_gradcheck_gradgradcheck(case):
    tp, x1, x2, w, src, dst, shape = op_case(**case)
    gout = torch.randn(shape, dtype=torch.float64)
    inputs = [t.clone().requires_grad_() for t in (x1, x2, w, gout)]
    torch.library.opcheck(ops.tensor_product_backward, (*inputs, tp.plan, src, dst, [True] * 3))

    def f(a, b, c, g):
        return ops.tensor_product_backward(a, b, c, g, tp.plan, src, dst, [True, True, True])

    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


def test_backward_op_errors_name_the_argument():
    tp, x1, x2, w, src, dst, shape = op_case("uvu", conv=True, batch=5, nodes=3)
    gout = torch.randn(shape, dtype=torch.float64)
    mask = [True, True, True]
    with pytest.raises(ValueError, match="grad_out has 2 columns"):
        ops.tensor_product_backward(x1, x2, w, gout[:, :2], tp.plan, src, dst, mask)
    with pytest.raises(TypeError, match="grad_out has dtype Float"):
        ops.tensor_product_backward(x1, x2, w, gout.float(), tp.plan, src, dst, mask)
    with pytest.raises(ValueError, match=r"src\[0\] = 9 is out of range for 3 nodes"):
        ops.tensor_product_backward(x1, x2, w, gout, tp.plan, src * 0 + 9, dst, mask)


def double_backward_reference(tp, x1, x2, w, gout, src, dst, tangents):
    """The derivatives of <tangents, tensor_product_backward(...)> with respect to x1, x2, w and
    gout through autograd with create_graph: the composition of first-order ops (None: zero)."""
    inputs = [t.detach().clone().requires_grad_() for t in (x1, x2, w, gout)]
    grads = ops.tensor_product_backward(*inputs, tp.plan, src, dst, [True] * 3)
    total = sum((g * t).sum() for g, t in zip(grads, tangents, strict=True) if t is not None)
    got = torch.autograd.grad(total, inputs, allow_unused=True, create_graph=True)
    return [
        torch.zeros_like(i) if g is None else g.detach() for g, i in zip(got, inputs, strict=True)
    ]


TANGENTS = [(True, True, True), (True, False, False), (False, True, True), (False, False, True)]


@pytest.mark.parametrize("mode,conv,shared", BACKWARD_CASES)
@pytest.mark.parametrize("given", TANGENTS)
def test_double_backward_op_equals_the_composition(mode, conv, shared, given):
    """A convolution with per-edge weights runs the fused kernel on the CPU, the rest the
    composite; both against autograd through the first-order ops."""
    tp, x1, x2, w, src, dst, shape = op_case(mode, conv=conv, shared=shared, batch=9, nodes=4)
    gout = torch.randn(shape, dtype=torch.float64)
    tangents = [torch.randn_like(t) if g else None for t, g in zip((x1, x2, w), given, strict=True)]
    expected = double_backward_reference(tp, x1, x2, w, gout, src, dst, tangents)
    for mask in ([True] * 4, [True, False, True, False], [False, True, False, True]):
        got = ops.tensor_product_double_backward(
            x1, x2, w, gout, *tangents, tp.plan, src, dst, mask
        )
        for a, b, wanted in zip(got, expected, mask, strict=True):
            if wanted:
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
            else:
                assert a.numel() == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_double_backward_op_nequip_convolution(dtype):
    tp, x1, x2, w, src, dst, shape = nequip_case(True, False, dtype)
    gout = torch.randn(shape, dtype=dtype)
    tangents = [torch.randn_like(t) for t in (x1, x2, w)]
    expected = double_backward_reference(tp, x1, x2, w, gout, src, dst, tangents)
    got = ops.tensor_product_double_backward(
        x1, x2, w, gout, *tangents, tp.plan, src, dst, [True] * 4
    )
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, **TOL[dtype])


def test_double_backward_op_opcheck_threads_and_errors():
    tp, x1, x2, w, src, dst, shape = op_case("uvu", conv=True, batch=300, nodes=20)
    gout = torch.randn(shape, dtype=torch.float64)
    tangents = [torch.randn_like(t) for t in (x1, x2, w)]
    args = (x1, x2, w, gout, *tangents, tp.plan, src, dst, [True] * 4)
    torch.library.opcheck(ops.tensor_product_double_backward, args)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            results.append(ops.tensor_product_double_backward(*args))
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="dx1 has shape .* but x1 has shape"):
        ops.tensor_product_double_backward(
            x1, x2, w, gout, tangents[0][:3], None, None, tp.plan, src, dst, [True] * 4
        )
    with pytest.raises(TypeError, match="dweight has dtype Float but weight has Double"):
        ops.tensor_product_double_backward(
            x1, x2, w, gout, None, None, tangents[2].float(), tp.plan, src, dst, [True] * 4
        )


def test_convolution_equals_gather_product_scatter():
    tp, x1, x2, w, src, dst, shape = op_case("uvu", conv=True, batch=40, nodes=7)
    out = ops.tensor_product(x1, x2, w, tp.plan, src, dst, shape)
    per_edge = tp(x1[src], x2, w)
    expected = torch.zeros(shape, dtype=torch.float64).index_add(0, dst, per_edge)
    torch.testing.assert_close(out, expected)


def test_convolution_is_deterministic_across_threads():
    tp, x1, x2, w, src, dst, shape = op_case("uvw", conv=True, batch=3000, nodes=50, shared=True)
    gout = torch.randn(shape, dtype=torch.float64)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            results.append(
                [
                    ops.tensor_product(x1, x2, w, tp.plan, src, dst, shape),
                    ops.tensor_product_grad_x1(x2, w, gout, tp.plan, src, dst, list(x1.shape)),
                    ops.tensor_product_grad_weight(x1, x2, gout, tp.plan, src, dst, list(w.shape)),
                    *ops.tensor_product_backward(x1, x2, w, gout, tp.plan, src, dst, [True] * 3),
                ]
            )
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


def test_a_plan_changed_in_place_is_not_served_from_the_cache(e3nn_dtype):
    # The kernels keep each plan tensor's tables; a plan overwritten in place (load_state_dict
    # copies into the buffer) must be read again, and a plan freed must not be mistaken for a
    # new one allocated at the same address.
    e3nn_dtype(torch.float64)
    irreps = ("4x0e+4x1o", "0e+1o", "4x0e+4x1o")
    a = o3.FullyConnectedTensorProduct(*irreps).double()
    b = o3.FullyConnectedTensorProduct(*irreps, irrep_normalization="norm").double()
    assert a.plan.shape == b.plan.shape and not torch.equal(a.plan, b.plan)
    b.weight.data.copy_(a.weight)
    x, y = torch.randn(5, 16, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    expected = b(x, y)
    assert not torch.allclose(a(x, y), expected)
    a.plan.copy_(b.plan)
    torch.testing.assert_close(a(x, y), expected, rtol=0, atol=0)
    for normalization in ["norm", "component", "norm", "component"]:
        ours = o3.FullyConnectedTensorProduct(*irreps, irrep_normalization=normalization).double()
        ref = e3nn.o3.FullyConnectedTensorProduct(*irreps, irrep_normalization=normalization)
        ref.weight.data.copy_(ours.weight)
        torch.testing.assert_close(ours(x, y), ref(x, y))
        del ours


def test_empty_batch_and_no_edges():
    tp = o3.FullyConnectedTensorProduct("2x1o", "1x1o", "1x0e+1x1e")
    x, y = torch.randn(0, 6, requires_grad=True), torch.randn(0, 3)
    out = tp(x, y)
    assert out.shape == (0, 4)
    out.sum().backward()
    assert x.grad.shape == (0, 6)
    assert torch.equal(tp.weight.grad, torch.zeros_like(tp.weight))
    tp2, x1, x2, w, src, dst, shape = op_case("uvu", conv=True, batch=0, nodes=3)
    assert torch.equal(
        ops.tensor_product(x1, x2, w, tp2.plan, src, dst, shape),
        torch.zeros(shape, dtype=torch.float64),
    )


# --- equivariance and front ends ----------------------------------------------------------


def modules():
    return {
        "TensorProduct-uvu": lambda: o3.TensorProduct(
            *random_case("uvu", 5)[:3], random_case("uvu", 5)[3]
        ),
        "FullyConnected": lambda: o3.FullyConnectedTensorProduct(
            "2x0e+2x1o+1x2e", "0e+1o+2e", "3x0e+2x1o+2x2e+1x1e"
        ),
        "Full": lambda: o3.FullTensorProduct("2x0e+1x1o", "1x1e+1x2o"),
        "Elementwise": lambda: o3.ElementwiseTensorProduct("2x0e+3x1o", "4x1e+1x2o"),
        "TensorSquare": lambda: o3.TensorSquare("2x0e+2x1o+1x2e"),
        "TensorSquare-out": lambda: o3.TensorSquare("2x0e+2x1o", "2x0e+1x1e+1x2e"),
        "Linear": lambda: o3.Linear("3x0e+2x1o+1x2e", "2x0e+3x1o+1x2e", biases=True),
    }


def inputs_of(module, batch=5, dtype=torch.float64):
    irreps = (
        [module.irreps_in]
        if isinstance(module, (o3.TensorSquare, o3.Linear))
        else [module.irreps_in1, module.irreps_in2]
    )
    return [torch.randn(batch, i.dim, dtype=dtype) for i in irreps], irreps


@pytest.mark.parametrize("name", list(modules()))
@pytest.mark.parametrize("parity", [1, -1])
def test_equivariance(name, parity):
    torch.manual_seed(0)
    module = modules()[name]().double()
    if isinstance(module, o3.Linear):
        with torch.no_grad():
            module.bias.normal_()
    xs, irreps = inputs_of(module)
    R = o3.rand_matrix(dtype=torch.float64) * parity
    rotated = [x @ i.D_from_matrix(R).T for x, i in zip(xs, irreps, strict=True)]
    D_out = module.irreps_out.D_from_matrix(R)
    torch.testing.assert_close(module(*rotated), module(*xs) @ D_out.T)


@pytest.mark.parametrize("name", list(modules()))
def test_torchscript_round_trip(name):
    module = modules()[name]()
    xs, _ = inputs_of(module, dtype=torch.float32)
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    torch.testing.assert_close(loaded(*xs), module(*xs))


@pytest.mark.parametrize("name", ["FullyConnected", "TensorSquare", "Linear"])
def test_compile_fullgraph(name):
    module = modules()[name]()
    xs, _ = inputs_of(module, dtype=torch.float32)
    compiled = torch.compile(module, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(*xs), module(*xs))


@pytest.mark.parametrize("name", ["FullyConnected", "Linear"])
def test_export_with_dynamic_batch(name):
    module = modules()[name]()
    xs, _ = inputs_of(module, batch=4, dtype=torch.float32)
    batch = torch.export.Dim("batch")
    program = torch.export.export(module, tuple(xs), dynamic_shapes=[{0: batch}] * len(xs))
    more, _ = inputs_of(module, batch=9, dtype=torch.float32)
    torch.testing.assert_close(program.module()(*more), module(*more))


def test_compiled_force_training_matches_eager():
    # A force loss: the gradient of an energy with respect to positions, through a product of
    # spherical harmonics, differentiated again for the weights (double backward).
    torch.manual_seed(0)
    tp = o3.FullyConnectedTensorProduct("2x0e+1x1o", "0e+1o+2e", "1x0e")
    feats = torch.randn(6, 5)
    sh_module = o3.SphericalHarmonics([0, 1, 2], True)

    def loss(pos):
        sh = sh_module(pos)
        energy = tp(feats, sh).sum()
        (forces,) = torch.autograd.grad(-energy, pos, create_graph=True)
        return forces.pow(2).sum()

    pos = torch.randn(6, 3, requires_grad=True)
    expected = torch.autograd.grad(loss(pos), tp.weight)[0]
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
        got = torch.autograd.grad(compiled(pos), tp.weight)[0]
    torch.testing.assert_close(got, expected)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: o3.TensorProduct("1x1o", "1x1o", "1x1o", [(0, 0, 0, "uvw", True)]), "parity"),
        (lambda: o3.TensorProduct("1x1o", "1x1o", "1x3e", [(0, 0, 0, "uvw", True)]), "outside"),
        (
            lambda: o3.TensorProduct("1x1o", "1x1o", "1x0e", [(0, 1, 0, "uvw", True)]),
            "i_in2 = 1 is out of range",
        ),
        (lambda: o3.TensorProduct("2x1o", "1x1o", "1x0e", [(0, 0, 0, "uvu", True)]), "uvu"),
        (
            lambda: o3.TensorProduct("1x1o", "1x1o", "1x0e", [(0, 0, 0, "uvw", False)]),
            "needs weights",
        ),
        (
            lambda: o3.TensorProduct("1x1o", "1x1o", "1x0e", [(0, 0, 0, "uvx", True)]),
            "connection mode",
        ),
        (lambda: o3.TensorProduct("1x1o", "1x1o", "1x0e", [(0, 0, 0)]), "expected"),
        (
            lambda: o3.TensorProduct(
                "1x1o", "1x1o", "1x0e", [(0, 0, 0, "uvw", True)], irrep_normalization="x"
            ),
            "irrep_normalization",
        ),
        (
            lambda: o3.TensorProduct(
                "1x1o", "1x1o", "1x0e", [(0, 0, 0, "uvw", True)], in1_var=[1, 2]
            ),
            "in1_var",
        ),
        (lambda: o3.Linear("1x1o", "1x1e", instructions=[(0, 0)]), "same irrep"),
        (lambda: o3.ElementwiseTensorProduct("2x1o", "1x1o"), "pairs them"),
    ],
)
def test_construction_errors(make, match):
    with pytest.raises((ValueError, IndexError), match=match):
        make()


def test_call_errors_name_the_argument():
    tp = o3.FullyConnectedTensorProduct("2x1o", "1x1o", "1x0e")
    with pytest.raises(ValueError, match="x has shape .* irreps_in1 has dim 6"):
        tp(torch.randn(3, 5), torch.randn(3, 3))
    with pytest.raises(ValueError, match="y has shape"):
        tp(torch.randn(3, 6), torch.randn(3, 4))
    with pytest.raises(ValueError, match="do not broadcast"):
        tp(torch.randn(3, 6), torch.randn(4, 3))
    with pytest.raises(ValueError, match="weight has shape"):
        tp(torch.randn(3, 6), torch.randn(3, 3), torch.randn(5))
    with pytest.raises(TypeError, match="dtype"):
        tp(torch.randn(3, 6, dtype=torch.float64), torch.randn(3, 3))
    free = o3.FullyConnectedTensorProduct("2x1o", "1x1o", "1x0e", internal_weights=False)
    with pytest.raises(ValueError, match="weight is required"):
        free(torch.randn(3, 6), torch.randn(3, 3))
    lin = o3.Linear("2x0e", "1x0e")
    with pytest.raises(ValueError, match="features has shape"):
        lin(torch.randn(3, 3))


def test_op_errors():
    tp, x1, x2, w, src, dst, shape = op_case("uvu", conv=True, batch=6, nodes=3)
    bad = src.clone()
    bad[2] = 3
    with pytest.raises(ValueError, match=r"src\[2\] = 3 is out of range for 3 nodes"):
        ops.tensor_product(x1, x2, w, tp.plan, bad, dst, shape)
    with pytest.raises(ValueError, match="src and dst"):
        ops.tensor_product(x1, x2, w, tp.plan, src, None, shape)
    with pytest.raises(ValueError, match="columns but the plan"):
        ops.tensor_product(x1[:, :-1], x2, w, tp.plan, src, dst, shape)
    with pytest.raises(ValueError, match="rows, expected 6"):
        ops.tensor_product(x1, x2[:4], w, tp.plan, src, dst, shape)
    with pytest.raises(ValueError, match="not a tensor-product plan"):
        ops.tensor_product(x1, x2, w, torch.zeros(3, dtype=torch.long), src, dst, shape)
    with pytest.raises(ValueError, match="corrupt|truncated"):
        ops.tensor_product(x1, x2, w, tp.plan[:-3], src, dst, shape)
    with pytest.raises(TypeError, match="int64"):
        ops.tensor_product(x1, x2, w, tp.plan.double(), src, dst, shape)
