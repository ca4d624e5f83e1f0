"""Figures of the convolution chapter: kernel positions, the padding modes, the convolution
matrix, the zero-insertion recipe of the transposed convolution, overlap counts, checkerboards
and receptive fields.

Every ``plot_*`` draws on the Axes it is given and returns it; every ``*_figure`` builds the
whole frame of one widget from its slider values.

See book/conv.ipynb.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mlnotes_lib import conv
from mlnotes_lib.experiments.conv import UPSAMPLERS, CheckerboardResult, letter_grid, pad_letters
from mlnotes_lib.plots import COLORS, figure

__all__ = [
    "conv_arithmetic_figure",
    "padding_figure",
    "plot_checkerboard",
    "plot_conv_arithmetic",
    "plot_conv_matrix",
    "plot_conv_positions",
    "plot_letter_grid",
    "plot_overlap_counts",
    "plot_padding",
    "plot_receptive_fields",
    "plot_transpose_recipe",
    "transpose_recipe_figure",
]

INPUT, PADDING, ZERO = "#cfe3f3", "#eeeeee", "white"


def _clean(ax: Axes) -> None:
    ax.set_aspect("equal")
    ax.set_axis_off()


def _cell(ax: Axes, x: float, y: float, kind: str, **kwargs) -> None:
    """One unit cell at (x, y): an input cell, a padding cell (hatched) or an inserted zero."""
    face = {"input": INPUT, "padding": PADDING, "zero": ZERO}[kind]
    hatch = "//" if kind == "padding" else None
    ax.add_patch(Rectangle((x, y), 1, 1, fc=face, ec="black", hatch=hatch, lw=0.8, **kwargs))


def plot_letter_grid(ax: Axes, grid: list[list[str]], *, inner=None, fontsize: int = 11) -> Axes:
    """Draw a grid of letters; ``inner=(top, left, h, w)`` outlines the original input."""
    nrows, ncols = len(grid), len(grid[0])
    # Cell texts lie inside the axes (in_layout=False): constrained layout, which measures
    # every text it is given on every draw, need not measure them (14-17% of a frame's time).
    ax.set_xlim(-0.5, ncols - 0.5)
    ax.set_ylim(nrows - 0.5, -0.5)
    _clean(ax)
    for r, row in enumerate(grid):
        for c, ch in enumerate(row):
            inside = inner is None or (
                inner[0] <= r < inner[0] + inner[2] and inner[1] <= c < inner[1] + inner[3]
            )
            style = {"color": "black", "fontweight": "bold"} if inside else {"color": COLORS["red"]}
            ax.text(c, r, ch, ha="center", va="center", fontsize=fontsize, family="monospace",
                    in_layout=False, **style)  # fmt: skip
    if inner is not None:
        top, left, h, w = inner
        ax.add_patch(
            Rectangle((left - 0.5, top - 0.5), w, h, fill=False, lw=1.5, ec=COLORS["blue"])
        )
    return ax


def plot_conv_positions(ax: Axes, w: int, f: int, p: int = 0, s: int = 1) -> Axes:
    """Draw a 1-D input of size ``w`` padded by ``p`` and every window of a size-``f`` kernel.

    Windows step by ``s``. Padded cells are hatched, each kernel position is a bar below
    the input, and cells that no window reaches (the remainder the floor discards) are red.
    The legend sits above the input, clear of the bars and their labels.
    """
    o = conv.conv_output_size(w, f, p, s)
    total = w + 2 * p
    for i in range(total):
        _cell(ax, i, 0, "padding" if i < p or i >= p + w else "input")
        ax.text(i + 0.5, 1.1, str(i - p), ha="center", va="bottom", fontsize=9, color="0.35")
    for i in range((o - 1) * s + f, total):
        ax.add_patch(Rectangle((i, 0), 1, 1, fc=COLORS["red"], alpha=0.45, ec="black", lw=0.8))
    for k in range(o):
        y = -0.35 - 0.45 * k
        ax.plot([k * s + 0.1, k * s + f - 0.1], [y, y], lw=4, solid_capstyle="butt",
                color=COLORS["green"])  # fmt: skip
        ax.text(k * s + f + 0.15, y, f"out[{k}]", va="center", fontsize=9)
    handles = [
        Rectangle((0, 0), 1, 1, fc=INPUT, ec="black", label="input"),
        Rectangle((0, 0), 1, 1, fc=PADDING, ec="black", hatch="//", label="padding"),
        Rectangle((0, 0), 1, 1, fc=COLORS["red"], alpha=0.45, ec="black", label="never visited"),
    ]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3,
              fontsize=9, frameon=False)  # fmt: skip
    ax.set_xlim(-0.5, total + 2.8)
    ax.set_ylim(-0.6 - 0.45 * o, 1.9)
    _clean(ax)
    return ax


def plot_conv_arithmetic(ax: Axes, w: int, f: int, p: int = 0, s: int = 1) -> Axes:
    """:func:`plot_conv_positions` with the output-size formula evaluated below it.

    When the kernel does not fit in the padded input, says so instead of drawing.
    """
    if f > w + 2 * p:
        ax.text(0.5, 0.5, f"F = {f} > W + 2P = {w + 2 * p}: the kernel does not fit",
                ha="center", va="center", transform=ax.transAxes)  # fmt: skip
        ax.set_axis_off()
        return ax
    o = conv.conv_output_size(w, f, p, s)
    plot_conv_positions(ax, w, f, p, s)
    exact = (w + 2 * p - f) / s + 1
    text = f"O = ⌊(W + 2P − F)/S⌋ + 1 = ⌊({w} + {2 * p} − {f})/{s}⌋ + 1 = {o}"
    if exact != o:
        text += f"   (without the floor: {exact:.2f})"
    # the formula gets its own strip of the axes below the bars: text placed under the axes
    # leaves the canvas when equal aspect makes the axes fill the figure's height (F = 1)
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom - 0.9, top)
    left, right = ax.get_xlim()
    ax.text((left + right) / 2, bottom - 0.45, text, ha="center", va="center", fontsize=10)
    return ax


def conv_arithmetic_figure(W: int, F: int, P: int, S: int) -> Figure:
    """The frame of the convolution-arithmetic explorer."""
    fig, ax = figure(figsize=(6.4, 3.1))
    plot_conv_arithmetic(ax, W, F, P, S)
    return fig


def plot_padding(ax_letters: Axes, ax_image: Axes, image: torch.Tensor, mode: str, pad: int):
    """Pad the notes' letter grid by ``pad`` and ``image`` (H, W) by ``8 * pad``; draw both."""
    grid = pad_letters(letter_grid(6, 8), pad, mode)
    plot_letter_grid(ax_letters, grid, inner=(pad, pad, 6, 8), fontsize=9)
    ax_letters.set_title(f"letters, {mode}, pad = {pad}")
    h, w = image.shape[-2:]
    ax_image.imshow(conv.pad2d(image, 8 * pad, mode).numpy(), cmap="gray", vmin=0, vmax=1)
    ax_image.add_patch(
        Rectangle((8 * pad - 0.5, 8 * pad - 0.5), w, h, fill=False, ec=COLORS["orange"], lw=1.5)
    )
    ax_image.set_title(f"photo, pad = {8 * pad} px")
    ax_image.set_axis_off()
    return ax_letters, ax_image


def padding_figure(mode: str, pad: int, *, image: torch.Tensor) -> Figure:
    """The frame of the padding explorer."""
    fig, axes = figure(1, 2, figsize=(7.2, 3.3), width_ratios=[1.25, 1])
    plot_padding(*axes, image, mode, pad)
    return fig


def plot_conv_matrix(ax: Axes, matrix: torch.Tensor, *, title: str = "") -> Axes:
    """An integer matrix (e.g. ``conv_matrix`` of a kernel numbered 1..9) with zeros blank."""
    m = np.asarray(matrix, dtype=float)
    ax.imshow(np.where(m == 0, np.nan, m), cmap="viridis", vmin=1, vmax=max(m.max(), 2))
    for (r, c), v in np.ndenumerate(m):
        if v:
            ax.text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=9, in_layout=False,
                    color="white" if v < (m.max() + 1) / 2 else "black")  # fmt: skip
    ax.set_xticks(range(m.shape[1]))
    ax.set_yticks(range(m.shape[0]))
    ax.tick_params(labelsize=9, length=0)
    ax.grid(False)
    ax.set_title(title)
    return ax


def _recipe_geometry(w: int, f: int, s: int, p: int):
    """Kinds of the cells of the zero-inserted, padded 1-D input and the pad per side."""
    q = f - 1 - p
    inserted = ["input" if i % s == 0 else "zero" for i in range(s * (w - 1) + 1)]
    return ["padding"] * q + inserted + ["padding"] * q, q


def plot_transpose_recipe(ax: Axes, w: int, f: int, s: int, p: int) -> Axes:
    """The transposed convolution of a W x W input as a stride-1 convolution, drawn.

    Left: the input with ``s - 1`` zeros inserted between cells and ``f - 1 - p`` padding on
    each side, with the F x F kernel at its first position (solid) and its next one
    (dashed). Right: the output, each cell showing how many real inputs the kernel covers
    there (the overlap counts; uneven counts are the checkerboard).
    """
    kinds, q = _recipe_geometry(w, f, s, p)
    if q < 0:
        ax.text(0.5, 0.5, f"P = {p} > F - 1: the padding would be negative (a crop)",
                ha="center", va="center", transform=ax.transAxes)  # fmt: skip
        ax.set_axis_off()
        return ax
    n = len(kinds)
    for r, c in np.ndindex(n, n):
        both = kinds[r] == "input" and kinds[c] == "input"
        kind = "padding" if "padding" in (kinds[r], kinds[c]) else ("input" if both else "zero")
        _cell(ax, c, n - 1 - r, kind)
    for dx, style in ((0, "-"), (1, "--")):
        if dx + f <= n:
            ax.add_patch(Rectangle((dx, n - f), f, f, fill=False, ec=COLORS["orange"], lw=2.5,
                                   ls=style))  # fmt: skip
    counts = conv.overlap_counts(w, f, s, p)
    grid = np.outer(counts.numpy(), counts.numpy())
    x0, o = n + 1.5, len(counts)
    ax.imshow(grid, extent=(x0, x0 + o, n - o, n), cmap="Greens", vmin=0, vmax=grid.max() + 1)
    for r, c in np.ndindex(o, o):
        ax.text(x0 + c + 0.5, n - r - 0.5, str(grid[r, c]), ha="center", va="center", fontsize=9,
                in_layout=False)  # fmt: skip
    ax.add_patch(Rectangle((x0, n - o), o, o, fill=False, ec="black", lw=0.8))
    ax.set_xlim(-0.2, x0 + o + 0.2)
    ax.set_ylim(min(0, n - o) - 0.2, n + 0.2)
    _clean(ax)
    return ax


def transpose_recipe_figure(W: int, F: int, S: int, P: int) -> Figure:
    """The frame of the zero-insertion explorer, titled with the output-size formula."""
    fig, ax = figure(figsize=(6.4, 3.4))
    plot_transpose_recipe(ax, W, F, S, P)
    if F - 1 - P >= 0:
        o = conv.conv_transpose_output_size(W, F, P, S)
        ax.set_title(f"{S - 1} zero(s) between inputs, pad F − 1 − P = {F - 1 - P}, "
                     f"stride-1 conv  →  O = {S}·{W - 1} + {F} − {2 * P} = {o}",
                     fontsize=10)  # fmt: skip
    return fig


def plot_overlap_counts(ax: Axes, counts: Mapping[str, Sequence[int]]) -> Axes:
    """Overlap counts per output position, one row of bars per upsampler."""
    for k, (name, values) in enumerate(counts.items()):
        values = np.asarray(values)
        ax.bar(np.arange(len(values)), values / values.max() * 0.8, bottom=-k, width=0.9,
               color=list(COLORS.values())[k], label=name)  # fmt: skip
        for i, v in enumerate(values):
            ax.text(i, -k + 0.05, str(v), ha="center", va="bottom", fontsize=9)
    ax.set_yticks([-k + 0.4 for k in range(len(counts))], list(counts), fontsize=9)
    ax.set_xlabel("output position")
    ax.grid(False)
    return ax


def plot_checkerboard(axes: np.ndarray, result: CheckerboardResult) -> np.ndarray:
    """Row 0: one random sample per upsampler; row 1: the mean energy E[y²] over seeds."""
    for k, kind in enumerate(UPSAMPLERS):
        axes[0, k].imshow(result.sample[kind].numpy(), cmap="gray")
        axes[0, k].set_title(kind, fontsize=10)
        energy = result.energy[kind].numpy()
        axes[1, k].imshow(energy / energy.mean(), cmap="magma")
        axes[1, k].set_title(f"E[y²], phase contrast {result.contrast[kind]:.2f}", fontsize=9)
    for ax in axes.flat:
        ax.set_axis_off()
    return axes


def plot_receptive_fields(ax: Axes, stacks: Mapping[str, Sequence[tuple]]) -> Axes:
    """Receptive-field size after each layer of each stack (log scale)."""
    for name, layers in stacks.items():
        sizes = [conv.receptive_field(layers[: i + 1])[0] for i in range(len(layers))]
        ax.plot(range(1, len(layers) + 1), sizes, marker="o", label=name)
    ax.set_xlabel("layer")
    ax.set_ylabel("receptive field (pixels)")
    ax.set_yscale("log")
    ax.legend(fontsize=9)
    return ax
