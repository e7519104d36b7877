"""Rotation helpers against e3nn 0.6: e3core's one implementation of them is torch code, with
autograd on every device, as e3nn's."""

import math

import e3nn.o3
import pytest
import torch
from e3core.o3 import _rotation as rot

DTYPES = [(torch.float64, 1e-10), (torch.float32, 1e-4)]


def _inputs(kind, dtype, n=20):
    g = torch.Generator().manual_seed(0)
    abc = e3nn.o3.rand_angles(n, dtype=dtype)
    if kind == "angles":
        return abc
    if kind == "angles2":
        return abc + e3nn.o3.rand_angles(n, dtype=dtype)
    if kind == "angle":
        return (abc[0],)
    if kind == "angle_beta":
        return abc[:2]
    if kind == "matrix":
        return (e3nn.o3.angles_to_matrix(*abc),)
    if kind == "quaternion":
        return (e3nn.o3.angles_to_quaternion(*abc),)
    if kind == "xyz":
        return (torch.randn(n, 3, generator=g, dtype=dtype),)
    if kind == "axis_angle":
        return torch.randn(n, 3, generator=g, dtype=dtype), abc[0]
    if kind == "axis_angle2":
        return _inputs("axis_angle", dtype, n) + (torch.randn(n, 3, dtype=dtype), abc[2])
    raise AssertionError(kind)


CONVERSIONS = {
    "matrix_x": "angle",
    "matrix_y": "angle",
    "matrix_z": "angle",
    "angles_to_matrix": "angles",
    "matrix_to_angles": "matrix",
    "angles_to_quaternion": "angles",
    "quaternion_to_angles": "quaternion",
    "matrix_to_quaternion": "matrix",
    "quaternion_to_matrix": "quaternion",
    "axis_angle_to_quaternion": "axis_angle",
    "quaternion_to_axis_angle": "quaternion",
    "matrix_to_axis_angle": "matrix",
    "axis_angle_to_matrix": "axis_angle",
    "angles_to_axis_angle": "angles",
    "axis_angle_to_angles": "axis_angle",
    "compose_angles": "angles2",
    "inverse_angles": "angles",
    "compose_quaternion": "quaternion",
    "inverse_quaternion": "quaternion",
    "compose_axis_angle": "axis_angle2",
    "angles_to_xyz": "angle_beta",
    "xyz_to_angles": "xyz",
}


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _assert_outputs_close(ours, ref, atol):
    ours, ref = _as_tuple(ours), _as_tuple(ref)
    assert len(ours) == len(ref)
    for o, r in zip(ours, ref, strict=True):
        o = torch.as_tensor(o)
        assert o.dtype == r.dtype and o.shape == r.shape
        torch.testing.assert_close(o, r, atol=atol, rtol=0)


@pytest.mark.parametrize("dtype, atol", DTYPES)
@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_torch_api_matches_e3nn(name, dtype, atol):
    args = _inputs(CONVERSIONS[name], dtype)
    if name == "compose_quaternion":
        args = args + _inputs("quaternion", dtype)
    _assert_outputs_close(getattr(rot, name)(*args), getattr(e3nn.o3, name)(*args), atol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_random_and_identity_shapes_dtypes_and_grad(dtype):
    R = rot.rand_matrix(2, 3, dtype=dtype, requires_grad=True)
    assert R.shape == (2, 3, 3, 3) and R.dtype == dtype and R.requires_grad
    torch.testing.assert_close(torch.det(R), torch.ones(2, 3, dtype=dtype))
    for x in rot.rand_angles(4, dtype=dtype) + rot.identity_angles(4, dtype=dtype):
        assert x.shape == (4,) and x.dtype == dtype and not x.requires_grad
    q = rot.rand_quaternion(5, dtype=dtype)
    torch.testing.assert_close(q.norm(dim=-1), torch.ones(5, dtype=dtype))
    assert rot.identity_quaternion(2, dtype=dtype).tolist() == [[1, 0, 0, 0]] * 2
    axis, angle = rot.rand_axis_angle(6, dtype=dtype, requires_grad=True)
    assert axis.shape == (6, 3) and angle.shape == (6,) and angle.requires_grad
    alpha, beta, gamma = rot.rand_angles(100_000, dtype=torch.float64)
    assert abs(beta.cos().mean().item()) < 0.02  # Haar: cos(beta) uniform on [-1, 1]
    assert 0 <= beta.min() and beta.max() <= math.pi


def test_gradients_flow_through_conversions():
    abc = tuple(x.detach().requires_grad_() for x in e3nn.o3.rand_angles(3, dtype=torch.float64))
    assert torch.autograd.gradcheck(rot.angles_to_matrix, abc)
    assert torch.autograd.gradcheck(rot.angles_to_quaternion, abc)
    xyz = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rot.xyz_to_angles, (xyz,))


def test_torch_api_rejects_improper_matrices():
    with pytest.raises(ValueError, match="determinant 1"):
        rot.matrix_to_angles(-torch.eye(3))
    with pytest.raises(ValueError, match="determinant 1"):
        rot.matrix_to_axis_angle(torch.diag(torch.tensor([1.0, 1.0, -1.0])))


def test_xyz_to_angles_zero_vector_is_finite():
    alpha, beta = rot.xyz_to_angles(torch.zeros(3))
    assert alpha.item() == 0.0 and beta.item() == pytest.approx(math.pi / 2)
