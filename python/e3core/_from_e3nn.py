"""from_e3nn: a copy of an e3nn 0.6 model in which every e3nn module is e3core's.

e3nn is imported only when the model holds an e3nn module: it is not a dependency of e3core.
"""

import copy
import functools
import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from e3core import nn, o3

_Converter = Callable[[torch.nn.Module], torch.nn.Module]
_Placement = tuple[torch.device | None, torch.dtype | None]

# The (irrep_normalization, path_normalization) pairs a tensor product may have been built with,
# e3nn's defaults first.
_NORMALIZATIONS = [
    (irrep, path) for irrep in ("component", "norm", "none") for path in ("element", "path", "none")
]
# The attributes that say what a tensor product or Linear maps from and to.
_IRREPS_ATTRIBUTES = ("irreps_in", "irreps_in1", "irreps_in2", "irreps_out")


def from_e3nn(module: torch.nn.Module, strict: bool = False) -> torch.nn.Module:
    """A copy of ``module`` in which every e3nn module is replaced by its e3core equivalent.

    Each e3nn module (the tensor products, ``o3.Linear``, ``o3.SphericalHarmonics``,
    ``o3.Norm`` and ``nn.Gate``, ``Activation``, ``NormActivation``, ``FullyConnectedNet``,
    ``BatchNorm``, ``Dropout``, ``Extract``, ``ExtractIr``, ``Identity``) is rebuilt in e3core
    from its own configuration, with e3nn's state (``load_state_dict(strict=True)``), device, dtype,
    training mode and ``requires_grad`` flags, so it computes the same outputs. Other modules
    (``torch.nn.Sequential``, your own modules, ...) are deep-copied and keep calling their
    children, now e3core's; ``module`` itself is left unchanged. Activation functions are kept
    (modules among them are copied).

    A tensor product subclass built with ``in1_var``, ``in2_var`` or ``out_var`` becomes a plain
    ``e3core.o3.TensorProduct`` with the same paths and coefficients (a ``TensorSquare`` cannot
    and raises ``ValueError``, as does a ``Linear`` with ``f_in``/``f_out``).

    An e3nn module that e3core does not provide, and a subclass of an e3nn module (its changes
    would be lost; MACE's symmetric contraction, for example, subclasses e3nn's code-generation
    mixin), is kept as it is, with everything under it, and computes as before; a UserWarning
    lists what was kept, by path in the tree. With ``strict`` such a module raises
    ``TypeError`` instead.

    Example::

        >>> import e3nn.o3
        >>> model = torch.nn.Sequential(e3nn.o3.Linear("4x0e+2x1o", "2x1o"), torch.nn.Identity())
        >>> converted = from_e3nn(model)
        >>> type(converted[0])
        <class 'e3core.o3._linear.Linear'>
        >>> x = torch.randn(3, 10)
        >>> torch.allclose(converted(x), model(x), atol=1e-6)
        True
    """
    converted: dict[int, torch.nn.Module] = {}
    kept: list[str] | None = None if strict else []
    # Building e3core modules draws initial weights that e3nn's then overwrite: leave the
    # caller's random stream as it was.
    with torch.random.fork_rng(devices=[]):
        _convert_tree(module, "", converted, _placement(module, (None, None)), kept)
    if kept:
        warnings.warn(
            f"from_e3nn kept {len(kept)} e3nn module(s) as they are: " + "; ".join(kept),
            UserWarning,
            stacklevel=2,
        )
    # The converted modules in deepcopy's memo take the place of their originals wherever the
    # tree refers to them: shared modules stay shared, and no e3nn module is copied.
    return copy.deepcopy(module, memo=dict(converted))


def _convert_tree(
    module: torch.nn.Module,
    path: str,
    converted: dict[int, torch.nn.Module],
    default: _Placement,
    kept: list[str] | None,
) -> None:
    """Converts the e3nn modules under ``module``; those it cannot are listed in ``kept`` (or
    raise TypeError when ``kept`` is None)."""
    if id(module) in converted:
        return
    e3nn_class = _e3nn_class(type(module))
    if e3nn_class is None:
        for name, child in module.named_children():
            _convert_tree(child, f"{path}.{name}" if path else name, converted, default, kept)
        return
    where = path or "the module"
    convert = _converters().get(e3nn_class)
    if e3nn_class is not type(module):
        reason = (
            f"{type(module).__module__}.{type(module).__qualname__}, a subclass of "
            f"{_public_name(e3nn_class)}"
        )
    elif convert is None:
        reason = f"{_public_name(e3nn_class)}, which e3core does not provide"
    else:
        reason = None
    if reason is not None:
        if kept is None:
            raise TypeError(
                f"from_e3nn: {where} is {reason}; from_e3nn(strict=False) keeps it as it is"
            )
        kept.append(f"{where} ({reason})")
        return
    try:
        new = convert(module)
    except ValueError as exc:
        raise ValueError(f"from_e3nn: {where} ({_public_name(e3nn_class)}): {exc}") from exc
    converted[id(module)] = _take_state(new, module, default)


def _e3nn_class(cls: type) -> type | None:
    """The first class in cls's method resolution order that e3nn defines, if any."""
    for base in cls.__mro__:
        if base.__module__ == "e3nn" or base.__module__.startswith("e3nn."):
            return base
    return None


def _public_name(cls: type) -> str:
    """e3nn.o3.ReducedTensorProducts rather than e3nn.o3._reduce.ReducedTensorProducts."""
    parts = itertools.takewhile(lambda part: not part.startswith("_"), cls.__module__.split("."))
    return ".".join([*parts, cls.__qualname__])


def _placement(module: torch.nn.Module, default: _Placement) -> _Placement:
    """Device and dtype of the module's first floating-point parameter or buffer."""
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return default


def _take_state(new: torch.nn.Module, old: torch.nn.Module, default: _Placement) -> torch.nn.Module:
    # A module without floating-point state (SphericalHarmonics, Extract) follows the tree, so
    # that e3core's index buffers land on the model's device.
    device, dtype = _placement(old, default)
    new.to(device=device, dtype=dtype)
    new.load_state_dict(old.state_dict(), strict=True)
    for name, parameter in old.named_parameters():
        new.get_parameter(name).requires_grad_(parameter.requires_grad)
    _copy_activation_constants(old, new)
    return new.train(old.training)


def _copy_activation_constants(old: torch.nn.Module, new: torch.nn.Module) -> None:
    # e3core computes normalize2mom's constant as e3nn does, but in the dtype of the function's
    # parameters where e3nn always uses float64: copying e3nn's keeps a parametrised
    # activation exact in a model cast to float32 after it was built.
    import e3nn.math

    for name, sub in old.named_modules():
        if isinstance(sub, e3nn.math.normalize2mom):
            target = new.get_submodule(name)
            target.cst, target._is_id = sub.cst, sub._is_id


@functools.cache
def _converters() -> dict[type, _Converter]:
    import e3nn.nn
    import e3nn.o3

    def family(cls: type[o3.TensorProduct], variants: Callable) -> _Converter:
        return lambda m: _tensor_product_family(m, cls, variants(m))

    return {
        e3nn.o3.TensorProduct: _tensor_product,
        e3nn.o3.FullyConnectedTensorProduct: family(
            o3.FullyConnectedTensorProduct,
            lambda m: [((m.irreps_in1, m.irreps_in2, m.irreps_out), {})],
        ),
        e3nn.o3.FullTensorProduct: family(
            o3.FullTensorProduct,
            lambda m: [((m.irreps_in1, m.irreps_in2, _irreps_of(m.irreps_out)), {})],
        ),
        e3nn.o3.ElementwiseTensorProduct: family(
            o3.ElementwiseTensorProduct,
            lambda m: [((m.irreps_in1, m.irreps_in2, _irreps_of(m.irreps_out)), {})],
        ),
        # Without irreps_out e3nn lists every allowed irrep, with it the product is fully
        # connected; the instructions tell which was built.
        e3nn.o3.TensorSquare: family(
            o3.TensorSquare,
            lambda m: [
                ((m.irreps_in,), {"filter_ir_out": _irreps_of(m.irreps_out)}),
                ((m.irreps_in, m.irreps_out), {}),
            ],
        ),
        e3nn.o3.Linear: _linear,
        # A string: e3core would read e3nn's Irreps (a tuple) as a list of degrees.
        e3nn.o3.SphericalHarmonics: lambda m: o3.SphericalHarmonics(
            str(m.irreps_out), m.normalize, m.normalization, irreps_in=m.irreps_in
        ),
        e3nn.o3.Norm: lambda m: o3.Norm(m.irreps_in, squared=m.squared),
        e3nn.nn.Activation: lambda m: nn.Activation(m.irreps_in, _functions(m.acts)),
        e3nn.nn.Gate: lambda m: nn.Gate(
            m.act_scalars.irreps_in,
            _functions(m.act_scalars.acts),
            m.act_gates.irreps_in,
            _functions(m.act_gates.acts),
            m.irreps_gated,
        ),
        e3nn.nn.NormActivation: lambda m: nn.NormActivation(
            m.irreps_in,
            copy.deepcopy(m.scalar_nonlinearity),
            normalize=m.normalize,
            epsilon=m.epsilon,
            bias=m.bias,
        ),
        e3nn.nn.FullyConnectedNet: _fully_connected_net,
        e3nn.nn.BatchNorm: lambda m: nn.BatchNorm(
            m.irreps,
            eps=m.eps,
            momentum=m.momentum,
            affine=m.affine,
            reduce=m.reduce,
            instance=m.instance,
            include_bias=m.include_bias,
            normalization=m.normalization,
        ),
        e3nn.nn.Dropout: lambda m: nn.Dropout(m.irreps, m.p),
        e3nn.nn.Identity: lambda m: nn.Identity(m.irreps_in, m.irreps_out),
        e3nn.nn.Extract: _extract,
        e3nn.nn.ExtractIr: _extract_ir,
    }


def _irreps_of(irreps: Iterable[Any]) -> list[Any]:
    """The irreps of a list of (mul, irrep): the filter_ir_out that gives these outputs."""
    return [ir for _, ir in irreps]


def _functions(acts: Iterable[torch.nn.Module | None]) -> list[Any]:
    """The functions e3nn wrapped in normalize2mom (copies of modules), or None."""
    return [None if act is None else copy.deepcopy(act.f) for act in acts]


def _tensor_product(m: torch.nn.Module) -> o3.TensorProduct:
    """e3core's TensorProduct with exactly the coefficients of e3nn's.

    e3nn keeps in ``path_weight`` each path's coefficient c, the square root of the product of
    the irrep normalization, out_var and the path weight divided by the path normalization's
    fan-in sum. The constructor's path weights, normalizations and variances cannot be told
    apart in c, and are not needed: without normalization (both "none") the path weight c * c
    gives e3core's coefficient sqrt(c * c), which is c exactly in binary floating point.
    """
    return o3.TensorProduct(
        m.irreps_in1,
        m.irreps_in2,
        m.irreps_out,
        [(*ins[:5], ins.path_weight * ins.path_weight) for ins in m.instructions],
        irrep_normalization="none",
        path_normalization="none",
        internal_weights=m.internal_weights,
        shared_weights=m.shared_weights,
    )


def _tensor_product_family(
    m: torch.nn.Module, cls: type[o3.TensorProduct], variants: Sequence[tuple[tuple, dict]]
) -> o3.TensorProduct:
    """The e3core ``cls`` built as e3nn's ``m`` was: same paths and coefficients.

    The subclasses derive their paths from their arguments (``variants``), but e3nn does not
    keep the normalizations: each pair is tried, e3nn's defaults first.
    """
    candidates = (
        cls(
            *args,
            **kwargs,
            irrep_normalization=irrep,
            path_normalization=path,
            internal_weights=m.internal_weights,
            shared_weights=m.shared_weights,
        )
        for args, kwargs in variants
        for irrep, path in _NORMALIZATIONS
    )
    match = _first_match(m, candidates)
    if match is not None:
        return match
    # Built with in1_var, in2_var or out_var: their effect on the coefficients is known, their
    # values are not. A plain TensorProduct takes the same inputs, except for TensorSquare's.
    if cls is o3.TensorSquare:
        raise ValueError(
            "its coefficients are not those of any irrep_normalization and path_normalization "
            "(was it built with in1_var, in2_var or out_var?); e3core's TensorSquare cannot "
            "reproduce them"
        )
    return _tensor_product(m)


def _linear(m: torch.nn.Module) -> o3.Linear:
    biased = {ins.i_out for ins in m.instructions if ins.i_in == -1}
    candidates = (
        o3.Linear(
            m.irreps_in,
            m.irreps_out,
            internal_weights=m.internal_weights,
            shared_weights=m.shared_weights,
            instructions=[(ins.i_in, ins.i_out) for ins in m.instructions if ins.i_in != -1],
            biases=[i in biased for i in range(len(m.irreps_out))],
            path_normalization=path,
        )
        for path in ("element", "path")
    )
    match = _first_match(m, candidates)
    if match is None:
        raise ValueError(
            "its coefficients are not those of path_normalization 'element' or 'path' "
            "(was it built with f_in/f_out? from_e3nn does not convert those: build e3core's "
            "o3.Linear with the same f_in/f_out and load the state_dict)"
        )
    return match


def _first_match(
    original: torch.nn.Module, candidates: Iterable[torch.nn.Module]
) -> torch.nn.Module | None:
    """The first candidate with the irreps and instructions of ``original``.

    Coefficients are compared to 1e-12: e3core computes some (Linear's listed ones) in another
    order than e3nn.
    """
    for candidate in candidates:
        same_irreps = all(
            str(getattr(candidate, name, None)) == str(getattr(original, name, None))
            for name in _IRREPS_ATTRIBUTES
        )
        if same_irreps and _same_instructions(original.instructions, candidate.instructions):
            return candidate
    return None


def _same_instructions(a: Sequence[tuple], b: Sequence[tuple]) -> bool:
    return len(a) == len(b) and all(
        x._replace(path_weight=0) == y._replace(path_weight=0)
        and math.isclose(x.path_weight, y.path_weight, rel_tol=1e-12)
        for x, y in zip(a, b, strict=False)
    )


def _fully_connected_net(m: torch.nn.Module) -> nn.FullyConnectedNet:
    layers = [getattr(m, f"layer{i}") for i in range(len(m.hs) - 1)]
    # e3nn keeps act, variance_in, variance_out and out_act only in the layers.
    acts = [layer.act for layer in layers if layer.act is not None]
    return nn.FullyConnectedNet(
        m.hs,
        copy.deepcopy(acts[0].f) if acts else None,
        variance_in=layers[0].var_in if layers else 1,
        variance_out=layers[-1].var_out if layers else 1,
        out_act=bool(layers) and layers[-1].act is not None,
    )


def _extract(m: torch.nn.Module) -> nn.Extract:
    # e3nn keeps squeeze_out only in its generated code: ask the module.
    with torch.no_grad():
        probe = m(torch.zeros(0, m.irreps_in.dim))
    return nn.Extract(
        m.irreps_in, m.irreps_outs, m.instructions, squeeze_out=not isinstance(probe, tuple)
    )


def _extract_ir(m: torch.nn.Module) -> nn.ExtractIr:
    # The irrep extracted; when irreps_in has none, any irrep absent from it does the same.
    ir = m.irreps_out[0].ir if len(m.irreps_out) > 0 else (max(m.irreps_in.ls, default=-1) + 1, 1)
    return nn.ExtractIr(m.irreps_in, ir)
