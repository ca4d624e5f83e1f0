"""The book's figure style and shared drawing helpers: kept as an alias of :mod:`mlnotes_lib.plots`.

Earlier chapters import ``mlnotes_lib.plotting``; the code lives in :mod:`mlnotes_lib.plots`.
"""

from mlnotes_lib.plots import (
    BOOK_STYLE,
    COLORS,
    figure,
    plot_curves,
    plot_heatmap,
    plot_image_grid,
    use_book_style,
)

__all__ = [
    "BOOK_STYLE",
    "COLORS",
    "figure",
    "plot_curves",
    "plot_heatmap",
    "plot_image_grid",
    "use_book_style",
]
