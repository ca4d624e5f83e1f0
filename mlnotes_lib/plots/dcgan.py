"""Figures of the DCGAN chapter: every ``plot_*`` draws on the Axes (or Figure) it is given.

See book/dcgan.ipynb.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mlnotes_lib import dcgan
from mlnotes_lib.plots import COLORS, figure, plot_curves, plot_image_grid

__all__ = [
    "ablation_figure",
    "plot_digit_counts",
    "plot_distance_histograms",
    "plot_nearest_neighbours",
    "plot_history",
    "plot_progress",
    "plot_progress_frame",
    "plot_shape_table",
    "plot_table_frame",
    "plot_walk_frame",
]


def plot_shape_table(
    ax: Axes,
    rows: list[tuple[str, ...]],
    *,
    header: tuple[str, ...],
    title: str | None = None,
    col_widths: tuple[float, ...] | None = None,
) -> Axes:
    """Draw a table of strings (e.g. the layer-by-layer shapes) on ``ax``.

    Parameters
    ----------
    rows : list of tuples of str
        The table body, one tuple per row, as many entries as ``header``.
    header : tuple of str
        Column titles.
    col_widths : tuple of float, optional
        Each column's width as a fraction of the axes (summing to at most 1, so the table
        stays on the canvas at any resolution); default: equal widths.

    See book/dcgan.ipynb.
    """
    if any(len(r) != len(header) for r in rows):
        raise ValueError("rows must each have as many entries as header")
    if col_widths is None:
        col_widths = (1 / len(header),) * len(header)
    if len(col_widths) != len(header) or sum(col_widths) > 1 + 1e-9:
        raise ValueError("col_widths must have one entry per column and sum to at most 1")
    ax.set_axis_off()
    table = ax.table(
        cellText=[list(r) for r in rows],
        colLabels=list(header),
        colWidths=list(col_widths),
        loc="upper center",
        cellLoc="left",
        colLoc="left",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1.0, 1.25)
    for (r, _), cell in table.get_celld().items():
        cell.set_edgecolor("#bbbbbb")
        if r == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#eeeeee")
    if title:
        ax.set_title(title)
    return ax


def plot_progress(
    ax_images: Axes, ax_curves: Axes, history: Mapping[str, Any], index: int, *, n: int = 32
) -> tuple[Axes, Axes]:
    """Draw the ``index``-th sample grid of a training history and the curves up to it.

    ``history`` as returned by :func:`train_dcgan` with ``sample_every``; the left axes
    get ``n`` samples, the right axes ``D(x)`` and ``D(G(z))`` (smoothed over 10 steps)
    over the whole run with a line at the grid's step.

    See book/dcgan.ipynb.
    """
    if not 0 <= index < len(history["sample_steps"]):
        raise ValueError(f"index must be in [0, {len(history['sample_steps'])}), got {index}")
    step = history["sample_steps"][index]
    plot_image_grid(ax_images, history["samples"][index][:n], nrow=8)
    ax_images.set_title(f"G(fixed z) after {step} steps")
    k = 10
    for key, label, color in [("d_real", "D(x)", "blue"), ("d_fake", "D(G(z))", "orange")]:
        ys = np.convolve(np.asarray(history[key], dtype=float), np.ones(k) / k, mode="valid")
        ax_curves.plot(np.arange(k, len(ys) + k), ys, label=label, color=COLORS[color])
    ax_curves.axvline(step, color=COLORS["black"], lw=1, ls="--")
    ax_curves.set_ylim(0, 1)
    ax_curves.set_xlabel("step")
    ax_curves.set_ylabel("mean probability")
    ax_curves.legend(loc="center right")
    return ax_images, ax_curves


def plot_progress_frame(history, index: int) -> Figure:
    """One frame of the training replay: :func:`plot_progress` on a new figure.

    See book/dcgan.ipynb.
    """
    fig, (ax_img, ax_curves) = figure(1, 2, figsize=(7.2, 2.9), width_ratios=[1, 1.1])
    plot_progress(ax_img, ax_curves, history, index)
    return fig


def plot_table_frame(image_size: int, network: str, *, width: int = 128) -> Figure:
    """The layer-by-layer size table of a generator or discriminator of ``image_size``.

    The networks are built on PyTorch's ``meta`` device: shapes without any compute.

    See book/dcgan.ipynb.
    """
    with torch.device("meta"):
        if network == "generator":
            net, x = dcgan.Generator(ngf=width, image_size=image_size), torch.empty(1, 100)
        else:
            net = dcgan.Discriminator(ndf=width, image_size=image_size)
            x = torch.empty(1, 3, image_size, image_size)
    rows = [(r["layer"], r["module"], r["formula"], str(r["shape"][1:]))
            for r in dcgan.shape_table(net, x)]  # fmt: skip
    # the book's column width (688 CSS px at 80 dpi): the frame is never shown scaled down,
    # and fixed column widths keep every cell on the canvas at any pixel ratio
    fig, ax = figure(figsize=(8.6, 2.3))
    plot_shape_table(ax, rows, header=("layer", "module", "output side O", "output (C, H, W)"),
                     col_widths=(0.09, 0.44, 0.30, 0.17))  # fmt: skip
    return fig


def plot_history(history, summary: Mapping[str, Any] | None = None) -> Figure:
    """Both losses (left) and ``D(x)``, ``D(G(z))`` (right) over a run, smoothed over 10
    steps; with a :func:`~mlnotes_lib.experiments.dcgan.history_summary`, its low point and
    break-out step are marked.

    See book/dcgan.ipynb.
    """
    fig, axes = figure(1, 2, figsize=(7.2, 2.8))
    plot_curves(axes[0], {"d_loss": history["d_loss"], "g_loss": history["g_loss"]},
                smooth=10, ylabel="loss")  # fmt: skip
    axes[0].axhline(np.log(2), color="gray", lw=0.8, ls=":")
    plot_curves(axes[1], {"D(x)": history["d_real"], "D(G(z))": history["d_fake"]}, smooth=10,
                ylabel="mean probability")  # fmt: skip
    axes[1].axhline(0.5, color="gray", lw=0.8, ls=":")
    if summary is not None:
        for key, ls in (("low_step", "--"), ("breakout_step", "-.")):
            if summary.get(key) is not None:
                axes[1].axvline(summary[key], color=COLORS["black"], lw=0.8, ls=ls)
    return fig


def plot_digit_counts(ax: Axes, counts) -> Axes:
    """How many generated samples a classifier names as each digit.

    See book/dcgan.ipynb.
    """
    counts = np.asarray(counts)
    ax.bar(range(len(counts)), counts, color=COLORS["blue"])
    ax.set_xticks(range(len(counts)))
    ax.set_xlabel("digit named by the classifier")
    ax.set_ylabel(f"samples of {counts.sum():,}")
    return ax


def plot_walk_frame(images, t: float) -> Figure:
    """One frame of the latent walk: the images ``G((1 - t) z0 + t z1)`` in a row.

    See book/dcgan.ipynb.
    """
    fig, ax = figure(figsize=(6.4, 1.3))
    plot_image_grid(ax, images, nrow=16)
    ax.set_title(f"G((1 − t) z₀ + t z₁), t = {t:.1f}")
    return fig


def plot_nearest_neighbours(ax: Axes, samples, neighbours, *, n: int = 16) -> Axes:
    """``n`` samples (top row) above their nearest training images (bottom row).

    See book/dcgan.ipynb.
    """
    pairs = torch.cat([torch.as_tensor(samples[:n]), torch.as_tensor(neighbours[:n])])
    plot_image_grid(ax, pairs, nrow=n)
    ax.set_title("generated (top) and the nearest training digit (bottom)")
    return ax


def plot_distance_histograms(ax: Axes, distances: Mapping[str, Any], *, xlabel: str) -> Axes:
    """Histograms of nearest-neighbour distances, one per entry, on shared bins.

    See book/dcgan.ipynb.
    """
    values = {k: np.asarray(v, dtype=float) for k, v in distances.items()}
    hi = max(v.max() for v in values.values())
    bins = np.linspace(0, hi * 1.02, 40)
    for (label, v), color in zip(values.items(), ("orange", "blue", "green"), strict=False):
        ax.hist(v, bins=bins, alpha=0.55, color=COLORS[color], label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("images")
    ax.legend(loc="upper left")
    return ax


OUTCOME_COLORS = {"train": "green", "stall": "orange", "collapse": "red"}


def ablation_figure(result: Mapping[str, Any]) -> Figure:
    """One ablation: each seed's D(G(z)) (coloured by its outcome) and one run's samples.

    ``result`` has ``variant``, ``runs`` (dicts with ``seed``, ``outcome`` and
    ``d_fake``, averaged over blocks of 10 steps) and ``samples`` (16, nc, H, W), the
    final samples of the first run.

    See book/dcgan.ipynb.
    """
    fig, (ax_c, ax_i) = figure(1, 2, figsize=(8.6, 2.9), width_ratios=[1.25, 1])
    for run in result["runs"]:
        ys = np.asarray(run["d_fake"], dtype=float)
        ax_c.plot(10 * np.arange(1, len(ys) + 1), ys, lw=1.2,
                  color=COLORS[OUTCOME_COLORS[run["outcome"]]])  # fmt: skip
    counts = {o: sum(r["outcome"] == o for r in result["runs"]) for o in OUTCOME_COLORS}
    handles = [Line2D([], [], color=COLORS[c], label=f"{o}: {counts[o]}")
               for o, c in OUTCOME_COLORS.items()]  # fmt: skip
    ax_c.legend(handles=handles, loc="upper right", title=f"{len(result['runs'])} seeds")
    ax_c.set_ylim(0, 1)
    ax_c.set_xlabel("step")
    ax_c.set_ylabel("D(G(z)), mean of 10 steps")
    ax_c.set_title(result["variant"])
    plot_image_grid(ax_i, torch.as_tensor(result["samples"]), nrow=4)
    ax_i.set_title(f"final samples, seed {result['runs'][0]['seed']}")
    return fig
