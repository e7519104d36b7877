"""e3core.o3.experimental (FullTensorProductv2, ElementwiseTensorProductv2) against e3nn 0.6's:
irreps, outputs and gradients (float32 and float64), broadcasting and dtype promotion,
state_dicts, equivariance, TorchScript and errors."""

import e3nn.o3
import e3nn.o3.experimental
import pytest
import torch
from e3core import o3
from e3core._errors import ArgumentError
from e3core.o3 import experimental
from e3core.util.test import assert_equivariant
from e3nn_reference import (
    assert_close_with_gradients,
    default_dtype,
    dtype_as_default,  # noqa: F401 (the fixture dtype)
)

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}
FULL = {
    "regroup": ("2x0e+1x1o+3x2e", "1x1o+2x0e", {}),
    "unsorted": ("1x1o+2x0e+1x1e", "3x1e+1x0o", dict(regroup_output=False)),
    "merge": ("1x1o+2x1o+1x0e", "2x2e", {}),
    "filter_norm": (
        "2x1o+1x2e",
        "1x1o",
        dict(filter_ir_out="0e+1e+2o", irrep_normalization="norm"),
    ),
    "high_l": ("1x3o+2x4e", "1x2e+1x3o", dict(filter_ir_out=["1o", "5e", "6e"])),
}
ELEMENTWISE = {
    "aligned": ("2x1o+1x0e", "1x1o+2x0e", {}),
    "split": ("5x1o+5x1e", "10x1e", {}),
    "mixed": ("3x0e+2x2e", "1x1o+4x1e", dict(irrep_normalization="norm")),
    "filter": ("2x1o+2x2e", "2x1e+2x2o", dict(filter_ir_out="0o+1o+2e")),
}


def _e3nn_kwargs(kwargs):
    # e3nn's v2 products test ``ir in filter_ir_out``: they need an e3nn Irreps or Irrep list.
    out = dict(kwargs)
    if "filter_ir_out" in out:
        f = out["filter_ir_out"]
        out["filter_ir_out"] = (
            e3nn.o3.Irreps(f) if isinstance(f, str) else [e3nn.o3.Irrep(i) for i in f]
        )
    return out


def _pair(kind, case):
    a, b, kwargs = (FULL if kind == "full" else ELEMENTWISE)[case]
    name = "FullTensorProductv2" if kind == "full" else "ElementwiseTensorProductv2"
    ref = getattr(e3nn.o3.experimental, name)(
        e3nn.o3.Irreps(a), e3nn.o3.Irreps(b), **_e3nn_kwargs(kwargs)
    )
    ours = getattr(experimental, name)(a, b, **kwargs)
    return ref, ours


CASES = [("full", c) for c in sorted(FULL)] + [("elementwise", c) for c in sorted(ELEMENTWISE)]


@pytest.mark.parametrize(("kind", "case"), CASES)
def test_matches_e3nn(kind, case, dtype):
    ref, ours = _pair(kind, case)
    for name in ("irreps_in1", "irreps_in2", "irreps_out"):
        assert str(getattr(ours, name)) == str(getattr(ref, name)), name
    x = torch.randn(7, ref.irreps_in1.dim, requires_grad=True)
    y = torch.randn(7, ref.irreps_in2.dim, requires_grad=True)
    expected, actual = ref(x, y), ours(x, y)
    assert actual.dtype == dtype
    assert_close_with_gradients(actual, expected, [x, y], [x, y], **TOL[dtype])


@pytest.mark.parametrize(("kind", "case"), CASES)
def test_state_dict_script_equivariance(kind, case):
    ref, ours = _pair(kind, case)
    result = ours.load_state_dict(ref.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    assert len(ours.state_dict()) == 0
    x, y = torch.randn(3, ours.irreps_in1.dim), torch.randn(3, ours.irreps_in2.dim)
    torch.testing.assert_close(torch.jit.script(ours)(x, y), ours(x, y))
    assert_equivariant(
        ours, irreps_in=[ours.irreps_in1, ours.irreps_in2], irreps_out=ours.irreps_out
    )


def test_broadcast_and_promotion():
    with default_dtype(torch.float64):  # e3nn's coefficients then take float64 inputs
        ref, ours = _pair("full", "regroup")
    x = torch.randn(4, 1, ref.irreps_in1.dim)
    y = torch.randn(3, ref.irreps_in2.dim, dtype=torch.float64)
    expected, actual = ref(x, y), ours(x, y)
    assert actual.shape == expected.shape == (4, 3, ref.irreps_out.dim)
    assert actual.dtype == expected.dtype == torch.float64
    torch.testing.assert_close(actual, expected, rtol=1e-6, atol=1e-6)


def test_o3_exports_full_v2():
    assert o3.FullTensorProductv2 is experimental.FullTensorProductv2


def test_errors_as_e3nn():
    with pytest.raises(ValueError):
        e3nn.o3.experimental.ElementwiseTensorProductv2(
            e3nn.o3.Irreps("2x0e"), e3nn.o3.Irreps("1x0e")
        )
    with pytest.raises(ArgumentError, match="irreps"):
        experimental.ElementwiseTensorProductv2("2x0e", "1x0e")
    with pytest.raises(ValueError):
        e3nn.o3.experimental.FullTensorProductv2(
            e3nn.o3.Irreps("1o"), e3nn.o3.Irreps("1o"), irrep_normalization="none"
        )
    with pytest.raises(ArgumentError, match="irrep_normalization"):
        experimental.FullTensorProductv2("1o", "1o", irrep_normalization="none")
