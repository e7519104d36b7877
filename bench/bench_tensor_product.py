"""Tensor-product timings: e3core against e3nn, side by side in one run.

Run from the repository root, with e3core installed and e3nn (a test dependency)::

    python bench/bench_tensor_product.py            # everything (several minutes)
    python bench/bench_tensor_product.py --quick    # smaller graphs, fewer repeats
    python bench/bench_tensor_product.py --cases nequip fctp   # some of the cases

Cases:

- Fused convolution (graph.TensorProductConv) against e3nn's TensorProduct on gathered features
  followed by index_add, for NequIP's "uvu" product 32x0e+32x1o+32x2e x spherical harmonics
  l <= 2 and for 64x(0e+1o+2e+3o) x l <= 3, on 50,000 edges between 2,500 nodes: forward,
  forward + backward (gradients of x, edge attributes and weights) and a force-training step
  (the gradient with respect to the edge attributes, differentiated again: double backward).
- FullyConnectedTensorProduct 32x0e+32x1o+32x2e x 0e+1o+2e -> 32x0e+32x1o+32x2e on 10,000
  samples: forward and forward + backward.

Times are the best of a few runs; the speed-up is e3nn's time over e3core's (above 1: e3core
is faster), the memory ratio e3core's peak over e3nn's. Peak memory is the growth of the
resident set during one run of the step, measured in a fresh process for each (Linux: VmHWM
after resetting it). The floor is the time to move the bytes a step must read and write once at
the measured memory bandwidth. Output is markdown for docs/benchmarks.md.
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
from collections.abc import Callable

import e3core
import torch
from e3core import graph, o3
from timing import best_time, matmul_rate


def conv_instructions(irreps_x: str, irreps_sh: str, lmax: int) -> tuple[str, list[tuple]]:
    """NequIP's convolution: every path into l <= lmax, "uvu", one output term each, sorted."""
    out, ins = [], []
    for i1, (mul, ir1) in enumerate(o3.Irreps(irreps_x)):
        for i2, (_, ir2) in enumerate(o3.Irreps(irreps_sh)):
            for ir in ir1 * ir2:
                if ir.l <= lmax:
                    ins.append((i1, i2, len(out), "uvu", True))
                    out.append((mul, ir))
    irreps_out, p, _ = o3.Irreps(out).sort()
    return str(irreps_out), [(a, b, p[c], m, w) for a, b, c, m, w in ins]


CONV_CASES = {
    "nequip": ("32x0e+32x1o+32x2e", "0e+1o+2e", 2),
    "l3": ("64x0e+64x1o+64x2e+64x3o", "0e+1o+2e+3o", 3),
}
FCTP_IRREPS = ("32x0e+32x1o+32x2e", "0e+1o+2e", "32x0e+32x1o+32x2e")


class Setup:
    """Inputs and both implementations of one case, and its steps as closures."""

    def __init__(self, case: str, nodes: int, edges: int) -> None:
        import e3nn.o3

        torch.manual_seed(0)
        self.case = case
        if case == "fctp":
            self.ref = e3nn.o3.FullyConnectedTensorProduct(*FCTP_IRREPS)
            self.ours = o3.FullyConnectedTensorProduct(*FCTP_IRREPS)
            self.ours.load_state_dict(self.ref.state_dict())
            self.x = torch.randn(edges, self.ref.irreps_in1.dim)
            self.attr = torch.randn(edges, self.ref.irreps_in2.dim)
            self.w = None
            self.nodes = edges
            return
        irreps_x, irreps_sh, lmax = CONV_CASES[case]
        irreps_out, ins = conv_instructions(irreps_x, irreps_sh, lmax)
        kwargs = dict(shared_weights=False, internal_weights=False)
        self.ref = e3nn.o3.TensorProduct(irreps_x, irreps_sh, irreps_out, ins, **kwargs)
        self.ours = graph.TensorProductConv(irreps_x, irreps_sh, irreps_out, ins, **kwargs)
        self.nodes = nodes
        self.x = torch.randn(nodes, self.ref.irreps_in1.dim)
        self.attr = torch.randn(edges, self.ref.irreps_in2.dim)
        self.w = torch.randn(edges, self.ref.weight_numel)
        self.src = torch.randint(0, nodes, (edges,))
        self.dst = torch.randint(0, nodes, (edges,))

    def forward(self, impl: str, x: torch.Tensor, attr: torch.Tensor, w: torch.Tensor | None):
        if self.case == "fctp":
            return (self.ref if impl == "e3nn" else self.ours)(x, attr)
        if impl == "e3core":
            return self.ours(x, attr, w, self.src, self.dst)
        out = torch.zeros(self.nodes, self.ref.irreps_out.dim)
        return out.index_add(0, self.dst, self.ref(x[self.src], attr, w))

    def step(self, impl: str, kind: str) -> Callable[[], object]:
        inputs = [t for t in (self.x, self.attr, self.w) if t is not None]
        if kind == "forward":

            def run() -> object:
                with torch.no_grad():
                    return self.forward(impl, self.x, self.attr, self.w)

            return run
        leaves = [t.clone().requires_grad_() for t in inputs]
        params = [p for p in (self.ref if impl == "e3nn" else self.ours).parameters()]
        grad_out = torch.randn(self.nodes, self.ref.irreps_out.dim)

        def args() -> list:
            return leaves + [None] * (3 - len(leaves))

        if kind == "forward+backward":

            def run() -> object:
                out = self.forward(impl, *args())
                return torch.autograd.grad(out, leaves + params, grad_out)

            return run

        # A force-training step: dE/d(edge attributes) (forces, via the chain rule through the
        # spherical harmonics) in a loss, differentiated again.
        direction = torch.randn_like(self.attr)

        def run() -> object:
            out = self.forward(impl, *args())
            (forces,) = torch.autograd.grad((out * grad_out).sum(), leaves[1], create_graph=True)
            # The loss's gradients for training: weights and node features (attributes enter
            # linearly, so their second derivative is zero).
            return torch.autograd.grad((forces * direction).sum(), [leaves[0], leaves[2]])

        return run

    def bytes_moved(self, kind: str) -> int:
        """Bytes a step reads and writes at least once (float32 tensors, int64 indices)."""
        size = 4
        io = self.x.numel() + self.attr.numel() + (0 if self.w is None else self.w.numel())
        out = self.nodes * self.ref.irreps_out.dim
        indices = 0 if self.case == "fctp" else 2 * 8 * self.src.numel() // size
        once = (io + out + indices) * size
        # Backward: grad_out in, a gradient out per input; double backward: about twice again.
        return {"forward": once, "forward+backward": 2 * once, "force step": 4 * once}[kind]


def memory_bandwidth() -> float:
    """Copy bandwidth (bytes read + written per second) of a 256 MiB float32 copy."""
    src = torch.randn(64 * 2**20)
    dst = torch.empty_like(src)
    ms = best_time(lambda: dst.copy_(src), 5)
    return 2 * src.numel() * 4 / (ms / 1e3)


def fctp_multiply_adds(samples: int) -> int:
    """Multiply-adds of the fully connected case with the weights applied on the smaller side:
    per path and sample mul1 * mul_out * min(2 l1 + 1, 2 l_out + 1)."""
    tp = o3.FullyConnectedTensorProduct(*FCTP_IRREPS)
    total = 0
    for ins in tp.instructions:
        d1, dout = tp.irreps_in1[ins.i_in1].ir.dim, tp.irreps_out[ins.i_out].ir.dim
        total += tp.irreps_in1[ins.i_in1].mul * tp.irreps_out[ins.i_out].mul * min(d1, dout)
    return total * samples


def peak_memory_mb(case: str, impl: str, kind: str, nodes: int, edges: int) -> float | None:
    """Resident-set growth of one step, in a fresh process; None where Linux can't tell."""
    code = (
        "import sys; sys.path.insert(0, 'bench'); from bench_tensor_product import measure_child; "
        f"measure_child({case!r}, {impl!r}, {kind!r}, {nodes}, {edges})"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return None
    return float(result.stdout.strip().splitlines()[-1])


def _vm_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_child(case: str, impl: str, kind: str, nodes: int, edges: int) -> None:
    """In the child process: set up, reset the peak, run the step once, print the growth."""
    setup = Setup(case, nodes, edges)
    step = setup.step(impl, kind)
    before = _vm_kib("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM, the peak resident set
    step()
    print((_vm_kib("VmHWM:") - before) / 1024)


CASES = ("nequip", "l3", "fctp")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 edges, 1 repeat")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument(
        "--cases",
        nargs="+",
        choices=CASES,
        default=list(CASES),
        help="which cases to run (default: all)",
    )
    args = parser.parse_args()
    nodes, edges, fctp_batch = (250, 5000, 1000) if args.quick else (2500, 50000, 10000)
    repeats = 1 if args.quick else 3
    bandwidth = memory_bandwidth()

    import e3nn

    print(f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"- CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores")
    print(f"- threads: {torch.get_num_threads()}")
    print(
        f"- versions: e3core {e3core.__version__}, e3nn {e3nn.__version__}, torch "
        f"{torch.__version__}, python {platform.python_version()}"
    )
    print(f"- copy bandwidth: {bandwidth / 1e9:.1f} GB/s")
    rate = matmul_rate()
    print(f"- float32 matrix product (torch.mm 2048^3): {rate / 1e9:.1f} G multiply-adds/s")
    if "fctp" in args.cases:
        macs = fctp_multiply_adds(fctp_batch)
        print(
            f"- fctp forward: at least {macs / 1e9:.3f} G multiply-adds, "
            f"{macs / rate * 1e3:.1f} ms at that rate"
        )
    print(f"- graphs: {edges} edges, {nodes} nodes; fctp: {fctp_batch} samples; best of {repeats}")
    print()
    print(
        "| case | step | e3nn (ms) | e3core (ms) | speed-up | floor (ms) | e3core / floor "
        "| e3nn peak (MB) | e3core peak (MB) | memory e3core / e3nn |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case in args.cases:
        n_edges = fctp_batch if case == "fctp" else edges
        setup = Setup(case, nodes, n_edges)
        kinds = ["forward", "forward+backward"] + ([] if case == "fctp" else ["force step"])
        for kind in kinds:
            t_ref = best_time(setup.step("e3nn", kind), 1 if case == "l3" else repeats)
            t_ours = best_time(setup.step("e3core", kind), repeats)
            floor = setup.bytes_moved(kind) / bandwidth * 1e3
            mem = ["", "", ""]
            if not args.no_memory:
                m_ref = peak_memory_mb(case, "e3nn", kind, nodes, n_edges)
                m_ours = peak_memory_mb(case, "e3core", kind, nodes, n_edges)
                if m_ref is not None and m_ours is not None:
                    mem = [f"{m_ref:.0f}", f"{m_ours:.0f}", f"{m_ours / max(m_ref, 1e-9):.2f}"]
            print(
                f"| {case} | {kind} | {t_ref:.1f} | {t_ours:.1f} | {t_ref / t_ours:.1f} "
                f"| {floor:.1f} | {t_ours / floor:.1f} | {mem[0]} | {mem[1]} | {mem[2]} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
