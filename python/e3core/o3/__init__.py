"""O(3) algebra with e3nn's names and conventions: irreps, Wigner matrices, spherical harmonics.

Example::

    >>> from e3core import o3
    >>> o3.Irreps("2x1o").dim
    6
"""
