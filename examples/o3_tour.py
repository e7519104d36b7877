"""A short tour of e3core.o3: irreps, Wigner matrices, spherical harmonics and equivariance.

Run it with ``python examples/o3_tour.py`` (``bash scripts/demo.sh`` sets up and runs it).
"""

import time

import e3core
import torch
from e3core import o3


def section(title: str) -> None:
    """Prints a section heading."""
    print(f"\n== {title}")


def main() -> None:
    """Walks through the o3 API, checking each property it shows."""
    torch.manual_seed(0)
    print(f"e3core {e3core.__version__}, torch {torch.__version__}")

    section("Irreps: e3nn's strings and algebra")
    irreps = o3.Irreps("16x0e+8x1o+4x2e")
    print(f"{irreps}: dim {irreps.dim}, {irreps.num_irreps} irreps, ls {sorted(set(irreps.ls))}")
    mixed = o3.Irreps("1o+1o+0e+0o+1o")
    print(f"{mixed}: simplify -> {mixed.simplify()}, sort -> {mixed.sort().irreps}, "
          f"regroup -> {mixed.regroup()}")
    print(f"spherical harmonics up to l = 3: {o3.Irreps.spherical_harmonics(3)}")
    try:
        o3.Irreps("16x0e+8x1q")
    except ValueError as error:
        print(f"a malformed string is refused: {error}")

    section("Wigner 3j: real, invariant, unit norm")
    C = o3.wigner_3j(1, 1, 0, dtype=torch.float64)
    print(f"wigner_3j(1, 1, 0) * sqrt(3) =\n{(C[:, :, 0] * 3**0.5).numpy().round(12)}")
    C = o3.wigner_3j(8, 6, 4, dtype=torch.float64)
    R = o3.rand_matrix(dtype=torch.float64)
    D = [o3.Irrep(l, 1).D_from_matrix(R) for l in (8, 6, 4)]
    rotated = torch.einsum("ijk,il,jm,kn->lmn", C, *D)
    print(f"wigner_3j(8, 6, 4): norm {C.norm():.15f}, |C - C.D.D.D| = "
          f"{(rotated - C).abs().max():.1e}")

    section("Spherical harmonics: D(R) Y(x) = Y(R x), any degree")
    lmax = 16
    sh = o3.SphericalHarmonics(list(range(lmax + 1)), normalize=True, normalization="component")
    x = torch.randn(1000, 3, dtype=torch.float64)
    for det, name in ((1, "rotation"), (-1, "rotation and inversion")):
        Rm = o3.rand_matrix(dtype=torch.float64) * det
        error = (sh(x @ Rm.T) - sh(x) @ sh.irreps_out.D_from_matrix(Rm).T).abs().max()
        print(f"l <= {lmax}, {name}: max |Y(Rx) - D(R)Y(x)| = {error:.1e}")

    section("Forces need derivatives of derivatives: C++ autograd does both")
    pos = torch.randn(50, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(sh.irreps_out.dim, dtype=torch.float64)
    energy = (sh(pos) * weights).sum()
    (forces,) = torch.autograd.grad(-energy, pos, create_graph=True)
    (grad_of_force_loss,) = torch.autograd.grad(forces.pow(2).sum(), pos)
    print(f"energy {energy.item():.6f}, |forces| {forces.norm():.6f}, "
          f"|d(force loss)/dpos| {grad_of_force_loss.norm():.6f}")

    section("Speed against e3nn (if installed)")
    try:
        import e3nn.o3
    except ImportError:
        print("e3nn is not installed; skipped")
        return
    x = torch.randn(200_000, 3)
    for l in (3, 8):
        ours = o3.SphericalHarmonics(list(range(l + 1)), True)
        ref = e3nn.o3.SphericalHarmonics(list(range(l + 1)), True)
        times = []
        for module in (ours, ref):
            module(x)
            start = time.perf_counter()
            for _ in range(5):
                module(x)
            times.append((time.perf_counter() - start) / 5)
        same = torch.allclose(ours(x), ref(x), atol=1e-5)
        print(f"l = {l}, 200,000 vectors: e3core {times[0] * 1e3:.1f} ms, e3nn "
              f"{times[1] * 1e3:.1f} ms ({times[1] / times[0]:.1f}x), same values: {same}")


if __name__ == "__main__":
    main()
