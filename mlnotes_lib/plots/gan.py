"""Figures of the GAN chapter: every ``plot_*`` draws on the Axes (or Figure) it is given.

The numbers come from :mod:`mlnotes_lib.gan` and :mod:`mlnotes_lib.experiments.gan`.

See book/gan.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from mlnotes_lib import gan
from mlnotes_lib.experiments.gan import _gaussians_on_grid
from mlnotes_lib.gan import GENERATOR_LOSSES
from mlnotes_lib.plots import COLORS, figure

__all__ = [
    "COST_LABELS",
    "generator_cost_curves",
    "value_curves",
    "plot_bilinear_game",
    "plot_costs",
    "plot_d_star",
    "plot_discriminator_fit",
    "plot_divergence_fits",
    "plot_run",
    "plot_snapshot",
    "plot_sweep",
    "plot_training_curves",
]

COST_LABELS = {
    "minimax": r"minimax $\log(1-D)$",
    "non_saturating": r"non-saturating $-\log D$",
    "maximum_likelihood": r"max. likelihood $-D/(1-D)$",
}
_COST_COLORS = {"minimax": "red", "non_saturating": "blue", "maximum_likelihood": "green"}


def _legend_above(ax: Axes, handles=None, labels=None, ncol=None) -> None:
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0, 1.0), fontsize=9,
              ncol=ncol or len(labels), frameon=False, borderaxespad=0.2)  # fmt: skip


def plot_snapshot(
    ax: Axes, x, p_data, samples=None, d=None, *, bins: int = 60, ylim: float | None = None
) -> Axes:
    """One moment of a 1-D GAN: the data density, a histogram of the generated samples, and
    ``D(x)`` on a second y-axis (``ax.d_axis``).

    Samples that fall outside the range of ``x`` (or are not finite) cannot appear in the
    histogram; when more than half of them do, the run has diverged, and a note in the
    axes says so and where the samples went.

    See book/gan.ipynb.
    """
    xs = np.asarray(x, dtype=float).reshape(-1)
    ax.plot(xs, np.asarray(p_data, dtype=float), color=COLORS["black"], lw=1.5, label="$p_{data}$")
    if samples is not None:
        s = np.asarray(samples, dtype=float).reshape(-1)
        inside = np.isfinite(s) & (s >= xs[0]) & (s <= xs[-1])
        ax.hist(s[inside], bins=bins, range=(xs[0], xs[-1]), density=False,
                weights=np.full(inside.sum(), bins / (len(s) * (xs[-1] - xs[0]))),
                color=COLORS["green"], alpha=0.45, label="samples of $G$")  # fmt: skip
        if inside.mean() < 0.5:
            finite = s[np.isfinite(s)]
            where = f"median {np.median(finite):.3g}" if finite.size else "all NaN"
            ax.text(0.5, 0.55, f"diverged: {100 * (1 - inside.mean()):.0f} % of the samples\n"
                    f"fell outside [{xs[0]:g}, {xs[-1]:g}] ({where})", transform=ax.transAxes,
                    ha="center", va="center", fontsize=9, color=COLORS["red"])  # fmt: skip
    ax.set_xlim(xs[0], xs[-1])
    if ylim is not None:
        ax.set_ylim(0, ylim)
    ax.set_xlabel("$x$")
    ax.set_ylabel("density")
    handles, labels = ax.get_legend_handles_labels()
    if d is not None:
        ax2 = ax.twinx()
        ax2.plot(xs, np.asarray(d, dtype=float), color=COLORS["blue"], ls="--", label="$D(x)$")
        ax2.set_ylim(0, 1.02)
        ax2.set_ylabel("$D(x)$", color=COLORS["blue"])
        ax2.grid(False)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
        ax.d_axis = ax2
    _legend_above(ax, handles, labels)
    return ax


def plot_training_curves(ax: Axes, history, step: int | None = None) -> Axes:
    """``D(x)`` and ``D(G(z))`` over a :func:`~mlnotes_lib.experiments.gan.train_gan` run,
    with the equilibrium value 1/2; with ``step`` the curves stop there (for a replay).

    See book/gan.ipynb.
    """
    n = len(history["d_real"])
    end = n if step is None else step
    it = np.arange(1, end + 1)
    ax.plot(it, history["d_real"][:end], color=COLORS["black"], lw=1, label="$D(x)$, real")
    ax.plot(it, history["d_fake"][:end], color=COLORS["orange"], lw=1, label="$D(G(z))$, fake")
    ax.axhline(0.5, color=COLORS["sky"], ls=":", lw=1)
    ax.set_xlim(0, max(n, 1))
    ax.set_ylim(0, 1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean probability")
    _legend_above(ax)
    return ax


def plot_run(history, step: int, *, title: str | None = None) -> Figure:
    """A run at iteration ``step``: samples and ``D(x)`` (left), the curves so far (right).

    See book/gan.ipynb.
    """
    fig, (ax1, ax2) = figure(1, 2, figsize=(7.2, 2.8), width_ratios=[1.3, 1])
    plot_snapshot(ax1, history["x"], history["p_data"], history["snapshots"][step],
                  history["d_snapshots"][step], ylim=1.3)  # fmt: skip
    plot_training_curves(ax2, history, step)
    ax2.axvline(step, color=COLORS["black"], lw=0.8, ls=":")
    ax1.set_title(title or f"iteration {step}", fontsize=9, loc="right")
    return fig


def plot_divergence_fits(ax: Axes, x, p_data, best: dict) -> Axes:
    """The data density and, per divergence, the best single Gaussian ``name -> (mu, sigma)``.

    See book/gan.ipynb.
    """
    x = torch.as_tensor(x, dtype=torch.float64)
    ax.plot(x, p_data, color=COLORS["black"], lw=2, label="$p_{data}$")
    styles = [("-", "blue"), ("--", "orange"), (":", "green")]
    for (name, (mu, sigma)), (ls, color) in zip(best.items(), styles, strict=False):
        dens = gan.gaussian_mixture(x, [mu], sigma)
        ax.plot(x, dens, ls=ls, color=COLORS[color], label=f"best Gaussian for {name}")
    ax.set(xlim=(-5, 5), xlabel="$x$", ylabel="density")
    ax.legend(fontsize=9, loc="upper right")
    return ax


def plot_discriminator_fit(xs, d_star, d_learned, fit_losses, v_star: float) -> Figure:
    """A trained discriminator against ``D*`` (left) and its cost during training (right).

    See book/gan.ipynb.
    """
    from mlnotes_lib.plots import plot_curves

    fig, (ax1, ax2) = figure(1, 2, figsize=(7, 2.6), width_ratios=[1.6, 1])
    ax1.plot(xs, d_star, color=COLORS["blue"], lw=2, label="$D^*(x)$")
    ax1.plot(xs, d_learned, color=COLORS["orange"], ls="--", label="trained $D(x)$")
    ax1.set(xlabel="$x$", ylim=(0, 1.02))
    ax1.legend(fontsize=9)
    plot_curves(ax2, {"$J^{(D)}$": fit_losses}, xlabel="update", smooth=10)
    ax2.axhline(-v_star / 2, color=COLORS["blue"], ls=":", label="$-V(D^*, G)/2$")
    ax2.legend(fontsize=9)
    return fig


def plot_d_star(x, p_data, curves: dict, mean: float, width: float) -> Figure:
    """``D*`` for a Gaussian model (left) and ``V(D*, G)`` against the model's mean (right).

    ``curves`` is :func:`~mlnotes_lib.experiments.gan.value_curves`' result.

    See book/gan.ipynb.
    """
    fig, (ax1, ax2) = figure(1, 2, figsize=(7, 2.7), width_ratios=[1.3, 1])
    means = curves["means"]
    i = int(torch.argmin((means - mean).abs()))
    q = curves["models"][width][i]
    ax1.plot(x, q, color=COLORS["orange"], lw=1.5, label="$p_{model}$")
    plot_snapshot(ax1, x, p_data, d=gan.optimal_discriminator(p_data, q), ylim=1.1)
    ax1.set_xlim(-5, 5)
    v = curves["value"][width]
    ax2.plot(means, v, color=COLORS["blue"], label="$V(D^*, G)$")
    ax2.plot(means[::4], curves["jsd"][width][::4], "o", ms=3, color=COLORS["orange"],
             label="$-\\log 4 + 2$ JSD")  # fmt: skip
    ax2.axhline(-math.log(4), color=COLORS["black"], ls=":", lw=1)
    ax2.text(-3.9, -math.log(4) + 0.03, "$-\\log 4$", fontsize=9)
    ax2.plot([mean], [v[i]], "s", color=COLORS["red"], ms=7)
    ax2.set(xlabel="mean of $p_{model}$", ylim=(-1.45, 0.05))
    ax2.set_title(f"V(D*, G) = {v[i]:.3f}", fontsize=9)
    ax2.legend(fontsize=9, loc="lower right")
    return fig


def plot_costs(curves: dict, d: float) -> Figure:
    """The generator's costs (left) and their slopes against D's logit (right), per kind,
    with markers at ``D(G(z)) = d``; ``curves`` from
    :func:`~mlnotes_lib.experiments.gan.generator_cost_curves`.

    See book/gan.ipynb.
    """
    fig, (ax1, ax2) = figure(1, 2, figsize=(7, 2.8))
    p = curves["d"]
    i = int(torch.argmin((p - d).abs()))
    for kind in curves["cost"]:
        color = COLORS[_COST_COLORS[kind]]
        cost, grad = curves["cost"][kind], curves["grad"][kind]
        ax1.plot(p, cost, color=color, label=COST_LABELS[kind])
        ax2.plot(p, grad, color=color)
        ax1.plot([p[i]], [cost[i]], "o", color=color)
        ax2.plot([p[i]], [grad[i]], "o", color=color)
        offset = (6, -12) if kind == "maximum_likelihood" else (6, 4)  # apart from minimax
        ax2.annotate(f"{grad[i]:.3g}", (p[i], max(grad[i], -1.5)), textcoords="offset points",
                     xytext=offset, fontsize=9, color=color)  # fmt: skip
    for ax in (ax1, ax2):
        ax.axvline(p[i], color=COLORS["black"], lw=0.8, ls=":")
        ax.set_xscale("logit")  # spreads out both ends of (0, 1)
        ax.set_xlabel("$D(G(z))$ (logit scale)")
    ax1.set(ylabel="cost per sample", ylim=(-5, 5))
    ax2.set(ylabel="d cost / d logit", ylim=(-1.6, 0.05))
    ax1.legend(fontsize=9, loc="lower left")
    return fig


def plot_bilinear_game(lr: float, update: str, *, turns: float = 2.0) -> Figure:
    """Gradient play on ``V(x, y) = x y`` from (1, 0) for ``turns`` turns of the flow: the
    path in the plane (left) and the distance from the equilibrium (right).

    See book/gan.ipynb.
    """
    steps = round(2 * math.pi * turns / lr)
    path = gan.bilinear_game(1.0, 0.0, lr, steps, update).numpy()
    t = np.arange(steps + 1) * lr
    flow = gan.bilinear_flow(1.0, 0.0, torch.as_tensor(t)).numpy()
    fig, (ax1, ax2) = figure(1, 2, figsize=(7, 3.0), width_ratios=[1, 1.3])
    ax1.plot(flow[:, 0], flow[:, 1], color=COLORS["black"], ls=":", lw=1, label="flow")
    ax1.plot(path[:, 0], path[:, 1], ".-", ms=2, lw=0.7, color=COLORS["blue"], label=update)
    ax1.plot([0], [0], "*", color=COLORS["red"], ms=9, label="equilibrium")
    lim = max(1.6, min(np.abs(path).max() * 1.05, 6))
    ax1.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="$x$ (minimises $xy$)",
            ylabel="$y$ (maximises)", aspect="equal")  # fmt: skip
    _legend_above(ax1, ncol=2)
    radius = np.hypot(path[:, 0], path[:, 1])
    ax2.plot(t, radius, color=COLORS["blue"], label=f"{update}, lr = {lr:g}")
    ax2.axhline(1.0, color=COLORS["black"], ls=":", lw=1, label="flow")
    ax2.set(xlabel="time $t$ = steps × lr", ylabel="distance from (0, 0)", ylim=(0, 3.5))
    _legend_above(ax2, ncol=2)
    return fig


def plot_sweep(sweep, *, bins: int = 40) -> Figure:
    """Final samples of every seed (columns) for every (loss, k) setting (rows), each panel
    titled with how many modes the run covers.

    See book/gan.ipynb.
    """
    keys = list(sweep.runs)
    n = len(sweep.seeds)
    fig, axes = figure(len(keys), n, figsize=(7.2, 1.0 * len(keys) + 0.5), sharex=True,
                       sharey=True, squeeze=False)  # fmt: skip
    for r, key in enumerate(keys):
        run = sweep.runs[key]
        final = run.snapshots[max(run.snapshots)]
        for c in range(n):
            ax = axes[r, c]
            s = final[c].reshape(-1).numpy()
            ax.hist(s[np.isfinite(s)], bins=bins, range=(-4, 4), color=COLORS["green"])
            modes = int(sweep.modes[key][c])
            ax.set_title(f"{modes} mode{'s' if modes != 1 else ''}", fontsize=9,
                         color=COLORS["black" if modes == 2 else "red"])  # fmt: skip
            ax.set_yticks([])
            ax.grid(False)
        axes[r, 0].set_ylabel(f"{key[0].replace('_', '-')}\nk = {key[1]}", fontsize=9)
    for c, seed in enumerate(sweep.seeds):
        axes[-1, c].set_xlabel(f"seed {seed}", fontsize=9)
        axes[-1, c].set_xticks([-2, 2])
    return fig


def value_curves(x: Tensor, p_data: Tensor, widths: Sequence[float], means: Tensor) -> dict:
    """``V(D*, G)`` two ways for Gaussian models of each width, against their mean.

    Returns ``{"means", "models": {w: (M, n)}, "value": {w: (M,)}, "jsd": {w: (M,)}}``:
    ``value`` integrates the value function at ``D*``, ``jsd`` is ``-log 4 + 2 JSD``.

    See book/gan.ipynb.
    """
    dx = float(x[1] - x[0])
    out: dict = {"means": means, "models": {}, "value": {}, "jsd": {}}
    for w in widths:
        q = _gaussians_on_grid(x, means, torch.full_like(means, w))  # (M, n)
        p = p_data.expand_as(q)
        out["models"][w] = q
        out["value"][w] = gan.value_function(p, q, gan.optimal_discriminator(p_data, q), dx)
        out["jsd"][w] = -math.log(4) + 2 * gan.js_divergence(p, q, dx)
    return out


def generator_cost_curves(d: Tensor, kinds: Sequence[str] = GENERATOR_LOSSES) -> dict:
    """Each generator cost per sample at ``D(G(z)) = d`` and its slope against D's logit.

    Both come from :func:`~mlnotes_lib.gan.generator_loss` (on one sample at a time) and
    autograd through ``d = sigmoid(logit)``. Returns ``{"d", "cost": {kind: (n,)},
    "grad": {kind: (n,)}}``.

    See book/gan.ipynb.
    """
    logits = torch.logit(torch.as_tensor(d, dtype=torch.float64)).requires_grad_()
    p = torch.sigmoid(logits)
    out: dict = {"d": p.detach(), "cost": {}, "grad": {}}
    for kind in kinds:
        cost = torch.stack([gan.generator_loss(p[i : i + 1], kind) for i in range(len(p))])
        out["cost"][kind] = cost.detach()
        out["grad"][kind] = torch.autograd.grad(cost.sum(), logits, retain_graph=True)[0]
    return out
