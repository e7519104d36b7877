"""Tensor-product timings: e3core against e3nn, side by side in one run.

Run from the repository root, with e3core installed and e3nn (a test dependency)::

    python bench/bench_tensor_product.py            # everything (several minutes)
    python bench/bench_tensor_product.py --quick    # smaller graphs, fewer repeats
    python bench/bench_tensor_product.py --cases nequip fctp   # some of the cases
    python bench/bench_tensor_product.py --cases ops --no-memory   # the per-op table alone

Cases:

- Fused convolution (graph.TensorProductConv) against e3nn's TensorProduct on gathered features
  followed by index_add, for NequIP's "uvu" product 32x0e+32x1o+32x2e x spherical harmonics
  l <= 2 and for 64x(0e+1o+2e+3o) x l <= 3, on 50,000 edges between 2,500 nodes: forward,
  forward + backward (gradients of x, edge attributes and weights) and a force-training step
  (the gradient with respect to the edge attributes, differentiated again: double backward).
- FullyConnectedTensorProduct 32x0e+32x1o+32x2e x 0e+1o+2e -> 32x0e+32x1o+32x2e on 10,000
  samples: forward and forward + backward.
- ops: o3.TensorProduct against e3nn.o3.TensorProduct for every connection mode ("uvw", "uvu",
  "uvv", "uuw", "uuu", "uvuv", "uvu<v", "u<vw"; ``OPS_MODES`` gives the irreps: 32x0e+32x1o+32x2e
  x 0e+1o+2e or 32x x 32x, 8x or 16x for the modes whose channels multiply), each with shared
  (internal) weights and with per-sample weights (a (batch, weight_numel) input), on 4,096
  samples: forward, forward + backward (gradients of x1, x2 and the weights) and double backward
  (the gradient of x2 with create_graph, then a scalar of it differentiated with respect to x1,
  x2 and the weights: a force-training step). Both modules are built from the same instructions
  with the same weights, and every step's outputs or gradients are checked to agree (1e-4 of the
  largest magnitude) before it is timed. Its own table: medians of 7 rounds that alternate e3nn
  and e3core, and no floor or memory columns.

Times are the best of a few runs (ops: medians); the speed-up is e3nn's time over e3core's
(above 1: e3core is faster), the memory ratio e3core's peak over e3nn's. Peak memory is the
growth of the resident set during one run of the step, measured in a fresh process for each
(Linux: VmHWM after resetting it). The floor is the time to move the bytes a step must read and
write once at the measured memory bandwidth. Output is markdown for docs/benchmarks.md.
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
from timing import alternating_times, best_time, matmul_rate, medians


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


# --- the per-op table ("ops") ---------------------------------------------------------------

OPS_IRREPS = ("0e", "1o", "2e")


def _irreps(mul: int) -> str:
    """``mul`` copies of each of OPS_IRREPS: ``_irreps(2)`` is ``"2x0e+2x1o+2x2e"``."""
    return "+".join(f"{mul}x{ir}" for ir in OPS_IRREPS)


# Per connection mode: multiplicities of x1, x2 and the output (irreps 0e+1o+2e each). "uuw",
# "uuu", "uvu<v" and "u<vw" need mul1 == mul2; "uvv" takes its channels from x2; the output of
# "uvuv" has mul1 * mul2 channels and that of "uvu<v" mul1 (mul1 - 1) / 2.
OPS_MODES = {
    "uvw": (32, 1, 32),
    "uvu": (32, 1, 32),
    "uvv": (1, 32, 32),
    "uuw": (32, 32, 32),
    "uuu": (32, 32, 32),
    "uvuv": (8, 8, 64),
    "uvu<v": (16, 16, 120),
    "u<vw": (8, 8, 16),
}
# Rows beside one per mode: (label, mode, mul1, irreps of x2, mul_out). nequip's self-connection
# at 64 features: a "uvw" product with an embedding of 64 scalars, 786,432 shared weights.
OPS_EXTRA = {"uvw x 64x0e": ("uvw", 64, "64x0e", 64)}
OPS_STEPS = ("forward", "forward+backward", "double backward")


def ops_modules(row: str, per_sample: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
    """e3nn's and e3core's TensorProduct of a row (a mode of OPS_MODES or a label of OPS_EXTRA),
    built from the same instructions (every path of x1 x x2 into an output irrep, weighted),
    with e3nn's weights in e3core's module."""
    import e3nn.o3

    if row in OPS_EXTRA:
        mode, mul1, irreps2, mul_out = OPS_EXTRA[row]
    else:
        mode, (mul1, mul2, mul_out) = row, OPS_MODES[row]
        irreps2 = _irreps(mul2)
    irreps1, irreps2 = o3.Irreps(_irreps(mul1)), o3.Irreps(irreps2)
    ins = []
    for i1, (_, ir1) in enumerate(irreps1):
        for i2, (_, ir2) in enumerate(irreps2):
            for i_out, ir in enumerate(OPS_IRREPS):
                if o3.Irrep(ir) in ir1 * ir2:
                    ins.append((i1, i2, i_out, mode, True))
    args = (str(irreps1), str(irreps2), _irreps(mul_out), ins)
    kwargs = dict(shared_weights=not per_sample, internal_weights=not per_sample)
    torch.manual_seed(0)
    ref = e3nn.o3.TensorProduct(*args, **kwargs)
    ours = o3.TensorProduct(*args, **kwargs)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


class OpsSetup:
    """Inputs, both modules and the three steps of one mode with shared (internal) or
    per-sample weights on ``batch`` samples."""

    def __init__(self, mode: str, per_sample: bool, batch: int) -> None:
        self.mode, self.per_sample = mode, per_sample
        self.modules = dict(zip(("e3nn", "e3core"), ops_modules(mode, per_sample), strict=True))
        ref = self.modules["e3nn"]
        self.x1 = torch.randn(batch, ref.irreps_in1.dim)
        self.x2 = torch.randn(batch, ref.irreps_in2.dim)
        self.w = torch.randn(batch, ref.weight_numel) if per_sample else None
        self.grad_out = torch.randn(batch, ref.irreps_out.dim)
        self.direction = torch.randn_like(self.x2)

    def step(self, impl: str, kind: str) -> Callable[[], tuple]:
        """The step as a closure that returns what it computed (outputs or gradients)."""
        tp = self.modules[impl]
        inputs = [t for t in (self.x1, self.x2, self.w) if t is not None]
        if kind == "forward":

            def run() -> tuple:
                with torch.no_grad():
                    return (tp(*inputs),)

            return run
        leaves = [t.clone().requires_grad_() for t in inputs]
        wrt = leaves + list(tp.parameters())  # x1, x2 and the weights, per-sample or internal
        if kind == "forward+backward":
            return lambda: torch.autograd.grad(tp(*leaves), wrt, self.grad_out)

        # A force-like step: the gradient with respect to x2 (forces through the spherical
        # harmonics) kept differentiable, then a scalar of it differentiated again.
        def run() -> tuple:
            out = tp(*leaves)
            (grad2,) = torch.autograd.grad(out, leaves[1], self.grad_out, create_graph=True)
            # x2 enters linearly: its second derivative is zero (None from autograd).
            return torch.autograd.grad((grad2 * self.direction).sum(), wrt, allow_unused=True)

        return run


def deviation(reference: tuple, value: tuple) -> float:
    """Largest difference between two tuples of tensors, each relative to the reference's
    largest magnitude (None, autograd's gradient of an unused input, counts as zeros).

    Example::

        >>> a, b = torch.tensor([2.0, -4.0]), torch.tensor([2.0, -4.2])
        >>> round(deviation((a, None), (b, None)), 3)
        0.05
    """
    worst = 0.0
    for ref, val in zip(reference, value, strict=True):
        if ref is None and val is None:
            continue
        ref = torch.zeros_like(val) if ref is None else ref
        val = torch.zeros_like(ref) if val is None else val
        if ref.numel():
            scale = max(float(ref.abs().max()), 1e-12)
            worst = max(worst, float((val - ref).abs().max()) / scale)
    return worst


def run_ops(batch: int, rounds: int) -> None:
    """Checks and times every mode, both weightings and the three steps; prints the table."""
    header = ["mode", "weights"]
    for kind in OPS_STEPS:
        header += [f"{kind} e3nn (ms)", f"{kind} e3core (ms)", "e3nn / e3core"]
    print("| " + " | ".join(header) + " |")
    print("|---|---|" + "---:|" * (len(header) - 2))
    for mode in [*OPS_MODES, *OPS_EXTRA]:
        # The extra rows' weights are shared (per sample: 13 GB at 4,096 samples).
        for per_sample in (False, True) if mode in OPS_MODES else (False,):
            setup = OpsSetup(mode, per_sample, batch)
            cells = [f"`{mode}`", "per-sample" if per_sample else "shared"]
            for kind in OPS_STEPS:
                steps = {impl: setup.step(impl, kind) for impl in ("e3nn", "e3core")}
                # Never time a wrong result: e3core's outputs or gradients must be e3nn's.
                dev = deviation(steps["e3nn"](), steps["e3core"]())
                if not dev < 1e-4:
                    raise RuntimeError(
                        f"{mode} ({cells[1]} weights) {kind}: e3core deviates from e3nn by "
                        f"{dev:.1e} of the largest magnitude"
                    )
                times = medians(alternating_times(steps, rounds))
                t_ref, t_ours = times["e3nn"], times["e3core"]
                cells += [f"{t_ref:.2f}", f"{t_ours:.2f}", f"{t_ref / t_ours:.2f}"]
            print("| " + " | ".join(cells) + " |", flush=True)


CASES = ("nequip", "l3", "fctp", "ops")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="5,000 edges, 1 repeat; ops: 256 samples, 3 rounds"
    )
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
    ops_batch, ops_rounds = (256, 3) if args.quick else (4096, 7)
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
    if "ops" in args.cases:
        print(f"- ops: {ops_batch} samples, medians of {ops_rounds} alternating rounds")
        for mode, (mul1, mul2, mul_out) in OPS_MODES.items():
            print(f"  - `{mode}`: {_irreps(mul1)} x {_irreps(mul2)} -> {_irreps(mul_out)}")
        for label, (mode, mul1, irreps2, mul_out) in OPS_EXTRA.items():
            print(f"  - `{label}`: {mode}, {_irreps(mul1)} x {irreps2} -> {_irreps(mul_out)}")
    table_cases = [case for case in args.cases if case != "ops"]
    if table_cases:
        print()
        print_cases(table_cases, nodes, edges, fctp_batch, repeats, bandwidth, args.no_memory)
    if "ops" in args.cases:
        print()
        run_ops(ops_batch, ops_rounds)


def print_cases(
    cases: list[str],
    nodes: int,
    edges: int,
    fctp_batch: int,
    repeats: int,
    bandwidth: float,
    no_memory: bool,
) -> None:
    """The table of the convolution and fully connected cases."""
    print(
        "| case | step | e3nn (ms) | e3core (ms) | speed-up | floor (ms) | e3core / floor "
        "| e3nn peak (MB) | e3core peak (MB) | memory e3core / e3nn |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        n_edges = fctp_batch if case == "fctp" else edges
        setup = Setup(case, nodes, n_edges)
        kinds = ["forward", "forward+backward"] + ([] if case == "fctp" else ["force step"])
        for kind in kinds:
            t_ref = best_time(setup.step("e3nn", kind), 1 if case == "l3" else repeats)
            t_ours = best_time(setup.step("e3core", kind), repeats)
            floor = setup.bytes_moved(kind) / bandwidth * 1e3
            mem = ["", "", ""]
            if not no_memory:
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
