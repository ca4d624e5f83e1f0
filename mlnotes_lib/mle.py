"""Maximum likelihood estimation: log-likelihoods, closed-form estimates and a generic fit.

Scope: i.i.d. samples from a Gaussian, a Bernoulli or a categorical model. The closed
forms (sample mean, the 1/n standard deviation, the fraction of ones, class frequencies)
are checked against a numerical fit by gradient descent on the negative log-likelihood
(:func:`fit_mle`), and MLE is linked to the KL divergence from the empirical
distribution (:func:`empirical_distribution`, with ``mlnotes_lib.losses.kl_divergence``).

Samples ``x`` are 1-D tensors of shape ``(N,)`` unless a function says otherwise.

See book/mle.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:  # matplotlib is only needed by the plot_* helpers' callers
    from matplotlib.axes import Axes

__all__ = [
    "bernoulli_log_likelihood",
    "bernoulli_mle",
    "empirical_distribution",
    "fit_mle",
    "gaussian_log_likelihood",
    "gaussian_mle",
    "plot_gaussian_fit",
    "plot_log_likelihood_surface",
    "plot_mle_spread",
    "repeated_gaussian_mle",
]

_LOG_2PI = math.log(2 * math.pi)


# ------------------------------------------------------------------------- checks
def _samples(x, name: str = "x") -> Tensor:
    """``x`` as a non-empty 1-D floating tensor."""
    try:
        t = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must be a tensor of numbers") from err
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if t.dim() != 1:
        raise ValueError(f"{name} must be 1-D (one sample per entry), got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty: an estimate needs at least one sample")
    return t


def _as_param(v, like: Tensor, name: str) -> Tensor:
    if isinstance(v, Tensor):
        return v if v.is_floating_point() else v.to(like.dtype)
    try:
        return torch.as_tensor(v, dtype=like.dtype)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must be a number or a tensor") from err


# ------------------------------------------------------------------ log-likelihoods
def gaussian_log_likelihood(x: Tensor, mu: float | Tensor, sigma: float | Tensor) -> Tensor:
    r"""Log-likelihood of i.i.d. samples under a normal distribution, summed over the samples.

    .. math::

        \log L(\mu, \sigma) = \sum_{n=1}^N \log \mathcal N(x_n; \mu, \sigma^2)
        = -\frac N2 \log(2\pi) - N \log\sigma - \frac{1}{2\sigma^2}\sum_{n=1}^N (x_n-\mu)^2

    Parameters
    ----------
    x : Tensor, shape (N,)
        The samples.
    mu, sigma : float or Tensor
        Mean and standard deviation (not the variance). Tensors of any shape ``S`` that
        broadcast together evaluate the log-likelihood at every point of a grid at once.

    Returns
    -------
    Tensor
        Shape ``S`` (0-d for scalar parameters); differentiable in ``mu`` and ``sigma``.

    Raises
    ------
    ValueError
        If ``x`` is empty or not 1-D, or if any ``sigma`` is not positive.

    See book/mle.ipynb.
    """
    x = _samples(x)
    mu = _as_param(mu, x, "mu")
    sigma = _as_param(sigma, x, "sigma")
    if not bool((sigma.detach() > 0).all()):
        raise ValueError("sigma must be positive (it is a standard deviation)")
    mu, sigma = torch.broadcast_tensors(mu, sigma)
    n = x.numel()
    xs = x.reshape(n, *([1] * mu.dim()))  # (N, 1, ..., 1) against parameters of shape S
    sq = ((xs - mu) ** 2).sum(dim=0)  # S
    return -0.5 * n * _LOG_2PI - n * torch.log(sigma) - sq / (2 * sigma**2)


def bernoulli_log_likelihood(x: Tensor, p: float | Tensor) -> Tensor:
    r"""Log-likelihood of i.i.d. 0/1 outcomes under a Bernoulli(``p``) model, summed.

    .. math::

        \log L(p) = \sum_{n=1}^N \left[x_n \log p + (1 - x_n)\log(1 - p)\right]
                  = k \log p + (N - k) \log(1 - p), \quad k = \sum_n x_n

    Parameters
    ----------
    x : Tensor, shape (N,)
        Outcomes, each 0 or 1.
    p : float or Tensor
        Success probability in [0, 1]; a tensor of shape ``S`` gives one value per entry.

    Returns
    -------
    Tensor
        Shape ``S``; ``-inf`` where ``p`` rules out an observed outcome.

    Raises
    ------
    ValueError
        If ``x`` is empty or holds values other than 0 and 1, or if ``p`` leaves [0, 1].

    See book/mle.ipynb.
    """
    x = _binary_samples(x)
    p = _as_param(p, x, "p")
    if not bool(((p.detach() >= 0) & (p.detach() <= 1)).all()):
        raise ValueError("p must be a probability in [0, 1]")
    k = x.sum()
    n = x.numel()
    # 0 log 0 = 0: with no ones (or no zeros) the p = 0 (p = 1) model is allowed.
    ones = torch.where(k > 0, k * torch.log(torch.where(k > 0, p, 1.0)), 0.0)
    zeros = torch.where(n - k > 0, (n - k) * torch.log1p(-torch.where(n - k > 0, p, 0.0)), 0.0)
    return ones + zeros


# ------------------------------------------------------------------ closed forms
def gaussian_mle(x: Tensor) -> tuple[Tensor, Tensor]:
    r"""Maximum likelihood estimates of a normal distribution's mean and standard deviation.

    .. math::

        \hat\mu = \frac1N \sum_n x_n, \qquad
        \hat\sigma = \sqrt{\frac1N \sum_n (x_n - \hat\mu)^2}

    Note the :math:`1/N`: the MLE of the variance is biased,
    :math:`\mathbb E[\hat\sigma^2] = \frac{N-1}{N}\sigma^2`.

    Parameters
    ----------
    x : Tensor, shape (N,)
        The samples.

    Returns
    -------
    tuple of Tensor
        ``(mu, sigma)``, two 0-d tensors.

    Raises
    ------
    ValueError
        If ``x`` is empty or not 1-D.

    See book/mle.ipynb.
    """
    x = _samples(x)
    mu = x.mean()
    sigma = ((x - mu) ** 2).mean().sqrt()
    return mu, sigma


def _binary_samples(x) -> Tensor:
    x = _samples(x)
    if not bool(((x == 0) | (x == 1)).all()):
        raise ValueError("x must hold Bernoulli outcomes, each 0 or 1")
    return x


def bernoulli_mle(x: Tensor) -> Tensor:
    """Maximum likelihood estimate of a Bernoulli success probability: the fraction of ones.

    Parameters
    ----------
    x : Tensor, shape (N,)
        Outcomes, each 0 or 1.

    Returns
    -------
    Tensor
        0-d tensor ``p`` in [0, 1].

    Raises
    ------
    ValueError
        If ``x`` is empty or holds values other than 0 and 1.

    See book/mle.ipynb.
    """
    return _binary_samples(x).mean()


def empirical_distribution(x: Tensor, num_classes: int) -> Tensor:
    """The empirical distribution of integer samples: mass ``1/N`` on each observed sample.

    Outcome ``c`` gets probability ``N_c / N``, where ``N_c`` counts the samples equal to
    ``c``: each of the ``N`` samples contributes ``1/N``, and repeated values add up.

    Parameters
    ----------
    x : Tensor, shape (N,)
        Integer outcomes in ``{0, ..., num_classes - 1}``.
    num_classes : int
        Number of possible outcomes ``K``.

    Returns
    -------
    Tensor, shape (K,)
        Probabilities (float64) summing to 1.

    Raises
    ------
    ValueError
        If ``x`` is empty, not 1-D or holds values outside ``{0, ..., num_classes - 1}``,
        or if ``num_classes`` is not a positive integer.

    See book/mle.ipynb.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    x = _samples(x)
    if not bool(((x == x.round()) & (x >= 0) & (x < num_classes)).all()):
        raise ValueError(f"x must hold integers in [0, {num_classes - 1}]")
    counts = torch.bincount(x.long(), minlength=num_classes).to(torch.float64)
    return counts / x.numel()


# ------------------------------------------------------------------ numerical fit
def fit_mle(
    nll: Callable[..., Tensor],
    params: Sequence[Tensor] | Tensor,
    steps: int = 500,
    lr: float = 0.05,
    *,
    optimizer: str = "adam",
) -> tuple[tuple[Tensor, ...], list[float]]:
    """Minimise a negative log-likelihood over the given parameters by gradient descent.

    ``nll(*params)`` must return a scalar tensor computed from the parameters with torch
    operations, so autograd gives its gradient. The starting values are copied: the
    tensors passed in are not modified.

    Parameters
    ----------
    nll : callable
        ``nll(*params) -> Tensor`` (0-d), the negative log-likelihood (or its mean).
    params : Tensor or sequence of Tensor
        Starting values of the parameters, floating tensors of any shapes. Constrained
        parameters are best passed unconstrained, e.g. ``log_sigma`` instead of ``sigma``.
    steps : int
        Number of optimisation steps (at least 1).
    lr : float
        Learning rate (positive).
    optimizer : {"adam", "sgd"}
        Adam (the update of ``torch.optim.Adam`` with its default betas and eps) or plain
        gradient descent ``p -= lr * grad``.

    Returns
    -------
    tuple
        ``(fitted, history)``: a tuple of detached tensors, one per parameter, in the
        order given; and the list of ``steps`` loss values, one before each step.

    Raises
    ------
    ValueError
        If ``nll`` is not callable or does not return a scalar, if ``params`` is empty or
        holds non-floating tensors, if ``steps < 1``, ``lr <= 0``, an unknown
        ``optimizer``, or if the loss becomes NaN or infinite (lower ``lr``).

    See book/mle.ipynb.
    """
    if not callable(nll):
        raise ValueError("nll must be callable: nll(*params) -> scalar tensor")
    if isinstance(params, Tensor):
        params = (params,)
    params = list(params)
    if not params:
        raise ValueError("params must hold at least one tensor")
    for i, p in enumerate(params):
        if not isinstance(p, Tensor) or not p.is_floating_point():
            raise ValueError(f"params[{i}] must be a floating-point tensor")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not (isinstance(lr, int | float) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")

    leaves = [p.detach().clone().requires_grad_(True) for p in params]
    # The updates are written out (same arithmetic as torch.optim.Adam / SGD with default
    # settings): a few parameters need no more, and it spares torch.optim's import cost.
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    m = [torch.zeros_like(p) for p in leaves]
    v = [torch.zeros_like(p) for p in leaves]
    history: list[float] = []
    for step in range(1, steps + 1):
        loss = nll(*leaves)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError("nll must return a scalar tensor")
        value = loss.item()
        if not math.isfinite(value):
            raise ValueError(f"nll became {value} at step {step}; lower lr or check the model")
        history.append(value)
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        with torch.no_grad():
            for p, g, m_i, v_i in zip(leaves, grads, m, v, strict=True):
                if g is None:  # nll does not depend on this parameter
                    continue
                if optimizer == "sgd":
                    p.sub_(lr * g)
                    continue
                m_i.mul_(beta1).add_(g, alpha=1 - beta1)  # running mean of the gradient
                v_i.mul_(beta2).addcmul_(g, g, value=1 - beta2)  # ... and of its square
                m_hat = m_i / (1 - beta1**step)  # bias corrections for the zero start
                v_hat = v_i / (1 - beta2**step)
                p.sub_(lr * m_hat / (v_hat.sqrt() + eps))
    return tuple(p.detach() for p in leaves), history


# ------------------------------------------------------------ sampling distribution
def repeated_gaussian_mle(
    n: int, repeats: int, *, mu: float = 0.0, sigma: float = 1.0, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Gaussian MLEs over ``repeats`` independent samples of size ``n``.

    Shows the estimator's sampling distribution: the spread of ``mu_hat`` is
    ``sigma / sqrt(n)`` and ``sigma_hat**2`` is low by the factor ``(n - 1) / n`` on average.

    Parameters
    ----------
    n : int
        Sample size (at least 1).
    repeats : int
        Number of independent samples (at least 1).
    mu, sigma : float
        The true mean and standard deviation (``sigma > 0``).
    seed : int
        Seed of the generator, so that the result is reproducible.

    Returns
    -------
    tuple of Tensor
        ``(mu_hats, sigma_hats)``, each of shape ``(repeats,)``, float64.

    Raises
    ------
    ValueError
        If ``n`` or ``repeats`` is below 1, or ``sigma`` is not positive.

    See book/mle.ipynb.
    """
    for name, v in (("n", n), ("repeats", repeats)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    gen = torch.Generator().manual_seed(seed)
    x = mu + sigma * torch.randn(repeats, n, generator=gen, dtype=torch.float64)  # (R, N)
    mu_hats = x.mean(dim=1)
    sigma_hats = ((x - mu_hats[:, None]) ** 2).mean(dim=1).sqrt()
    return mu_hats, sigma_hats


# ------------------------------------------------------------------------ drawing
_BLUE, _ORANGE, _GREEN, _RED = "#0072B2", "#E69F00", "#009E73", "#D55E00"


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
        Number of contour levels, spaced evenly below the maximum on a log scale.

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
    ax.legend(loc="upper right", frameon=True, fontsize=8)
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
