"""GPU timings of the fused convolution: e3core against e3nn (eager and torch.compile'd) and
cuEquivariance, side by side in one run, on the NequIP and MACE shapes.

Run on a machine with a CUDA GPU, from the repository root, with e3core built with its CUDA
kernels, e3nn and (when installed) cuequivariance-torch::

    python bench/bench_cuda.py                   # every case (several minutes)
    python bench/bench_cuda.py --quick           # 50,000 edges, float32 only
    python bench/bench_cuda.py --edges 200000 --dtypes float64

Cases (convolutions over edges j -> i, "uvu", every path into l <= 3, per-edge weights):

- NequIP: 64x0e+64x1o+64x2e+64x3o x 0e+1o+2e+3o;
- MACE: 128x0e+128x1o+128x2e x 0e+1o+2e+3o;

on 50,000 to 200,000 edges between edges / 20 nodes: forward, forward + backward, and a
force-training step (the gradient with respect to the edge attributes, differentiated again).
e3nn and cuEquivariance gather x[src] and scatter with index_add (cuEquivariance fuses them
where its version can). Times are medians of CUDA-event timings after warm-up; the speed-up is
the other's time over e3core's; the floor is the time to move the bytes a step must read and
write once at the measured device-to-device copy bandwidth. Output is markdown for
docs/benchmarks.md.
"""

import argparse
import datetime
import statistics
import sys
from collections.abc import Callable

import torch
from bench_tensor_product import conv_instructions
from e3core import graph

CASES = {
    "nequip": ("64x0e+64x1o+64x2e+64x3o", "0e+1o+2e+3o", 3),
    "mace": ("128x0e+128x1o+128x2e", "0e+1o+2e+3o", 3),
}
KINDS = ["forward", "forward+backward", "force step"]


def cuda_time(fn: Callable[[], object], repeats: int = 20) -> float:
    """Median milliseconds of fn on the current stream, after three warm-up runs."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def copy_bandwidth() -> float:
    """Bytes read + written per second by a 1 GiB device-to-device copy."""
    src = torch.empty(2**28, device="cuda")
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / (cuda_time(lambda: dst.copy_(src), 10) / 1e3)


class Case:
    """One shape, size and dtype: the inputs, and each implementation's convolution."""

    def __init__(self, case: str, edges: int, dtype: torch.dtype) -> None:
        import e3nn.o3

        torch.manual_seed(0)
        irreps_x, irreps_sh, lmax = CASES[case]
        irreps_out, ins = conv_instructions(irreps_x, irreps_sh, lmax)
        kw = dict(shared_weights=False, internal_weights=False)
        self.ours = graph.TensorProductConv(irreps_x, irreps_sh, irreps_out, ins, **kw)
        self.ours = self.ours.to("cuda", dtype)
        self.ref = e3nn.o3.TensorProduct(irreps_x, irreps_sh, irreps_out, ins, **kw)
        self.ref = self.ref.to("cuda", dtype)
        self.nodes = max(edges // 20, 1)
        d = dict(device="cuda", dtype=dtype)
        self.x = torch.randn(self.nodes, self.ours.irreps_in1.dim, **d)
        self.attr = torch.randn(edges, self.ours.irreps_in2.dim, **d)
        self.w = torch.randn(edges, self.ours.weight_numel, **d)
        self.dst = torch.randint(0, self.nodes, (edges,), device="cuda").sort().values
        self.src = torch.randint(0, self.nodes, (edges,), device="cuda")
        self.impls: dict[str, Callable] = {"e3core": self.e3core, "e3nn": self.e3nn}
        self.impls["e3nn compiled"] = torch.compile(self.e3nn)
        self.cue = cue_module(irreps_x, irreps_sh, lmax, dtype)
        if self.cue is not None:
            self.impls["cuEquivariance"] = self.cuequivariance
        self.bytes = (self.x.numel() + self.attr.numel() + self.w.numel()) * self.x.element_size()
        self.bytes += self.nodes * self.ours.irreps_out.dim * self.x.element_size()

    def e3core(self, x, attr, w):
        return self.ours(x, attr, w, self.src, self.dst)

    def e3nn(self, x, attr, w):
        out = x.new_zeros(self.nodes, self.ref.irreps_out.dim)
        return out.index_add(0, self.dst, self.ref(x[self.src], attr, w))

    def cuequivariance(self, x, attr, w):
        out = self.cue(x[self.src], attr, w)
        return out.new_zeros(self.nodes, out.shape[1]).index_add(0, self.dst, out)

    def step(self, impl: str, kind: str) -> Callable[[], object]:
        fn = self.impls[impl]
        if kind == "forward":

            def run():
                with torch.no_grad():
                    return fn(self.x, self.attr, self.w)

            return run
        leaves = [t.clone().requires_grad_() for t in (self.x, self.attr, self.w)]
        if kind == "forward+backward":

            def run():
                out = fn(*leaves)
                return torch.autograd.grad(out.square().sum(), leaves)

            return run

        direction = torch.randn_like(self.attr)

        def run():
            out = fn(*leaves)
            (forces,) = torch.autograd.grad(out.square().sum(), leaves[1], create_graph=True)
            return torch.autograd.grad((forces * direction).sum(), [leaves[0], leaves[2]])

        return run


def cue_module(irreps_x: str, irreps_sh: str, lmax: int, dtype: torch.dtype):
    """cuEquivariance's channel-wise product of the same shape, or None without it."""
    try:
        import cuequivariance as cue
        import cuequivariance_torch as cuet
    except ImportError:
        return None
    filter_out = [cue.O3(l, p) for l in range(lmax + 1) for p in (1, -1)]
    return cuet.ChannelWiseTensorProduct(
        cue.Irreps("O3", irreps_x),
        cue.Irreps("O3", irreps_sh),
        filter_irreps_out=filter_out,
        layout=cue.mul_ir,
        shared_weights=False,
        internal_weights=False,
        device="cuda",
        dtype=dtype,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--edges", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_cuda.py: no CUDA GPU here")
    if args.quick:
        args.edges, args.dtypes = [50_000], ["float32"]
    bandwidth = copy_bandwidth()
    print(f"## {torch.cuda.get_device_name()}, {datetime.date.today()}, torch {torch.__version__}")
    print(f"\nCopy bandwidth {bandwidth / 1e9:.0f} GB/s. Times in ms (median of 20).\n")
    print("| case | dtype | edges | step | e3core | floor % | others (ms, e3core speed-up) |")
    print("|---|---|---|---|---|---|---|")
    for case in args.cases:
        for dtype_name in args.dtypes:
            for edges in args.edges:
                c = Case(case, edges, getattr(torch, dtype_name))
                for i, kind in enumerate(KINDS):
                    ms = {impl: cuda_time(c.step(impl, kind)) for impl in c.impls}
                    floor = 1e3 * (1 + i) * c.bytes / bandwidth
                    others = ", ".join(
                        f"{impl} {t:.2f} ({t / ms['e3core']:.1f}x)"
                        for impl, t in ms.items()
                        if impl != "e3core"
                    )
                    print(
                        f"| {case} | {dtype_name} | {edges} | {kind} | {ms['e3core']:.2f} | "
                        f"{100 * floor / ms['e3core']:.0f} | {others} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
