"""Drawing for the maximum likelihood chapter: fits, likelihood surfaces, spreads.

Every ``plot_*`` draws on the Axes it is given and returns it. See book/mle.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from matplotlib.axes import Axes
from torch import Tensor

from mlnotes_lib.mle import _samples, fisher_information, gaussian_log_likelihood
from mlnotes_lib.plots import COLORS

__all__ = [
    "plot_bernoulli_spread",
    "plot_gaussian_fit",
    "plot_kl_check",
    "plot_likelihood_panels",
    "plot_log_likelihood_surface",
    "plot_mle_spread",
    "plot_underflow",
]

_BLUE, _ORANGE, _GREEN, _RED = COLORS["blue"], COLORS["orange"], COLORS["green"], COLORS["red"]


def plot_gaussian_fit(
    ax: Axes, x: Tensor, mu: float, sigma: float, *, ymax: float | None = None
) -> Axes:
    """Draw the samples (histogram and rug) with the density of N(``mu``, ``sigma``\\ :sup:`2`).

    The title gives the log-likelihood of the samples under that density; ``ymax`` fixes
    the vertical range (so that widget frames compare).

    See book/mle.ipynb.
    """
    x = _samples(x).detach().double()
    lo, hi = x.min().item(), x.max().item()
    span = hi - lo
    grid = torch.linspace(lo - 0.25 * span, hi + 0.25 * span, 300, dtype=torch.float64)
    dens = torch.exp(-0.5 * ((grid - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    ax.hist(x.numpy(), bins=12, density=True, color=_BLUE, alpha=0.35, label="data")
    ax.plot(x.numpy(), [0.0] * x.numel(), "|", color=_BLUE, ms=12)
    ax.plot(grid.numpy(), dens.numpy(), color=_ORANGE, lw=2, label="model density")
    ll = gaussian_log_likelihood(x, mu, sigma).item()
    ax.set_title(f"μ = {mu:.2f}, σ = {sigma:.2f}: log L = {ll:.1f}")
    ax.set_xlim(grid[0].item(), grid[-1].item())
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    if ymax is not None:
        ax.set_ylim(0, ymax)
    ax.legend(loc="upper center", ncols=2, frameon=False)
    return ax


def plot_log_likelihood_surface(
    ax: Axes,
    mus: Tensor,
    sigmas: Tensor,
    log_lik: Tensor,
    *,
    current: tuple[float, float] | None = None,
    mle: tuple[float, float] | None = None,
    levels: int = 14,
) -> Axes:
    """Draw a log-likelihood surface as contour lines, with the current point and the MLE.

    Parameters
    ----------
    ax : Axes
        Where to draw.
    mus : Tensor, shape (M,)
        Grid of means (x axis).
    sigmas : Tensor, shape (S,)
        Grid of standard deviations (y axis).
    log_lik : Tensor, shape (S, M)
        Log-likelihood at each grid point, e.g.
        ``gaussian_log_likelihood(x, mus[None, :], sigmas[:, None])``.
    current, mle : tuple of float, optional
        ``(mu, sigma)`` points to mark.
    levels : int
        Number of contour levels. They sit at ``max - gap`` with the gaps spaced evenly on a
        log scale, so the lines crowd near the peak by construction: their spacing shows
        the chosen levels, not the steepness of the surface.

    See book/mle.ipynb.
    """
    ll = log_lik.detach().double()
    top = ll.max().item()
    # Contours at top - gaps growing geometrically: fine near the peak, coarse far away.
    gaps = torch.logspace(-0.5, math.log10(max(top - ll.min().item(), 1.0)), levels)
    ax.contour(
        mus.numpy(),
        sigmas.numpy(),
        ll.numpy(),
        levels=sorted(top - gaps.numpy()),
        colors=_BLUE,
        linewidths=0.8,
        linestyles="solid",
    )
    if mle is not None:
        ax.plot(*mle, "*", color=_GREEN, ms=14, label="MLE", zorder=3)
    if current is not None:
        ax.plot(*current, "o", color=_RED, ms=8, label="current", zorder=4)
    ax.set_xlabel("μ")
    ax.set_ylabel("σ")
    ax.set_title(f"log-likelihood surface (highest: {top:.1f})")
    ax.legend(loc="upper right", frameon=True, fontsize=9)
    ax.grid(False)
    return ax


def plot_mle_spread(
    ax: Axes, mu_hats: Tensor, *, n: int, mu: float = 0.0, sigma: float = 1.0
) -> Axes:
    """Draw a histogram of ``mu_hat`` over repeated samples with its N(mu, sigma²/n) law.

    See book/mle.ipynb.
    """
    m = mu_hats.detach().double()
    se = sigma / math.sqrt(n)
    grid = torch.linspace(mu - 1.6 * sigma, mu + 1.6 * sigma, 400, dtype=torch.float64)
    dens = torch.exp(-0.5 * ((grid - mu) / se) ** 2) / (se * math.sqrt(2 * math.pi))
    ax.hist(
        m.numpy(),
        bins=31,
        range=(mu - 4 * se, mu + 4 * se),  # bins scale with the spread
        density=True,
        color=_BLUE,
        alpha=0.45,
        label="μ̂ over repeats",
    )
    ax.plot(grid.numpy(), dens.numpy(), color=_ORANGE, lw=1.5, label="N(μ, σ²/n)")
    ax.axvline(mu, color=_RED, ls=":", label="true μ")
    ax.set_xlim(grid[0].item(), grid[-1].item())
    ax.set_ylim(0, 1.3 / (math.sqrt(2 * math.pi) * se))
    ax.set_xlabel("μ̂")
    ax.set_ylabel("density")
    ax.set_title(f"n = {n}: std of μ̂ = {m.std().item():.3f} (σ/√n = {se:.3f})")
    ax.legend(loc="upper right", frameon=False)
    return ax


def plot_likelihood_panels(
    axes: Sequence[Axes],
    x: Tensor,
    mu: float,
    sigma: float,
    grid: tuple[Tensor, Tensor, Tensor],
    mle: tuple[float, float],
) -> Sequence[Axes]:
    """Two panels: the density N(``mu``, ``sigma``²) over the samples ``x``, and the surface.

    ``grid`` is ``(mus (M,), sigmas (S,), log_lik (S, M))`` as for
    :func:`plot_log_likelihood_surface`; ``mle`` is ``(mu_hat, sigma_hat)``. Ticks are fixed
    (a third faster than tick locators) so that widget frames render quickly and compare.

    See book/mle.ipynb.
    """
    ax1, ax2 = axes
    plot_gaussian_fit(ax1, x, mu, sigma, ymax=0.85)
    plot_log_likelihood_surface(ax2, *grid, current=(mu, sigma), mle=mle)
    ax1.set_xticks([-2, 0, 2, 4, 6])
    ax2.set_xticks([0, 1, 2, 3, 4])
    ax2.set_yticks([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    return axes


def plot_underflow(ax: Axes, running_product: Tensor, log_densities: Tensor) -> Axes:
    """log10 of a running float32 product of densities against the running log-likelihood.

    ``running_product`` (N,) is ``cumprod`` of the densities, ``log_densities`` (N,) their
    logs; the product's first exact zero is marked.

    See book/mle.ipynb.
    """
    k = torch.arange(1, len(running_product) + 1)
    log10_product = torch.log10(running_product.double())  # -inf once it underflowed
    ax.plot(k, log10_product, color=_RED, lw=2, label="log10 of the float32 product")
    cum = torch.cumsum(log_densities, 0) / math.log(10)
    ax.plot(k, cum, color=_BLUE, ls="--", label="log-likelihood / ln 10")
    zeros = (running_product == 0).nonzero()
    if len(zeros):
        first = int(zeros[0]) + 1
        ax.axvline(first, color="grey", ls=":", lw=1)
        ax.text(first + 12, -300, f"product is 0.0\nfrom sample {first}", fontsize=9)
    ax.set(xlabel="number of samples", ylabel="log10 of the likelihood")
    ax.legend(loc="lower left")
    return ax


def plot_kl_check(
    axes: Sequence[Axes],
    p_data: Tensor,
    p_fit: Tensor,
    thetas: Tensor,
    kl_curve: Tensor,
    avg_nll: Tensor,
    theta_hat: float,
) -> Sequence[Axes]:
    """Two panels: the empirical distribution beside the fitted model (K,), and
    KL(p_data || p_theta) with the average NLL over a grid of ``thetas``.

    See book/mle.ipynb.
    """
    ax1, ax2 = axes
    support = torch.arange(len(p_data), dtype=torch.float64)
    ax1.bar(support - 0.2, p_data, width=0.4, color=_BLUE, label="empirical")
    ax1.bar(support + 0.2, p_fit, width=0.4, color=_ORANGE, label=f"fit, θ̂ = {theta_hat:.3f}")
    ax1.set(xlabel="heads in 5 tosses", ylabel="probability")
    ax1.legend()
    ax2.plot(thetas, kl_curve, color=_GREEN, lw=2, label="KL(p̂_data ‖ p_θ)")
    ax2.plot(thetas, avg_nll, color=_BLUE, ls="--", label="average NLL")
    ax2.axvline(theta_hat, color="grey", ls=":")
    ax2.set(ylim=(0, 4), xlabel="θ", ylabel="nats")
    ax2.legend()
    return axes


def plot_bernoulli_spread(ax: Axes, p_hats: Tensor, *, n: int, p: float) -> Axes:
    """Draw the distribution of ``p_hat = k/n`` over repeats against N(p, 1/(n I(p))).

    ``p_hats`` (R,) are the estimates of repeated samples of size ``n``; each possible value
    ``k/n`` gets a bar of width ``1/n`` whose area is its frequency, so the bars and the
    asymptotic normal density share one scale. The dotted lines mark ``p +- 1/sqrt(n I(p))``.

    See book/mle.ipynb.
    """
    k = torch.round(p_hats.detach().double() * n).long()
    freq = torch.bincount(k, minlength=n + 1).double() / len(k)  # (n + 1,)
    seen = freq > 0
    values = torch.arange(n + 1, dtype=torch.float64)[seen] / n
    ax.bar(values.numpy(), (freq[seen] * n).numpy(), width=1 / n, color=_BLUE, alpha=0.5,
           label="p̂ over repeats")  # fmt: skip
    se = 1 / math.sqrt(n * fisher_information("bernoulli", p=p))
    grid = torch.linspace(-0.1, 1, 881, dtype=torch.float64)
    dens = torch.exp(-0.5 * ((grid - p) / se) ** 2) / (se * math.sqrt(2 * math.pi))
    ax.plot(grid.numpy(), dens.numpy(), color=_ORANGE, lw=1.5, label="N(p, 1/(n I(p)))")
    for x in (p - se, p + se):
        ax.axvline(x, color=_RED, ls=":", lw=1)
    ax.set(xlim=(-0.1, 1), xlabel="p̂", ylabel="density")  # room for the normal law below 0
    ax.set_ylim(0, 1.25 * max(dens.max().item(), (freq * n).max().item()))
    ax.set_title(f"n = {n}, p = {p}: std of p̂ {p_hats.std().item():.3f}, "
                 f"1/√(n I(p)) = {se:.3f}", fontsize=10)  # fmt: skip
    ax.legend(loc="upper right", frameon=False)
    return ax
