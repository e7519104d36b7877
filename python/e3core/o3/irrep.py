"""Irreps as attributes, like ``e3nn.o3.irrep``: ``irrep.l1o`` is ``Irrep("1o")``.

>>> from e3core.o3.irrep import l1o, l2e
>>> l1o + l2e
1x1o+1x2e
"""

from e3core.o3._irreps import Irrep


def __getattr__(name: str) -> Irrep:
    """``l<irrep>`` gives that irrep; any other name is an AttributeError.

    >>> __getattr__("l0e")
    0e
    """
    if name.startswith("l") and len(name) > 1:
        try:
            return Irrep(name[1:])
        except ValueError:
            pass
    raise AttributeError(f"module 'e3core.o3.irrep' has no attribute '{name}'")
