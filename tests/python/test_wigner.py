"""wigner_3j and wigner_D against e3nn 0.6, and their representation properties beyond it."""

import math

import e3nn.o3
import numpy as np
import pytest
import torch
from e3core import _core
from e3core.o3 import Irrep
from e3core.o3 import _rotation as rot
from e3core.o3 import _wigner as w
from e3nn_reference import default_dtype

TRIANGLES_8 = [
    (l1, l2, l3)
    for l1 in range(9)
    for l2 in range(9)
    for l3 in range(abs(l1 - l2), min(8, l1 + l2) + 1)
]


def test_wigner_3j_matches_e3nn_all_triangles_up_to_8():
    worst = 0.0
    for l1, l2, l3 in TRIANGLES_8:
        ours = w.wigner_3j(l1, l2, l3, dtype=torch.float64)
        ref = e3nn.o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
        assert ours.shape == ref.shape
        worst = max(worst, (ours - ref).abs().max().item())
    assert worst < 1e-14


@pytest.mark.parametrize("ls", [(16, 16, 16), (12, 9, 16), (16, 2, 15), (5, 16, 13), (14, 16, 3)])
def test_wigner_3j_matches_e3nn_up_to_16(ls):
    ours = w.wigner_3j(*ls, dtype=torch.float64)
    ref = e3nn.o3.wigner_3j(*ls, dtype=torch.float64)
    torch.testing.assert_close(ours, ref, atol=1e-14, rtol=0)


def test_wigner_3j_dtype_device_and_copy():
    assert w.wigner_3j(1, 2, 3).dtype == torch.get_default_dtype()
    C = w.wigner_3j(1, 1, 0, dtype=torch.float32, device="cpu")
    assert C.dtype == torch.float32 and C.device.type == "cpu"
    torch.testing.assert_close(C[:, :, 0], torch.eye(3) / math.sqrt(3))
    C.zero_()  # the cached table is not shared with the caller
    assert w.wigner_3j(1, 1, 0)[0, 0, 0] != 0


@pytest.mark.parametrize(
    "ls, match",
    [
        ((1, 1, 3), r"\(1, 1, 3\) violates the triangle inequality"),
        ((-1, 1, 1), "wigner_3j: l1 is -1, expected an int >= 0"),
        ((4, 0, 3), "triangle"),
    ],
)
def test_wigner_3j_errors(ls, match):
    with pytest.raises(ValueError, match=match):
        w.wigner_3j(*ls)


def test_wigner_3j_invariant_beyond_e3nn():
    R = rot.rand_matrix(1, dtype=torch.float64).numpy()
    for ls in [(16, 16, 16), (20, 12, 9), (24, 24, 2)]:
        C = _core.wigner_3j(*ls)
        D1, D2, D3 = (_core.wigner_D_from_matrix(deg, R)[0] for deg in ls)
        rotated = np.einsum("abc,ai,bj,ck->ijk", C, D1, D2, D3, optimize=True)
        assert np.abs(rotated - C).max() < 1e-12
        assert abs(np.linalg.norm(C) - 1) < 1e-14


# e3nn's own float32 matrix exponentials are off by ~2e-5 at l = 12.
@pytest.mark.parametrize("dtype, atol", [(torch.float64, 1e-11), (torch.float32, 1e-4)])
def test_wigner_D_matches_e3nn(dtype, atol):
    angles = e3nn.o3.rand_angles(10, dtype=dtype)
    angles[1][0] = 0.0  # beta = 0 and pi: gimbal lock
    angles[1][1] = math.pi
    angles[0][2] = 7.0  # angles beyond 2 pi
    for deg in range(13):
        ours = w.wigner_D(deg, *angles)
        with default_dtype(dtype):
            ref = e3nn.o3.wigner_D(deg, *angles)
        assert ours.dtype == dtype and ours.shape == (10, 2 * deg + 1, 2 * deg + 1)
        torch.testing.assert_close(ours, ref, atol=atol, rtol=0)


def test_wigner_D_broadcasts_like_e3nn():
    a = torch.rand(4, 1, dtype=torch.float64)
    b = torch.rand(1, 3, dtype=torch.float64)
    c = torch.tensor(0.3, dtype=torch.float64)
    ours = w.wigner_D(3, a, b, c)
    assert ours.shape == (4, 3, 7, 7)
    with default_dtype(torch.float64):
        ref = e3nn.o3.wigner_D(3, a, b, c)
    torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)
    assert w.wigner_D(2, c, c, c).shape == (5, 5)
    assert w.wigner_D(2, torch.zeros(0), torch.zeros(0), torch.zeros(0)).shape == (0, 5, 5)


@pytest.mark.parametrize("deg", [13, 16, 25])
def test_wigner_D_is_an_orthogonal_representation(deg):
    a1, b1, c1 = rot.rand_angles(8, dtype=torch.float64)
    a2, b2, c2 = rot.rand_angles(8, dtype=torch.float64)
    D1, D2 = w.wigner_D(deg, a1, b1, c1), w.wigner_D(deg, a2, b2, c2)
    D12 = w.wigner_D(deg, *rot.compose_angles(a1, b1, c1, a2, b2, c2))
    torch.testing.assert_close(D12, D1 @ D2, atol=1e-11, rtol=0)
    eye = torch.eye(2 * deg + 1, dtype=torch.float64)
    torch.testing.assert_close(D1 @ D1.transpose(-1, -2), eye.expand_as(D1), atol=1e-12, rtol=0)
    Dinv = w.wigner_D(deg, *rot.inverse_angles(a1, b1, c1))
    torch.testing.assert_close(Dinv, D1.transpose(-1, -2), atol=1e-12, rtol=0)


def test_wigner_D_from_matrix_matches_e3nn_irrep_D_from_matrix():
    R = e3nn.o3.rand_matrix(5, dtype=torch.float64)
    with default_dtype(torch.float64):
        for ir in ["0e", "1o", "2e", "3o", "6e"]:
            ref = e3nn.o3.Irrep(ir).D_from_matrix(R)
            ours = _core.wigner_D_from_matrix(e3nn.o3.Irrep(ir).l, R.numpy())
            np.testing.assert_allclose(ours, ref.numpy(), atol=1e-12)
        # An improper matrix gives the parity (-1)^l representation, as e3nn's "ly" irreps.
        ref = e3nn.o3.Irrep("3o").D_from_matrix(-R)
    np.testing.assert_allclose(_core.wigner_D_from_matrix(3, (-R).numpy()), ref.numpy(), atol=1e-12)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_wigner_D_derivatives_match_e3nn(dtype, tol):
    # e3nn differentiates through matrix exponentials, e3core's derivatives are closed forms:
    # both against e3nn in float64 (e3nn's own float32 second derivatives are off by 1e-3).
    for deg in range(7):
        angles = [x.requires_grad_() for x in rot.rand_angles(6, dtype=dtype)]
        angles64 = [x.detach().double().requires_grad_() for x in angles]
        with default_dtype(torch.float64):
            ref = e3nn.o3.wigner_D(deg, *angles64)
        ours = w.wigner_D(deg, *angles)
        g = torch.randn_like(ref)
        results = []
        for D, x in ((ours, angles), (ref, angles64)):
            first = torch.autograd.grad((D * g.to(D.dtype)).sum(), x, create_graph=True)
            second = torch.autograd.grad(sum((f**2).sum() for f in first), x)
            results.append([t.double() for t in first + second])
        for a, b in zip(*results, strict=True):
            torch.testing.assert_close(a, b, atol=tol * b.abs().max().item(), rtol=tol)


def test_wigner_D_gradcheck_to_the_third_derivative():
    angles = [x.requires_grad_() for x in rot.rand_angles(3, dtype=torch.float64)]
    for deg in [0, 1, 3]:

        def fn(a, b, c, deg=deg):
            return w.wigner_D(deg, a, b, c)

        assert torch.autograd.gradcheck(fn, angles)
        assert torch.autograd.gradgradcheck(fn, angles)

    def second(a, b, c):
        D = w.wigner_D(2, a, b, c)
        return torch.autograd.grad(D.sum(), (a, b, c), create_graph=True)

    assert torch.autograd.gradgradcheck(second, angles)


def test_wigner_D_gradient_of_one_angle_only():
    a, b, c = rot.rand_angles(4, dtype=torch.float64)
    b.requires_grad_()
    D = w.wigner_D(3, a, b, c)
    (grad,) = torch.autograd.grad(D.sum(), b)
    h = 1e-6
    numeric = (w.wigner_D(3, a, b + h, c) - w.wigner_D(3, a, b - h, c)).sum((-2, -1)) / (2 * h)
    torch.testing.assert_close(grad, numeric, atol=1e-7, rtol=0)


def test_d_from_matrix_gradients_match_e3nn():
    R = e3nn.o3.rand_matrix(4, dtype=torch.float64).requires_grad_()
    with default_dtype(torch.float64):
        for ir in ["1o", "2e", "3o"]:
            ref = e3nn.o3.Irrep(ir).D_from_matrix(R)
            ours = Irrep(ir).D_from_matrix(R)
            torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)
            g = torch.randn_like(ref)
            (a,) = torch.autograd.grad((ours * g).sum(), R)
            (b,) = torch.autograd.grad((ref * g).sum(), R)
            torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_wigner_D_opcheck(dtype):
    angles = [x.requires_grad_() for x in rot.rand_angles(5, dtype=dtype)]
    for order in ([0, 0, 0], [1, 0, 2]):
        torch.library.opcheck(torch.ops.e3core.wigner_D, (*angles, 2, order))
    empty = torch.zeros(0, dtype=dtype)
    assert torch.ops.e3core.wigner_D(empty, empty, empty, 1, [0, 0, 0]).shape == (0, 3, 3)


def test_wigner_D_in_torchscript_compile_and_export():
    class Rotate(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            return torch.ops.e3core.wigner_D(a, b, c, 2, [0, 0, 0])

    angles = rot.rand_angles(7, dtype=torch.float64)
    expected = w.wigner_D(2, *angles)
    torch.testing.assert_close(torch.jit.script(Rotate())(*angles), expected)
    torch.testing.assert_close(torch.compile(Rotate(), fullgraph=True)(*angles), expected)
    exported = torch.export.export(Rotate(), tuple(angles))
    torch.testing.assert_close(exported.module()(*angles), expected)


def test_wigner_D_errors():
    x = torch.zeros(3, dtype=torch.float64)
    op = torch.ops.e3core.wigner_D
    with pytest.raises(ValueError, match="l is -1"):
        op(x, x, x, -1, [0, 0, 0])
    with pytest.raises(ValueError, match="expected three derivative orders"):
        op(x, x, x, 1, [0, -1, 0])
    with pytest.raises(ValueError, match=r"beta has shape \[4\] but alpha has \[3\]"):
        op(x, torch.zeros(4, dtype=torch.float64), x, 1, [0, 0, 0])
    with pytest.raises(TypeError, match="gamma has dtype Float but alpha has Double"):
        op(x, x, x.float(), 1, [0, 0, 0])
    with pytest.raises(TypeError, match="expected float32 or float64"):
        op(x.long(), x.long(), x.long(), 1, [0, 0, 0])
    with pytest.raises(ValueError, match="wigner_D: l is -1, expected an int >= 0"):
        w.wigner_D(-1, x, x, x)
    # Integer angles take the default dtype; mixed dtypes are promoted, as e3nn's arithmetic.
    assert w.wigner_D(1, x.long(), x.long(), x.long()).dtype == torch.get_default_dtype()
    assert w.wigner_D(1, x.float(), x, x).dtype == torch.float64


def test_core_wigner_D_input_errors():
    x = np.zeros(3)
    with pytest.raises(ValueError, match="l >= 0"):
        _core.wigner_D(-1, x, x, x)
    with pytest.raises(ValueError, match="float32 or float64"):
        _core.wigner_D(1, np.zeros(3, dtype=np.int64), x, x)
    with pytest.raises(ValueError, match="same batch shape"):
        _core.wigner_D(1, x, np.zeros(4), x)
    with pytest.raises(ValueError, match="different dtype"):
        _core.wigner_D(1, x, x.astype(np.float32), x)
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 3, 3\)"):
        _core.wigner_D_from_matrix(1, np.zeros((2, 3, 4)))
    R = rot.rand_matrix(4, dtype=torch.float64).numpy()
    strided = np.ascontiguousarray(R.transpose(0, 2, 1)).transpose(0, 2, 1)  # non-contiguous
    np.testing.assert_array_equal(_core.wigner_D_from_matrix(1, strided), R)
    assert _core.wigner_D_from_matrix(2, R.astype(np.float32)).dtype == np.float32


def test_generators_and_change_of_basis_match_e3nn():
    for deg in range(4):
        torch.testing.assert_close(
            w.change_basis_real_to_complex(deg, dtype=torch.float64),
            e3nn.o3.change_basis_real_to_complex(deg, dtype=torch.float64),
        )
        torch.testing.assert_close(w.su2_generators(deg), e3nn.o3.su2_generators(deg))
        torch.testing.assert_close(w.so3_generators(deg), e3nn.o3.so3_generators(deg))
