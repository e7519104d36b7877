"""TensorProduct.right and visualize, Linear's f_in/f_out and weight_view_for_instruction,
against e3nn 0.6: values, gradients, shapes, state_dicts, errors, equivariance, TorchScript."""

import e3nn.o3
import pytest
import torch
from e3core import o3
from e3core._errors import ArgumentError, ShapeError
from e3core.util.test import assert_equivariant
from e3nn_reference import (
    assert_close_with_gradients,
    dtype_as_default,  # noqa: F401 (the fixture dtype)
)

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


# name -> (class name, args, kwargs); every connection mode and both weight layouts.
TENSOR_PRODUCTS = {
    "fctp": ("FullyConnectedTensorProduct", ("2x0e+2x1o+1x2e", "0e+1o+2e", "3x0e+2x1o+2x2e"), {}),
    "fctp_per_sample": (
        "FullyConnectedTensorProduct",
        ("2x0e+1x1o", "1x0e+1x1o", "2x0e+1x1e"),
        dict(shared_weights=False),
    ),
    "modes": (
        "TensorProduct",
        (
            "2x0e+2x1o+1x2e",
            "2x0e+2x1o",
            "2x0e+3x1o+2x1e+2x2e+4x0e",
            [
                (0, 0, 0, "uvw", True, 0.7),
                (1, 1, 0, "uuw", True),
                (0, 0, 0, "uuu", False),
                (0, 1, 1, "uvw", True, 2.0),
                (1, 1, 2, "uuu", True, 0.5),
                (1, 1, 2, "uvu", True),
                (1, 1, 3, "uvv", True),
                (0, 0, 4, "uvuv", True),
            ],
        ),
        dict(irrep_normalization="norm", path_normalization="path"),
    ),
    "full": ("FullTensorProduct", ("2x0e+1x1o", "1x1o+1x2e"), {}),
    "elementwise": ("ElementwiseTensorProduct", ("2x1o+1x0e", "2x1e+1x0o"), {}),
}


def _tp_pair(case):
    name, args, kwargs = TENSOR_PRODUCTS[case]
    ref = getattr(e3nn.o3, name)(*args, **kwargs, compile_right=True)
    ours = getattr(o3, name)(*args, **kwargs)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


@pytest.mark.parametrize("case", sorted(TENSOR_PRODUCTS))
def test_right_matches_e3nn(case, dtype):
    ref, ours = _tp_pair(case)
    y = torch.randn(4, 3, ref.irreps_in2.dim, requires_grad=True)
    weight = None
    params = list(ref.parameters())
    if not ref.internal_weights and ref.weight_numel > 0:
        weight = torch.randn(4, 3, ref.weight_numel, requires_grad=True)
        params = [weight]
    expected, actual = ref.right(y, weight), ours.right(y, weight)
    assert actual.shape == expected.shape == (4, 3, ref.irreps_in1.dim, ref.irreps_out.dim)
    ours_params = [weight] if weight is not None else list(ours.parameters())
    assert_close_with_gradients(actual, expected, [y, *ours_params], [y, *params], **TOL[dtype])
    # right(y) applied to x is the product.
    x = torch.randn(4, 3, ref.irreps_in1.dim)
    torch.testing.assert_close(
        torch.einsum("...ik,...i->...k", actual, x), ours(x, y, weight), **TOL[dtype]
    )


def test_right_unbatched_and_scripted():
    _, tp = _tp_pair("fctp")
    y = torch.randn(tp.irreps_in2.dim)
    assert tp.right(y).shape == (tp.irreps_in1.dim, tp.irreps_out.dim)

    class Right(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tp = tp

        def forward(self, y: torch.Tensor) -> torch.Tensor:
            return self.tp.right(y)

    torch.testing.assert_close(torch.jit.script(Right())(y), tp.right(y))


def test_right_equivariance():
    _, tp = _tp_pair("modes")
    tp = tp.double()

    def right_applied(x, y):
        return torch.einsum("...ik,...i->...k", tp.right(y), x)

    assert_equivariant(
        right_applied,
        irreps_in=[tp.irreps_in1, tp.irreps_in2],
        irreps_out=tp.irreps_out,
        args_in=[
            torch.randn(5, tp.irreps_in1.dim, dtype=torch.float64),
            torch.randn(5, tp.irreps_in2.dim, dtype=torch.float64),
        ],
    )


def test_right_errors():
    _, tp = _tp_pair("fctp_per_sample")
    with pytest.raises(AssertionError):
        tp.right(torch.randn(3, tp.irreps_in2.dim))  # no weights given
    with pytest.raises(ShapeError):
        tp.right(torch.randn(3, tp.irreps_in2.dim + 1), torch.randn(3, tp.weight_numel))


@pytest.mark.parametrize("case", ["fctp", "fctp_per_sample", "full"])
def test_visualize_as_e3nn(case):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref, ours = _tp_pair(case)
    weight = None if ref.internal_weights else torch.randn(3, ref.weight_numel)
    # e3nn cannot scale the colours of a product without weights.
    plot_weight = ref.weight_numel > 0
    drawings = []
    for tp in (ref, ours):
        fig, ax = plt.subplots()
        assert tp.visualize(weight=weight, plot_weight=plot_weight, ax=ax) == (fig, ax)
        drawings.append(
            (
                [p.get_path().vertices.tolist() for p in ax.patches],
                [tuple(p.get_edgecolor()) for p in ax.patches],
                [t.get_text() for t in ax.texts],
            )
        )
        plt.close(fig)
    assert drawings[0] == drawings[1]
    # Without ax it draws on plt.gca(), as e3nn's: a fresh one, not another test's open figure.
    plt.close("all")
    fig, ax = ours.visualize(weight=weight, aspect_ratio="auto")
    assert ax is plt.gca() and len(ax.patches) == len(ours.instructions) + 1
    plt.close(fig)
    with pytest.raises(ValueError):
        ours.visualize(aspect_ratio="wide")


# (irreps_in, irreps_out, kwargs): f_in/f_out with biases, path normalization, instructions.
LINEARS = {
    "plain": ("3x0e+2x1o+1x0e", "2x0e+1x1o+3x0e", {}),
    "f": ("3x0e+2x1o+1x0e", "2x0e+1x1o+3x0e", dict(f_in=3, f_out=2)),
    "f_bias": ("2x0e+1x2e", "3x0e+2x2e", dict(f_in=2, f_out=4, biases=True)),
    "f_path": (
        "2x0e+1x1o+3x0e",
        "1x0e+2x1o",
        dict(f_in=2, f_out=3, path_normalization="path", biases=True),
    ),
    "f_instructions": ("2x0e+1x1o", "3x0e+1x1o", dict(f_in=1, f_out=2, instructions=[(0, 0)])),
}


def _linear_pair(case, **extra):
    irreps_in, irreps_out, kwargs = LINEARS[case]
    ref = e3nn.o3.Linear(irreps_in, irreps_out, **kwargs, **extra)
    ours = o3.Linear(irreps_in, irreps_out, **kwargs, **extra)
    result = ours.load_state_dict(ref.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    if ref.bias_numel > 0 and ref.internal_weights:
        with torch.no_grad():
            ref.bias.normal_()
            ours.bias.copy_(ref.bias)
    return ref, ours


def _features(lin, *batch):
    f = () if lin._f_in == 0 else (lin._f_in,)
    return torch.randn(*batch, *f, lin.irreps_in.dim, requires_grad=True)


@pytest.mark.parametrize("case", sorted(LINEARS))
def test_linear_f_in_f_out_matches_e3nn(case, dtype):
    ref, ours = _linear_pair(case)
    for name in ("weight_numel", "bias_numel"):
        assert getattr(ours, name) == getattr(ref, name), name
    assert ours.weight.shape == ref.weight.shape and ours.bias.shape == ref.bias.shape
    for a, b in zip(ours.instructions, ref.instructions, strict=True):
        assert (a.i_in, a.i_out, a.path_shape) == (b.i_in, b.i_out, b.path_shape)
        assert a.path_weight == pytest.approx(b.path_weight, rel=1e-12)
    x = _features(ours, 5, 2)
    expected, actual = ref(x), ours(x)
    assert actual.shape == expected.shape
    assert_close_with_gradients(
        actual, expected, [x, *ours.parameters()], [x, *ref.parameters()], **TOL[dtype]
    )
    torch.testing.assert_close(torch.jit.script(ours)(x), expected, **TOL[dtype])


def test_linear_f_external_weights(dtype):
    ref, ours = _linear_pair("f", internal_weights=False, shared_weights=False)
    x = _features(ours, 5)
    weight = torch.randn(5, ours._f_in, ours._f_out, ref.weight_numel)
    torch.testing.assert_close(ours(x, weight), ref(x, weight), **TOL[dtype])
    with pytest.raises(ShapeError):
        ours(x, weight.flatten(-2))
    # External shared weights and biases, as e3nn's.
    ref, ours = _linear_pair("f_bias", internal_weights=False)
    x = _features(ours, 5)
    weight = torch.randn(ours._f_in, ours._f_out, ref.weight_numel)
    bias = torch.randn(ours._f_out, ref.bias_numel)
    torch.testing.assert_close(ours(x, weight, bias), ref(x, weight, bias), **TOL[dtype])
    # Per-sample weights with biases (e3nn cannot build that Linear with f_in/f_out) give what
    # the same internal ones give.
    _, inner = _linear_pair("f_bias")
    outer = o3.Linear(*LINEARS["f_bias"][:2], **LINEARS["f_bias"][2], shared_weights=False)
    x = _features(inner, 5)
    weight = inner.weight.expand(5, *inner.weight.shape)
    torch.testing.assert_close(outer(x, weight, inner.bias), inner(x), **TOL[dtype])


@pytest.mark.parametrize("case", sorted(LINEARS))
def test_linear_weight_view_for_instruction(case):
    ref, ours = _linear_pair(case)
    weighted = [i for i, ins in enumerate(ref.instructions) if ins.i_in != -1]
    assert weighted
    for i in weighted:
        assert torch.equal(ours.weight_view_for_instruction(i), ref.weight_view_for_instruction(i))
        batch = torch.randn(4, *ref.weight.shape)
        assert torch.equal(
            ours.weight_view_for_instruction(i, batch), ref.weight_view_for_instruction(i, batch)
        )
    views = list(ours.weight_views())
    assert [v.shape for v in views] == [ours.weight_view_for_instruction(i).shape for i in weighted]


def test_linear_weight_view_errors():
    ref, ours = _linear_pair("f_bias", internal_weights=False)
    with pytest.raises(AssertionError):
        ref.weight_view_for_instruction(0)
    with pytest.raises(AssertionError):
        ours.weight_view_for_instruction(0)
    _, ours = _linear_pair("f_bias")
    bias_index = [i for i, ins in enumerate(ours.instructions) if ins.i_in == -1][0]
    with pytest.raises(ArgumentError, match="bias"):
        ours.weight_view_for_instruction(bias_index)


def test_linear_f_errors():
    with pytest.raises(ArgumentError, match="f_in"):
        o3.Linear("2x0e", "2x0e", f_in=2)
    with pytest.raises(ArgumentError, match="positive"):
        o3.Linear("2x0e", "2x0e", f_in=0, f_out=2)
    lin = o3.Linear("2x0e", "2x0e", f_in=3, f_out=2)
    with pytest.raises(ShapeError, match="features"):
        lin(torch.randn(5, 2))
    with pytest.raises(ShapeError):
        lin(torch.randn(5, 2, 2))


def test_linear_f_equivariance():
    _, lin = _linear_pair("f_path")
    lin = lin.double()
    f_in, f_out = lin._f_in, lin._f_out

    def flat(x):
        return lin(x.reshape(x.shape[0], f_in, -1)).flatten(-2)

    assert_equivariant(
        flat,
        irreps_in=[f_in * lin.irreps_in],
        irreps_out=f_out * lin.irreps_out,
        args_in=[torch.randn(4, f_in * lin.irreps_in.dim, dtype=torch.float64)],
    )
