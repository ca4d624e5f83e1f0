"""Maximum likelihood estimation: log-likelihoods, closed-form estimates and a generic fit.

Scope: i.i.d. samples from a Gaussian, a Bernoulli or a categorical model, and the
conditional Gaussian model of linear regression. The closed forms (sample mean, the 1/n
standard deviation, the fraction of ones, class frequencies, least squares) are checked
against a numerical fit of the negative log-likelihood with ``torch.optim``
(:func:`fit_mle`); MLE is linked to the KL divergence from the empirical distribution
(:func:`empirical_distribution`, with ``mlnotes_lib.losses.kl_divergence``); the Fisher
information (:func:`fisher_information`) gives the estimates' asymptotic spread, and
:func:`bernoulli_map` adds a Beta prior (Laplace smoothing).

Samples ``x`` are 1-D tensors of shape ``(N,)`` unless a function says otherwise.

See book/mle.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from mlnotes_lib._common import forward_moved

__all__ = [
    "bernoulli_log_likelihood",
    "bernoulli_map",
    "bernoulli_mle",
    "empirical_distribution",
    "fisher_information",
    "fit_mle",
    "gaussian_log_likelihood",
    "gaussian_mle",
    "linear_regression_mle",
]

# Sweeps over repeated samples moved to experiments/mle.py; the old path still works.
_MOVED_TO_EXPERIMENTS = ("repeated_gaussian_mle",)


# Names that moved to experiments/mle.py still import from here.
__getattr__ = forward_moved(__name__, "mlnotes_lib.experiments.mle", _MOVED_TO_EXPERIMENTS)


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
    """Minimise a negative log-likelihood over the given parameters with ``torch.optim``.

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
        ``torch.optim.Adam`` (default betas and eps) or ``torch.optim.SGD`` (plain gradient
        descent ``p -= lr * grad``).

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
    leaves = _check_fit_arguments(nll, params, steps, lr, optimizer)
    make = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
    opt = make(leaves, lr=lr)
    history: list[float] = []
    for step in range(1, steps + 1):
        opt.zero_grad(set_to_none=True)
        loss = nll(*leaves)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError("nll must return a scalar tensor")
        value = loss.item()
        if not math.isfinite(value):
            raise ValueError(f"nll became {value} at step {step}; lower lr or check the model")
        history.append(value)
        if loss.requires_grad:  # an nll that ignores every parameter leaves them as they are
            loss.backward()
        opt.step()
    return tuple(p.detach() for p in leaves), history


def _check_fit_arguments(nll, params, steps, lr, optimizer) -> list[Tensor]:
    """The checks of :func:`fit_mle`; returns fresh leaf copies of ``params``."""
    if not callable(nll):
        raise ValueError("nll must be callable: nll(*params) -> scalar tensor")
    params = [params] if isinstance(params, Tensor) else list(params)
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
    return [p.detach().clone().requires_grad_(True) for p in params]


# ------------------------------------------------------- conditional likelihood
def linear_regression_mle(X: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    r"""Maximum likelihood fit of ``y = X w + b + noise`` with Gaussian noise ``N(0, sigma^2)``.

    The conditional log-likelihood :math:`\sum_n \log \mathcal N(y_n; x_n^\top w + b,
    \sigma^2)` is, up to constants, :math:`-\frac{1}{2\sigma^2}` times the sum of squared
    residuals, so ``(w, b)`` is the least-squares fit and ``sigma**2`` the mean squared
    residual (with :math:`1/N`).

    Parameters
    ----------
    X : Tensor, shape (N, D)
        Inputs, ``N >= 2``.
    y : Tensor, shape (N,)
        Targets.

    Returns
    -------
    tuple of Tensor
        ``(w, b, sigma)``: ``w`` of shape (D,), ``b`` and ``sigma`` 0-d; float64.

    See book/mle.ipynb.
    """
    X = _as_param(X, torch.zeros((), dtype=torch.float64), "X").to(torch.float64)
    y = _as_param(y, X, "y").to(torch.float64)
    if X.dim() != 2:
        raise ValueError(f"X must have shape (N, D), got {tuple(X.shape)}")
    if y.shape != X.shape[:1]:
        raise ValueError(f"y must have shape (N,) = ({X.shape[0]},), got {tuple(y.shape)}")
    if X.shape[0] < 2:
        raise ValueError(f"X must hold N >= 2 samples, got N = {X.shape[0]}")
    design = torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype)], dim=1)  # (N, D + 1)
    coef = torch.linalg.lstsq(design, y[:, None], driver="gelsd").solution[:, 0]  # (D + 1,)
    residual = y - design @ coef
    return coef[:-1], coef[-1], (residual**2).mean().sqrt()


# ------------------------------------------------------- Fisher information, MAP
_FISHER_KINDS = {"gaussian_mu": ("sigma",), "gaussian_sigma": ("sigma",), "bernoulli": ("p",)}


def fisher_information(kind: str, **params: float) -> float:
    """The Fisher information ``I = E[(d log f / d theta)^2]`` of one observation.

    ``kind="gaussian_mu"`` (``sigma=``): ``1 / sigma**2``, the information about the mean;
    ``kind="gaussian_sigma"`` (``sigma=``): ``2 / sigma**2``, about the standard deviation;
    ``kind="bernoulli"`` (``p=`` in (0, 1)): ``1 / (p (1 - p))``. For ``n`` i.i.d.
    observations the MLE is asymptotically normal with standard deviation
    ``1 / sqrt(n I)``.

    See book/mle.ipynb.
    """
    if kind not in _FISHER_KINDS:
        raise ValueError(f"kind must be one of {sorted(_FISHER_KINDS)}, got {kind!r}")
    if set(params) != set(_FISHER_KINDS[kind]):
        raise ValueError(f"params for kind {kind!r} must be exactly {_FISHER_KINDS[kind]}")
    if kind == "bernoulli":
        p = params["p"]
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p < 1:
            raise ValueError(f"p must be a probability in (0, 1), got {p!r}")
        return 1.0 / (p * (1.0 - p))
    sigma = params["sigma"]
    if isinstance(sigma, bool) or not isinstance(sigma, int | float):
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be positive, got {sigma!r}")
    return (1.0 if kind == "gaussian_mu" else 2.0) / sigma**2


def bernoulli_map(x: Tensor, alpha: float = 2.0, beta: float = 2.0) -> Tensor:
    """The maximum a posteriori estimate of a Bernoulli ``p`` under a Beta(alpha, beta) prior.

    The log-posterior is the log-likelihood plus ``(alpha - 1) log p + (beta - 1) log(1 - p)``,
    maximised at ``(k + alpha - 1) / (n + alpha + beta - 2)`` for ``k`` ones in ``n``
    outcomes ``x`` (N,). ``alpha = beta = 1`` (a flat prior) gives back the MLE ``k / n``;
    the default ``alpha = beta = 2`` is Laplace's add-one smoothing ``(k + 1) / (n + 2)``.
    A posterior with ``k + alpha <= 1`` (or ``n - k + beta <= 1``) peaks at 0 (or 1).

    See book/mle.ipynb.
    """
    for name, v in (("alpha", alpha), ("beta", beta)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not (0 < v < math.inf):
            raise ValueError(f"{name} must be a positive number, got {v!r}")
    x = _binary_samples(x)
    a, b = x.sum() + alpha, (1 - x).sum() + beta  # the posterior is Beta(a, b)
    if a <= 1 and b <= 1:
        raise ValueError("alpha and beta below 1 leave the posterior without a unique mode")
    if a <= 1 or b <= 1:
        return torch.where(a <= 1, 0.0, 1.0).to(x.dtype)
    return (a - 1) / (a + b - 2)
