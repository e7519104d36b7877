"""from_mace: a mace-torch MACE model (an object or a saved file) as ``e3core.models.MACE``.

mace-torch is imported only to read a saved file (unpickling needs its classes): it is not a
dependency of e3core.
"""

import math
import os
from typing import Any

import torch

from e3core._dtype import default_dtype
from e3core.models._mace import _GATES, MACE

_ACCEPTED = ("mace.modules.models.MACE", "mace.modules.models.ScaleShiftMACE")
_FIRST_BLOCKS = {
    "RealAgnosticInteractionBlock": False,
    "RealAgnosticResidualInteractionBlock": True,
}
_GATE_NAMES = {function: name for name, function in _GATES.items()}
_ACCELERATORS = ("cuequivariance", "cuequivariance_torch", "openequivariance")
# mace-torch's state that e3core's MACE keeps elsewhere (its configuration, type table and
# scale-shift buffers) or rebuilds (e3nn's generated constants).
_CONFIG_STATE = (
    "atomic_energies_fn.",
    "atomic_numbers",
    "num_interactions",
    "r_max",
    "radial_embedding.",
    "scale_shift.",
)


class _Refused(ValueError):
    """A mace-torch variant e3core's MACE does not reproduce."""


def _qualified(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _refuse(reason: str) -> None:
    raise _Refused(f"from_mace: the model {reason}; e3core's MACE does not reproduce it")


def _load(path: str | os.PathLike) -> torch.nn.Module:
    """A mace-torch model saved whole (``torch.save(model)``, as MACE-MP and MACE-OFF are
    distributed)."""
    try:
        import mace  # noqa: F401  (unpickling needs mace-torch's classes)
    except ImportError as error:
        raise ImportError(
            f"from_mace: reading {os.fspath(path)!r} needs mace-torch installed (the file is a "
            "pickled mace-torch module); pip install mace-torch, or pass the model object"
        ) from error
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as error:
        raise ValueError(
            f"from_mace: {os.fspath(path)!r} is not a file written by torch.save ({error})"
        ) from error
    if not isinstance(obj, torch.nn.Module):
        raise ValueError(
            f"from_mace: {os.fspath(path)!r} holds a {type(obj).__name__}, expected a whole "
            "mace-torch model (torch.save(model), as the foundation models are distributed; "
            "a state_dict or a training checkpoint does not say the model's configuration)"
        )
    return obj


def _gate(readout: torch.nn.Module) -> str | None:
    acts = list(readout.non_linearity.acts)
    if len(acts) != 1:
        _refuse("has a last readout with several activations")
    if acts[0] is None:
        return None
    name = _GATE_NAMES.get(getattr(acts[0], "f", None))
    if name is None:
        _refuse(f"has the readout activation {getattr(acts[0], 'f', acts[0])!r}")
    return name


def _config(model: torch.nn.Module) -> dict[str, Any]:
    """e3core MACE's configuration of the mace-torch ``model``; refuses what it cannot
    reproduce, by name."""
    for m in model.modules():
        if _qualified(m).split(".")[0] in _ACCELERATORS:
            _refuse(
                "runs on cuequivariance or openequivariance modules (convert it back to e3nn "
                "with mace-torch's mace.cli.convert_cueq_e3nn or convert_oeq_e3nn first)"
            )
    heads = list(getattr(model, "heads", ["Default"]))
    if len(heads) != 1:
        _refuse(f"has {len(heads)} heads {heads} (select one with mace-torch first)")
    checks = {
        "pair_repulsion": "has a ZBL pair repulsion (pair_repulsion=True)",
        "joint_embedding": "has extra embeddings (embedding_specs)",
    }
    for attr, reason in checks.items():
        if hasattr(model, attr):
            _refuse(reason)
    flags = {
        "use_so3": "uses SO(3) harmonics (use_so3=True)",
        "use_agnostic_product": "has an element-agnostic product (use_agnostic_product=True)",
        "use_last_readout_only": "reads only the last layer (use_last_readout_only=True)",
    }
    for attr, reason in flags.items():
        if bool(getattr(model, attr, False)):
            _refuse(reason)
    if getattr(model, "edge_irreps", None) is not None:
        _refuse("has edge_irreps")
    radial = model.radial_embedding
    if type(radial.bessel_fn).__name__ != "BesselBasis":
        _refuse(f"has the radial basis {type(radial.bessel_fn).__name__} (radial_type)")
    if hasattr(radial, "distance_transform"):
        _refuse("has a distance transform (distance_transform)")
    if not bool(getattr(radial, "apply_cutoff", True)):
        _refuse("applies its cutoff after the radial MLP (apply_cutoff=False)")
    r_max = float(model.r_max)
    weights = radial.bessel_fn.bessel_weights.detach().double()
    num_bessel = weights.numel()
    expected = torch.arange(1, num_bessel + 1, dtype=torch.float64) * math.pi / r_max
    if isinstance(radial.bessel_fn.bessel_weights, torch.nn.Parameter) or not torch.allclose(
        weights, expected, rtol=1e-6, atol=0
    ):
        _refuse("has trained Bessel frequencies")

    interactions, products, readouts = model.interactions, model.products, model.readouts
    n = int(model.num_interactions)
    first = type(interactions[0]).__name__
    if first not in _FIRST_BLOCKS:
        _refuse(f"has the first interaction block {first}")
    for block in list(interactions)[1:]:
        if type(block).__name__ != "RealAgnosticResidualInteractionBlock":
            _refuse(f"has the interaction block {type(block).__name__} after the first")
    for block in interactions:
        if hasattr(block, "conv_fusion"):
            _refuse("fuses its convolutions with cuequivariance or openequivariance")
    if len(readouts) != n or len(products) != n:
        _refuse(f"has {len(readouts)} readouts for {n} interactions")
    kinds = [type(r).__name__ for r in readouts]
    # mace-torch's first readout is linear, even when it is also the last.
    expected = ["LinearReadoutBlock"] * max(n - 1, 1) + ["NonLinearReadoutBlock"] * (n > 1)
    if kinds != expected:
        _refuse(f"has the readouts {kinds}")
    scalars = products[-1].linear.irreps_out
    if len(scalars) != 1 or scalars[0].ir.l != 0:
        _refuse(f"keeps {scalars} in its last layer (keep_last_layer_irreps=True)")
    hidden = interactions[1].node_feats_irreps if n > 1 else scalars
    correlations = []
    for product in products:
        if getattr(product, "use_agnostic_product", False):
            _refuse("has an element-agnostic product (use_agnostic_product=True)")
        orders = {int(c.correlation) for c in product.symmetric_contractions.contractions}
        if len(orders) != 1:
            _refuse("has a correlation per output irrep")
        correlations.append(orders.pop())
    radial_mlps = {tuple(block.radial_MLP) for block in interactions}
    neighbors = {float(block.avg_num_neighbors) for block in interactions}
    if len(radial_mlps) != 1 or len(neighbors) != 1:
        _refuse("has a radial MLP or avg_num_neighbors per layer")
    energies = model.atomic_energies_fn.atomic_energies.detach().double().reshape(-1)
    config: dict[str, Any] = {
        "type_numbers": [int(z) for z in model.atomic_numbers],
        "r_max": r_max,
        "num_interactions": n,
        "hidden_irreps": str(hidden),
        "max_ell": int(model.spherical_harmonics.irreps_out.lmax),
        "correlation": correlations,
        "num_bessel": num_bessel,
        "num_polynomial_cutoff": int(radial.cutoff_fn.p),
        "radial_MLP": list(radial_mlps.pop()),
        "MLP_irreps": str(readouts[-1].hidden_irreps) if n > 1 else "16x0e",
        "gate": _gate(readouts[-1]) if n > 1 else "silu",
        "avg_num_neighbors": neighbors.pop(),
        "residual_first": _FIRST_BLOCKS[first],
        "atom_references": energies.tolist(),
    }
    if hasattr(model, "scale_shift"):
        config["scale"] = float(model.scale_shift.scale.reshape(-1)[0])
        config["shift"] = float(model.scale_shift.shift.reshape(-1)[0])
    return config


def from_mace(model_or_path: torch.nn.Module | str | os.PathLike, **options: Any) -> MACE:
    """e3core's ``models.MACE`` with the architecture and weights of a mace-torch model: a
    ``MACE`` or ``ScaleShiftMACE`` object, or a file holding one (``torch.save(model)``, the
    way MACE-MP and MACE-OFF are distributed; reading it needs mace-torch installed). Energies
    and forces equal mace-torch's (to rounding); the result is an ordinary e3core model:
    trained by ``e3core.train``, exported by ``e3core.deploy``, run by the LAMMPS pair style.

    Accepted: mace-torch 0.3's ``MACE`` and ``ScaleShiftMACE`` with one head, e3nn modules,
    the Bessel radial basis with the cutoff applied before the radial MLP, a
    ``RealAgnosticInteractionBlock`` or ``RealAgnosticResidualInteractionBlock`` first and
    ``RealAgnosticResidualInteractionBlock`` after it, one correlation per layer, linear
    readouts and a non-linear last one (the models of mace-torch's training script and the
    MACE-MP and MACE-OFF foundation models). Anything else is refused with a ``ValueError``
    that names it: other model classes (dipoles, polarizability, PolarMACE), several heads,
    ZBL pair repulsion, distance transforms, other radial bases, extra embeddings,
    cuequivariance or openequivariance modules (convert them back to e3nn with mace-torch's
    tools first), the density and attention blocks.

    ``options`` are e3core MACE's own settings (``compute_stress``, ``target``, ...), given to
    its constructor.

    Example::

        >>> from e3core import from_mace
        >>> from_mace(torch.nn.Linear(2, 2))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: from_mace: the model is a torch.nn.modules.linear.Linear, expected one of [...]
    """
    model = model_or_path
    if isinstance(model_or_path, (str, os.PathLike)):
        model = _load(model_or_path)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"from_mace: model_or_path is a {type(model_or_path).__name__}, expected a "
            "mace-torch model or the path of one"
        )
    if _qualified(model) not in _ACCEPTED:
        raise ValueError(
            f"from_mace: the model is a {_qualified(model)}, expected one of {list(_ACCEPTED)}"
        )
    config = _config(model)
    overlap = set(options) & set(config)
    if overlap:
        raise ValueError(
            f"from_mace: {sorted(overlap)} come from the model; options are e3core's own "
            "settings (compute_stress, target, reduce, compute_forces)"
        )
    parameter = next(model.parameters())
    # Built with the model's dtype as the default: constants made at construction (the
    # activations' normalization) then round as mace-torch's did.
    with default_dtype(parameter.dtype):
        new = MACE(**config, **options).to(device=parameter.device)
    theirs = model.state_dict()
    state = {}
    own = ("types.index", "scale_shift.scale", "scale_shift.shift")
    for key, value in new.state_dict().items():
        if key in own:
            state[key] = value
        elif key in theirs:
            if theirs[key].shape != value.shape:
                _refuse(
                    f"has {key} of shape {list(theirs[key].shape)} where e3core's has "
                    f"{list(value.shape)} (cuequivariance's reduced basis, use_reduced_cg?)"
                )
            state[key] = theirs[key]
        else:
            _refuse(f"lacks {key}, which e3core's MACE of its configuration has")
    unused = [
        k
        for k in theirs
        if k not in state and not k.startswith(_CONFIG_STATE) and "._compiled_main" not in k
    ]
    if unused:
        _refuse(f"has state e3core's MACE does not know: {unused[:5]}")
    new.load_state_dict(state)
    return new.train(model.training)
