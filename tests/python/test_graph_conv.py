"""e3core.graph.TensorProductConv: equal to e3nn's gather, product and scatter; derivatives,
equivariance, TorchScript / compile / export, and bad input."""

import io

import e3nn.o3
import pytest
import torch
from e3core import graph, o3
from e3nn_reference import default_dtype

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-11, atol=1e-11)}
IRREPS_X, IRREPS_SH = "4x0e+3x1o+2x2e", "0e+1o+2e"


def instructions(irreps_x=IRREPS_X):
    """NequIP's: every path into l <= 2, "uvu", one output term per path, sorted."""
    out, ins = [], []
    for i1, (mul, ir1) in enumerate(o3.Irreps(irreps_x)):
        for i2, (_, ir2) in enumerate(o3.Irreps(IRREPS_SH)):
            for ir in ir1 * ir2:
                if ir.l <= 2:
                    ins.append((i1, i2, len(out), "uvu", True))
                    out.append((mul, ir))
    irreps_out, p, _ = o3.Irreps(out).sort()
    return str(irreps_out), [(a, b, p[c], m, w) for a, b, c, m, w in ins]


def graph_inputs(dtype, nodes=6, edges=20, seed=0, weights=None, irreps_x=IRREPS_X):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(nodes, o3.Irreps(irreps_x).dim, dtype=dtype, generator=g)
    attr = torch.randn(edges, o3.Irreps(IRREPS_SH).dim, dtype=dtype, generator=g)
    src = torch.randint(0, nodes, (edges,), generator=g)
    dst = torch.randint(0, nodes, (edges,), generator=g)
    w = None if weights is None else torch.randn(weights, dtype=dtype, generator=g)
    return x, attr, w, src, dst


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shared", [False, True])
def test_matches_e3nn_gather_product_scatter(dtype, shared):
    irreps_out, ins = instructions()
    with default_dtype(dtype):
        ref = e3nn.o3.TensorProduct(
            IRREPS_X, IRREPS_SH, irreps_out, ins, shared_weights=shared, internal_weights=False
        )
    conv = graph.TensorProductConv(
        IRREPS_X, IRREPS_SH, irreps_out, ins, shared_weights=shared, internal_weights=False
    )
    n = ref.weight_numel
    x, attr, w, src, dst = graph_inputs(dtype, weights=(n,) if shared else (20, n))
    args = [t.requires_grad_() for t in (x, attr, w)]
    expected = torch.zeros(6, ref.irreps_out.dim, dtype=dtype).index_add(
        0, dst, ref(x[src], attr, w)
    )
    got = conv(x, attr, w, src, dst)
    torch.testing.assert_close(got, expected, **TOL[dtype])
    g = torch.randn_like(expected)
    for a, b in zip(
        torch.autograd.grad(expected, args, g), torch.autograd.grad(got, args, g), strict=True
    ):
        torch.testing.assert_close(b, a, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_blocks_of_edges_match_e3nn(dtype):
    """The forward sums a node's incoming edges in registers, and the backward x's gradient over
    its outgoing edges, 32 at a time: nodes with 40 edges in and 40 out (two blocks each), a
    node with none in and one with none out, channel blocks full and partial (32 and 17
    channels), l up to 2, and edges whose harmonics are zero in a term or in all (such an edge
    adds nothing, as in e3nn's product). First and second derivatives against e3nn's."""
    irreps_x = "32x0e+32x1o+17x2e"
    irreps_out, ins = instructions(irreps_x)
    with default_dtype(dtype):
        ref = e3nn.o3.TensorProduct(
            irreps_x, IRREPS_SH, irreps_out, ins, shared_weights=False, internal_weights=False
        )
    conv = graph.TensorProductConv(
        irreps_x, IRREPS_SH, irreps_out, ins, shared_weights=False, internal_weights=False
    )
    x, attr, w, _, dst = graph_inputs(
        dtype, nodes=6, edges=200, weights=(200, ref.weight_numel), irreps_x=irreps_x
    )
    dst = torch.arange(200) % 5
    src = torch.tensor([3, 5, 0, 1, 2])[(torch.arange(200) // 3) % 5]
    attr[::4, 1:4] = 0.0
    attr[1::7] = 0.0
    args = [t.requires_grad_() for t in (x, attr, w)]
    expected = torch.zeros(6, ref.irreps_out.dim, dtype=dtype).index_add(
        0, dst, ref(x[src], attr, w)
    )
    got = conv(x, attr, w, src, dst)
    torch.testing.assert_close(got, expected, **TOL[dtype])
    assert torch.equal(got[5], torch.zeros_like(got[5]))
    rng = torch.Generator().manual_seed(1)
    g = torch.randn(expected.shape, dtype=dtype, generator=rng).requires_grad_()
    first_e = torch.autograd.grad(expected, args, g, create_graph=True)
    first = torch.autograd.grad(got, args, g, create_graph=True)
    for a, b in zip(first_e, first, strict=True):
        torch.testing.assert_close(b, a, **TOL[dtype])
    assert torch.equal(first[0][4], torch.zeros_like(first[0][4]))
    tangents = [torch.randn(t.shape, dtype=dtype, generator=rng) for t in first]
    second_e = torch.autograd.grad(first_e, [*args, g], tangents)
    second = torch.autograd.grad(first, [*args, g], tangents)
    for a, b in zip(second_e, second, strict=True):
        # Sums of a node's 40 edges of values up to about 80: float32's rounding (e3nn's own
        # second derivative of x is 1.9e-5 from float64's) is relative to the largest value.
        scale = float(a.abs().max())
        torch.testing.assert_close(
            b, a, rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"] * max(1.0, scale)
        )


def test_gradcheck_and_gradgradcheck():
    irreps_out, ins = instructions()
    conv = graph.TensorProductConv(
        IRREPS_X, IRREPS_SH, irreps_out, ins, shared_weights=False, internal_weights=False
    )
    x, attr, w, src, dst = graph_inputs(
        torch.float64, nodes=4, edges=7, weights=(7, conv.weight_numel)
    )
    args = [t.requires_grad_() for t in (x, attr, w)]

    def f(a, b, c):
        return conv(a, b, c, src, dst)

    assert torch.autograd.gradcheck(f, args)
    assert torch.autograd.gradgradcheck(f, args)


@pytest.mark.parametrize("parity", [1, -1])
def test_equivariance(parity):
    irreps_out, ins = instructions()
    conv = graph.TensorProductConv(IRREPS_X, IRREPS_SH, irreps_out, ins).double()
    x, attr, _, src, dst = graph_inputs(torch.float64)
    R = o3.rand_matrix(dtype=torch.float64) * parity
    D = [o3.Irreps(i).D_from_matrix(R) for i in (IRREPS_X, IRREPS_SH, conv.irreps_out)]
    torch.testing.assert_close(
        conv(x @ D[0].T, attr @ D[1].T, None, src, dst), conv(x, attr, None, src, dst) @ D[2].T
    )


def test_frontends(tmp_path):
    irreps_out, ins = instructions()
    conv = graph.TensorProductConv(
        IRREPS_X, IRREPS_SH, irreps_out, ins, shared_weights=False, internal_weights=False
    )
    x, attr, w, src, dst = graph_inputs(torch.float32, weights=(20, conv.weight_numel))
    expected = conv(x, attr, w, src, dst)
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(conv), buffer)
    buffer.seek(0)
    torch.testing.assert_close(torch.jit.load(buffer)(x, attr, w, src, dst), expected)
    compiled = torch.compile(conv, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x, attr, w, src, dst), expected)
    nodes, edges = torch.export.Dim("nodes"), torch.export.Dim("edges")
    program = torch.export.export(
        conv,
        (x, attr, w, src, dst),
        dynamic_shapes=[{0: nodes}, {0: edges}, {0: edges}, {0: edges}, {0: edges}],
    )
    x2, attr2, w2, src2, dst2 = graph_inputs(
        torch.float32, nodes=9, edges=31, seed=3, weights=(31, conv.weight_numel)
    )
    torch.testing.assert_close(
        program.module()(x2, attr2, w2, src2, dst2), conv(x2, attr2, w2, src2, dst2)
    )


def test_no_edges_gives_zeros():
    irreps_out, ins = instructions()
    conv = graph.TensorProductConv(IRREPS_X, IRREPS_SH, irreps_out, ins)
    x, attr, _, src, dst = graph_inputs(torch.float32, edges=0)
    out = conv(x, attr, None, src, dst)
    assert torch.equal(out, torch.zeros(6, conv.irreps_out.dim))


@pytest.mark.parametrize(
    "change,error,match",
    [
        (dict(src=torch.tensor([0, 9])), ValueError, r"src\[1\] = 9 is out of range for 6 nodes"),
        (dict(dst=torch.tensor([-1, 0])), ValueError, r"dst\[0\] = -1 is out of range"),
        (
            dict(dst=torch.tensor([0, 1], dtype=torch.int32)),
            TypeError,
            r"edge_dst has dtype torch.int32, expected torch.int64 \(convert it with edge_dst",
        ),
        (
            dict(src=torch.tensor([0.0, 1.0])),
            TypeError,
            r"edge_src has dtype torch.float32, expected torch.int64",
        ),
        (
            dict(dst=torch.tensor([0, 1, 2])),
            ValueError,
            r"edge_dst has shape \[3\], expected \(2,\)",
        ),
        (dict(x=torch.randn(6, 5)), ValueError, "x has shape"),
        (dict(attr=torch.randn(2, 4)), ValueError, "edge_attr has shape"),
        (dict(w="rows"), ValueError, "weight has 3 rows but there are 2 edges"),
    ],
)
def test_errors_name_the_argument(change, error, match):
    irreps_out, ins = instructions()
    conv = graph.TensorProductConv(
        IRREPS_X, IRREPS_SH, irreps_out, ins, shared_weights=False, internal_weights=False
    )
    x, attr, w, src, dst = graph_inputs(torch.float32, edges=2, weights=(2, conv.weight_numel))
    args = dict(x=x, attr=attr, w=w, src=src, dst=dst)
    if change.get("w") == "rows":
        change = dict(w=torch.randn(3, conv.weight_numel))
    args.update(change)
    with pytest.raises(error, match=match):
        conv(args["x"], args["attr"], args["w"], args["src"], args["dst"])
