"""Wigner 3j tensors and Wigner D matrices with e3nn's names, signatures and values.

The numbers come from the C++ core: exact Wigner 3j tables (cached), and Wigner D matrices
as the op ``torch.ops.e3core.wigner_D``, differentiable in the angles, in e3nn's real basis (at
l = 1 the components are x, y, z and D^1(R) = R).
"""

import math

import torch

from e3core import _core
from e3core._checks import check_degree
from e3core._errors import refused_as_argument_error
from e3core.util._default_type import explicit_default_types, torch_get_default_device

_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def wigner_3j(
    l1: int,
    l2: int,
    l3: int,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Real Wigner 3j tensor C of shape (2l1+1, 2l2+1, 2l3+1), as e3nn.o3.wigner_3j.

    C is invariant, C = C D^l1(g) D^l2(g) D^l3(g) for every rotation g, and has unit
    Frobenius norm. ``dtype`` defaults to ``torch.get_default_dtype()``.

    >>> import math
    >>> C = wigner_3j(1, 1, 0, dtype=torch.float64)
    >>> torch.allclose(C[:, :, 0], torch.eye(3, dtype=torch.float64) / math.sqrt(3))
    True
    """
    degrees = [check_degree("wigner_3j", f"l{i + 1}", l) for i, l in enumerate((l1, l2, l3))]
    with refused_as_argument_error():
        table = torch.from_numpy(_core.wigner_3j(*degrees))
    dtype, device = explicit_default_types(dtype, device)
    return table.to(dtype=dtype, device=device)


def wigner_D(
    l: int,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    gamma: torch.Tensor,
) -> torch.Tensor:
    """Wigner D matrices D^l(alpha, beta, gamma) of shape (..., 2l+1, 2l+1), as e3nn.o3.wigner_D.

    The angles are e3nn's Y-X-Y Euler angles (gamma applied first) and broadcast together; the
    result has their dtype (the default dtype for integer angles) and device. It is the op
    ``torch.ops.e3core.wigner_D`` (C++, CPU and CUDA), differentiable to any order in the angles
    (training through rotated frames needs second derivatives), in TorchScript and exports too.

    >>> a, b, c = torch.tensor(0.1), torch.tensor(0.2, requires_grad=True), torch.tensor(0.3)
    >>> D = wigner_D(2, a, b, c)
    >>> D.shape
    torch.Size([5, 5])
    >>> torch.autograd.grad(D[0, 1], b)[0].shape
    torch.Size([])
    """
    l = check_degree("wigner_D", "l", l)
    alpha, beta, gamma = torch.broadcast_tensors(alpha, beta, gamma)
    dtype = torch.promote_types(torch.promote_types(alpha.dtype, beta.dtype), gamma.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    alpha, beta, gamma = (x.to(dtype) for x in (alpha, beta, gamma))
    return torch.ops.e3core.wigner_D(alpha, beta, gamma, l, [0, 0, 0])


def change_basis_real_to_complex(
    l: int,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Unitary Q with e3nn's convention: complex spherical harmonics = Q @ e3nn's real ones.

    Includes e3nn's global factor (-i)^l, which makes the Clebsch-Gordan tensors real.
    ``dtype`` is the real dtype (float32 -> complex64, float64 -> complex128).

    >>> change_basis_real_to_complex(0, dtype=torch.float64)
    tensor([[1.+0.j]], dtype=torch.complex128)
    """
    q = torch.zeros((2 * l + 1, 2 * l + 1), dtype=torch.complex128)
    s = 1 / math.sqrt(2)
    for m in range(-l, 0):
        q[l + m, l - m] = s
        q[l + m, l + m] = -1j * s
    q[l, l] = 1
    for m in range(1, l + 1):
        q[l + m, l + m] = (-1) ** m * s
        q[l + m, l - m] = 1j * (-1) ** m * s
    q = (-1j) ** l * q
    dtype = _COMPLEX[dtype or torch.get_default_dtype()]
    return q.to(dtype=dtype, device=device or torch_get_default_device())


def su2_generators(j: int) -> torch.Tensor:
    """The three generators (x, z, -y as in e3nn) of su(2) in the spin-j complex basis.

    >>> su2_generators(1).shape
    torch.Size([3, 3, 3])
    """
    m = torch.arange(-j, j)
    raising = torch.diag(-torch.sqrt(j * (j + 1) - m * (m + 1)), diagonal=-1)
    m = torch.arange(-j + 1, j + 1)
    lowering = torch.diag(torch.sqrt(j * (j + 1) - m * (m - 1)), diagonal=1)
    m = torch.arange(-j, j + 1)
    return torch.stack(
        [0.5 * (raising + lowering), torch.diag(1j * m), -0.5j * (raising - lowering)], dim=0
    )


def so3_generators(l: int) -> torch.Tensor:
    """The three real generators of so(3) in e3nn's real basis of degree l, shape (3, 2l+1, 2l+1).

    >>> so3_generators(1)[1] + 0.0  # generates rotations about y
    tensor([[ 0.,  0.,  1.],
            [ 0.,  0.,  0.],
            [-1.,  0.,  0.]])
    """
    X = su2_generators(l)
    Q = change_basis_real_to_complex(l, dtype=torch.float64, device="cpu")
    return torch.real(torch.conj(Q.T) @ X.to(Q.dtype) @ Q).to(torch.get_default_dtype())
