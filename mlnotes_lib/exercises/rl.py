"""Checkers for the exercises of the chapter "Reinforcement learning: key concepts".

- :func:`check_diag_gaussian_log_prob`: the reader's ``fn(mu, log_std, actions)`` against
  :func:`mlnotes_lib.rl.diag_gaussian_log_prob`.
- :func:`check_rewards_to_go`: the reader's ``fn(rewards, gamma)`` against
  :func:`mlnotes_lib.rl.rewards_to_go`.

Each names the typical mistake when the reader's answers match one. See book/rl.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from mlnotes_lib import rl
from mlnotes_lib.exercises import CheckResult, Mistake, check_function

__all__ = [
    "GAUSSIAN_MISTAKES",
    "REWARDS_TO_GO_MISTAKES",
    "check_diag_gaussian_log_prob",
    "check_rewards_to_go",
]

_LOG_2PI = math.log(2.0 * math.pi)


def _gaussian_cases() -> list[tuple[Tensor, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 3, generator=g, dtype=torch.float64)
    log_std = torch.tensor([-0.7, 0.2, 0.9], dtype=torch.float64)
    actions = mu + 1.3 * torch.randn(5, 3, generator=g, dtype=torch.float64)
    return [
        (mu, log_std, actions),
        (mu[:2], torch.full((2, 3), 0.4, dtype=torch.float64), actions[:2] + 0.5),
        (
            torch.zeros(1, 2, dtype=torch.float64),
            torch.tensor([0.5, -1.0], dtype=torch.float64),
            torch.tensor([[1.0, -0.5]], dtype=torch.float64),
        ),
    ]


def _sq(mu: Tensor, log_std: Tensor, actions: Tensor) -> Tensor:
    return ((actions - mu) * torch.exp(-log_std)) ** 2


GAUSSIAN_MISTAKES = [
    Mistake(
        "the standard deviation where the variance belongs",
        lambda mu, ls, a: (
            -0.5
            * (((a - mu) ** 2 / torch.exp(ls)).sum(-1) + 2 * ls.sum(-1) + a.shape[-1] * _LOG_2PI)
        ),
        "the squared deviation is divided by sigma**2, not by sigma: "
        "((a - mu) / sigma)**2 with sigma = exp(log_std).",
    ),
    Mistake(
        "log_std read as the log of the variance",
        lambda mu, ls, a: (
            -0.5 * (((a - mu) ** 2 / torch.exp(ls)).sum(-1) + ls.sum(-1) + a.shape[-1] * _LOG_2PI)
        ),
        "log_std is log(sigma), so sigma**2 = exp(2 * log_std), not exp(log_std).",
    ),
    Mistake(
        "a missing minus sign",
        lambda mu, ls, a: 0.5 * (_sq(mu, ls, a).sum(-1) + 2 * ls.sum(-1) + a.shape[-1] * _LOG_2PI),
        "that is the negative log-likelihood; the log-density is -1/2 * (...).",
    ),
    Mistake(
        "a forgotten log-sigma term",
        lambda mu, ls, a: -0.5 * (_sq(mu, ls, a).sum(-1) + a.shape[-1] * _LOG_2PI),
        "the normalising constant 1/sigma contributes -sum_i log_std_i to the log-density.",
    ),
    Mistake(
        "a forgotten 2*pi constant",
        lambda mu, ls, a: -0.5 * (_sq(mu, ls, a).sum(-1) + 2 * ls.sum(-1)),
        "each dimension adds -1/2 * log(2 pi); D dimensions add -D/2 * log(2 pi).",
    ),
    Mistake(
        "a forgotten factor 1/2",
        lambda mu, ls, a: -(_sq(mu, ls, a).sum(-1) + 2 * ls.sum(-1) + a.shape[-1] * _LOG_2PI),
        "the Gaussian's exponent is -1/2 * z**2, and log(sigma * sqrt(2 pi)) has the 1/2 too.",
    ),
    Mistake(
        "a mean over action dimensions instead of a sum",
        lambda mu, ls, a: -0.5 * (_sq(mu, ls, a) + 2 * ls + _LOG_2PI).mean(-1),
        "the dimensions are independent, so their log-densities add: sum over the last axis.",
    ),
]


def check_diag_gaussian_log_prob(fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> CheckResult:
    """Check ``fn(mu, log_std, actions)``, the log-likelihood of a diagonal Gaussian policy.

    ``mu`` and ``actions`` have shape (N, D), ``log_std`` shape (D,) or (N, D); ``fn``
    returns shape (N,). See book/rl.ipynb.
    """
    return check_function(
        fn,
        rl.diag_gaussian_log_prob,
        _gaussian_cases(),
        mistakes=GAUSSIAN_MISTAKES,
        name="diag_gaussian_log_prob",
    )


def _discounted_from_start(rewards: Tensor, gamma: float) -> Tensor:
    t = torch.arange(len(rewards), dtype=torch.float64)
    weighted = rewards * gamma**t
    return weighted.flip(0).cumsum(0).flip(0)


def _return_so_far(rewards: Tensor, gamma: float) -> Tensor:
    out, running = [], 0.0
    for r in rewards.tolist():
        running = r + gamma * running
        out.append(running)
    return torch.tensor(out, dtype=torch.float64)


REWARDS_TO_GO_MISTAKES = [
    Mistake(
        "a forgotten discount",
        lambda r, gamma: r.flip(0).cumsum(0).flip(0),
        "each later reward is weighted by gamma**(k - t).",
    ),
    Mistake(
        "discounting from the start of the episode",
        _discounted_from_start,
        "G_t restarts the clock at t: the weight of r_k is gamma**(k - t), not gamma**k.",
    ),
    Mistake(
        "leaving out the current reward",
        lambda r, gamma: rl.rewards_to_go(r, gamma) - r,
        "G_t includes r_t itself: G_t = r_t + gamma * G_{t+1}.",
    ),
    Mistake(
        "summing the past instead of the future",
        _return_so_far,
        "reward-to-go looks forward from t (k >= t): run the recursion from the last step back.",
    ),
]


def check_rewards_to_go(fn: Callable[[Tensor, float], Tensor]) -> CheckResult:
    """Check ``fn(rewards, gamma)``, the reward-to-go ``G_t`` of a 1-D tensor of rewards.

    See book/rl.ipynb.
    """
    cases = [
        (torch.tensor([1.0, 0.0, 2.0, 3.0], dtype=torch.float64), 0.5),
        (torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0, 2.0], dtype=torch.float64), 0.9),
        (torch.tensor([-1.0, -1.0, -1.0, 5.0], dtype=torch.float64), 0.8),
    ]
    return check_function(
        fn, rl.rewards_to_go, cases, mistakes=REWARDS_TO_GO_MISTAKES, name="rewards_to_go"
    )
