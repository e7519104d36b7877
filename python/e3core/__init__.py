"""e3core: E(3)-equivariant neural networks with a C++ engine, compatible with e3nn.

Moving from e3nn is an import change::

    >>> from e3core import o3
    >>> o3.Irreps("16x0e+8x1o").dim
    40
"""

from e3core import _core
from e3core._ops import load_ops

__version__: str = _core.__version__

load_ops()

from e3core import data, graph, math, memory, models, nn, o3, util  # noqa: E402
from e3core._errors import ArgumentError, MissingWeightError, ShapeError  # noqa: E402
from e3core._from_e3nn import from_e3nn  # noqa: E402
from e3core._from_mace import from_mace  # noqa: E402
from e3core._optimization import get_optimization_defaults, set_optimization_defaults  # noqa: E402

__all__ = [
    "ArgumentError",
    "MissingWeightError",
    "ShapeError",
    "data",
    "from_e3nn",
    "from_mace",
    "get_optimization_defaults",
    "graph",
    "math",
    "memory",
    "models",
    "nn",
    "o3",
    "set_optimization_defaults",
    "util",
    "__version__",
]
