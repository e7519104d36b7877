"""A short tour of e3core: irreps, Wigner matrices, spherical harmonics, tensor products and
message passing, and equivariance.

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
    print(
        f"{mixed}: simplify -> {mixed.simplify()}, sort -> {mixed.sort().irreps}, "
        f"regroup -> {mixed.regroup()}"
    )
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
    print(
        f"wigner_3j(8, 6, 4): norm {C.norm():.15f}, |C - C.D.D.D| = {(rotated - C).abs().max():.1e}"
    )

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
    print(
        f"energy {energy.item():.6f}, |forces| {forces.norm():.6f}, "
        f"|d(force loss)/dpos| {grad_of_force_loss.norm():.6f}"
    )

    section("Tensor products and message passing")
    tp = o3.FullyConnectedTensorProduct("8x0e+4x1o+2x2e", "0e+1o+2e", "8x0e+4x1o+2x2e")
    feats = o3.Irreps("8x0e+4x1o+2x2e").randn(20, -1)
    Rm = o3.rand_matrix()
    D_in, D_sh = tp.irreps_in1.D_from_matrix(Rm), tp.irreps_in2.D_from_matrix(Rm)
    sh3 = o3.spherical_harmonics([0, 1, 2], torch.randn(20, 3), True)
    error = tp(feats @ D_in.T, sh3 @ D_sh.T) - tp(feats, sh3) @ tp.irreps_out.D_from_matrix(Rm).T
    print(f"{tp}\nequivariance error {error.abs().max():.1e}")
    # NequIP's message: each path into its own output, weights per edge (from a radial network).
    conv = e3core.graph.TensorProductConv(
        "8x0e+4x1o",
        "0e+1o",
        "8x0e+8x1o+4x1o+4x0e",
        [
            (0, 0, 0, "uvu", True),
            (0, 1, 1, "uvu", True),
            (1, 0, 2, "uvu", True),
            (1, 1, 3, "uvu", True),
        ],
        shared_weights=False,
        internal_weights=False,
    )
    nodes = o3.Irreps("8x0e+4x1o").randn(5, -1)
    src, dst = torch.tensor([0, 1, 2, 3, 4, 0]), torch.tensor([1, 2, 3, 4, 0, 2])
    attrs = o3.spherical_harmonics([0, 1], torch.randn(6, 3), True)
    messages = conv(nodes, attrs, torch.randn(6, conv.weight_numel), src, dst)
    print(
        f"a convolution over 6 edges into 5 nodes: out {tuple(messages.shape)}, each node's "
        "messages summed in C++ without per-edge outputs in memory"
    )

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
            # Best of 5, as in bench/: the first calls also pay for fresh memory pages.
            runs = []
            for _ in range(5):
                start = time.perf_counter()
                module(x)
                runs.append(time.perf_counter() - start)
            times.append(min(runs))
        same = torch.allclose(ours(x), ref(x), atol=1e-5)
        print(
            f"l = {l}, 200,000 vectors: e3core {times[0] * 1e3:.1f} ms, e3nn "
            f"{times[1] * 1e3:.1f} ms ({times[1] / times[0]:.1f}x), same values: {same}"
        )


if __name__ == "__main__":
    main()
