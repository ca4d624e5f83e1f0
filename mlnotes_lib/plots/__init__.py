"""Drawing helpers shared by all chapters, and the book's figure style.

Every ``plot_*`` helper draws on the ``Axes`` it is given and returns it; none calls
``plt.show()``. Topic-specific helpers live in their topic module and follow the same
pattern. Figures have an opaque white background, so they stay legible in the book's
light and dark themes. A notebook displays a figure as a palette PNG with twice its CSS
resolution (crisp at device-pixel-ratio 2, no heavier than a plain 1x PNG) and with a
text description of what it shows, which the book uses as the image's alt text.

Nothing here runs at import time: call :func:`use_book_style` explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "BOOK_STYLE",
    "COLORS",
    "describe_figure",
    "figure",
    "figure_png",
    "plot_curves",
    "plot_heatmap",
    "plot_image_grid",
    "use_book_style",
]

#: Colour-blind-safe palette (Okabe & Ito), in the order the book uses it.
COLORS = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "red": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}

BOOK_STYLE = {
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.facecolor": "white",
    "figure.dpi": 80,
    "savefig.dpi": 80,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "image.cmap": "viridis",
    "axes.prop_cycle": mpl.cycler(color=list(COLORS.values())),
    "figure.constrained_layout.use": True,
}


def use_book_style() -> None:
    """Set matplotlib's rcParams to the book's style (white background, palette, sizes).

    In a notebook it also makes a cell that ends with a ``Figure`` display it as PNG
    (the figures of :func:`figure` are not managed by pyplot, so nothing else would).
    """
    mpl.rcParams.update(BOOK_STYLE)
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to display
        return
    shell = get_ipython()
    if shell is None:
        return
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats("png")
    shell.display_formatter.formatters["image/png"].for_type(Figure, figure_png)


#: Device pixels per CSS pixel of a displayed figure.
PIXEL_RATIO = 2


def describe_figure(fig: Figure) -> str:
    """A one-line description of ``fig`` from its titles and axis labels (alt text)."""
    parts = []
    suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
    for ax in fig.get_axes():
        bits = [ax.get_title() or ax.get_title("left")]
        if ax.get_xlabel() or ax.get_ylabel():
            bits.append(" against ".join(t for t in (ax.get_ylabel(), ax.get_xlabel()) if t))
        bit = ": ".join(b for b in bits if b)
        if bit:
            parts.append(bit)
    text = "; ".join(dict.fromkeys(parts))
    n = len(fig.get_axes())
    head = suptitle or ("Figure" if n <= 1 else f"Figure, {n} panels")
    out = f"{head}: {text}" if text else head
    return " ".join(out.replace("$", "").replace("\\", "").split())


def figure_png(fig: Figure) -> tuple[bytes, dict]:
    """IPython's PNG of ``fig``: 2x pixels, a 192-colour palette, and its description.

    Returns the bytes and the display metadata (CSS width and height), as IPython's
    retina formatter does; the description rides in the PNG's ``Description`` text chunk.
    """
    import io

    from PIL import Image, PngImagePlugin

    from mlnotes_lib.plots.frames import _palette_png

    dpi = fig.get_dpi()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi * PIXEL_RATIO, metadata={"Software": None})
    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", describe_figure(fig))
    width, height = img.size
    return _palette_png(img, info), {"width": width // PIXEL_RATIO, "height": height // PIXEL_RATIO}


def figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    figsize: tuple[float, float] = (6.4, 3.2),
    layout: str | None = "constrained",
    **kwargs,
) -> tuple[Figure, Axes | np.ndarray]:
    """A new ``Figure`` and its axes, not registered with pyplot.

    Widgets render such figures to PNG without the notebook also displaying them; a
    notebook cell that ends with the figure displays it once. ``layout=None`` skips the
    constrained layout (about half the cost of a widget frame) for hand-set margins.
    """
    if nrows < 1 or ncols < 1:
        raise ValueError("nrows and ncols must be at least 1")
    if layout not in ("constrained", "tight", "compressed", None):
        raise ValueError(
            f"layout must be 'constrained', 'tight', 'compressed' or None, got {layout!r}"
        )
    with mpl.rc_context({**BOOK_STYLE, "figure.constrained_layout.use": False}):
        fig = Figure(figsize=figsize, layout=layout, facecolor="white")
        axes = fig.subplots(nrows, ncols, **kwargs)
    return fig, axes


def plot_heatmap(
    ax: Axes,
    values: np.ndarray,
    *,
    cmap: str = "viridis",
    annotate: bool = True,
    fmt: str = "{:.2f}",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = False,
) -> Axes:
    """Draw a 2-D array as a heat map, optionally with each cell's value written in it."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D, got shape {values.shape}")
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.grid(False)
    ax.set_xticks(range(values.shape[1]))
    ax.set_yticks(range(values.shape[0]))
    if annotate:
        lo, hi = im.get_clim()
        mid = (lo + hi) / 2
        for (r, c), v in np.ndenumerate(values):
            ax.text(
                c,
                r,
                fmt.format(v),
                ha="center",
                va="center",
                fontsize=9,
                color="white" if v < mid else "black",
            )
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8)
    return ax


def plot_image_grid(ax: Axes, images, *, nrow: int = 8, padding: int = 2) -> Axes:
    """Tile images (B, C, H, W) or (B, H, W) with values in [-1, 1] or [0, 1] into one picture."""
    imgs = np.asarray(images, dtype=float)
    if imgs.ndim == 3:
        imgs = imgs[:, None]
    if imgs.ndim != 4 or imgs.shape[0] == 0:
        raise ValueError(f"images must have shape (B, C, H, W) or (B, H, W), got {imgs.shape}")
    if imgs.min() < 0:  # tanh outputs
        imgs = (imgs + 1) / 2
    imgs = np.clip(imgs, 0, 1)
    b, c, h, w = imgs.shape
    ncol = min(nrow, b)
    nrows = -(-b // ncol)
    canvas = np.ones((c, nrows * (h + padding) + padding, ncol * (w + padding) + padding))
    for i in range(b):
        r, q = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        canvas[:, y : y + h, x : x + w] = imgs[i]
    if c == 1:
        ax.imshow(canvas[0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(canvas.transpose(1, 2, 0))
    ax.set_axis_off()
    return ax


def plot_curves(
    ax: Axes,
    curves: dict[str, Sequence[float]],
    *,
    xlabel: str = "step",
    ylabel: str = "",
    logy: bool = False,
    smooth: int = 1,
) -> Axes:
    """Draw named curves (e.g. training losses) against their index, optionally smoothed."""
    for name, ys in curves.items():
        ys = np.asarray(ys, dtype=float)
        if smooth > 1 and len(ys) >= smooth:
            ys = np.convolve(ys, np.ones(smooth) / smooth, mode="valid")
        ax.plot(np.arange(len(ys)), ys, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if curves:
        ax.legend()
    return ax
