"""Checks a model's keyword arguments against its constructor's signature and type hints, so a
misspelt or wrong-typed option in a configuration is named before anything is built."""

import difflib
import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

# YAML gives plain values: these are the annotations a configuration can be checked against.
_SEQUENCES = (Sequence, list, tuple)
_MAPPINGS = (Mapping, dict)


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return "null"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin in _SEQUENCES and args:
        return f"a list of {_describe(args[0])}"
    if origin in _MAPPINGS and len(args) == 2:
        return f"a mapping of {_describe(args[0])} to {_describe(args[1])}"
    return getattr(hint, "__name__", str(hint))


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits ``hint``; hints this does not know accept anything."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin in _SEQUENCES:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            return False
        if not args or (origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)):
            return True
        return all(_matches(v, args[0]) for v in value)
    if origin in _MAPPINGS:
        if not isinstance(value, Mapping):
            return False
        return len(args) != 2 or all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items()
        )
    return True


def check_kwargs(
    cls: type, kwargs: Mapping[str, Any], name: str | None = None, prefix: str = ""
) -> dict[str, Any]:
    """``kwargs`` for ``cls(**kwargs)`` after checking them against the constructor: a
    ``TypeError`` names the first unknown option (with the closest known one), missing required
    option or value of the wrong type, as ``prefix`` + its key. Floats that YAML read as strings
    (``1e-3``) are converted.

    Example::

        >>> from e3core.models import NequIP
        >>> check_kwargs(NequIP, {"type_numbers": [1, 8], "r_max": "4e0"})["r_max"]
        4.0
        >>> check_kwargs(NequIP, {"type_numbers": [1, 8], "num_layerz": 3})
        Traceback (most recent call last):
        ...
        TypeError: num_layerz is not an option of nequip (did you mean 'num_layers'?)
        >>> check_kwargs(NequIP, {"type_numbers": [1, 8], "num_layers": "three"})
        Traceback (most recent call last):
        ...
        TypeError: num_layers is 'three', expected int
    """
    label = name or getattr(cls, "name", cls.__name__)
    parameters = dict(inspect.signature(cls.__init__).parameters)
    parameters.pop("self", None)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(kwargs)
    known = [k for k, p in parameters.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    for key in kwargs:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"options: {', '.join(known)}"
            raise TypeError(f"{prefix}{key} is not an option of {label} ({hint})")
    for key in known:
        if key not in kwargs and parameters[key].default is inspect.Parameter.empty:
            raise TypeError(f"{prefix}{key} is missing (an option of {label} with no default)")
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError):  # annotations this interpreter cannot resolve: no check
        hints = {}
    out = dict(kwargs)
    for key, value in kwargs.items():
        hint = hints.get(key)
        if hint is None:
            continue
        if isinstance(value, str) and not _matches(value, hint) and _matches(1.0, hint):
            try:  # YAML 1.1 reads 1e-3 (no dot) as a string
                value = out[key] = float(value)
            except ValueError:
                pass
        if not _matches(value, hint):
            raise TypeError(f"{prefix}{key} is {value!r}, expected {_describe(hint)}")
    return out
