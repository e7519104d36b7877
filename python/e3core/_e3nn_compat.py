"""Loading e3nn state_dicts into e3core modules that compute some products without submodules."""

import functools
from typing import Any

import torch


def ignore_e3nn_tensor_product_entries(module: torch.nn.Module, *names: str) -> None:
    """Makes ``module.load_state_dict`` skip the entries of e3nn's weightless tensor products.

    e3nn builds some fixed products (the gate multiply, norms) as ``TensorProduct`` submodules
    ``name`` whose state_dict holds an empty ``name.weight`` and a ``name.output_mask``. e3core
    computes those products directly, so it drops the two entries (only when the weight is
    empty) and e3nn state_dicts load with ``strict=True``.

    Example::

        >>> m = torch.nn.Module()
        >>> ignore_e3nn_tensor_product_entries(m, "tp")
        >>> m.load_state_dict({"tp.weight": torch.zeros(0), "tp.output_mask": torch.ones(3)})
        <All keys matched successfully>
    """
    module.register_load_state_dict_pre_hook(functools.partial(_drop_entries, names=names))


def _drop_entries(
    module: torch.nn.Module, state_dict: dict, prefix: str, *args: Any, names: tuple[str, ...]
) -> None:
    for name in names:
        weight = state_dict.get(f"{prefix}{name}.weight")
        if weight is not None and weight.numel() == 0:
            del state_dict[f"{prefix}{name}.weight"]
            state_dict.pop(f"{prefix}{name}.output_mask", None)


def ignore_e3nn_generated_constants(module: torch.nn.Module) -> None:
    """Makes ``module.load_state_dict`` skip the constants of e3nn's generated code.

    e3nn's TensorProduct and Linear keep their Clebsch-Gordan tensors as buffers of generated
    submodules (``_compiled_main_left_right._w3j_1_1_2``, ...); e3core's plan holds them, so those
    entries are dropped and e3nn state_dicts load with ``strict=True``.

    Example::

        >>> m = torch.nn.Module()
        >>> ignore_e3nn_generated_constants(m)
        >>> m.load_state_dict({"_compiled_main_left_right._w3j_1_1_0": torch.zeros(3, 3, 1)})
        <All keys matched successfully>
    """
    module.register_load_state_dict_pre_hook(_drop_generated)


def _drop_generated(module: torch.nn.Module, state_dict: dict, prefix: str, *args: Any) -> None:
    for key in [k for k in state_dict if k.startswith(f"{prefix}_compiled_main")]:
        del state_dict[key]
