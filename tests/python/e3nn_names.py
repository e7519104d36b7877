"""The public names of e3nn 0.6 that e3core mirrors, module by module (docs/e3nn.md's rows).

Example::

    >>> "Irreps" in e3nn_public_names("o3")
    True
    >>> e3core_has("o3", "Irreps")
    True
"""

import importlib
import inspect

# e3nn's public modules (nn.models' files are listed in docs/e3nn.md by hand: two of them import
# torch_scatter, which e3nn does not install).
E3NN_MODULES = [
    "",
    "o3",
    "o3.experimental",
    "nn",
    "math",
    "math.perm",
    "io",
    "util",
    "util.jit",
    "util.test",
]


def e3nn_public_names(module: str) -> list[str]:
    """The names e3nn's ``module`` ("" for the top level) defines for its users: its
    ``__all__``, else what it defines itself (not what it imports from other packages)."""
    mod = importlib.import_module("e3nn" + ("." + module if module else ""))
    names = getattr(mod, "__all__", None)
    # o3.experimental's __all__ holds the classes themselves, not their names.
    if not names or not all(isinstance(name, str) for name in names):
        names = dir(mod)
    out = set()
    for name in names:
        if name.startswith("_") or not hasattr(mod, name):
            continue
        obj = getattr(mod, name)
        if inspect.ismodule(obj):
            continue
        origin = getattr(obj, "__module__", None)
        if origin is None and not isinstance(obj, (int, float, str, dict, tuple)):
            continue
        if origin is not None and not str(origin).startswith("e3nn"):
            continue
        out.add(name)
    return sorted(out)


def e3core_has(module: str, name: str) -> bool:
    """Whether ``e3core.<module>`` has ``name``."""
    try:
        mod = importlib.import_module("e3core" + ("." + module if module else ""))
    except ImportError:
        return False
    return hasattr(mod, name)
