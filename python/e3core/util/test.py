"""Test helpers with e3nn.util.test's names and behaviour: equivariance, TorchScript and
normalization checks of modules and functions of irreps.

Inputs and outputs are described by irreps (or ``"cartesian_points"``: positions, which rotate
and translate, or None: left alone), read from ``irreps_in``/``irreps_out`` attributes (or
``irreps_in1``/``irreps_in2``) when not given. Rotations, with and without the inversion, are
applied in ``transform_dtype`` (float64).

Example::

    >>> from e3core import o3
    >>> errors = assert_equivariant(o3.Linear("2x0e+1x1o", "1x0e+2x1o"))
    >>> sorted(errors)
    [(0, False), (1, False)]
"""

import itertools
import math
import random
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from e3core._errors import ArgumentError
from e3core.o3._irreps import Irreps
from e3core.o3._rotation import rand_matrix
from e3core.util._arguments import io_irreps, random_args
from e3core.util.jit import (
    compile,
    get_compile_mode,
    get_optimization_defaults,
    get_tracing_inputs,
    set_optimization_defaults,
)

__all__ = [
    "FLOAT_TOLERANCE",
    "assert_auto_jitable",
    "assert_equivariant",
    "assert_normalized",
    "assert_torch_compile",
    "compile",
    "equivariance_error",
    "format_equivariance_error",
    "get_compile_mode",
    "get_optimization_defaults",
    "get_tracing_inputs",
    "random_irreps",
    "set_optimization_defaults",
    "set_random_seeds",
]

# The largest equivariance error accepted, per default dtype (e3nn's values).
FLOAT_TOLERANCE = {
    dtype: torch.as_tensor(value, dtype=dtype)
    for dtype, value in {torch.float32: 1e-3, torch.float64: 1e-9}.items()
}

try:
    import pytest
except ImportError:  # the fixture exists only where pytest does, as in e3nn
    pass
else:

    @pytest.fixture(scope="session", autouse=True, params=["float32", "float64"])
    def float_tolerance(request: pytest.FixtureRequest) -> Iterable[torch.Tensor]:
        """e3nn's pytest fixture: runs every test of a session once with float32 and once with
        float64 as torch's default dtype, and gives the tolerance of that dtype.

        Import it into a ``conftest.py`` to use it, as with e3nn's::

            from e3core.util.test import float_tolerance  # noqa: F401
        """
        saved = torch.get_default_dtype()
        dtype = {"float32": torch.float32, "float64": torch.float64}[request.param]
        torch.set_default_dtype(dtype)
        yield FLOAT_TOLERANCE[dtype]
        torch.set_default_dtype(saved)


def random_irreps(
    n: int = 1,
    lmax: int = 4,
    mul_min: int = 0,
    mul_max: int = 5,
    len_min: int = 0,
    len_max: int = 4,
    clean: bool = False,
    allow_empty: bool = True,
) -> Any:
    """``n`` random irreps (one if ``n == 1``, else a list) of ``len_min``..``len_max`` terms,
    multiplicities ``mul_min``..``mul_max`` and degrees up to ``lmax``, from Python's
    ``random``; with ``clean`` each is an ``Irreps``, else an ``Irreps``, its string or its list
    of ``(mul, (l, p))``, chosen at random, as e3nn's.

    Example::

        >>> random.seed(1)
        >>> isinstance(random_irreps(clean=True), Irreps)
        True
    """
    if n < 1 or lmax < 0 or mul_min < 0 or mul_max < mul_min or len_min < 0:
        raise ArgumentError(
            f"random_irreps: n={n}, lmax={lmax}, mul_min={mul_min}, mul_max={mul_max}, "
            f"len_min={len_min}: expected n >= 1, lmax >= 0, 0 <= mul_min <= mul_max, len_min >= 0"
        )
    if not allow_empty and len_min == 0:
        len_min = 1
    if len_max < len_min:
        raise ArgumentError(f"random_irreps: len_max is {len_max}, below len_min {len_min}")
    out: list[Any] = []
    for _ in range(n):
        terms = [
            (random.randint(mul_min, mul_max), (random.randint(0, lmax), random.choice((1, -1))))
            for _ in range(random.randint(len_min, len_max))
        ]
        if not allow_empty and all(mul == 0 for mul, _ in terms):
            terms[-1] = (random.randint(1, mul_max), terms[-1][1])
        irreps = Irreps(terms)
        kind = "irreps" if clean else random.choice(("irreps", "str", "list"))
        if kind == "irreps":
            out.append(irreps)
        elif kind == "str":
            out.append(repr(irreps))
        else:
            out.append([(mul, (ir.l, ir.p)) for mul, ir in irreps])
    return out[0] if n == 1 else out


def _transform(
    values: Sequence[torch.Tensor],
    irreps: Sequence[Any],
    rotation: torch.Tensor,
    translation: torch.Tensor | float,
    in_transform_dtype: bool = False,
) -> list[torch.Tensor]:
    out = []
    for ir, value in zip(irreps, values, strict=True):
        dtype = rotation.dtype if in_transform_dtype else value.dtype
        if ir is None:
            out.append(value.clone())
            continue
        if isinstance(ir, str):
            matrix, shift = rotation, torch.as_tensor(translation, dtype=rotation.dtype)
        else:
            matrix, shift = ir.D_from_matrix(rotation).to(rotation.dtype), torch.zeros(())
        moved = value.to(rotation.dtype) @ matrix.T.to(value.device) + shift.to(value.device)
        out.append(moved.to(dtype))
    return out


def _outputs(result: Any) -> list[torch.Tensor]:
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, list | tuple):
        return list(result)
    raise TypeError(f"equivariance_error cannot handle output type {type(result)}")


def equivariance_error(
    func: Callable[..., Any],
    args_in: Sequence[torch.Tensor],
    irreps_in: Any = None,
    irreps_out: Any = None,
    ntrials: int = 1,
    do_parity: bool = True,
    do_translation: bool = True,
    transform_dtype: torch.dtype = torch.float64,
) -> dict[tuple[int, bool], torch.Tensor]:
    """The largest componentwise error of ``func(g x) = g func(x)`` per output, over
    ``ntrials`` random rotations g, for each ``(parity_k, did_translate)``: with the inversion
    (parity_k 1) when ``do_parity``, and a translation of the ``"cartesian_points"`` inputs
    when ``do_translation`` and there are some.

    Example::

        >>> from e3core import o3
        >>> tp = o3.FullyConnectedTensorProduct("1x1o", "1x1o", "1x0e")
        >>> errors = equivariance_error(tp, [torch.randn(5, 3), torch.randn(5, 3)])
        >>> all(float(e.max()) < 1e-4 for e in errors.values())
        True
    """
    irreps_in, irreps_out = io_irreps(func, irreps_in, irreps_out)
    parities = [0, 1] if do_parity else [0]
    points = any(isinstance(i, str) for i in irreps_in)
    translations = [False, True] if do_translation and points else [False]
    device = next(t.device for t in args_in if isinstance(t, torch.Tensor))
    worst = {
        case: torch.full((len(irreps_out),), -math.inf, dtype=transform_dtype, device=device)
        for case in itertools.product(parities, translations)
    }
    for _ in range(ntrials):
        for parity_k, translate in worst:
            rotation = rand_matrix(dtype=transform_dtype) * (-1) ** parity_k
            shift = 10 * torch.randn(1, 3, dtype=transform_dtype) if translate else 0.0
            moved_first = _outputs(func(*_transform(args_in, irreps_in, rotation, shift)))
            moved_after = _outputs(func(*args_in))
            if len(moved_first) != len(irreps_out) or len(moved_after) != len(irreps_out):
                raise ArgumentError(
                    f"func returned {len(moved_after)} outputs but irreps_out has {len(irreps_out)}"
                )
            moved_after = _transform(
                [t.detach() for t in moved_after], irreps_out, rotation, shift, True
            )
            errors = torch.stack(
                [
                    (a.detach().to(transform_dtype) - b).abs().max()
                    for a, b in zip(moved_first, moved_after, strict=True)
                ]
            )
            worst[(parity_k, translate)] = torch.maximum(worst[(parity_k, translate)], errors)
    return {case: error.to(torch.get_default_dtype()) for case, error in worst.items()}


def format_equivariance_error(errors: dict[tuple[int, bool], torch.Tensor]) -> str:
    """One line per case of ``equivariance_error``'s result, as e3nn writes them.

    Example::

        >>> format_equivariance_error({(0, False): torch.tensor([1e-7, 2e-6])})
        '(parity_k=0, did_translate=False) -> max error=2.000e-06 in argument 1'
    """
    return "\n".join(
        f"(parity_k={int(k[0]):d}, did_translate={bool(k[1])}) -> max error="
        f"{float(v.max()):.3e} in argument {int(v.argmax())}"
        for k, v in errors.items()
    )


def assert_equivariant(
    func: Callable[..., Any],
    args_in: Sequence[torch.Tensor] | None = None,
    irreps_in: Any = None,
    irreps_out: Any = None,
    tolerance: float | None = None,
    **kwargs: Any,
) -> dict[tuple[int, bool], torch.Tensor]:
    """Raises AssertionError unless ``func`` is equivariant to within ``tolerance``
    (``FLOAT_TOLERANCE`` of the default dtype); random inputs when ``args_in`` is None. Returns
    ``equivariance_error``'s result; ``kwargs`` go to it.

    Example::

        >>> from e3core import o3
        >>> sh = o3.SphericalHarmonics(2, True)
        >>> _ = assert_equivariant(sh, irreps_in="cartesian_points", do_translation=False)
    """
    __tracebackhide__ = True
    ins, outs = io_irreps(func, irreps_in, irreps_out)
    args = random_args(ins) if args_in is None else list(args_in)
    if len(args) != len(ins):
        raise ArgumentError(f"args_in has {len(args)} entries but irreps_in has {len(ins)}")
    errors = equivariance_error(func, args, ins, outs, **kwargs)
    limit = FLOAT_TOLERANCE[torch.get_default_dtype()] if tolerance is None else tolerance
    problems = {case: error for case, error in errors.items() if error.max() > limit}
    assert not problems, (
        "Largest componentwise equivariance error was too large for: "
        + format_equivariance_error(problems)
    )
    return errors


def assert_auto_jitable(
    func: torch.nn.Module,
    error_on_warnings: bool = True,
    n_trace_checks: int = 2,
    strict_shapes: bool = True,
) -> torch.jit.ScriptModule:
    """Compiles ``func`` as its compile mode says ("script": ``torch.jit.script``; "trace":
    ``torch.jit.trace`` on random inputs, checked on ``n_trace_checks`` more) and checks that
    the compiled module gives the eager outputs on new random inputs; warnings during
    compilation are errors with ``error_on_warnings``. Returns the compiled module.

    Example::

        >>> from e3core import o3
        >>> scripted = assert_auto_jitable(o3.Linear("2x0e", "3x0e"))
        >>> isinstance(scripted, torch.jit.ScriptModule)
        True
    """
    __tracebackhide__ = True
    mode = get_compile_mode(func)
    if mode not in ("script", "trace"):
        raise ArgumentError(
            f"assert_auto_jitable: {type(func).__name__} has compile mode {mode!r}; it needs "
            "'script' or 'trace' (e3core.util.jit.compile_mode)"
        )
    irreps_in, _ = io_irreps(func, None, [None])  # only the inputs are needed
    with warnings.catch_warnings():
        if error_on_warnings:
            warnings.simplefilter("error")
            # torch 2.10 and later deprecate TorchScript itself: not the module's fault.
            warnings.filterwarnings(
                "ignore", r"`torch\.jit\.\w+` is deprecated", DeprecationWarning
            )
        if mode == "script":
            compiled = torch.jit.script(func)
        else:
            example = tuple(random_args(irreps_in))
            checks = [tuple(random_args(irreps_in)) for _ in range(n_trace_checks)]
            compiled = torch.jit.trace(func, example, check_inputs=checks or None)
    batch = random.randint(2, 4) if strict_shapes else None
    args = random_args(irreps_in, batch)
    for ours, theirs in zip(_outputs(compiled(*args)), _outputs(func(*args)), strict=True):
        assert ours.shape == theirs.shape, f"compiled shape {ours.shape}, eager {theirs.shape}"
        assert torch.allclose(ours, theirs, atol=1e-6, rtol=1e-5), "compiled and eager differ"
    return compiled


def assert_torch_compile(
    compile_mode: str, func: Callable[[], torch.nn.Module], *args: Any, **kwargs: Any
) -> Callable[..., Any]:
    """Builds a module with ``func()`` and runs it under ``torch.compile(fullgraph=True)`` on
    ``args`` and ``kwargs``, as e3nn's: a graph break or a failure raises. Returns the compiled
    module. ``compile_mode`` is e3nn's ``jit_mode`` optimization default while ``func`` builds the
    module (it changes nothing in e3core, whose modules generate no code).

    >>> import functools, torch
    >>> from e3core import o3
    >>> build = functools.partial(o3.Linear, "2x0e", "1x0e")
    >>> assert_torch_compile("eager", build, torch.randn(3, 2)).__class__.__name__
    'OptimizedModule'
    """
    saved = get_optimization_defaults()["jit_mode"]
    try:
        set_optimization_defaults(jit_mode=compile_mode)
        module = func()
        torch._dynamo.reset()
        compiled = torch.compile(module, fullgraph=True)
        compiled(*args, **kwargs)
    finally:
        set_optimization_defaults(jit_mode=saved)
    return compiled


def assert_normalized(
    func: torch.nn.Module,
    irreps_in: Any = None,
    irreps_out: Any = None,
    normalization: str = "component",
    n_input: int = 10_000,
    n_weight: int | None = None,
    weights: Iterable[torch.nn.Parameter] | None = None,
    atol: float = 0.1,
) -> None:
    """Raises AssertionError unless each output component has a second moment within ``atol``
    of 1 ("component") or 1/sqrt(2l+1) ("norm", e3nn's target) for inputs normalized the same
    way, averaged over ``n_input`` inputs and ``n_weight`` (20) draws of ``weights`` (the
    module's parameters) from N(0, 1), as e3nn's; the parameters keep the last draw.

    Example::

        >>> from e3core import o3
        >>> linear = o3.Linear("4x0e+2x1o", "3x0e+1x1o")
        >>> assert_normalized(linear, n_input=1000, n_weight=50, atol=0.35)
    """
    __tracebackhide__ = True
    if normalization not in ("component", "norm"):
        raise ArgumentError(f"normalization is {normalization!r}, expected 'component' or 'norm'")
    ins, outs = io_irreps(func, irreps_in, irreps_out)
    if all(i.num_irreps == 0 for i in ins) or all(o.num_irreps == 0 for o in outs):
        return
    params = list(func.parameters() if weights is None else weights)
    if not params and n_weight not in (None, 1):
        raise ArgumentError("without weights to draw, n_weight must be 1 or None")
    draws = 1 if not params else (20 if n_weight is None else n_weight)
    squares = [torch.zeros(irreps.dim, dtype=torch.float64) for irreps in outs]
    with torch.no_grad():
        for _ in range(draws):
            for param in params:
                param.normal_()
            args = random_args(ins, n_input)
            if normalization == "norm":
                for arg, irreps in zip(args, ins, strict=True):
                    for (_, ir), part in zip(irreps, irreps.slices(), strict=True):
                        arg[:, part] /= math.sqrt(ir.dim)
            for square, out in zip(squares, _outputs(func(*args)), strict=True):
                square += out.double().square().mean(dim=0) / draws
    for square, irreps in zip(squares, outs, strict=True):
        for k, ((_, ir), part) in enumerate(zip(irreps, irreps.slices(), strict=True)):
            if part.start == part.stop:
                continue
            target = 1.0 if normalization == "component" else 1.0 / math.sqrt(ir.dim)
            error = float((square[part] - target).abs().max())
            assert error <= atol, (
                f"< x_i^2 > !~= {target:.6f} for output irrep #{k}, {irreps[k]}. "
                f"Max componentwise error: {error:.6f}"
            )


def set_random_seeds() -> None:
    """Seeds torch, Python's ``random`` and numpy with 0.

    Example::

        >>> set_random_seeds()
        >>> random.random() == random.Random(0).random()
        True
    """
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
