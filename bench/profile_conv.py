"""Where the CPU time of the fused convolution's backward goes (issue 16), at NequIP's block shape.

Times the forward op and the backward op with each gradient alone and all three, on the
convolution of one NequIP interaction block (x = 32x0e+32x1o+32x1e, spherical harmonics l <= 1,
8 "uvu" paths, per-edge weights, edges sorted by destination), every case in turn round after
round, and prints the medians with the machine's load. The backward op is called directly
(torch.ops.e3core.tensor_product_backward), so that each line is one kernel's time; the last
line ("dd") is the backward and its derivatives given tangents, as training on forces runs them.

    python bench/profile_conv.py                  # 1 thread, 1,536 nodes, 86,000 edges
    python bench/profile_conv.py --threads 2
    python bench/profile_conv.py --nodes 64 --edges 3600 --rounds 1   # small, for callgrind:
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \\
        python bench/profile_conv.py --nodes 64 --edges 3600 --rounds 1 --only x
    callgrind_annotate /tmp/cg.out | head -60

--dtype float64 prints a checksum of every gradient too (to compare outputs across changes).
"""

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
from e3core import graph, o3


def block_conv() -> graph.TensorProductConv:
    """NequIP's convolution at l_max 1, 32 features: every path of x x Y into an irrep of l <= 1."""
    irreps_in, sh = o3.Irreps("32x0e+32x1o+32x1e"), o3.Irreps.spherical_harmonics(1)
    mid, ins = [], []
    for i1, (mul, ir1) in enumerate(irreps_in):
        for i2, (_, ir2) in enumerate(sh):
            for ir in ir1 * ir2:
                if ir.l <= 1:
                    ins.append((i1, i2, len(mid), "uvu", True))
                    mid.append((mul, ir))
    return graph.TensorProductConv(
        irreps_in, sh, o3.Irreps(mid), ins, shared_weights=False, internal_weights=False
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--nodes", type=int, default=1536)
    ap.add_argument("--edges", type=int, default=86000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--only", default=None, help="one case: fwd, x, a, w, all or dd")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    conv = block_conv()
    n, e = args.nodes, args.edges
    g = torch.Generator().manual_seed(0)
    src, dst = torch.randint(0, n, (e,), generator=g), torch.randint(0, n, (e,), generator=g)
    order = torch.argsort(dst * n + src)
    src, dst = src[order], dst[order]
    x = torch.randn(n, conv.irreps_in1.dim, generator=g, dtype=dtype)
    a = torch.randn(e, conv.irreps_in2.dim, generator=g, dtype=dtype)
    w = torch.randn(e, conv.weight_numel, generator=g, dtype=dtype)
    go = torch.randn(n, conv.irreps_out.dim, generator=g, dtype=dtype)
    ops = torch.ops.e3core

    def backward(mask: list[bool]) -> Callable[[], object]:
        return lambda: ops.tensor_product_backward(x, a, w, go, conv.plan, src, dst, mask)

    tangents = [torch.randn(t.shape, generator=g, dtype=dtype) for t in (x, a, w)]

    def double_backward() -> object:
        # What loss.backward() does after forces with create_graph: the backward's own
        # derivatives, without a graph (with e3core before tensor_product_double_backward
        # existed, three backward and three forward calls).
        inputs = [t.clone().requires_grad_() for t in (x, a, w, go)]
        grads = ops.tensor_product_backward(*inputs, conv.plan, src, dst, [True] * 3)
        return torch.autograd.grad(grads, inputs, tangents)

    cases = {
        "fwd": lambda: ops.tensor_product(x, a, w, conv.plan, src, dst, [n, conv.irreps_out.dim]),
        "x": backward([True, False, False]),
        "a": backward([False, True, False]),
        "w": backward([False, False, True]),
        "all": backward([True, True, True]),
        "dd": double_backward,
    }
    if args.only is not None:
        cases = {args.only: cases[args.only]}
    for case in cases.values():
        case()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.rounds):
        for k, case in cases.items():
            t0 = time.perf_counter()
            case()
            times[k].append(1e3 * (time.perf_counter() - t0))
    print(f"{n} nodes, {e} edges, {args.dtype}, {args.threads} thread(s), load {os.getloadavg()}")
    names = {"fwd": "forward", "x": "grad x", "a": "grad edge_attr", "w": "grad weight"}
    names.update(all="all three grads", dd="all three grads, then their derivatives")
    for k, v in times.items():
        print(f"{names[k]:>40}: {statistics.median(v):7.2f} ms")
    if args.dtype == "float64" and args.only is None:
        gx, ga, gw = ops.tensor_product_backward(x, a, w, go, conv.plan, src, dst, [True] * 3)
        for name, t in (("grad x", gx), ("grad a", ga), ("grad w", gw)):
            print(f"{name} checksum {t.double().pow(2).sum().item():.17g}")


if __name__ == "__main__":
    main()
