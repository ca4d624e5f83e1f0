"""Checkers for the exercises of the chapter "Maximum likelihood estimation".

Each checker runs the reader's function against the reference in :mod:`mlnotes_lib.mle`
on a few samples and, when the answers differ, names the typical mistake they match.

See book/mle.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from mlnotes_lib import mle
from mlnotes_lib.exercises import CheckResult, Mistake, check_function

__all__ = ["check_gaussian_log_likelihood", "check_gaussian_mle"]


def _samples() -> list[Tensor]:
    gen = torch.Generator().manual_seed(4)
    return [
        torch.tensor([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], dtype=torch.float64),
        3.0 + 0.5 * torch.randn(12, generator=gen, dtype=torch.float64),
        -1.0 + 2.5 * torch.randn(30, generator=gen, dtype=torch.float64),
    ]


def _unbiased(x: Tensor) -> tuple[Tensor, Tensor]:
    return x.mean(), x.std(correction=1)


def _variance(x: Tensor) -> tuple[Tensor, Tensor]:
    return x.mean(), x.var(correction=0)


def _unbiased_variance(x: Tensor) -> tuple[Tensor, Tensor]:
    return x.mean(), x.var(correction=1)


_GAUSSIAN_MLE_MISTAKES = [
    Mistake(
        "the unbiased standard deviation",
        _unbiased,
        "you divided by n - 1. The maximum likelihood estimate divides by n: set the "
        "derivative of the log-likelihood with respect to sigma to zero and see.",
    ),
    Mistake(
        "a variance where a standard deviation belongs",
        _variance,
        "you returned sigma squared. Return its square root, the standard deviation.",
    ),
    Mistake(
        "the unbiased variance",
        _unbiased_variance,
        "you returned the (n - 1)-variance. The MLE of sigma is the square root of the "
        "mean squared deviation, with 1/n.",
    ),
]


def check_gaussian_mle(fn: Callable[[Tensor], tuple]) -> CheckResult:
    """Check ``fn(x) -> (mu_hat, sigma_hat)`` against :func:`mlnotes_lib.mle.gaussian_mle`.

    See book/mle.ipynb.
    """
    return check_function(
        fn,
        mle.gaussian_mle,
        [(x,) for x in _samples()],
        mistakes=_GAUSSIAN_MLE_MISTAKES,
        name="gaussian_mle",
    )


def _ll_cases() -> list[tuple[Tensor, float, float]]:
    xs = _samples()
    return [(xs[0], 5.0, 2.0), (xs[1], 2.5, 0.7), (xs[2], 0.0, 3.0), (xs[0], 4.0, 1.5)]


def _ll_no_minus(x: Tensor, mu: float, sigma: float) -> Tensor:
    return -mle.gaussian_log_likelihood(x, mu, sigma)


def _ll_sigma_as_variance(x: Tensor, mu: float, sigma: float) -> Tensor:
    return mle.gaussian_log_likelihood(x, mu, math.sqrt(sigma))


def _ll_no_constant(x: Tensor, mu: float, sigma: float) -> Tensor:
    return -(((x - mu) ** 2).sum()) / (2 * sigma**2)


def _ll_no_log_2pi(x: Tensor, mu: float, sigma: float) -> Tensor:
    return mle.gaussian_log_likelihood(x, mu, sigma) + 0.5 * x.numel() * math.log(2 * math.pi)


def _ll_mean(x: Tensor, mu: float, sigma: float) -> Tensor:
    return mle.gaussian_log_likelihood(x, mu, sigma) / x.numel()


_LL_MISTAKES = [
    Mistake(
        "a missing minus sign",
        _ll_no_minus,
        "you returned the negative log-likelihood. The log of a density below 1 is "
        "negative, so the log-likelihood is usually a negative number.",
    ),
    Mistake(
        "sigma used as the variance",
        _ll_sigma_as_variance,
        "the density has (x - mu)^2 / (2 sigma^2) and log sigma, with sigma the standard "
        "deviation; you treated sigma as sigma squared.",
    ),
    Mistake(
        "a forgotten normalising constant",
        _ll_no_constant,
        "you kept only the quadratic term. The terms -n log sigma - (n/2) log(2 pi) do not "
        "depend on mu but they do depend on sigma, and they are part of the value.",
    ),
    Mistake(
        "a forgotten log(2 pi) term",
        _ll_no_log_2pi,
        "each sample's log-density includes -log(2 pi) / 2.",
    ),
    Mistake(
        "a mean instead of a sum",
        _ll_mean,
        "the log-likelihood of independent samples is the sum of their log-densities, "
        "not the average.",
    ),
]


def check_gaussian_log_likelihood(fn: Callable[[Tensor, float, float], Tensor]) -> CheckResult:
    """Check ``fn(x, mu, sigma)`` against :func:`mlnotes_lib.mle.gaussian_log_likelihood`.

    See book/mle.ipynb.
    """
    return check_function(
        fn,
        mle.gaussian_log_likelihood,
        _ll_cases(),
        mistakes=_LL_MISTAKES,
        name="gaussian_log_likelihood",
    )
