"""A training step compiled whole: the model, the forces it differentiates, the loss and the
parameters' gradients traced into one graph and compiled by TorchInductor.

Training on forces differentiates the model twice; in eager mode each of the thousand small
operators of such a step runs through the autograd engine one by one. Traced once
(``make_fx``, symbolic sizes) the step has no autograd engine left, and TorchInductor fuses its
elementwise operators; e3core's kernels run as they are (their meta kernels give the shapes),
called from TorchInductor's C++ wrapper.
NequIP 1x32 on 16 QM9 molecules, 2 cores: 21.5 ms a step eager, 17.1 ms compiled
(docs/benchmarks.md).

Each kind of batch (its fields, dtypes, devices and ranks) is traced once; a batch whose sizes
break an assumption of the trace (a size of 0 or 1 where the trace saw more) is traced again.
The numbers of atoms, edges and graphs otherwise vary freely.

Example::

    >>> step = CompiledStep(trainer)  # doctest: +SKIP
    >>> sums, predictions = step(batch, scales)  # doctest: +SKIP
"""

import dataclasses
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch.nn.modules.module import (
    register_module_buffer_registration_hook,
    register_module_module_registration_hook,
    register_module_parameter_registration_hook,
)

from e3core._checks import suspended_data_checks
from e3core.data import Batch
from e3core.math._silu import silu_decompositions

# Fields of a Batch that are dicts of tensors.
_DICTS = ("targets", "atom_targets", "probes")

# How many parameters, buffers and submodules have been registered in any module (torch's
# global registration hooks, which assignments go through too): CompiledStep walks its model's
# tree again only when this has changed.
_registrations = 0


def _registered(module: torch.nn.Module, name: str, value: object) -> None:
    global _registrations
    _registrations += 1


for _register in (
    register_module_parameter_registration_hook,
    register_module_buffer_registration_hook,
    register_module_module_registration_hook,
):
    _register(_registered)


def _flatten(batch: Batch) -> tuple[tuple[tuple[str, str | None], ...], list[torch.Tensor]]:
    """The tensors of ``batch`` and where each sits: (field, key in a dict field or None)."""
    places: list[tuple[str, str | None]] = []
    tensors: list[torch.Tensor] = []
    for f in dataclasses.fields(batch):
        value = getattr(batch, f.name)
        if f.name in _DICTS:
            for key in sorted(value):
                places.append((f.name, key))
                tensors.append(value[key])
        elif isinstance(value, torch.Tensor):
            places.append((f.name, None))
            tensors.append(value)
    return tuple(places), tensors


def _unflatten(
    like: Batch, places: tuple[tuple[str, str | None], ...], tensors: list[torch.Tensor]
) -> Batch:
    """``like`` with its tensors replaced by ``tensors`` (as placed by _flatten)."""
    fields: dict[str, Any] = {name: {} for name in _DICTS}
    for (name, key), tensor in zip(places, tensors, strict=True):
        if key is None:
            fields[name] = tensor
        else:
            fields[name][key] = tensor
    return dataclasses.replace(like, **fields)


@dataclasses.dataclass
class _Trace:
    """One compiled graph, and the size assumptions (guards) under which it holds."""

    run: Callable[..., Any]
    shape_env: Any
    guards: str

    def __post_init__(self) -> None:
        # Compiled once: evaluating the expression's text compiled it on every step (0.2 ms
        # of NequIP 1x32's 18 ms step on 2 cores, against 0.03 ms for the compiled code).
        self.code = compile(self.guards, "<guards>", "eval")

    def holds(self, args: list[torch.Tensor]) -> bool:
        if self.shape_env is None:  # the eager step, for every batch of its kind
            return True
        return bool(self.shape_env.evaluate_guards_expression(self.code, args))


class CompiledStep:
    """The loss terms' sums, the predictions and the parameters' gradients of a ``Trainer``'s
    model on a batch, by compiled graphs (one per kind of batch); the gradients are stored in
    the parameters' ``.grad``.

    ``scales`` (one per loss term) weigh the terms' sums in the loss that is differentiated:
    ``Loss.scales(counts)``. Returns the sums (a tensor, one per term) and the predictions of
    the loss and metric targets.

    Example::

        >>> step = CompiledStep(trainer)  # doctest: +SKIP
        >>> sums, predictions = step(batch, trainer.loss.scales(counts))  # doctest: +SKIP
    """

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.traces: dict[tuple, list[_Trace]] = {}
        # Where the model's parameters and buffers are: (the model, _registrations then, and
        # per tensor its name, its module, its name there and whether it is a parameter).
        self._where: tuple[Any, int, list[tuple[str, Any, str, bool]]] = (trainer.model, -1, [])

    def _find_state(self) -> None:
        """Walks the model's tree for its parameters and buffers (named as named_parameters
        and named_buffers name them)."""
        model = self.trainer.model
        where = []
        for tensors, is_parameter in (
            (model.named_parameters(), True), (model.named_buffers(), False)
        ):  # fmt: skip
            for name, _ in tensors:
                path, _, attribute = name.rpartition(".")
                where.append((name, model.get_submodule(path), attribute, is_parameter))
        self._where = (model, _registrations, where)

    def _state(self) -> tuple[list[str], list[torch.Tensor], list[str], list[torch.Tensor]]:
        """The trained parameters, and the frozen ones with the buffers, read where the last
        walk of the model's tree found them: walking it took 0.3-0.5 ms a step (NequIP 1x32,
        18 ms), reading them 0.05 ms. The tree is walked again when anything has been
        registered or assigned in any module since, or when a tensor is gone."""
        model, seen, _ = self._where
        if model is not self.trainer.model or seen != _registrations:
            self._find_state()

        def read() -> list[tuple[str, torch.Tensor, bool]]:
            return [(n, getattr(m, a), is_p) for n, m, a, is_p in self._where[2]]

        try:
            current = read()
        except AttributeError:  # deleted since the walk
            self._find_state()
            current = read()
        trained = [(n, t) for n, t, is_p in current if is_p and t.requires_grad]
        fixed = [(n, t) for n, t, is_p in current if is_p and not t.requires_grad]
        fixed += [(n, t) for n, t, is_p in current if not is_p and t is not None]
        return (
            [n for n, _ in trained],
            [p for _, p in trained],
            [n for n, _ in fixed],
            [b for _, b in fixed],
        )

    def _graph(
        self, batch: Batch, places: tuple, names: list[str], fixed_names: list[str]
    ) -> Callable[..., tuple[torch.Tensor, ...]]:
        """The step as a function of flat tensors: trained parameters, fixed state, the batch's
        tensors and the scales."""
        trainer = self.trainer
        n_trained, n_fixed = len(names), len(fixed_names)
        needed = trainer._needed()

        def step(*flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
            params = [p.requires_grad_(True) for p in flat[:n_trained]]
            state = dict(zip(names, params, strict=True))
            state.update(zip(fixed_names, flat[n_trained : n_trained + n_fixed], strict=True))
            traced = _unflatten(batch, places, list(flat[n_trained + n_fixed : -1]))
            model = trainer.model

            def call(data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
                return torch.func.functional_call(model, state, (data,))

            predictions = trainer._predict_with(call, traced, training=True)
            sums = torch.stack([s for s, _ in trainer.loss.partial_sums(predictions, traced)])
            grads = torch.autograd.grad((sums * flat[-1]).sum(), params, allow_unused=True)
            grads = tuple(
                torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)
            )
            return (sums.detach(), *(predictions[t].detach() for t in needed), *grads)

        return step

    def _trace(self, step: Callable, args: list[torch.Tensor], n_state: int) -> _Trace:
        """Traces ``step`` with symbolic sizes for the batch's tensors (not duck-sized: sizes
        equal in this batch by chance stay distinct symbols) and compiles it."""
        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.fx.experimental.proxy_tensor import make_fx
        from torch.fx.experimental.symbolic_shapes import (
            DimDynamic,
            ShapeEnv,
            StatelessSymbolicContext,
        )

        shape_env = ShapeEnv(duck_shape=False)
        fake_mode = FakeTensorMode(shape_env=shape_env)
        fakes = []
        for i, a in enumerate(args):
            dynamic = DimDynamic.STATIC if i < n_state else DimDynamic.DYNAMIC
            context = StatelessSymbolicContext(dynamic_sizes=[dynamic] * a.dim())
            fakes.append(fake_mode.from_tensor(a, symbolic_context=context))
        with suspended_data_checks():
            graph = make_fx(
                step, decomposition_table=silu_decompositions(), tracing_mode="symbolic"
            )(*fakes)
        guards = shape_env.produce_guards_expression(fakes) or "True"
        with fake_mode:
            # The C++ wrapper calls the step's few hundred kernels without Python in between:
            # 19.8 against 21.2 ms a step (NequIP 1x32, 2 cores), for 30 s more compilation.
            run = torch._inductor.compile(graph, fakes, options={"cpp_wrapper": True})
        return _Trace(run, shape_env, guards)

    def __call__(
        self, batch: Batch, scales: list[float]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        names, params, fixed_names, fixed = self._state()
        places, tensors = _flatten(batch)
        scale = torch.tensor(scales, dtype=self.trainer.dtype, device=self.trainer.device)
        args = [*(p.detach() for p in params), *fixed, *tensors, scale]
        # Parameters and buffers by shape; the batch's sizes by 0, 1 or more (the trace makes
        # sizes 0 and 1 constants).
        n_state = len(params) + len(fixed)
        sizes = [
            tuple(a.shape) if i < n_state else tuple(min(s, 2) for s in a.shape)
            for i, a in enumerate(args)
        ]
        kind = (places, tuple(names), tuple((a.dtype, a.device) for a in args), tuple(sizes))
        traces = self.traces.setdefault(kind, [])
        trace = next((t for t in traces if t.holds(args)), None)
        if trace is None:
            start = time.perf_counter()
            if self.trainer.is_main and self.trainer.progress:
                print(
                    "Trainer: compiling the training step for this kind of batch "
                    "(once; about a minute)",
                    file=sys.stderr,
                )
            step = self._graph(batch, places, names, fixed_names)
            try:
                trace = self._trace(step, args, n_state)
            except Exception as error:  # noqa: BLE001 - any failure of the compiler
                # This kind of batch runs the same step eagerly, with the model's own checks.
                lines = str(error).strip().splitlines()
                warnings.warn(
                    f"Trainer: the training step could not be compiled for this kind of batch "
                    f"({type(error).__name__}: {lines[0] if lines else ''}); such batches run "
                    "eagerly",
                    stacklevel=3,
                )
                trace = _Trace(step, None, "True")
            traces.append(trace)
            if trace.shape_env is not None and self.trainer.is_main and self.trainer.progress:
                print(f"Trainer: compiled in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        out = trace.run(*args)
        needed = self.trainer._needed()
        sums = out[0]
        predictions = dict(zip(needed, out[1 : 1 + len(needed)], strict=True))
        for p, g in zip(params, out[1 + len(needed) :], strict=True):
            # A compiled graph may return a gradient as a view with other strides (a slice of
            # one buffer); torch's fused optimizers read gradients with their parameters'
            # strides, so each gets its parameter's layout.
            p.grad = g if g.stride() == p.stride() else torch.empty_like(p).copy_(g)
        return sums, predictions
