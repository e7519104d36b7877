"""The drawing of a tensor product's paths (``TensorProduct.visualize``), as e3nn draws it.

matplotlib is imported only when a drawing is made.
"""

from typing import Any

import numpy as np
import torch


def line_intersection(x: np.ndarray, u: np.ndarray, y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The point of the line ``y + mu v`` closest to the line ``x + lambda u`` (their
    intersection in the plane).

    Example::

        >>> o, ex, ey = np.zeros(2), np.array([1.0, 0.0]), np.array([0.0, 1.0])
        >>> line_intersection(o, ex, np.array([2.0, 3.0]), ey)
        array([2., 0.])
    """
    u2, v2, uv = np.sum(u**2), np.sum(v**2), np.sum(u * v)
    mu = np.sum((u * uv - v * u2) * (y - x)) / (u2 * v2 - uv**2)
    return y + mu * v


def _hexagon(tp: Any, aspect_ratio: float | str) -> np.ndarray:
    verts = np.asarray([[np.cos(a * 2 * np.pi / 6), np.sin(a * 2 * np.pi / 6)] for a in range(6)])
    if aspect_ratio == "auto":
        h_factor = max(len(tp.irreps_in2), len(tp.irreps_in1))
        w_factor = len(tp.irreps_out)
        h_factor = max(h_factor, w_factor / 2)
        verts[:, 1] *= h_factor * 0.1
        verts[:, 0] *= w_factor * 0.1
    elif isinstance(aspect_ratio, (float, int)):
        factor = 0.1 * max(len(tp.irreps_in2), len(tp.irreps_in1), len(tp.irreps_out))
        verts[:, 1] *= factor
        verts[:, 0] *= aspect_ratio * factor
    else:
        raise ValueError(f"aspect_ratio must be 'auto' or a float or int, got {aspect_ratio}")
    return verts


def _spread(a: np.ndarray, b: np.ndarray, n: int) -> list[np.ndarray]:
    return [a + (i + 1) / (n + 1) * (b - a) for i in range(n)]


def _path_weights(tp: Any, weight: torch.Tensor | None) -> np.ndarray:
    with torch.no_grad():
        values = [
            tp.weight_view_for_instruction(i, weight).cpu().pow(2).mean().item()
            if ins.has_weight
            else 0.0
            for i, ins in enumerate(tp.instructions)
        ]
    values = np.asarray(values)
    # Without weights (e3nn fails there) the paths are drawn black: nothing to scale.
    peak = np.abs(values).max(initial=0.0)
    return values / peak if peak > 0 else values


def _format_ir(mul_ir: Any) -> str:
    if mul_ir.mul == 1:
        return f"${mul_ir.ir}$"
    return f"${mul_ir.mul} \\times {mul_ir.ir}$"


def visualize(
    tp: Any,
    weight: torch.Tensor | None = None,
    plot_weight: bool = True,
    aspect_ratio: float | str = 1,
    ax: Any = None,
) -> tuple[Any, Any]:
    """Draws ``tp``'s paths on ``ax`` (default: the current axes); returns (figure, axes).
    See ``TensorProduct.visualize``.

    Example::

        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from e3core import o3
        >>> fig, ax = visualize(o3.FullTensorProduct("0e+1o", "1o"), ax=plt.figure().gca())
        >>> [t.get_text() for t in ax.texts]
        ['$0e$', '$1o$', '$1o$', '$0e$', '$1o$', '$1e$', '$2e$']
    """
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib import patches
    from matplotlib.path import Path

    if ax is None:
        ax = plt.gca()
    fig = ax.get_figure()

    verts = _hexagon(tp, aspect_ratio)
    codes = [Path.MOVETO, Path.LINETO] * 3
    ax.add_patch(patches.PathPatch(Path(verts, codes), facecolor="none", lw=1, zorder=2))
    c_in1 = (verts[3] + verts[2]) / 2
    s_in1 = _spread(verts[3], verts[2], len(tp.irreps_in1))
    c_in2 = (verts[1] + verts[0]) / 2
    s_in2 = _spread(verts[1], verts[0], len(tp.irreps_in2))
    s_out = _spread(verts[4], verts[5], len(tp.irreps_out))

    if weight is None and not tp.internal_weights:
        plot_weight = False
    elif plot_weight:
        path_weight = _path_weights(tp, weight)
    cmap = matplotlib.colormaps["Blues"]

    for i, ins in enumerate(tp.instructions):
        y = line_intersection(s_in1[ins.i_in1], c_in1, s_in2[ins.i_in2], c_in2)
        path = Path([s_out[ins.i_out], y, s_in1[ins.i_in1], y, s_in2[ins.i_in2], y], codes)
        if plot_weight:
            color = cmap(0.5 + 0.5 * path_weight[i]) if ins.has_weight else "black"
        else:
            color = "green" if ins.has_weight else "black"
        ax.add_patch(
            patches.PathPatch(path, facecolor="none", edgecolor=color, alpha=0.5, ls="-", lw=1.5)
        )

    padding, fontsize = 3, 10
    for points, irreps, style in (
        (s_in1, tp.irreps_in1, dict(horizontalalignment="right", xytext=(-padding, 0))),
        (s_in2, tp.irreps_in2, dict(horizontalalignment="left", xytext=(padding, 0))),
        (
            s_out,
            tp.irreps_out,
            dict(
                horizontalalignment="center",
                verticalalignment="top",
                rotation=90,
                xytext=(0, -padding),
            ),
        ),
    ):
        for point, mul_ir in zip(points, irreps, strict=True):
            ax.annotate(
                _format_ir(mul_ir), point, textcoords="offset points", fontsize=fontsize, **style
            )

    ax.set_xlim(-2, 2)
    ax.set_ylim(-2, 2)
    ax.axis("equal")
    ax.axis("off")
    return fig, ax
