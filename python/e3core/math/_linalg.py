"""Small linear algebra of e3nn.math: block-diagonal sums, Gram-Schmidt bases."""

import torch

from e3core._errors import ArgumentError


def direct_sum(*matrices: torch.Tensor) -> torch.Tensor:
    """The block-diagonal matrix of ``matrices`` (..., m_k, n_k), batch dimensions shared.

    Example::

        >>> direct_sum(torch.ones(1, 1), 2 * torch.ones(2, 1))
        tensor([[1., 0.],
                [0., 2.],
                [0., 2.]])
    """
    if not matrices:
        raise ArgumentError("direct_sum: give at least one matrix")
    rows = sum(m.shape[-2] for m in matrices)
    cols = sum(m.shape[-1] for m in matrices)
    out = matrices[0].new_zeros(matrices[0].shape[:-2] + (rows, cols))
    i = j = 0
    for m in matrices:
        out[..., i : i + m.shape[-2], j : j + m.shape[-1]] = m
        i += m.shape[-2]
        j += m.shape[-1]
    return out


def _clean(vector: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Entries below ``eps`` zeroed, and the sign that makes the first non-zero entry positive."""
    vector = torch.where(vector.abs() < eps, torch.zeros_like(vector), vector)
    return vector, vector[vector.nonzero()[0, 0]].sign()


def orthonormalize(original: torch.Tensor, eps: float = 1e-9) -> tuple[torch.Tensor, torch.Tensor]:
    """Gram-Schmidt on the rows of ``original`` (n, d), in order, dropping rows that depend on
    earlier ones (norm below 2 ``eps`` after the projections): the orthonormal rows ``y``
    (k, d) and ``A`` (k, n) with ``y = A @ original``. Entries below ``eps`` are set to zero
    and each row's first non-zero entry is positive, as in e3nn. The default ``eps`` suits
    float64; float32 round-off (about 1e-7) needs a larger one to drop dependent rows.

    Example::

        >>> x = torch.tensor([[1.0, 1.0], [2.0, 2.0], [0.0, 1.0]], dtype=torch.float64)
        >>> y, A = orthonormalize(x)
        >>> y
        tensor([[ 0.7071,  0.7071],
                [ 0.7071, -0.7071]], dtype=torch.float64)
        >>> torch.allclose(A @ x, y)
        True
    """
    if original.dim() != 2:
        raise ArgumentError(
            f"orthonormalize: original has shape {list(original.shape)}, expected (n, d)"
        )
    rows: list[torch.Tensor] = []
    coefficients: list[torch.Tensor] = []
    for i, x in enumerate(original):
        c = torch.zeros(len(original), dtype=original.dtype, device=original.device)
        c[i] = 1
        for y, cy in zip(rows, coefficients, strict=True):
            dot = torch.dot(x, y)
            x = x - dot * y
            c = c - dot * cy
        norm = x.norm()
        if norm > 2 * eps:
            x, sign = _clean(x / norm, eps)
            c = torch.where((c / norm).abs() < eps, torch.zeros_like(c), c / norm)
            rows.append(sign * x)
            coefficients.append(sign * c)
    if not rows:
        return original.new_zeros((0, original.shape[1])), original.new_zeros((0, len(original)))
    return torch.stack(rows), torch.stack(coefficients)


def complete_basis(vecs: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Orthonormal rows that complete the rows of ``vecs`` (n, d), themselves orthonormal, to a
    basis of R^d: Gram-Schmidt on the unit vectors e_1 .. e_d against ``vecs`` and the rows
    found so far, with e3nn's cleaning (entries below ``eps`` zeroed, first non-zero positive).

    Example::

        >>> complete_basis(torch.tensor([[1.0, 0.0, 0.0]]))
        tensor([[0., 1., 0.],
                [0., 0., 1.]])
    """
    if vecs.dim() != 2:
        raise ArgumentError(f"complete_basis: vecs has shape {list(vecs.shape)}, expected (n, d)")
    dim = vecs.shape[1]
    basis = [v / v.norm() for v in vecs]
    found: list[torch.Tensor] = []
    for x in torch.eye(dim, dtype=vecs.dtype, device=vecs.device):
        for y in basis + found:
            x = x - torch.dot(x, y) * y
        norm = x.norm()
        if norm > 2 * eps:
            x, sign = _clean(x / norm, eps)
            found.append(sign * x)
    if not found:
        return vecs.new_zeros((0, dim))
    return torch.stack(found)
