"""Drawing for the batch-norm chapter: every ``plot_*(ax, ...)`` and the widget figures.

Each ``plot_*`` draws on the Axes it is given and returns it; each ``*_figure`` builds the
multi-panel figure of one widget frame or one chapter figure and returns the ``Figure``.
See book/batchnorm.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from mlnotes_lib.experiments.batchnorm import SmallBatchResult, TrainResult, final_loss
from mlnotes_lib.plots import COLORS, figure

__all__ = [
    "activations_figure",
    "batch_estimates_figure",
    "bn_steps_figure",
    "layer_spread_figure",
    "running_stats_figure",
    "training_figure",
    "landscape_figure",
    "lr_figure",
    "noise_figure",
    "plot_activation_histogram",
    "plot_batch_estimates",
    "plot_bn_steps",
    "plot_landscape",
    "plot_layer_spread",
    "plot_lr_summary",
    "plot_running_stats",
    "plot_small_batch",
    "small_batch_figure",
    "plot_training_curves",
    "plot_unit_percentiles",
    "unit_percentiles_figure",
]

#: One colour per network, the same in every figure of the chapter.
NET_COLORS = {
    "no batch norm": COLORS["red"],
    "batch norm": COLORS["blue"],
    "batch norm + noise": COLORS["green"],
    "layer norm": COLORS["purple"],
    "group norm": COLORS["orange"],
}


def _runs(r: TrainResult | Sequence[TrainResult]) -> list[TrainResult]:
    return [r] if isinstance(r, TrainResult) else list(r)


def _color(label: str, k: int) -> str:
    palette = list(COLORS.values())
    return NET_COLORS.get(label, palette[k % len(palette)])


def plot_bn_steps(ax: Axes, x: Tensor, gamma: float, beta: float, eps: float = 1e-5) -> Axes:
    """Algorithm 1 on one unit: the mini-batch x, the normalized x_hat and y = gamma x_hat + beta.

    Parameters
    ----------
    x : Tensor, shape (m,)
        One unit's values over a mini-batch.

    See book/batchnorm.ipynb.
    """
    x = torch.as_tensor(x, dtype=torch.float64).flatten()
    mu, var = x.mean(), x.var(unbiased=False)
    x_hat = (x - mu) / torch.sqrt(var + eps)
    y = gamma * x_hat + beta
    rows = [
        (r"$x_i$", x, mu.item(), var.sqrt().item()),
        (r"$\hat x_i$", x_hat, 0.0, 1.0),
        (r"$y_i=\gamma\hat x_i+\beta$", y, beta, abs(gamma)),
    ]
    colors = [COLORS["blue"], COLORS["orange"], COLORS["green"]]
    for k, ((_, vals, center, spread), color) in enumerate(zip(rows, colors, strict=True)):
        level = len(rows) - 1 - k
        ax.scatter(vals.numpy(), np.full(len(vals), level), color=color, s=30, zorder=3)
        ax.plot([center - spread, center + spread], [level - 0.25] * 2, color=color, lw=2)
        ax.plot([center], [level - 0.25], marker="|", ms=10, color=color)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows][::-1])
    ax.set_ylim(-0.6, len(rows) - 0.5)
    ax.set_xlabel("value (bar: mean ± standard deviation)")
    ax.grid(axis="y", visible=False)
    return ax


def plot_activation_histogram(
    ax: Axes, acts: Tensor, *, activation: str = "tanh", bins: int = 60, color: str | None = None
) -> Axes:
    """Histogram of one layer's activations (all samples and units pooled).

    Parameters
    ----------
    acts : Tensor, shape (N, width)

    See book/batchnorm.ipynb.
    """
    a = acts.detach().flatten().numpy()
    rng = (-1.05, 1.05) if activation == "tanh" else (0.0, max(float(a.max()), 1e-6) * 1.02)
    ax.hist(a, bins=bins, range=rng, density=True, color=color or COLORS["blue"], alpha=0.85)
    ax.set_xlabel("activation")
    ax.set_ylabel("density")
    return ax


def plot_layer_spread(
    ax: Axes,
    stds: dict[str, Sequence[float]],
    *,
    styles: dict[str, dict] | None = None,
    current: int | None = None,
) -> Axes:
    """Standard deviation of the activations per layer, one line per network.

    Parameters
    ----------
    stds : dict of str to sequence of float
        Label -> one standard deviation per layer (layer 1 first).
    styles : dict of str to dict, optional
        Label -> keyword arguments for ``ax.plot`` (colour, line style...).
    current : int, optional
        Layer (1-based) to mark.

    See book/batchnorm.ipynb.
    """
    palette = list(COLORS.values())
    styles = styles or {}
    for k, (label, s) in enumerate(stds.items()):
        style = {
            "color": palette[k % len(palette)],
            "marker": "o",
            "ms": 3,
            **styles.get(label, {}),
        }
        ax.plot(range(1, len(s) + 1), s, label=label, **style)
    if current is not None:
        ax.axvline(current, color="grey", lw=1, ls="--")
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("std of activations")
    ax.legend(fontsize=9)
    return ax


def plot_batch_estimates(
    axes: Sequence[Axes],
    stats: dict[str, Tensor],
    population: Tensor,
    index: int = 0,
    *,
    ranges: Sequence[tuple[float, float]] | None = None,
) -> Sequence[Axes]:
    """Histograms of mini-batch means, variances and one sample's normalized value.

    Draws on three axes, with the population value of each quantity as a dashed line.

    Parameters
    ----------
    axes : sequence of three Axes
    stats : dict
        The output of :func:`minibatch_statistics`.
    population : Tensor, shape (n,)
        The values the batches were drawn from.
    ranges : sequence of three (float, float), optional
        Fixed x-ranges, so frames of a widget share their axes.

    See book/batchnorm.ipynb.
    """
    pop = torch.as_tensor(population, dtype=torch.float64).flatten()
    mu, var = pop.mean().item(), pop.var(unbiased=False).item()
    truth = [mu, var, ((pop[index] - mu) / math.sqrt(var + 1e-5)).item()]
    titles = ["batch mean", "batch variance", f"$\\hat x$ of sample {index}"]
    colors = [COLORS["blue"], COLORS["orange"], COLORS["green"]]
    for k, (ax, key) in enumerate(zip(axes, ["mean", "var", "x_hat"], strict=True)):
        rng = None if ranges is None else ranges[k]
        ax.hist(stats[key].numpy(), bins=40, range=rng, density=True, color=colors[k], alpha=0.85)
        ax.axvline(truth[k], color="black", ls="--", lw=1)
        ax.set_title(titles[k])
        ax.set_yticks([])
        if rng is not None:
            ax.set_xlim(rng)
    return axes


def plot_training_curves(
    ax: Axes,
    results: dict[str, TrainResult | Sequence[TrainResult]],
    *,
    smooth: int = 10,
    ylim: tuple = (0.0, 2.5),
) -> Axes:
    """Training loss per step, one colour per network and one thin line per seed.

    A cross at the top marks where a run diverged; the legend counts them.

    See book/batchnorm.ipynb.
    """
    for k, (label, rs) in enumerate(results.items()):
        color, runs = _color(label, k), _runs(rs)
        for i, r in enumerate(runs):
            ys = r.losses
            if smooth > 1:
                ys = np.convolve(np.nan_to_num(ys, nan=np.inf), np.ones(smooth) / smooth, "valid")
                ys[~np.isfinite(ys)] = np.nan
            xs = np.arange(len(r.losses) - len(ys), len(r.losses))
            lw, alpha = (1.5, 1.0) if len(runs) == 1 else (0.8, 0.7)
            ax.plot(xs, ys, color=color, lw=lw, alpha=alpha, label=label if i == 0 else None)
        bad = [r.diverged_at for r in runs if r.diverged]
        if bad:
            ax.plot(
                bad,
                [ylim[1] * 0.97] * len(bad),
                marker="x",
                ms=8,
                mew=2,
                ls="none",
                color=color,
                label=f"{label}: diverged in {len(bad)} of {len(runs)}",
            )
    ax.set_ylim(*ylim)
    ax.set_xlabel("SGD step")
    ax.set_ylabel("training loss")
    ax.legend(loc="upper right", fontsize=9)
    return ax


#: The small-batch experiment's keys and their labels in the figures.
NORM_LABELS = {"bn": "batch norm", "ln": "layer norm", "gn": "group norm"}


def plot_small_batch(ax: Axes, result: SmallBatchResult, *, current: int | None = None) -> Axes:
    """Test accuracy against the batch size: each seed a dot, the median a line per norm.

    See book/batchnorm.ipynb.
    """
    sizes = list(result.config.batch_sizes)
    pos = np.arange(len(sizes))
    for k, norm in enumerate(result.config.norms):
        label = NORM_LABELS.get(norm, norm)
        color, dx = _color(label, k), (k - 1) * 0.12  # side by side, not on top of each other
        accs = [result.accuracy[norm, b] for b in sizes]
        for p, a in zip(pos, accs, strict=True):
            ax.plot(np.full(len(a), p + dx), a, "o", ms=3.5, color=color, alpha=0.7)
        ax.plot(pos + dx, [np.median(a) for a in accs], color=color, label=label)
    if current is not None:
        ax.axvspan(sizes.index(current) - 0.4, sizes.index(current) + 0.4, color="0.92", zorder=0)
    ax.axhline(0.1, color="grey", ls=":", lw=1)  # ten classes: chance
    ax.set_xticks(pos, [str(b) for b in sizes])
    ax.set_xlabel("batch size")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", fontsize=9)
    return ax


def plot_landscape(
    ax: Axes,
    results: dict[str, TrainResult],
    *,
    quantity: str = "landscape",
    logy: bool = False,
) -> Axes:
    """The range (min to max over step sizes) of a probed quantity along training.

    ``quantity`` is ``"landscape"`` (loss along the gradient direction) or ``"grad_change"``
    (distance between the gradient and the gradient after the step).

    See book/batchnorm.ipynb.
    """
    for k, (label, r) in enumerate(results.items()):
        color = _color(label, k)
        vals = getattr(r, quantity)
        steps = r.probe_steps
        lo, hi = np.nanmin(vals, axis=1), np.nanmax(vals, axis=1)
        ax.fill_between(steps, lo, hi, color=color, alpha=0.35, label=label, lw=0)
        ax.plot(steps, lo, color=color, lw=0.8)
        ax.plot(steps, hi, color=color, lw=0.8)
    ax.set_xlabel("SGD step")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return ax


def plot_running_stats(
    axes: Sequence[Axes],
    traces: dict[str, tuple[np.ndarray, np.ndarray]],
    population: Tensor,
) -> Sequence[Axes]:
    """Running mean (first Axes) and running variance (second) against the batch count.

    Parameters
    ----------
    traces : dict of str to (ndarray, ndarray)
        Label -> the output of :func:`running_stats_trace`.
    population : Tensor, shape (n,)
        The population: its mean and unbiased variance are drawn as dashed lines.

    See book/batchnorm.ipynb.
    """
    pop = torch.as_tensor(population, dtype=torch.float64).flatten()
    colors = [COLORS["orange"], COLORS["blue"], COLORS["green"], COLORS["purple"]]
    for (label, (mean, var)), color in zip(traces.items(), colors, strict=False):
        axes[0].plot(mean, color=color, label=label)
        axes[1].plot(var, color=color, label=label)
    axes[0].axhline(pop.mean().item(), color="black", ls="--", lw=1)
    axes[1].axhline(pop.var().item(), color="black", ls="--", lw=1)
    axes[0].set_title("running_mean")
    axes[1].set_title("running_var")
    for ax in axes:
        ax.set_xlabel("mini-batches seen")
    axes[1].legend()
    return axes


def plot_unit_percentiles(
    ax: Axes,
    result: TrainResult,
    *,
    color: str | None = None,
    label: str = "",
    band: bool = True,
) -> Axes:
    """15th, 50th and 85th percentiles of a tracked unit's input over training.

    ``result`` comes from :func:`train_mlp` with ``track_unit=True``. The median is a line,
    the 15th to 85th percentiles a band (unless ``band`` is false).

    See book/batchnorm.ipynb.
    """
    p = result.percentiles
    steps = np.arange(len(p))
    color = color or COLORS["blue"]
    if band:
        ax.fill_between(steps, p[:, 0], p[:, 2], color=color, alpha=0.3, lw=0)
    ax.plot(steps, p[:, 1], color=color, lw=1, label=label or None)
    ax.set_xlabel("SGD step")
    return ax


def plot_lr_summary(
    ax: Axes,
    sweep: dict[str, dict[float, Sequence[TrainResult]]],
    *,
    current: float | None = None,
    last: int = 20,
) -> Axes:
    """Final training loss against the learning rate: each seed a dot, the median a line.

    Diverged runs are drawn as crosses at the top.

    Parameters
    ----------
    sweep : dict of str to dict of float to sequence of TrainResult
        Label -> {learning rate: one result per seed}.
    current : float, optional
        Learning rate to mark.

    See book/batchnorm.ipynb.
    """
    top = 3.0
    for k, (label, runs) in enumerate(sweep.items()):
        color, lrs = _color(label, k), sorted(runs)
        med = []
        for lr in lrs:
            finals = np.array([final_loss(r, last) for r in _runs(runs[lr])])
            ok = finals[np.isfinite(finals)]
            ax.plot([lr] * len(ok), ok, "o", ms=3, color=color, alpha=0.6)
            n_bad = len(finals) - len(ok)
            if n_bad:
                ax.plot([lr], [top], marker="x", ms=9, mew=2, color=color)
            med.append(np.median(ok) if len(ok) > len(finals) / 2 else np.nan)
        ax.plot(lrs, med, color=color, label=label)
    if current is not None:
        ax.axvline(current, color="grey", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"final training loss (last {last} steps)")
    ax.legend(fontsize=9)
    return ax


# ---------------------------------------------------------------------------------------
# The chapter's figures and widget frames
# ---------------------------------------------------------------------------------------


def _pair(figsize=(6.8, 2.6), **margins) -> tuple[Figure, np.ndarray]:
    """Two panels with hand-set margins: half the cost of a constrained layout per frame."""
    fig, axes = figure(1, 2, figsize=figsize, layout=None)
    fig.subplots_adjust(
        **{"left": 0.08, "right": 0.98, "bottom": 0.19, "top": 0.88, "wspace": 0.3, **margins}
    )
    return fig, axes


def activations_figure(acts: dict, stds: dict, layer: int, scale: float) -> Figure:
    """One layer's activation histogram without (left) and with batch norm (right).

    ``acts[norm, scale]`` is a list of (N, width) tensors per layer (``norm`` is "none" or
    "bn") and ``stds[norm, scale]`` their standard deviations. See book/batchnorm.ipynb.
    """
    fig, axes = _pair((6.6, 2.5), wspace=0.25, top=0.88, bottom=0.18)
    names = {"none": "no batch norm", "bn": "batch norm"}
    for ax, (norm, name) in zip(axes, names.items(), strict=True):
        plot_activation_histogram(ax, acts[norm, scale][layer - 1], color=NET_COLORS[name])
        ax.set_title(f"{name}: std {stds[norm, scale][layer - 1]:.3f}")
        # The density's scale changes by orders of magnitude between frames, and its tick
        # labels' width would push the axis label off the canvas; the shape is the point.
        ax.set_yticks([])
    return fig


def small_batch_figure(result: SmallBatchResult, batch_size: int) -> Figure:
    """Accuracy by batch size (left) and every seed's training curve at ``batch_size``.

    See book/batchnorm.ipynb.
    """
    fig, axes = _pair(left=0.09, wspace=0.28)
    plot_small_batch(axes[0], result, current=batch_size)
    curves = {  # plot_training_curves reads .losses and .diverged of each run
        NORM_LABELS.get(n, n): [
            TrainResult(losses=ls, test_accuracy=np.nan, diverged_at=None, model=None)
            for ls in result.losses[n, batch_size]
        ]
        for n in result.config.norms
    }
    plot_training_curves(axes[1], curves, ylim=(0.0, 2.6))
    axes[1].set_title(f"batch size {batch_size}: one line per seed")
    return fig


def lr_figure(sweep: dict[str, dict[float, Sequence[TrainResult]]], lr: float) -> Figure:
    """Training curves of every seed at ``lr`` (left) and the final loss by rate (right).

    See book/batchnorm.ipynb.
    """
    fig, axes = _pair()
    plot_training_curves(axes[0], {k: v[lr] for k, v in sweep.items()})
    axes[0].set_title(f"learning rate {lr:g}")
    plot_lr_summary(axes[1], sweep, current=lr)
    return fig


def batch_estimates_figure(stats: dict, population: Tensor, batch_size: int) -> Figure:
    """Spread of the batch mean, variance and one normalized value at one batch size.

    ``stats[batch_size]`` comes from ``minibatch_statistics``; the axes ranges are fixed
    from the population, so every frame of the widget shares them. See book/batchnorm.ipynb.
    """
    pop = torch.as_tensor(population, dtype=torch.float64)
    mu, sd = pop.mean().item(), pop.std(unbiased=False).item()
    ranges = [(mu - 2.5 * sd, mu + 2.5 * sd), (0, 3 * sd**2), (-3, 3)]
    fig, axes = figure(1, 3, figsize=(6.8, 2.4), layout=None)
    fig.subplots_adjust(left=0.03, right=0.98, bottom=0.2, top=0.88, wspace=0.12)
    plot_batch_estimates(axes, stats[batch_size], population, ranges=ranges)
    axes[0].set_xlabel(f"batch size {batch_size}")
    return fig


def unit_percentiles_figure(runs: dict[str, TrainResult]) -> Figure:
    """The tracked unit's input percentiles over training, one panel per network.

    See book/batchnorm.ipynb.
    """
    fig, axes = figure(1, len(runs), figsize=(6.8, 2.6), sharey=True)
    for ax, (label, r) in zip(np.atleast_1d(axes), runs.items(), strict=True):
        plot_unit_percentiles(ax, r, color=NET_COLORS.get(label))
        ax.set_title(label)
    np.atleast_1d(axes)[0].set_ylabel("input to one ReLU\n(15th, 50th, 85th percentiles)")
    return fig


def noise_figure(trio: dict[str, Sequence[TrainResult]]) -> Figure:
    """Training curves of every seed (left) and the tracked unit's median (right, seed 0).

    See book/batchnorm.ipynb.
    """
    fig, axes = figure(1, 2, figsize=(6.8, 2.8))
    plot_training_curves(axes[0], trio)
    for label, rs in trio.items():
        r = _runs(rs)[0]
        plot_unit_percentiles(axes[1], r, color=NET_COLORS.get(label), label=label, band=False)
    axes[1].set_ylabel("median input to one ReLU")
    axes[1].legend(fontsize=9)
    return fig


def landscape_figure(probe: dict[str, TrainResult]) -> Figure:
    """Loss (left) and gradient change (right) along the gradient, over training.

    See book/batchnorm.ipynb.
    """
    fig, axes = figure(1, 2, figsize=(6.8, 2.8))
    plot_landscape(axes[0], probe, quantity="landscape", logy=True)
    axes[0].set_ylabel("loss along the gradient")
    plot_landscape(axes[1], probe, quantity="grad_change", logy=True)
    axes[1].set_ylabel("gradient change")
    return fig


def layer_spread_figure(stds: dict, scales: Sequence[float]) -> Figure:
    """Std of the activations per layer: dotted without batch norm, solid with it.

    ``stds[norm, scale]`` lists one standard deviation per layer (``norm`` "none" or "bn").
    See book/batchnorm.ipynb.
    """
    names = {"none": "no batch norm", "bn": "batch norm"}
    palette = [COLORS["orange"], COLORS["green"], COLORS["purple"], COLORS["sky"]]
    lines, styles = {}, {}
    for n, name in names.items():
        for k, s in enumerate(scales):
            label = f"{name}, a = {s:g}"
            lines[label] = stds[n, s]
            styles[label] = {"color": palette[k % len(palette)], "ls": "-" if n == "bn" else ":"}
    fig, ax = figure(figsize=(6.4, 2.8))
    plot_layer_spread(ax, lines, styles=styles)
    return fig


def training_figure(results: dict[str, TrainResult | Sequence[TrainResult]]) -> Figure:
    """Training curves of a few networks on one Axes. See book/batchnorm.ipynb."""
    fig, ax = figure(figsize=(6.4, 2.8))
    plot_training_curves(ax, results)
    return fig


def bn_steps_figure(x: Tensor, gamma: float, beta: float) -> Figure:
    """Algorithm 1 on one unit (:func:`plot_bn_steps`). See book/batchnorm.ipynb."""
    fig, ax = figure(figsize=(6.4, 2.6))
    plot_bn_steps(ax, x, gamma, beta)
    return fig


def running_stats_figure(traces: dict, population: Tensor) -> Figure:
    """Running mean and variance against the batch count (:func:`plot_running_stats`).

    See book/batchnorm.ipynb.
    """
    fig, axes = figure(1, 2, figsize=(6.8, 2.6))
    plot_running_stats(axes, traces, population)
    return fig
