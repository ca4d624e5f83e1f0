"""Checkers for the exercises of the chapter "Generative adversarial networks".

Each checker runs the reader's function against the reference in :mod:`mlnotes_lib.gan`
on a few inputs and, when the answers differ, names the typical mistake they match: a
forgotten one half, a missing minus sign, the labels of real and fake swapped, the
minimax cost where the non-saturating one belongs, the density ratio in place of the
optimal discriminator.

See book/gan.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from mlnotes_lib import gan
from mlnotes_lib.exercises import CheckResult, Mistake, check_function

__all__ = ["check_discriminator_loss", "check_generator_loss", "check_optimal_discriminator"]


def _probs(*values: float) -> Tensor:
    return torch.tensor(values, dtype=torch.float64)


# ------------------------------------------------------------- discriminator's cost
_D_CASES = [
    (_probs(0.9, 0.8, 0.7), _probs(0.1, 0.3, 0.2)),
    (_probs(0.5, 0.5), _probs(0.5, 0.5)),
    (_probs(0.6, 0.99, 0.35, 0.8), _probs(0.4, 0.05, 0.7, 0.25)),
    (_probs(0.2), _probs(0.9)),
]

_D_MISTAKES = [
    Mistake(
        "a forgotten one half",
        lambda r, f: -torch.log(r).mean() - torch.log(1 - f).mean(),
        "J(D) averages the two cross-entropies: each term carries a factor 1/2.",
    ),
    Mistake(
        "a missing minus sign",
        lambda r, f: 0.5 * torch.log(r).mean() + 0.5 * torch.log(1 - f).mean(),
        "log D(x) and log(1 - D(G(z))) are negative; the cost is minus their mean "
        "(that is the value function, which the discriminator maximises).",
    ),
    Mistake(
        "the labels swapped",
        lambda r, f: -0.5 * torch.log(1 - r).mean() - 0.5 * torch.log(f).mean(),
        "real samples get label 1 (the term log D(x)) and generated ones label 0 (the "
        "term log(1 - D(G(z)))).",
    ),
    Mistake(
        "sums instead of means",
        lambda r, f: -0.5 * torch.log(r).sum() - 0.5 * torch.log(1 - f).sum(),
        "the expectations are estimated by minibatch means, not sums.",
    ),
]


def check_discriminator_loss(fn: Callable[[Tensor, Tensor], Tensor]) -> CheckResult:
    """Check ``fn(d_real, d_fake)`` against :func:`mlnotes_lib.gan.discriminator_loss`.

    See book/gan.ipynb.
    """
    return check_function(
        fn, gan.discriminator_loss, _D_CASES, mistakes=_D_MISTAKES, name="discriminator_loss"
    )


# ----------------------------------------------------------- non-saturating G cost
_G_CASES = [(_probs(0.1, 0.3, 0.2),), (_probs(0.5, 0.5),), (_probs(0.01, 0.7, 0.95, 0.4),)]

_G_MISTAKES = [
    Mistake(
        "the minimax cost",
        lambda f: torch.log(1 - f).mean(),
        "that is E log(1 - D(G(z))), whose gradient vanishes when D rejects the samples; "
        "the non-saturating cost is -E log D(G(z)).",
    ),
    Mistake(
        "a missing minus sign",
        lambda f: torch.log(f).mean(),
        "the generator maximises E log D(G(z)); as a cost to minimise it needs a minus sign.",
    ),
    Mistake(
        "the minimax cost with its sign flipped",
        lambda f: -torch.log(1 - f).mean(),
        "-E log(1 - D(G(z))) is what the discriminator wants large on fakes, not the "
        "generator's cost; use -E log D(G(z)).",
    ),
]


def _non_saturating(d_fake: Tensor) -> Tensor:
    return gan.generator_loss(d_fake, "non_saturating")


def check_generator_loss(fn: Callable[[Tensor], Tensor]) -> CheckResult:
    """Check ``fn(d_fake)`` against the non-saturating :func:`mlnotes_lib.gan.generator_loss`.

    See book/gan.ipynb.
    """
    return check_function(
        fn, _non_saturating, _G_CASES, mistakes=_G_MISTAKES, name="non_saturating_loss"
    )


# ------------------------------------------------------------- optimal discriminator
_OPT_CASES = [
    (_probs(0.4, 0.1, 0.0, 0.3), _probs(0.1, 0.1, 0.2, 0.6)),
    (_probs(1.0, 2.0, 0.5), _probs(1.0, 0.5, 2.0)),
    (_probs(0.05, 0.25), _probs(0.15, 0.05)),
]

_OPT_MISTAKES = [
    Mistake(
        "the roles swapped",
        lambda p_data, p_model: p_model / (p_data + p_model),
        "D(x) is the probability that x is real, so p_data goes in the numerator.",
    ),
    Mistake(
        "the density ratio",
        lambda p_data, p_model: p_data / p_model,
        "p_data / p_model is what D* lets us estimate, but D* itself is "
        "p_data / (p_data + p_model), a probability in [0, 1].",
    ),
]


def check_optimal_discriminator(fn: Callable[[Tensor, Tensor], Tensor]) -> CheckResult:
    """Check ``fn(p_data, p_model)`` against :func:`mlnotes_lib.gan.optimal_discriminator`.

    See book/gan.ipynb.
    """
    return check_function(
        fn,
        gan.optimal_discriminator,
        _OPT_CASES,
        mistakes=_OPT_MISTAKES,
        name="optimal_discriminator",
    )
