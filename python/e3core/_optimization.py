"""e3nn's global optimization settings, accepted so that code written for e3nn runs unchanged.

e3nn generates code for its tensor products and linear layers (``specialized_code``,
``optimize_einsums``) and compiles it with TorchScript or inductor (``jit_mode``, and its older
flag ``jit_script_fx``). e3core has no generated code: its modules call the same C++ ops
whatever these say, so the settings are stored and returned, with e3nn's names, defaults and
checks, and change nothing in e3core's numbers or speed.

Example::

    >>> set_optimization_defaults(jit_mode="script")
    >>> get_optimization_defaults()["jit_mode"]
    'script'
    >>> set_optimization_defaults(jit_mode="eager")
"""

from e3core._errors import ArgumentError

__all__ = ["get_optimization_defaults", "set_optimization_defaults"]

_JIT_MODES = ("script", "inductor", "eager")
# e3nn 0.6's defaults with torch >= 2.10 (which deprecates torch.jit.script): "eager".
_DEFAULTS: dict[str, bool | str] = {
    "specialized_code": True,
    "optimize_einsums": True,
    "jit_script_fx": True,
    "jit_mode": "eager",
}


def _set_jit_mode(mode: object) -> None:
    if mode not in _JIT_MODES:
        raise ArgumentError(f"jit_mode is {mode!r}, expected one of {_JIT_MODES}")
    _DEFAULTS["jit_mode"] = str(mode)


def set_optimization_defaults(**kwargs: bool | str) -> None:
    """Sets e3nn's optimization settings (``specialized_code``, ``optimize_einsums``,
    ``jit_script_fx``, ``jit_mode``), as ``e3nn.set_optimization_defaults``: ``jit_script_fx``
    False means ``jit_mode="eager"``, True ``"script"`` unless it is ``"inductor"``.

    Example::

        >>> set_optimization_defaults(specialized_code=False)
        >>> get_optimization_defaults()["specialized_code"]
        False
        >>> set_optimization_defaults(specialized_code=True)
    """
    for key, value in kwargs.items():
        if key not in _DEFAULTS:
            raise ArgumentError(
                f"Unknown optimization option: {key}; expected one of {sorted(_DEFAULTS)}"
            )
        if key == "jit_mode":
            _set_jit_mode(value)
            continue
        if key == "jit_script_fx":
            current = _DEFAULTS["jit_mode"]
            _set_jit_mode(current if value and current in ("script", "inductor") else
                          "script" if value else "eager")  # fmt: skip
        _DEFAULTS[key] = value


def get_optimization_defaults() -> dict[str, bool | str]:
    """A copy of the settings.

    Example::

        >>> sorted(get_optimization_defaults())
        ['jit_mode', 'jit_script_fx', 'optimize_einsums', 'specialized_code']
    """
    return dict(_DEFAULTS)
