"""The maximum likelihood chapter's sweeps: estimates over many independent samples.

These show an estimator's sampling distribution: the spread of ``mu_hat`` and of ``p_hat``
against ``1 / sqrt(n I)`` from the Fisher information, and the bias of ``sigma_hat**2``.
``repeated_gaussian_mle`` is also importable from :mod:`mlnotes_lib.mle`, where it used to be.
See book/mle.ipynb.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["repeated_bernoulli_mle", "repeated_gaussian_mle"]


def _check_counts(n, repeats) -> None:
    for name, v in (("n", n), ("repeats", repeats)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


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
    _check_counts(n, repeats)
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    gen = torch.Generator().manual_seed(seed)
    x = mu + sigma * torch.randn(repeats, n, generator=gen, dtype=torch.float64)  # (R, N)
    mu_hats = x.mean(dim=1)
    sigma_hats = ((x - mu_hats[:, None]) ** 2).mean(dim=1).sqrt()
    return mu_hats, sigma_hats


def repeated_bernoulli_mle(n: int, repeats: int, *, p: float = 0.3, seed: int = 0) -> Tensor:
    """Bernoulli MLEs ``p_hat = k / n`` over ``repeats`` independent samples of size ``n``.

    Returns ``p_hats``, shape ``(repeats,)``, float64; ``p`` is the true probability in
    [0, 1] and ``seed`` seeds the generator.

    See book/mle.ipynb.
    """
    _check_counts(n, repeats)
    if not 0 <= p <= 1:
        raise ValueError(f"p must be a probability in [0, 1], got {p}")
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(repeats, n, generator=gen, dtype=torch.float64) < p  # (R, N)
    return x.to(torch.float64).mean(dim=1)
