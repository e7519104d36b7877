"""Rotations: e3nn.o3's parametrisations and conversions, in torch (autograd, any device).

Euler angles are Y-X-Y, R(alpha, beta, gamma) = Y(alpha) X(beta) Y(gamma) with gamma applied
first; quaternions are (w, x, y, z); axis-angle is an axis (..., 3) with an angle (...).
Formulas and branches are e3nn's, so every output (matrix_to_angles included) matches it.
"""

import math

import torch
from torch.nn.functional import normalize

from e3core._errors import ArgumentError

Device = torch.device | str | None
Tensor3 = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def rand_matrix(
    *shape: int,
    requires_grad: bool = False,
    dtype: torch.dtype | None = None,
    device: Device = None,
) -> torch.Tensor:
    """Random rotation matrices (Haar measure) of shape (*shape, 3, 3).

    >>> rand_matrix(2).shape
    torch.Size([2, 3, 3])
    """
    R = angles_to_matrix(*rand_angles(*shape, dtype=dtype, device=device))
    return R.detach().requires_grad_(requires_grad)


def identity_angles(
    *shape: int,
    requires_grad: bool = False,
    dtype: torch.dtype | None = None,
    device: Device = None,
) -> Tensor3:
    """Angles (alpha, beta, gamma) of the identity, each of shape ``shape``.

    >>> identity_angles(2)[0]
    tensor([0., 0.])
    """
    abc = torch.zeros(3, *shape, dtype=dtype, device=device)
    return tuple(x.requires_grad_(requires_grad) for x in abc)


def rand_angles(
    *shape: int,
    requires_grad: bool = False,
    dtype: torch.dtype | None = None,
    device: Device = None,
) -> Tensor3:
    """Angles of Haar-random rotations: alpha, gamma uniform in [0, 2 pi), beta = acos(U[-1, 1)).

    >>> [x.shape for x in rand_angles(4)]
    [torch.Size([4]), torch.Size([4]), torch.Size([4])]
    """
    alpha, gamma = 2 * math.pi * torch.rand(2, *shape, dtype=dtype, device=device)
    beta = torch.rand(shape, dtype=dtype, device=device).mul(2).sub(1).acos()
    return tuple(x.detach().requires_grad_(requires_grad) for x in (alpha, beta, gamma))


def compose_angles(
    a1: torch.Tensor,
    b1: torch.Tensor,
    c1: torch.Tensor,
    a2: torch.Tensor,
    b2: torch.Tensor,
    c2: torch.Tensor,
) -> Tensor3:
    """Angles of R(a1, b1, c1) R(a2, b2, c2) (the second rotation is applied first).

    >>> a, b, c = compose_angles(*identity_angles(), *identity_angles())
    >>> float(b)
    0.0
    """
    a1, b1, c1, a2, b2, c2 = torch.broadcast_tensors(a1, b1, c1, a2, b2, c2)
    return matrix_to_angles(angles_to_matrix(a1, b1, c1) @ angles_to_matrix(a2, b2, c2))


def inverse_angles(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> Tensor3:
    """Angles of the inverse rotation: (-c, -b, -a).

    >>> inverse_angles(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0))
    (tensor(-3.), tensor(-2.), tensor(-1.))
    """
    return -c, -b, -a


def identity_quaternion(
    *shape: int,
    requires_grad: bool = False,
    dtype: torch.dtype | None = None,
    device: Device = None,
) -> torch.Tensor:
    """Quaternion (1, 0, 0, 0) of the identity, shape (*shape, 4).

    >>> identity_quaternion()
    tensor([1., 0., 0., 0.])
    """
    q = torch.zeros(*shape, 4, dtype=dtype, device=device)
    q[..., 0] = 1
    return q.detach().requires_grad_(requires_grad)


def rand_quaternion(
    *shape: int,
    requires_grad: bool = False,
    dtype: torch.dtype | None = None,
    device: Device = None,
) -> torch.Tensor:
    """Unit quaternions of Haar-random rotations, shape (*shape, 4).

    >>> rand_quaternion(3).norm(dim=-1).allclose(torch.ones(3))
    True
    """
    q = angles_to_quaternion(*rand_angles(*shape, dtype=dtype, device=device))
    return q.detach().requires_grad_(requires_grad)


def compose_quaternion(q1: torch.Tensor, q2: torch.Tensor) -> torch.Tensor:
    """Hamilton product q1 q2 (q2 applied first), shape (..., 4).

    >>> compose_quaternion(identity_quaternion(), identity_quaternion())
    tensor([1., 0., 0., 0.])
    """
    q1, q2 = torch.broadcast_tensors(q1, q2)
    w1, x1, y1, z1 = q1.unbind(-1)
    w2, x2, y2, z2 = q2.unbind(-1)
    return torch.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            x1 * w2 + w1 * x2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        dim=-1,
    )


def inverse_quaternion(q: torch.Tensor) -> torch.Tensor:
    """Inverse of a unit quaternion (its conjugate).

    >>> inverse_quaternion(torch.tensor([0.0, 1.0, 0.0, 0.0]))
    tensor([ 0., -1., -0., -0.])
    """
    q = q.clone()
    q[..., 1:].neg_()
    return q


def rand_axis_angle(
    *shape: int,
    requires_grad: bool = False,
    dtype: torch.dtype | None = None,
    device: Device = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Haar-random rotations as (axis (*shape, 3), angle (*shape)).

    >>> axis, angle = rand_axis_angle(5)
    >>> axis.shape, angle.shape
    (torch.Size([5, 3]), torch.Size([5]))
    """
    axis, angle = angles_to_axis_angle(*rand_angles(*shape, dtype=dtype, device=device))
    return axis.detach().requires_grad_(requires_grad), angle.detach().requires_grad_(requires_grad)


def compose_axis_angle(
    axis1: torch.Tensor, angle1: torch.Tensor, axis2: torch.Tensor, angle2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Axis-angle of (axis1, angle1) after (axis2, angle2).

    >>> y = torch.tensor([0.0, 1.0, 0.0])
    >>> compose_axis_angle(y, torch.tensor(0.5), y, torch.tensor(0.25))[1]
    tensor(0.7500)
    """
    return quaternion_to_axis_angle(
        compose_quaternion(
            axis_angle_to_quaternion(axis1, angle1), axis_angle_to_quaternion(axis2, angle2)
        )
    )


def _stack_matrix(rows: list[list[torch.Tensor]]) -> torch.Tensor:
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)


def matrix_x(angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) by ``angle`` about the x axis.

    >>> matrix_x(torch.tensor(0.0)).equal(torch.eye(3))
    True
    """
    c, s, o, z = angle.cos(), angle.sin(), torch.ones_like(angle), torch.zeros_like(angle)
    return _stack_matrix([[o, z, z], [z, c, -s], [z, s, c]])


def matrix_y(angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) by ``angle`` about the y axis.

    >>> matrix_y(torch.tensor(math.pi / 2)).round() + 0.0
    tensor([[ 0.,  0.,  1.],
            [ 0.,  1.,  0.],
            [-1.,  0.,  0.]])
    """
    c, s, o, z = angle.cos(), angle.sin(), torch.ones_like(angle), torch.zeros_like(angle)
    return _stack_matrix([[c, z, s], [z, o, z], [-s, z, c]])


def matrix_z(angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) by ``angle`` about the z axis.

    >>> matrix_z(torch.zeros(2)).shape
    torch.Size([2, 3, 3])
    """
    c, s, o, z = angle.cos(), angle.sin(), torch.ones_like(angle), torch.zeros_like(angle)
    return _stack_matrix([[c, -s, z], [s, c, z], [z, z, o]])


def angles_to_matrix(alpha: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """R = matrix_y(alpha) @ matrix_x(beta) @ matrix_y(gamma), shape (..., 3, 3).

    >>> angles_to_matrix(*identity_angles()).equal(torch.eye(3))
    True
    """
    alpha, beta, gamma = torch.broadcast_tensors(alpha, beta, gamma)
    return matrix_y(alpha) @ matrix_x(beta) @ matrix_y(gamma)


def matrix_to_angles(R: torch.Tensor) -> Tensor3:
    """Y-X-Y Euler angles of rotation matrices (..., 3, 3), chosen as e3nn does.

    >>> a, b, c = matrix_to_angles(matrix_x(torch.tensor(0.5)))
    >>> float(b)
    0.5
    """
    if not torch.allclose(torch.det(R), R.new_tensor(1)):
        raise ArgumentError("matrix_to_angles: R must be rotation matrices with determinant 1")
    a, b = xyz_to_angles(R @ R.new_tensor([0.0, 1.0, 0.0]))
    R = angles_to_matrix(a, b, torch.zeros_like(a)).transpose(-1, -2) @ R
    c = torch.atan2(R[..., 0, 2], R[..., 0, 0])
    return a, b, c


def angles_to_quaternion(
    alpha: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor
) -> torch.Tensor:
    """Unit quaternions (..., 4) of Y-X-Y Euler angles.

    >>> angles_to_quaternion(*identity_angles())
    tensor([1., 0., 0., 0.])
    """
    alpha, beta, gamma = torch.broadcast_tensors(alpha, beta, gamma)
    qa = axis_angle_to_quaternion(alpha.new_tensor([0.0, 1.0, 0.0]), alpha)
    qb = axis_angle_to_quaternion(beta.new_tensor([1.0, 0.0, 0.0]), beta)
    qc = axis_angle_to_quaternion(gamma.new_tensor([0.0, 1.0, 0.0]), gamma)
    return compose_quaternion(qa, compose_quaternion(qb, qc))


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """Unit quaternions (..., 4) of rotation matrices (..., 3, 3).

    >>> matrix_to_quaternion(torch.eye(3))
    tensor([1., 0., 0., 0.])
    """
    return axis_angle_to_quaternion(*matrix_to_axis_angle(R))


def axis_angle_to_quaternion(xyz: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Unit quaternions (..., 4) of rotations by ``angle`` about ``xyz`` (normalised here).

    >>> axis_angle_to_quaternion(torch.tensor([0.0, 0.0, 2.0]), torch.tensor(math.pi)).round() + 0.0
    tensor([0., 0., 0., 1.])
    """
    xyz, angle = torch.broadcast_tensors(xyz, angle[..., None])
    xyz = normalize(xyz, dim=-1)
    return torch.cat([torch.cos(angle[..., :1] / 2), xyz * torch.sin(angle / 2)], dim=-1)


def quaternion_to_axis_angle(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(axis (..., 3), angle (...) in [0, 2 pi]) of unit quaternions (..., 4).

    >>> quaternion_to_axis_angle(torch.tensor([0.0, 1.0, 0.0, 0.0]))[1]
    tensor(3.1416)
    """
    angle = 2 * torch.acos(q[..., 0].clamp(-1, 1))
    axis = normalize(q[..., 1:], dim=-1)
    return axis, angle


def matrix_to_axis_angle(R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(axis (..., 3), angle (...) in [0, pi]) of rotation matrices (..., 3, 3).

    >>> matrix_to_axis_angle(matrix_z(torch.tensor(0.5)))
    (tensor([0., 0., 1.]), tensor(0.5000))
    """
    if not torch.allclose(torch.det(R), R.new_tensor(1)):
        raise ArgumentError("matrix_to_axis_angle: R must be rotation matrices with determinant 1")
    tr = R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2]
    angle = torch.acos(tr.sub(1).div(2).clamp(-1, 1))
    axis = torch.stack(
        [R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]],
        dim=-1,
    )
    return normalize(axis, dim=-1), angle


def angles_to_axis_angle(
    alpha: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(axis, angle) of Y-X-Y Euler angles.

    >>> angles_to_axis_angle(torch.tensor(0.5), torch.tensor(0.0), torch.tensor(0.0))
    (tensor([0., 1., 0.]), tensor(0.5000))
    """
    return matrix_to_axis_angle(angles_to_matrix(alpha, beta, gamma))


def axis_angle_to_matrix(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) by ``angle`` about ``axis``.

    >>> axis_angle_to_matrix(torch.tensor([1.0, 0.0, 0.0]), torch.tensor(0.5)).allclose(
    ...     matrix_x(torch.tensor(0.5)), atol=1e-6)
    True
    """
    axis, angle = torch.broadcast_tensors(axis, angle[..., None])
    alpha, beta = xyz_to_angles(axis)
    R = angles_to_matrix(alpha, beta, torch.zeros_like(beta))
    return R @ matrix_y(angle[..., 0]) @ R.transpose(-2, -1)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of unit quaternions (..., 4).

    >>> quaternion_to_matrix(identity_quaternion()).allclose(torch.eye(3))
    True
    """
    return axis_angle_to_matrix(*quaternion_to_axis_angle(q))


def quaternion_to_angles(q: torch.Tensor) -> Tensor3:
    """Y-X-Y Euler angles of unit quaternions (..., 4).

    >>> [x.shape for x in quaternion_to_angles(rand_quaternion(2))]
    [torch.Size([2]), torch.Size([2]), torch.Size([2])]
    """
    return matrix_to_angles(quaternion_to_matrix(q))


def axis_angle_to_angles(axis: torch.Tensor, angle: torch.Tensor) -> Tensor3:
    """Y-X-Y Euler angles of rotations by ``angle`` about ``axis``.

    >>> a, b, c = axis_angle_to_angles(torch.tensor([1.0, 0.0, 0.0]), torch.tensor(0.5))
    >>> round(float(b), 4)
    0.5
    """
    return matrix_to_angles(axis_angle_to_matrix(axis, angle))


def angles_to_xyz(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Point R(alpha, beta, 0) e_y = (sin b sin a, cos b, sin b cos a) on the sphere, (..., 3).

    >>> angles_to_xyz(torch.tensor(1.7), torch.tensor(0.0)).abs()
    tensor([0., 1., 0.])
    """
    alpha, beta = torch.broadcast_tensors(alpha, beta)
    x = torch.sin(beta) * torch.sin(alpha)
    y = torch.cos(beta)
    z = torch.sin(beta) * torch.cos(alpha)
    return torch.stack([x, y, z], dim=-1)


def xyz_to_angles(xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha, beta) with xyz / |xyz| = angles_to_xyz(alpha, beta); a zero vector gives no NaN.

    >>> xyz_to_angles(torch.tensor([0.0, 0.0, 2.0]))
    (tensor(0.), tensor(1.5708))
    """
    xyz = normalize(xyz, p=2.0, dim=-1).clamp(-1, 1)
    beta = torch.acos(xyz[..., 1])
    alpha = torch.atan2(xyz[..., 0], xyz[..., 2])
    return alpha, beta
