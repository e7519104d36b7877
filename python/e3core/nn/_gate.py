"""Gate: activations on scalars, and scalar gates multiplying the other irreps."""

from collections.abc import Callable, Sequence

import torch

from e3core._checks import check_columns
from e3core._e3nn_compat import ignore_e3nn_tensor_product_entries
from e3core._errors import ArgumentError
from e3core.math._normalize_activation import normalize2mom
from e3core.nn._activation import Activation
from e3core.nn._extract import extract_ranges
from e3core.o3._irreps import Irreps
from e3core.o3._norm import irrep_copy_index
from e3core.util.jit import compile_mode

_Act = Callable[[torch.Tensor], torch.Tensor] | None


def gated_irreps_out(irreps_gated: Irreps, irreps_gates: Irreps) -> Irreps:
    """The irreps of the gated product: e3nn's ``ElementwiseTensorProduct(gated, gates)`` output.

    Terms are split until the multiplicities of the two line up; each gated irrep keeps its l
    and takes the parity of its gate times its own.

    Example::

        >>> gated_irreps_out(Irreps("16x1o"), Irreps("8x0e + 8x0o"))
        8x1o+8x1e
    """
    gated = list(irreps_gated.simplify())
    gates = list(irreps_gates.simplify())
    i = 0
    while i < len(gated):
        (mul_1, ir_1), (mul_2, ir_2) = gated[i], gates[i]
        if mul_1 < mul_2:
            gates[i : i + 1] = [(mul_1, ir_2), (mul_2 - mul_1, ir_2)]
        if mul_2 < mul_1:
            gated[i : i + 1] = [(mul_2, ir_1), (mul_1 - mul_2, ir_1)]
        i += 1
    return Irreps(
        [(mul, (ir.l, ir.p * gate.p)) for (mul, ir), (_, gate) in zip(gated, gates, strict=True)]
    )


def _check_scalars(name: str, irreps: Irreps) -> None:
    non_scalars = [mul_ir for mul_ir in irreps if mul_ir.ir.l > 0]
    if non_scalars:
        raise ArgumentError(
            f"Gate: {name} must hold scalars (l = 0) only, got {irreps} "
            f"(not scalars: {Irreps(non_scalars)})"
        )


@compile_mode("script")
class Gate(torch.nn.Module):
    r"""Gate nonlinearity, as ``e3nn.nn.Gate``.

    The output is :math:`\bigoplus_i \phi_i(x_i) \oplus \bigoplus_j \phi_j(g_j) y_j`: the scalars
    ``x`` through ``act_scalars``, then each gated irrep ``y_j`` multiplied by its gate scalar
    ``g_j`` after ``act_gates``. The input is in e3nn's layout: the concatenation
    ``irreps_scalars + irreps_gates + irreps_gated``, sorted (stable) and simplified
    (``irreps_in``). Odd gates flip the parity of their gated irreps.

    Args:
        irreps_scalars: scalars passed through ``act_scalars`` (one function per term).
        act_scalars: functions (or None) for the scalars.
        irreps_gates: gate scalars, as many as there are irreps in ``irreps_gated``.
        act_gates: functions (or None) for the gates.
        irreps_gated: the gated irreps.

    Example::

        >>> g = Gate("16x0o", [torch.tanh], "32x0o", [torch.tanh], "16x1e+16x1o")
        >>> g.irreps_in, g.irreps_out
        (48x0o+16x1o+16x1e, 16x0o+16x1o+16x1e)
    """

    _dim: int
    _has_gates: bool
    _ranges: list[list[tuple[int, int]]]
    _segments: list[int]
    _runs_of_act: list[list[list[int]]]
    _run_splits: list[list[int]]
    _pieces: list[list[tuple[int, int]]]

    def __init__(
        self,
        irreps_scalars: Irreps | str,
        act_scalars: Sequence[_Act],
        irreps_gates: Irreps | str,
        act_gates: Sequence[_Act],
        irreps_gated: Irreps | str,
    ) -> None:
        super().__init__()
        irreps_scalars = Irreps(irreps_scalars)
        irreps_gates = Irreps(irreps_gates)
        irreps_gated = Irreps(irreps_gated)
        _check_scalars("irreps_scalars", irreps_scalars)
        _check_scalars("irreps_gates", irreps_gates)
        if irreps_gates.num_irreps != irreps_gated.num_irreps:
            raise ArgumentError(
                f"Gate: irreps_gates {irreps_gates} has {irreps_gates.num_irreps} gate scalars "
                f"but irreps_gated {irreps_gated} has {irreps_gated.num_irreps} irreps; "
                "each gated irrep needs one gate"
            )
        for name, irreps, acts in [
            ("act_scalars", irreps_scalars, act_scalars),
            ("act_gates", irreps_gates, act_gates),
        ]:
            if len(acts) != len(irreps):
                raise ArgumentError(
                    f"Gate: {name} has {len(acts)} entries but its irreps {irreps} have "
                    f"{len(irreps)} terms; give one function (or None) per term"
                )

        parts = [irreps_scalars.simplify(), irreps_gates.simplify(), irreps_gated.simplify()]
        self.irreps_scalars, self.irreps_gates, self.irreps_gated = parts
        concatenated = parts[0] + parts[1] + parts[2]
        sorted_irreps, p, _ = concatenated.sort()
        self.irreps_in = sorted_irreps.simplify()
        # Term k of part j sits at sorted position p[k + offset of part j].
        offsets = [0, len(parts[0]), len(parts[0]) + len(parts[1])]
        instructions = [
            tuple(p[offset + k] for k in range(len(part)))
            for offset, part in zip(offsets, parts, strict=True)
        ]
        self._ranges = extract_ranges(sorted_irreps, parts, instructions)
        self._dim = concatenated.dim
        self._has_gates = irreps_gates.dim > 0

        self.act_scalars = Activation(irreps_scalars, act_scalars)
        self.act_gates = Activation(irreps_gates, act_gates)
        self._plan_activations()
        gated_out = gated_irreps_out(irreps_gated, self.act_gates.irreps_out)
        self.irreps_out = self.act_scalars.irreps_out + gated_out
        # Gate j multiplies gated irrep copy j: one index per gated component.
        self.register_buffer("_gate_index", irrep_copy_index(irreps_gated), persistent=False)
        ignore_e3nn_tensor_product_entries(self, "mul")

    def _plan_activations(self) -> None:
        """Runs of input columns that take the same activation, scalars and gates alike, each
        activated by one call (NequIP's 32 scalars and 64 gates, all SiLU: one call instead of
        two), and where the scalars, the gates and the gated irreps lie.

        The input is split once into segments (each run, and each stretch of gated irreps), and
        each run's output once at the scalars' and gates' boundaries: a split's backward is one
        concatenation, where each slice of a tensor costs a zero-filled copy of the whole and an
        addition. Fewer operators matter in training on forces, where each one is differentiated
        twice."""
        column_act: dict[int, tuple[int, int]] = {}
        columns: list[list[int]] = []
        activations = [self.act_scalars, self.act_gates]
        for part, activation in enumerate(activations):
            inputs = [
                c for start, length in self._ranges[part] for c in range(start, start + length)
            ]
            for term, (start, length) in enumerate(activation._ranges):
                for c in inputs[start : start + length]:
                    column_act[c] = (part, term)
            columns.append(inputs)
        runs: list[tuple[int, int]] = []
        self._runs_of_act: list[list[list[int]]] = [[[] for _ in a.acts] for a in activations]
        last: torch.nn.Module | None = None
        for c in sorted(column_act):
            part, term = column_act[c]
            act = activations[part].acts[term]
            if runs and sum(runs[-1]) == c and last is not None and _same_activation(last, act):
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                self._runs_of_act[part][term].append(len(runs))
                runs.append((c, 1))
                last = act
        # Segments: the runs and the stretches of gated irreps, in input order; from here on
        # _runs_of_act names each run by its segment.
        gated = _merged(self._ranges[2])
        bounds = sorted({0, self._dim} | {b for s, n in runs + gated for b in (s, s + n)})
        self._segments = [b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        segment_at = {a: k for k, a in enumerate(bounds[:-1])}
        self._runs_of_act = [
            [[segment_at[runs[r][0]] for r in rs] for rs in part] for part in self._runs_of_act
        ]
        # Where each scalar and gate column lies: (segment, column within it).
        place = {c: (segment_at[s], c - s) for s, n in runs for c in range(s, s + n)}
        pieces = [_pieces([place[c] for c in inputs]) for inputs in columns]
        self._run_splits = [[] for _ in self._segments]
        self._pieces = []
        for part in pieces:
            self._pieces.append([])
            for segment, offset, length in part:
                self._pieces[-1].append((segment, offset))
                self._run_splits[segment].append(offset)
                self._run_splits[segment].append(offset + length)
        for k, cuts in enumerate(self._run_splits):
            points = sorted(set(cuts) | {0, self._segments[k]})
            self._run_splits[k] = [b - a for a, b in zip(points[:-1], points[1:], strict=True)]
        # Each piece as (segment, index of its part in the segment's split output).
        for part in self._pieces:
            for i, (segment, offset) in enumerate(part):
                part[i] = (segment, _part_index(self._run_splits[segment], offset))
        self._pieces.append([(segment_at[start], 0) for start, _ in gated])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__} ({self.irreps_in} -> {self.irreps_out})"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Gated features (..., irreps_out.dim) of ``features`` (..., irreps_in.dim)."""
        check_columns("Gate", features, self._dim, "irreps_in.dim")
        segments = _split(features, self._segments)
        # Each run through the activation of its first column, its output split at the scalars'
        # and gates' boundaries (loops over the ModuleLists themselves: TorchScript indexes them
        # by constants only).
        parts: list[list[torch.Tensor]] = [[segment] for segment in segments]
        for term, act in enumerate(self.act_scalars.acts):
            for k in self._runs_of_act[0][term]:
                parts[k] = _split(act(segments[k]), self._run_splits[k])
        for term, act in enumerate(self.act_gates.acts):
            for k in self._runs_of_act[1][term]:
                parts[k] = _split(act(segments[k]), self._run_splits[k])
        scalars = _join(features, parts, self._pieces[0])
        if not self._has_gates:
            return scalars
        gates = _join(features, parts, self._pieces[1])
        gated = _join(features, parts, self._pieces[2])
        gated = gated * gates.index_select(-1, self._gate_index)
        return torch.cat([scalars, gated], dim=-1)


def _same_activation(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Whether two of Activation's modules compute the same function."""
    if isinstance(a, normalize2mom) and isinstance(b, normalize2mom):
        return a.f is b.f and a.cst == b.cst and a._is_id == b._is_id
    if isinstance(a, torch.nn.Identity) and isinstance(b, torch.nn.Identity):
        return True
    return a is b


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Column ranges (start, length), in their order, a range merged into the one before it
    when it continues it."""
    merged: list[tuple[int, int]] = []
    for start, length in ranges:
        if merged and sum(merged[-1]) == start:
            merged[-1] = (merged[-1][0], merged[-1][1] + length)
        elif length > 0:
            merged.append((start, length))
    return merged


def _pieces(places: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Columns at ``places`` (segment, column) as pieces (segment, start, length), consecutive
    ones merged."""
    pieces: list[tuple[int, int, int]] = []
    for segment, offset in places:
        if pieces and pieces[-1][0] == segment and sum(pieces[-1][1:]) == offset:
            pieces[-1] = (segment, pieces[-1][1], pieces[-1][2] + 1)
        else:
            pieces.append((segment, offset, 1))
    return pieces


def _part_index(sizes: list[int], offset: int) -> int:
    """Index of the part that starts at ``offset`` when a segment splits into ``sizes``."""
    start = 0
    for i, size in enumerate(sizes):
        if start == offset:
            return i
        start += size
    raise AssertionError(f"no part starts at {offset} in {sizes}")


def _split(x: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    """``x`` split along its last axis into ``sizes`` (no operator for one part)."""
    if len(sizes) == 1:
        return [x]
    return x.split_with_sizes(sizes, -1)


def _join(
    features: torch.Tensor, parts: list[list[torch.Tensor]], pieces: list[tuple[int, int]]
) -> torch.Tensor:
    """The pieces (segment, part) of ``parts`` side by side: no copy for one piece."""
    if len(pieces) == 0:
        return features.new_zeros(features.shape[:-1] + (0,))
    joined = [parts[segment][part] for segment, part in pieces]
    return joined[0] if len(joined) == 1 else torch.cat(joined, dim=-1)
