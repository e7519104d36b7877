"""Spherical harmonics of angles (o3.spherical_harmonics_alpha_beta and friends) against e3nn."""

import e3nn.o3
import pytest
import torch
from e3core import o3
from e3nn_reference import default_dtype

DTYPES = [(torch.float32, 1e-5), (torch.float64, 1e-12)]


def angles(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    alpha = torch.rand(5, 4, generator=generator, dtype=dtype) * 6.2
    # Away from the poles, where e3nn's Legendre form and the Cartesian one differ in gradient.
    beta = 0.1 + torch.rand(5, 4, generator=generator, dtype=dtype) * 2.9
    return alpha, beta


@pytest.mark.parametrize(("dtype", "tol"), DTYPES)
@pytest.mark.parametrize("normalization", ["integral", "component", "norm"])
@pytest.mark.parametrize("l", [0, 3, [1, 2, 2], "2x1o+1x2e"])
def test_values_and_gradients_as_e3nns(dtype, tol, normalization, l):
    with default_dtype(dtype):  # e3nn builds its Legendre tables in the default dtype
        ours_l = o3.Irreps(l) if isinstance(l, str) else l
        theirs_l = e3nn.o3.Irreps(l) if isinstance(l, str) else l
        alpha, beta = (t.requires_grad_() for t in angles(dtype))
        ours = o3.spherical_harmonics_alpha_beta(ours_l, alpha, beta, normalization=normalization)
        theirs = e3nn.o3.spherical_harmonics_alpha_beta(
            theirs_l, alpha, beta, normalization=normalization
        )
        assert ours.shape == theirs.shape and ours.dtype == dtype
        torch.testing.assert_close(ours, theirs, atol=tol * 10, rtol=tol)
        weights = torch.randn_like(ours)
        grads = torch.autograd.grad((ours * weights).sum(), [alpha, beta])
        grads_e3nn = torch.autograd.grad((theirs * weights).sum(), [alpha, beta])
        for g, h in zip(grads, grads_e3nn, strict=True):
            torch.testing.assert_close(g, h, atol=tol * 100, rtol=tol * 10)


@pytest.mark.parametrize("l", [0, 1, 4])
def test_alpha_part(l):
    alpha = torch.linspace(-3, 3, 7, dtype=torch.float64)
    torch.testing.assert_close(
        o3.spherical_harmonics_alpha(l, alpha), e3nn.o3.spherical_harmonics_alpha(l, alpha)
    )


def test_module_scripts_and_rotates_as_its_irreps():
    module = o3.SphericalHarmonicsAlphaBeta([1, 2], normalization="component")
    scripted = torch.jit.script(module)
    alpha, beta = angles(torch.float32)
    torch.testing.assert_close(scripted(alpha, beta), module(alpha, beta))
    # The harmonics of the rotated point are D(R) times those of the point.
    rotation = o3.rand_matrix(dtype=torch.float64)
    a, b = angles(torch.float64)
    new_a, new_b = o3.xyz_to_angles(o3.angles_to_xyz(a, b) @ rotation.T)
    d = o3.Irreps("1o+2e").D_from_matrix(rotation)
    module = module.double()
    torch.testing.assert_close(module(new_a, new_b), module(a, b) @ d.T)
