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
from e3core._dtype import default_dtype


class _Kept(Exception):
    """Raised by a converter for an e3nn module that e3core cannot reproduce; says why."""


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

    Each e3nn module (the tensor products, also ``o3.experimental``'s, ``o3.Linear``,
    ``SphericalHarmonics``, ``SphericalHarmonicsAlphaBeta``, ``Legendre``, ``Norm``,
    ``ToS2Grid``, ``FromS2Grid``, ``SO3Grid``, ``ReducedTensorProducts``, ``math.normalize2mom``,
    ``nn.Gate``, ``Activation``, ``NormActivation``, ``S2Activation``, ``SO3Activation``,
    ``FullyConnectedNet``, ``BatchNorm``, ``Dropout``, ``Extract``, ``ExtractIr``, ``Identity``
    and ``nn.models``' ``gate_points_2101``/``2102`` networks, convolutions and ``Compose``,
    ``v2104.voxel_convolution.Convolution`` and ``LowPassFilter``) is rebuilt in e3core from its
    own configuration, with e3nn's state (``load_state_dict(strict=True)``), device, dtype,
    training mode and ``requires_grad`` flags, so it computes the same outputs. What e3nn does
    not keep is read from its buffers or values (``Legendre``'s degrees, the grids'
    resolutions, the voxel lattice's shape) or does not matter once they are loaded
    (``ReducedTensorProducts``' formula, the grids' normalizations). Other modules
    (``torch.nn.Sequential``, your own modules, ...) are deep-copied and keep calling their
    children, now e3core's; ``module`` itself is left unchanged. Activation functions are kept
    (modules among them are copied).

    A tensor product subclass built with ``in1_var``, ``in2_var`` or ``out_var`` becomes a plain
    ``e3core.o3.TensorProduct`` with the same paths and coefficients (a ``TensorSquare`` cannot
    and raises ``ValueError``, as does a ``Linear`` with ``f_in``/``f_out``).

    mace-torch's ``SymmetricContraction`` (a subclass of e3nn's code-generation mixin) becomes
    ``e3core.nn.SymmetricContraction`` with its state, where it was built without
    cuequivariance's reduced basis and with one correlation: a whole mace-torch model converts.

    Other e3nn modules (those of ``nn.models.v2103`` and ``v2106``), other subclasses of e3nn
    modules (their changes would be lost) and modules e3core cannot reproduce (an
    ``o3.experimental`` product whose inputs repeat a pair of irreps, which e3nn computes
    once; a ``Legendre`` of no degree) are kept as they are, with everything under them, and
    compute as before; a UserWarning lists what was kept and why, by path in the tree. With
    ``strict`` such a module raises ``TypeError`` instead.

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
    cls = _own_class(module)
    e3nn_class = _e3nn_class(cls)
    if e3nn_class is None:
        for name, child in module.named_children():
            _convert_tree(child, f"{path}.{name}" if path else name, converted, default, kept)
        return
    where = path or "the module"
    foreign = _foreign_converters().get(f"{cls.__module__}.{cls.__qualname__}")
    convert = foreign or _converters().get(e3nn_class)
    if foreign is not None:
        e3nn_class = cls
    if e3nn_class is not cls:
        reason = f"{cls.__module__}.{cls.__qualname__}, a subclass of {_public_name(e3nn_class)}"
    elif convert is None:
        reason = f"{_public_name(e3nn_class)}, which from_e3nn does not convert"
    else:
        try:
            new = convert(module)
            reason = None
        except _Kept as exc:
            reason = f"{_public_name(e3nn_class)}: {exc}"
        except ValueError as exc:
            raise ValueError(f"from_e3nn: {where} ({_public_name(e3nn_class)}): {exc}") from exc
    if reason is not None:
        if kept is None:
            raise TypeError(
                f"from_e3nn: {where} is {reason}; from_e3nn(strict=False) keeps it as it is"
            )
        kept.append(f"{where} ({reason})")
        return
    converted[id(module)] = _take_state(new, module, default)


def _own_class(module: torch.nn.Module) -> type:
    """The class the module was built as: torch.fx derives a class for each GraphModule (such
    as e3nn's Legendre) from it."""
    cls = type(module)
    if isinstance(module, torch.fx.GraphModule) and cls.__qualname__.endswith(".GraphModuleImpl"):
        return cls.__bases__[0]
    return cls


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
    import e3nn.math
    import e3nn.nn
    import e3nn.nn.models.gate_points_2101
    import e3nn.nn.models.gate_points_2102
    import e3nn.nn.models.v2104.voxel_convolution
    import e3nn.o3
    import e3nn.o3.experimental

    from e3core import math as e3core_math
    from e3core.nn.models import gate_points_2101, gate_points_2102
    from e3core.o3 import experimental

    def family(cls: type[o3.TensorProduct], variants: Callable) -> _Converter:
        return lambda m: _tensor_product_family(m, cls, variants(m))

    e3nn_2101, e3nn_2102 = e3nn.nn.models.gate_points_2101, e3nn.nn.models.gate_points_2102
    e3nn_voxel = e3nn.nn.models.v2104.voxel_convolution
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
        # Its constant is e3nn's (_copy_activation_constants).
        e3nn.math.normalize2mom: lambda m: e3core_math.normalize2mom(copy.deepcopy(m.f)),
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
        # The grids' buffers (loaded) hold the normalization, which e3nn does not keep.
        e3nn.o3.ToS2Grid: lambda m: o3.ToS2Grid(m.lmax, (m.res_beta, m.res_alpha)),
        e3nn.o3.FromS2Grid: lambda m: o3.FromS2Grid((m.res_beta, m.res_alpha), m.lmax),
        e3nn.o3.SO3Grid: lambda m: o3.SO3Grid(_so3_lmax(m), **_so3_resolution(m)),
        e3nn.o3.SphericalHarmonicsAlphaBeta: lambda m: o3.SphericalHarmonicsAlphaBeta(
            m._ls_list, m.normalization
        ),
        e3nn.o3.Legendre: _legendre,
        e3nn.o3.ReducedTensorProducts: _reduced_tensor_products,
        e3nn.nn.S2Activation: lambda m: nn.S2Activation(
            m.irreps_in,
            copy.deepcopy(m.act.f),
            (m.to_s2.res_beta, m.to_s2.res_alpha),
            lmax_out=m.from_s2.lmax,
            random_rot=m.random_rot,
        ),
        e3nn.nn.SO3Activation: lambda m: nn.SO3Activation(
            m.lmax_in, m.lmax_out, copy.deepcopy(m.act.f), **_so3_resolution(m.grid_in)
        ),
        e3nn.o3.experimental.FullTensorProductv2: lambda m: experimental.FullTensorProductv2(
            **_v2_arguments(m), regroup_output=False
        ),
        e3nn.o3.experimental.ElementwiseTensorProductv2: lambda m: (
            experimental.ElementwiseTensorProductv2(**_v2_arguments(m))
        ),
        e3nn_2101.Network: lambda m: gate_points_2101.Network(*_network_arguments(m)),
        e3nn_2101.Convolution: lambda m: gate_points_2101.Convolution(*_convolution_arguments(m)),
        e3nn_2101.Compose: _compose,
        e3nn_2102.Network: lambda m: gate_points_2102.Network(*_network_arguments(m)),
        e3nn_2102.Convolution: lambda m: gate_points_2102.Convolution(*_convolution_arguments(m)),
        e3nn_2102.Compose: _compose,
        e3nn_voxel.Convolution: _voxel_convolution,
        e3nn_voxel.LowPassFilter: _low_pass_filter,
    }


def _foreign_converters() -> dict[str, _Converter]:
    """Converters of other packages' subclasses of e3nn modules, by qualified class name (so
    that those packages need not be installed)."""
    return {"mace.modules.symmetric_contraction.SymmetricContraction": _mace_contraction}


def _mace_contraction(m: torch.nn.Module) -> nn.SymmetricContraction:
    """mace-torch's symmetric contraction, built without cuequivariance's reduced basis."""
    correlations = {int(c.correlation) for c in m.contractions}
    if len(correlations) != 1 or not m.internal_weights:
        raise _Kept("built with a correlation per output irrep or with external weights")
    # Built in the dtype of mace-torch's weights, as mace-torch built its constants.
    with default_dtype(m.contractions[0].weights_max.dtype):
        new = nn.SymmetricContraction(
            str(m.irreps_in),
            str(m.irreps_out),
            correlations.pop(),
            num_elements=int(m.contractions[0].weights_max.shape[0]),
        )
    theirs = m.state_dict()
    if any(v.shape != theirs[k].shape for k, v in new.state_dict().items() if k in theirs):
        raise _Kept("built with another basis (cuequivariance's reduced one, use_reduced_cg)")
    return new


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


def _so3_lmax(grid: torch.nn.Module) -> int:
    """e3nn's SO3Grid does not keep lmax: D has sum over l <= lmax of (2l + 1)^2 columns."""
    lmax, columns = 0, 1
    while columns < grid.D.shape[-1]:
        lmax += 1
        columns += (2 * lmax + 1) ** 2
    return lmax


def _so3_resolution(grid: torch.nn.Module) -> dict[str, Any]:
    """SO3Grid's resolution and aspect_ratio, from res_beta = 2 resolution and res_alpha =
    round(2 aspect_ratio resolution)."""
    return {"resolution": grid.res_beta // 2, "aspect_ratio": grid.res_alpha / grid.res_beta}


def _legendre(m: torch.nn.Module) -> o3.Legendre:
    # e3nn keeps only its generated code: the degrees are read from its values at one point,
    # block after block (degree l gives 2l + 1 columns).
    z, y = torch.tensor([0.3], dtype=torch.float64), torch.tensor([0.8], dtype=torch.float64)
    with torch.no_grad():
        values = m(z, y)[0]
    ls: list[int] = []
    start = 0
    while start < len(values):
        degree = next(
            (
                l
                for l in range((len(values) - start - 1) // 2 + 1)
                if torch.allclose(
                    values[start : start + 2 * l + 1], o3.Legendre([l])(z, y)[0], rtol=1e-9
                )
            ),
            None,
        )
        if degree is None:
            raise ValueError(f"its column {start} is not the start of any degree's values")
        ls.append(degree)
        start += 2 * degree + 1
    if not ls:
        raise _Kept("built with no degree, which e3core's Legendre does not accept")
    return o3.Legendre(ls)


def _reduced_tensor_products(m: torch.nn.Module) -> o3.ReducedTensorProducts:
    # e3nn keeps neither the formula nor the filters, only what the product needs: the irreps
    # and change_of_basis (loaded afterwards). The smallest product is given them.
    new = o3.ReducedTensorProducts("i", i="0e")
    new.irreps_in = [o3.Irreps(str(irreps)) for irreps in m.irreps_in]
    new.irreps_out = o3.Irreps(str(m.irreps_out))
    new.change_of_basis = torch.empty_like(m.change_of_basis)
    return new


def _v2_arguments(m: torch.nn.Module) -> dict[str, Any]:
    """The arguments of an o3.experimental product: e3nn keeps its (regrouped or aligned)
    inputs, its paths' output irreps and the coefficients, whose norm tells the
    normalization."""
    outputs = [o3.Irrep(l, p) for (_, _, _, _, l, p) in m.paths]
    if len(outputs) != len(m.irreps_out):
        raise _Kept(
            "a pair of irreps repeats in its inputs: e3nn computes it once (its paths are keyed "
            "by irreps) and its output does not match its irreps_out; e3core computes each"
        )
    normalization = "component"
    for name, cg in m.named_buffers():
        l1, l2, l3 = (2 * int(l) + 1 for l in name.split("_")[1:])
        if l3 != l1 * l2:
            squared_norm = float(cg.double().square().sum())
            normalization = "component" if math.isclose(squared_norm, l3, rel_tol=1e-3) else "norm"
            break
    return {
        "irreps_in1": m.irreps_in1,
        "irreps_in2": m.irreps_in2,
        "filter_ir_out": outputs,
        "irrep_normalization": normalization,
    }


def _radial(fc: torch.nn.Module) -> tuple[int, int]:
    """radial_layers and radial_neurons of the radial network [basis, neurons..., weights]
    (neurons do not matter without hidden layers)."""
    return len(fc.hs) - 2, fc.hs[1] if len(fc.hs) > 2 else 1


def _convolution_arguments(m: torch.nn.Module) -> tuple:
    return (
        m.irreps_in,
        m.irreps_node_attr,
        m.irreps_edge_attr,
        m.irreps_out,
        m.fc.hs[0],
        *_radial(m.fc),
        m.num_neighbors,
    )


def _network_arguments(m: torch.nn.Module) -> tuple:
    return (
        m.irreps_in if m.input_has_node_in else None,
        m.irreps_hidden,
        m.irreps_out,
        m.irreps_node_attr if m.input_has_node_attr else None,
        m.irreps_edge_attr,
        len(m.layers) - 1,
        m.max_radius,
        m.number_of_basis,
        *_radial(m.layers[-1].fc),
        m.num_neighbors,
        m.num_nodes,
        m.reduce_output,
    )


def _compose(m: torch.nn.Module) -> torch.nn.Module:
    from e3core.nn.models import gate_points_2101

    # Compose's state is its children's: they are rebuilt here and loaded with it.
    return gate_points_2101.Compose(_rebuild(m.first), _rebuild(m.second))


def _rebuild(child: torch.nn.Module) -> torch.nn.Module:
    convert = _converters().get(type(child))
    if convert is None:
        raise _Kept(
            f"its child is {type(child).__module__}.{type(child).__qualname__}, which from_e3nn "
            "does not convert"
        )
    return convert(child)


def _voxel_convolution(m: torch.nn.Module) -> torch.nn.Module:
    from e3core.nn.models.v2104 import voxel_convolution

    # e3nn keeps neither diameter nor steps, which only set the lattice, emb and sh buffers
    # (loaded afterwards): radius 1 and steps that give the lattice's shape build the same module.
    sizes = [(n - 1) // 2 for n in m.lattice.shape[:3]]
    return voxel_convolution.Convolution(
        m.irreps_in,
        m.irreps_out,
        m.irreps_sh,
        2.0,
        m.num_radial_basis,
        steps=tuple(1 / (s + 0.5) for s in sizes),
        **m.kwargs,
    )


def _low_pass_filter(m: torch.nn.Module) -> torch.nn.Module:
    from e3core.nn.models.v2104 import voxel_convolution

    # e3nn does not keep steps, which only set the kernel buffer's shape (its values are
    # loaded afterwards): along each axis the points of linspace(-1, 1, size) with
    # |r| <= 1 / step are kept, so a step that keeps the kernel's n central ones does.
    r = torch.linspace(-1, 1, m.size, dtype=torch.float64)
    steps = []
    for n in m.kernel.shape[2:]:
        last = m.size // 2 + n // 2
        steps.append(1.0 if last + 1 >= m.size else 2 / float(r[last] + r[last + 1]))
    return voxel_convolution.LowPassFilter(m.scale, m.stride, m.transposed, tuple(steps))
