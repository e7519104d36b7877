"""o3.ReducedTensorProducts and o3.reduced_tensor_products_basis against e3nn's
ReducedTensorProducts: the same change of basis (same algorithm, float64), outputs, gradients,
state_dicts and errors."""

import e3nn.o3
import pytest
import torch
from e3core import o3
from e3core.math import germinate_formulas
from e3core.util.test import assert_auto_jitable
from e3nn_reference import default_dtype, e3nn_D

CASES = [
    ("ij=ji", {"i": "1o"}),
    ("ijk=jik=ikj", {"i": "1o"}),
    ("ij=-ji", {"i": "1o"}),
    ("ijkl=jikl=ijlk=klij", {"i": "1o"}),
    ("ij=ji", {"i": "1e+2o"}),
    ("ijk=jik", {"i": "0e+1o", "k": "1e"}),
    ("ijk=-jik=-ikj", {"i": "1o"}),
    ("ij", {"i": "2x0e+1o", "j": "1e"}),
    ("ij=ji", {"i": "1o", "filter_ir_out": ["2e"]}),
    ("ijk=jik", {"i": "1o", "k": "1o", "filter_ir_mid": ["0e", "1o", "1e"]}),
    ("ijkl=jikl=ijlk=klij", {"i": "0e+1o", "filter_ir_out": ["0e", "2e"]}),
]
DTYPES = [(torch.float32, 1e-5), (torch.float64, 1e-12)]


def build(module, formula, kwargs, dtype):
    with default_dtype(dtype):  # both build their buffer in the default dtype
        return module.ReducedTensorProducts(formula, **kwargs)


@pytest.mark.parametrize(("dtype", "tol"), DTYPES)
@pytest.mark.parametrize(("formula", "kwargs"), CASES)
def test_change_of_basis_outputs_and_gradients_as_e3nns(formula, kwargs, dtype, tol):
    ours = build(o3, formula, kwargs, dtype)
    theirs = build(e3nn.o3, formula, kwargs, dtype)
    assert [str(irreps) for irreps in ours.irreps_in] == [str(i) for i in theirs.irreps_in]
    assert str(ours.irreps_out) == str(theirs.irreps_out)
    assert ours.change_of_basis.dtype == dtype
    assert ours.change_of_basis.shape == theirs.change_of_basis.shape
    # Exactly e3nn's basis (same algorithm), not only up to a rotation inside each multiplicity.
    torch.testing.assert_close(ours.change_of_basis, theirs.change_of_basis, atol=tol, rtol=0)
    generator = torch.Generator().manual_seed(0)
    xs = [
        torch.randn(4, irreps.dim, generator=generator, dtype=dtype, requires_grad=True)
        for irreps in ours.irreps_in
    ]
    out, out_e3nn = ours(*xs), theirs(*xs)
    torch.testing.assert_close(out, out_e3nn, atol=10 * tol, rtol=tol)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, xs, g)
    grads_e3nn = torch.autograd.grad(out_e3nn, xs, g)
    for a, b in zip(grads, grads_e3nn, strict=True):
        torch.testing.assert_close(a, b, atol=10 * tol, rtol=tol)


@pytest.mark.parametrize(("formula", "kwargs"), CASES)
def test_basis_is_orthonormal_symmetric_and_equivariant(formula, kwargs):
    irreps_in, irreps_out, Q = o3.reduced_tensor_products_basis(formula, **kwargs)
    assert Q.dtype == torch.float64 and Q.shape == (irreps_out.dim, *(i.dim for i in irreps_in))
    Qf = Q.flatten(1)
    torch.testing.assert_close(Qf @ Qf.T, torch.eye(len(Q), dtype=Q.dtype))
    _, formulas = germinate_formulas(formula)
    for s, p in formulas:
        torch.testing.assert_close(Q.permute(0, *(1 + i for i in p)), s * Q)
    # Q (D_1 ⊗ ... ⊗ D_n) = D_out Q for a rotation and for a rotation times the inversion.
    rotation = e3nn.o3.rand_matrix(dtype=torch.float64)
    for R in [rotation, -rotation]:
        rotated = Q
        for k, irreps in enumerate(irreps_in):
            D = e3nn_D(irreps, R)
            rotated = torch.tensordot(rotated, D, dims=([1 + k], [0])).movedim(-1, 1 + k)
        torch.testing.assert_close(rotated, torch.einsum("zy,y...->z...", e3nn_D(irreps_out, R), Q))


def test_module_is_equivariant_traces_and_loads_e3nns_state_dict():
    module = o3.ReducedTensorProducts("ijkl=jikl=ijlk=klij", i="1o")
    theirs = e3nn.o3.ReducedTensorProducts("ijkl=jikl=ijlk=klij", i="1o")
    module.load_state_dict(theirs.state_dict())  # e3nn's generated tensor products are skipped
    traced = assert_auto_jitable(module)
    xs = [torch.randn(3, 3) for _ in range(4)]
    torch.testing.assert_close(traced(*xs), module(*xs))
    # Equivariance of the module: rotate and mirror every input.
    R = -o3.rand_matrix(dtype=torch.float64)
    D_out = e3nn_D(module.irreps_out, R).float()
    xs_rotated = [x @ R.T.float() for x in xs]  # 1o: a vector flips under the inversion
    torch.testing.assert_close(module(*xs_rotated), module(*xs) @ D_out.T, atol=1e-4, rtol=1e-4)
    # Batch dimensions broadcast.
    assert module(xs[0][:, None], *[x[None] for x in xs[1:]]).shape == (3, 3, 21)
    assert module.double()(*[x.double() for x in xs]).dtype == torch.float64
    assert "1x1o times 1x1o times 1x1o times 1x1o" in repr(module)


def test_basis_is_cached_and_copied():
    _, _, Q1 = o3.reduced_tensor_products_basis("ij=ji", i="1o")
    Q1.zero_()
    _, _, Q2 = o3.reduced_tensor_products_basis("ij=ji", i="1o")
    assert Q2.abs().sum() > 0
    _, irreps_out, _ = o3.reduced_tensor_products_basis("ij=ji", i=o3.Irreps("1o"))
    assert str(irreps_out) == "1x0e+1x2e"


@pytest.mark.parametrize(
    ("formula", "kwargs", "error"),
    [
        ("ij=ji", {"i": "1o", "ij": "1o"}, TypeError),
        ("ij=ji", {"i": "1o", "j": "1e"}, RuntimeError),
        ("ijk=jik", {"i": "1o"}, RuntimeError),
        ("ij=ji", {"i": "1o", "k": "1o"}, RuntimeError),
        ("ij=ik", {"i": "1o"}, RuntimeError),
        ("ij=ji", {"i": "1o", "filter_ir_out": ["x"]}, ValueError),
        ("ij=ji", {"i": "1o", "filter_ir_mid": ["1z"]}, ValueError),
    ],
)
def test_errors_are_e3nns(formula, kwargs, error):
    with pytest.raises(error):
        e3nn.o3.ReducedTensorProducts(formula, **kwargs)
    with pytest.raises(error):
        o3.ReducedTensorProducts(formula, **kwargs)


def test_wrong_inputs_are_refused():
    module = o3.ReducedTensorProducts("ij=ji", i="1o")
    with pytest.raises(AssertionError, match="expected 2 inputs"):
        module(torch.randn(3))
    with pytest.raises(AssertionError, match=r"expected \(\.\.\., 3\)"):
        module(torch.randn(3), torch.randn(4))


def test_nothing_left_by_the_filters_is_empty():
    # e3nn fails in torch.cat here; e3core returns the empty irreps.
    module = o3.ReducedTensorProducts("ijk", i="1o", j="1o", k="1o", filter_ir_out=["0e"])
    assert module.irreps_out.dim == 0
    assert module(*(torch.randn(2, 3) for _ in range(3))).shape == (2, 0)
