"""io.CartesianTensor against e3nn.io.CartesianTensor: irreps, conversions both ways, round
trips, gradients and errors."""

import copy
import pickle

import e3nn.io
import pytest
import torch
from e3core import ShapeError, o3
from e3core.io import CartesianTensor
from e3core.math import germinate_formulas
from e3nn_reference import default_dtype, e3nn_D

FORMULAS = ["ij=ji", "ij=-ji", "ijk=jik", "ijkl=jikl=ijlk=klij"]
DTYPES = [(torch.float32, 1e-5), (torch.float64, 1e-12)]


def symmetrized(formula: str, t: torch.Tensor) -> torch.Tensor:
    """The part of ``t`` (..., 3, ..., 3) with the symmetries of ``formula``: the average of
    sign * t with permuted indices over the formula's group."""
    _, formulas = germinate_formulas(formula)
    n = len(next(iter(formulas))[1])
    batch = t.dim() - n
    return sum(s * t.permute(*range(batch), *(batch + i for i in p)) for s, p in formulas) / len(
        formulas
    )


@pytest.mark.parametrize(("dtype", "tol"), DTYPES)
@pytest.mark.parametrize("formula", FORMULAS)
def test_conversions_as_e3nns(formula, dtype, tol):
    with default_dtype(dtype):  # e3nn builds its change of basis in the default dtype
        ours, theirs = CartesianTensor(formula), e3nn.io.CartesianTensor(formula)
        assert str(ours) == str(theirs) and ours.indices == theirs.indices
        assert isinstance(ours, o3.Irreps) and ours.formula == formula
        n = len(ours.indices)
        t = torch.randn(5, *[3] * n, dtype=dtype, requires_grad=True)
        irreps = ours.from_cartesian(t)
        torch.testing.assert_close(irreps, theirs.from_cartesian(t), atol=tol, rtol=tol)
        g = torch.randn_like(irreps)
        torch.testing.assert_close(
            torch.autograd.grad(irreps, t, g)[0],
            torch.autograd.grad(theirs.from_cartesian(t), t, g)[0],
            atol=tol,
            rtol=tol,
        )
        y = torch.randn(2, ours.dim, dtype=dtype)
        back = ours.to_cartesian(y)
        assert back.shape == (2, *[3] * n) and back.dtype == dtype
        torch.testing.assert_close(back, theirs.to_cartesian(y), atol=tol, rtol=tol)
        vectors = [torch.randn(4, 3, dtype=dtype) for _ in range(n)]
        torch.testing.assert_close(
            ours.from_vectors(*vectors), theirs.from_vectors(*vectors), atol=10 * tol, rtol=tol
        )
        rtp = ours.reduced_tensor_products(t)
        assert rtp.change_of_basis.dtype == dtype and str(rtp.irreps_out) == str(ours)
        torch.testing.assert_close(ours.from_cartesian(t, rtp=rtp), irreps)


@pytest.mark.parametrize("formula", FORMULAS)
def test_round_trips(formula):
    x = CartesianTensor(formula)
    n = len(x.indices)
    t = torch.randn(3, *[3] * n, dtype=torch.float64)
    # to_cartesian(from_cartesian(t)) is the symmetric part of t; from_cartesian inverts
    # to_cartesian exactly.
    torch.testing.assert_close(x.to_cartesian(x.from_cartesian(t)), symmetrized(formula, t))
    y = torch.randn(3, x.dim, dtype=torch.float64)
    torch.testing.assert_close(x.from_cartesian(x.to_cartesian(y)), y)
    # The irreps rotate as x says when the Cartesian tensor is rotated.
    R = o3.rand_matrix(dtype=torch.float64)
    rotated = t
    for k in range(n):
        rotated = torch.tensordot(rotated, R, dims=([1 + k], [1])).movedim(-1, 1 + k)
    D = e3nn_D(str(x), R)
    torch.testing.assert_close(x.from_cartesian(rotated), x.from_cartesian(t) @ D.T)


def test_copies_and_pickles_keep_the_formula():
    x = CartesianTensor("ij=-ji")
    for y in [copy.copy(x), copy.deepcopy(x), pickle.loads(pickle.dumps(x))]:
        assert isinstance(y, CartesianTensor) and y.formula == "ij=-ji" and y == x


def test_wrong_shapes_are_refused():
    x = CartesianTensor("ij=ji")
    with pytest.raises(ShapeError, match=r"expected \(\.\.\., 3, 3\)"):
        x.from_cartesian(torch.zeros(3, 4))
    with pytest.raises(AssertionError, match=r"expected \(\.\.\., 6\)"):
        x.to_cartesian(torch.zeros(5))
    with pytest.raises(RuntimeError):
        CartesianTensor("ij=ik")
    with pytest.raises(RuntimeError):
        e3nn.io.CartesianTensor("ij=ik")
