"""Drawing for the residual-block chapter: every ``plot_*(ax, ...)`` and the widget figures.

Each ``plot_*`` draws on the Axes it is given and returns it; each ``*_figure`` builds a
multi-panel figure (one widget frame) and returns the ``Figure``. See book/resnet.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from mlnotes_lib.experiments.resnet import DepthCurves
from mlnotes_lib.plots import COLORS, figure
from mlnotes_lib.resnet import num_weight_layers

__all__ = [
    "curves_by_variant_figure",
    "long_run_figure",
    "gradients_figure",
    "plot_final_losses",
    "plot_gradient_norms",
    "plot_training_curves",
    "training_figure",
]

_STYLE = {
    "plain": {"color": COLORS["red"], "marker": "o"},
    "residual": {"color": COLORS["blue"], "marker": "s"},
    "residual, zero-init": {"color": COLORS["green"], "marker": "^"},
    "pre-activation": {"color": COLORS["purple"], "marker": "v"},
}


def plot_gradient_norms(
    ax: Axes, norms: dict[str, Tensor], *, xlabel: str = "layer", ylabel: str = ""
) -> Axes:
    """Gradient norms (log scale) against the layer index, one line per network.

    ``norms`` maps a variant name (a key of ``VARIANTS``) or any label to a tensor of shape
    (L,), e.g. from :func:`layer_gradient_norms` or :func:`block_input_gradient_norms`.
    Entries that are exactly zero are left out (log scale).
    """
    for label, g in norms.items():
        g = torch.as_tensor(g).detach().double().cpu().numpy()
        idx = np.flatnonzero(g > 0)
        ax.semilogy(idx + 1, g[idx], markersize=3, label=label, **_STYLE.get(label, {}))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def plot_training_curves(
    ax: Axes,
    result: DepthCurves,
    keys: Sequence[tuple[str, int]],
    *,
    label: str = "{variant}-{layers}",
    smooth: int = 14,
    logy: bool = True,
) -> Axes:
    """Mini-batch training loss (moving average over ``smooth`` steps) of the given runs.

    ``keys`` are (variant, depth) pairs of ``result``. Curves of one variant share a
    colour; the deepest network of a variant is drawn solid, shallower ones dashed.
    ``label`` formats each legend entry from ``variant`` and ``layers`` (the number of
    weight layers, as the paper counts them: "plain-32").
    """
    deepest = {v: max(d for w, d in keys if w == v) for v, _ in keys}
    for key in keys:
        v, d = key
        ys = result.curves[key].numpy()
        if smooth > 1 and len(ys) >= smooth:
            ys = np.convolve(ys, np.ones(smooth) / smooth, mode="valid")
        xs = np.arange(len(ys)) + (smooth if smooth > 1 else 1)
        style = {"color": _STYLE.get(v, {}).get("color")}
        style["linestyle"] = "-" if d == deepest[v] else "--"
        ax.plot(xs, ys, label=label.format(variant=v, layers=num_weight_layers(d)), **style)
    ax.set_xlabel("SGD step")
    ax.set_ylabel("training loss")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return ax


def plot_final_losses(ax: Axes, result: DepthCurves, *, highlight: int | None = None) -> Axes:
    """Final training loss against the number of weight layers, one line per variant.

    ``highlight`` (a depth in blocks) draws a vertical line at that network.
    """
    depths = result.depths
    layers = [num_weight_layers(d) for d in depths]
    for v in result.variants:
        ys = [result.final[v, d] for d in depths]
        ax.semilogy(layers, ys, label=v, markersize=4, **_STYLE.get(v, {}))
    if highlight is not None:
        ax.axvline(num_weight_layers(highlight), color="0.5", linewidth=1, linestyle=":")
    ax.set_xticks(layers)
    ax.set_xlabel("weight layers")
    ax.set_ylabel("final training loss")
    ax.legend()
    return ax


def gradients_figure(grads: dict[str, tuple[Tensor, Tensor]], depth: int) -> Figure:
    """Weight gradients per layer (left) and block-input gradients per block (right).

    ``grads`` is the output of ``init_gradients`` for one depth. See book/resnet.ipynb.
    """
    fig, (ax1, ax2) = figure(1, 2, figsize=(7.0, 2.8))
    w = {v: g[0] for v, g in grads.items() if v != "residual, zero-init"}
    plot_gradient_norms(
        ax1, w, xlabel="weight layer (1 = input side)", ylabel=r"$\|\partial L/\partial W\|$"
    )
    a = {v: g[1] for v, g in grads.items()}
    plot_gradient_norms(
        ax2, a, xlabel="block (1 = input side)", ylabel=r"$\|\partial L/\partial x_l\|$"
    )
    fig.suptitle(f"{num_weight_layers(depth)} weight layers, at initialisation", fontsize=10)
    return fig


def training_figure(result: DepthCurves, depth: int, *, title: str | None = None) -> Figure:
    """The variants' curves at one depth (left), final loss against depth (right).

    With a single depth in ``result`` the right panel is left out. See book/resnet.ipynb.
    """
    both = len(result.depths) > 1
    fig, axes = figure(1, 2 if both else 1, figsize=(7.0 if both else 6.4, 2.8))
    ax1 = axes[0] if both else axes
    plot_training_curves(ax1, result, [(v, depth) for v in result.variants], label="{variant}")
    ax1.set_title(title or f"{num_weight_layers(depth)} weight layers")
    if both:
        plot_final_losses(axes[1], result, highlight=depth)
        axes[1].set_title(f"after {result.settings['steps']} steps")
    return fig


def curves_by_variant_figure(result: DepthCurves, shallow: int, deep: int) -> Figure:
    """One panel per variant: the shallow network dashed, the deep one solid.

    See book/resnet.ipynb.
    """
    fig, axes = figure(1, len(result.variants), figsize=(7.2, 2.7), sharey=True)
    for ax, v in zip(np.atleast_1d(axes), result.variants, strict=True):
        plot_training_curves(ax, result, [(v, shallow), (v, deep)], label="{layers} layers")
        ax.set_title(v)
    for ax in np.atleast_1d(axes)[1:]:
        ax.set_ylabel("")
    return fig


def long_run_figure(long: dict) -> Figure:
    """The long-budget run: every seed's curve, one panel per variant, both depths.

    ``long`` is ``load_long_run()``. See book/resnet.ipynb.
    """
    variants = list(dict.fromkeys(r["variant"] for r in long["runs"]))
    deepest = max(r["blocks"] for r in long["runs"])
    every = long["settings"]["curve_every"]
    fig, axes = figure(1, len(variants), figsize=(7.2, 2.7), sharey=True)
    for ax, v in zip(np.atleast_1d(axes), variants, strict=True):
        for r in (x for x in long["runs"] if x["variant"] == v):
            ys = np.asarray(r["curve"])
            solid = r["blocks"] == deepest
            label = (
                f"{num_weight_layers(r['blocks'])} layers"
                if r["seed"] == long["settings"]["seeds"][0]
                else None
            )
            ax.plot(
                (np.arange(len(ys)) + 1) * every,
                ys,
                lw=1,
                ls="-" if solid else "--",
                color=_STYLE.get(v, {}).get("color"),
                alpha=0.8,
                label=label,
            )
        ax.set_yscale("log")
        ax.set_xlabel("SGD step")
        ax.set_title(v)
        ax.legend()
    np.atleast_1d(axes)[0].set_ylabel("training loss")
    return fig
