"""Compile modes: how a module is compiled with TorchScript, marked as e3nn marks its modules.

e3nn's ``e3nn.util.jit.compile`` and its test helpers (``assert_auto_jitable``) read a class
attribute, ``__e3nn_compile_mode__``: "script" (``torch.jit.script``), "trace"
(``torch.jit.trace`` with example inputs), "unsupported", or none. e3core's modules carry the
same attribute, so that those helpers accept them as they accept e3nn's.

Example::

    >>> import torch
    >>> @compile_mode("script")
    ... class Double(torch.nn.Module):
    ...     def forward(self, x: torch.Tensor) -> torch.Tensor:
    ...         return 2 * x
    >>> get_compile_mode(Double())
    'script'
"""

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch

from e3core._errors import ArgumentError
from e3core._optimization import get_optimization_defaults, set_optimization_defaults

__all__ = [
    "compile",
    "compile_mode",
    "disable_e3nn_codegen",
    "get_compile_mode",
    "get_optimization_defaults",
    "get_tracing_inputs",
    "script",
    "set_optimization_defaults",
    "trace",
    "trace_module",
]

# The attribute e3nn reads (e3nn.util.jit): a class carrying it compiles in e3nn's helpers too.
_ATTRIBUTE = "__e3nn_compile_mode__"
_MODES = ("script", "trace", "unsupported", None)
# A module's own tracing inputs: ``_make_tracing_inputs(n)`` -> list of {method: args} (e3nn's).
_TRACING_INPUTS = "_make_tracing_inputs"

ModuleClass = TypeVar("ModuleClass", bound=type)


def compile_mode(mode: str | None) -> Callable[[ModuleClass], ModuleClass]:
    """Class decorator: marks a ``torch.nn.Module`` subclass with its compile mode ("script",
    "trace", "unsupported" or None).

    Example::

        >>> @compile_mode("trace")
        ... class Identity(torch.nn.Module):
        ...     def forward(self, x):
        ...         return x
        >>> Identity.__e3nn_compile_mode__
        'trace'
    """
    if mode not in _MODES:
        raise ArgumentError(f"compile_mode: mode is {mode!r}, expected one of {_MODES}")

    def mark(cls: ModuleClass) -> ModuleClass:
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
            raise TypeError(f"compile_mode decorates subclasses of torch.nn.Module, not {cls!r}")
        setattr(cls, _ATTRIBUTE, mode)
        return cls

    return mark


def get_compile_mode(module: torch.nn.Module) -> str | None:
    """The compile mode of ``module`` (its own attribute, else its class's; a
    ``torch.fx.GraphModule`` without one scripts), or None when unmarked.

    Example::

        >>> get_compile_mode(torch.nn.Identity()) is None
        True
    """
    mode = getattr(module, _ATTRIBUTE, None)
    if mode is None and isinstance(module, torch.fx.GraphModule):
        mode = "script"
    if mode not in _MODES:
        raise ArgumentError(f"get_compile_mode: {module!r} has compile mode {mode!r}")
    return mode


def get_tracing_inputs(
    module: torch.nn.Module,
    n: int = 1,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> list[dict[str, tuple[Any, ...]]]:
    """``n`` random inputs for ``torch.jit.trace_module`` ({"forward": args}), from the module's
    ``_make_tracing_inputs(n)`` if it has one, else from its ``irreps_in``; floating tensors
    moved to ``device`` and ``dtype`` (those of its parameters or buffers by default).

    Example::

        >>> from e3core import o3
        >>> [args["forward"][0].shape[1] for args in get_tracing_inputs(o3.Norm("2x1o"), 2)]
        [6, 6]
    """
    if hasattr(module, _TRACING_INPUTS):
        inputs = getattr(module, _TRACING_INPUTS)(n)
        if not (isinstance(inputs, list) and all(isinstance(i, dict) for i in inputs)):
            raise ArgumentError("_make_tracing_inputs must return a list of dict[str, tuple]")
    else:
        from e3core.util._arguments import io_irreps, random_args

        irreps_in, _ = io_irreps(module, None, [None])
        inputs = [{"forward": tuple(random_args(irreps_in))} for _ in range(n)]
    tensors = [t for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()]
    device = device or (tensors[0].device if tensors else torch.device("cpu"))
    dtype = dtype or (tensors[0].dtype if tensors else torch.get_default_dtype())

    def move(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.to(device, dtype) if value.is_floating_point() else value.to(device)
        if isinstance(value, tuple | list):
            return type(value)(move(v) for v in value)
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        raise TypeError(f"tracing inputs hold a {type(value).__name__}; expected tensors")

    return [move(i) for i in inputs]


def compile(  # noqa: A001 - e3nn's name
    module: torch.nn.Module,
    n_trace_checks: int = 1,
    script_options: dict[str, Any] | None = None,
    trace_options: dict[str, Any] | None = None,
    in_place: bool = True,
    recurse: bool = True,
) -> torch.nn.Module:
    """Compiles ``module`` and (with ``recurse``) its children, each as its compile mode says:
    "script" with ``torch.jit.script``, "trace" with ``torch.jit.trace_module`` on
    ``get_tracing_inputs`` (``n_trace_checks`` of them), unmarked ones left as they are;
    "unsupported" raises NotImplementedError. Children are replaced in ``module`` (a deep copy
    unless ``in_place``).

    Example::

        >>> from e3core import o3
        >>> block = torch.nn.Sequential(o3.Linear("2x0e", "2x0e"), torch.nn.Tanh())
        >>> type(compile(block)[0]).__name__
        'RecursiveScriptModule'
    """
    mode = get_compile_mode(module)
    if mode == "unsupported":
        raise NotImplementedError(f"{type(module).__name__} does not support TorchScript")
    if n_trace_checks < 1:
        raise ArgumentError(f"n_trace_checks is {n_trace_checks}, expected at least 1")
    if not in_place:
        module = copy.deepcopy(module)
    if recurse:
        for name, child in module.named_children():
            compiled = compile(child, n_trace_checks, script_options, trace_options, True, True)
            setattr(module, name, compiled)
    if mode == "script":
        return torch.jit.script(module, **(script_options or {}))
    if mode == "trace":
        inputs = get_tracing_inputs(module, n_trace_checks)
        return torch.jit.trace_module(
            module, inputs=inputs[0], check_inputs=inputs, **(trace_options or {})
        )
    return module


def _compile_as(
    module: torch.nn.Module, mode: str, inputs: list[dict[str, Any]] | None, in_place: bool
) -> torch.nn.Module:
    """``compile`` with ``module`` marked ``mode`` (and given tracing inputs) for the call."""
    old_mode = getattr(module, _ATTRIBUTE, None)
    if old_mode is not None and old_mode != mode:
        warnings.warn(
            f"{type(module).__name__} has compile mode {old_mode!r}; compiling it with {mode!r}",
            stacklevel=3,
        )
    old_inputs = module.__dict__.get(_TRACING_INPUTS)
    setattr(module, _ATTRIBUTE, mode)
    if inputs is not None:
        setattr(module, _TRACING_INPUTS, lambda n: inputs)
    try:
        return compile(module, in_place=in_place)
    finally:
        if old_mode is None:
            delattr(module, _ATTRIBUTE)
        else:
            setattr(module, _ATTRIBUTE, old_mode)
        if inputs is not None:
            if old_inputs is None:
                delattr(module, _TRACING_INPUTS)
            else:
                setattr(module, _TRACING_INPUTS, old_inputs)


def script(module: torch.nn.Module, in_place: bool = True) -> torch.nn.Module:
    """``torch.jit.script`` after compiling the children by their compile modes.

    Example::

        >>> from e3core import o3
        >>> type(script(o3.Norm("2x1o"))).__name__
        'RecursiveScriptModule'
    """
    return _compile_as(module, "script", None, in_place)


def trace_module(
    module: torch.nn.Module,
    inputs: dict[str, tuple[Any, ...]] | None = None,
    check_inputs: list[dict[str, tuple[Any, ...]]] | None = None,
    in_place: bool = True,
) -> torch.nn.Module:
    """``torch.jit.trace_module`` after compiling the children by their compile modes; random
    inputs from ``irreps_in`` when ``inputs`` is None.

    Example::

        >>> from e3core import o3
        >>> traced = trace_module(o3.Norm("2x1o"), {"forward": (torch.randn(2, 6),)})
        >>> type(traced).__name__
        'TopLevelTracedModule'
    """
    given = None if inputs is None else [inputs, *(check_inputs or [])]
    return _compile_as(module, "trace", given, in_place)


def trace(
    module: torch.nn.Module,
    example_inputs: tuple[Any, ...] | None = None,
    check_inputs: list[tuple[Any, ...]] | None = None,
    in_place: bool = True,
) -> torch.nn.Module:
    """``trace_module`` of ``forward``, with ``torch.jit.trace``'s arguments.

    Example::

        >>> from e3core import o3
        >>> traced = trace(o3.Norm("2x1o"), (torch.randn(2, 6),))
        >>> traced(torch.ones(1, 6)).shape
        torch.Size([1, 2])
    """
    inputs = None if example_inputs is None else {"forward": example_inputs}
    checks = [{"forward": c} for c in check_inputs or []]
    return trace_module(module, inputs, checks, in_place)


@contextlib.contextmanager
def disable_e3nn_codegen() -> Iterator[None]:
    """Sets ``jit_script_fx`` to False for the block, as e3nn's (which then builds its modules
    without generated code); e3core has none, so only the setting changes.

    Example::

        >>> with disable_e3nn_codegen():
        ...     get_optimization_defaults()["jit_script_fx"]
        False
    """
    saved = get_optimization_defaults()
    set_optimization_defaults(jit_script_fx=False)
    try:
        yield
    finally:
        set_optimization_defaults(jit_script_fx=saved["jit_script_fx"], jit_mode=saved["jit_mode"])
