"""Checkers for the exercises of the chapter "Batch normalization".

Each checker runs the reader's function against the library's reference on a few inputs
and, when it fails, names the typical mistake its answers match::

    from mlnotes_lib.exercises import batchnorm as ex
    ex.check_batch_norm_forward(my_batch_norm)

See book/batchnorm.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..batchnorm import batch_norm, batch_norm_backward, fold_batch_norm
from . import CheckResult, Mistake, check_function

__all__ = ["check_batch_norm_backward", "check_batch_norm_forward", "check_fold_batch_norm"]


# ---------------------------------------------------------------------------------------
# Forward: fn(x, gamma, beta, eps) -> y for x of shape (N, C), training mode
# ---------------------------------------------------------------------------------------


def _forward_reference(x: Tensor, gamma: Tensor, beta: Tensor, eps: float) -> Tensor:
    return batch_norm(x, gamma, beta, training=True, eps=eps)


def _forward_variant(x, gamma, beta, eps, *, dim=0, unbiased=False, mode="std", affine=True):
    mu = x.mean(dim, keepdim=True)
    var = x.var(dim, unbiased=unbiased, keepdim=True)
    if mode == "std":
        x_hat = (x - mu) / torch.sqrt(var + eps)
    elif mode == "eps_outside":
        x_hat = (x - mu) / (torch.sqrt(var) + eps)
    else:  # "var": the variance where the standard deviation belongs
        x_hat = (x - mu) / (var + eps)
    return gamma * x_hat + beta if affine else x_hat


FORWARD_MISTAKES = [
    Mistake(
        "the unbiased variance",
        lambda x, g, b, eps: _forward_variant(x, g, b, eps, unbiased=True),
        "batch norm normalizes with the biased variance, the mean of (x - mu)^2 over the m "
        "values (divide by m, not m - 1). torch.var divides by m - 1 unless you pass "
        "unbiased=False (or correction=0).",
    ),
    Mistake(
        "the variance where the standard deviation belongs",
        lambda x, g, b, eps: _forward_variant(x, g, b, eps, mode="var"),
        "divide x - mu by sqrt(var + eps), not by var + eps.",
    ),
    Mistake(
        "eps outside the square root",
        lambda x, g, b, eps: _forward_variant(x, g, b, eps, mode="eps_outside"),
        "eps belongs inside the square root, sqrt(var + eps); it matters when a channel's "
        "variance is tiny.",
    ),
    Mistake(
        "statistics over the wrong axis",
        lambda x, g, b, eps: _forward_variant(x, g, b, eps, dim=1),
        "batch norm averages over the batch (dim 0), one mean and variance per feature; "
        "averaging over the features of each sample is layer norm.",
    ),
    Mistake(
        "the scale and shift left out",
        lambda x, g, b, eps: _forward_variant(x, g, b, eps, affine=False),
        "after normalizing, return gamma * x_hat + beta.",
    ),
]


def _forward_cases() -> list[tuple]:
    g = torch.Generator().manual_seed(0)
    cases = []
    for n, c, scale, shift in [(8, 3, 2.0, 1.0), (5, 4, 1.0, -3.0), (16, 2, 1e-3, 0.5)]:
        x = torch.randn(n, c, generator=g) * scale + shift
        gamma = torch.rand(c, generator=g) + 0.5
        beta = torch.randn(c, generator=g)
        cases.append((x, gamma, beta, 1e-5))
    return cases


def check_batch_norm_forward(fn: Callable[..., Tensor]) -> CheckResult:
    """Check ``fn(x, gamma, beta, eps) -> y``, training-mode batch norm of ``x`` (N, C).

    See book/batchnorm.ipynb.
    """
    return check_function(
        fn,
        _forward_reference,
        _forward_cases(),
        mistakes=FORWARD_MISTAKES,
        name="batch_norm_forward",
        rtol=1e-4,
        atol=1e-5,
    )


# ---------------------------------------------------------------------------------------
# Backward: fn(dy, x, gamma, eps) -> dx for x of shape (N, C), training mode
# ---------------------------------------------------------------------------------------


def _backward_reference(dy: Tensor, x: Tensor, gamma: Tensor, eps: float) -> Tensor:
    return batch_norm_backward(dy, x, gamma, eps)[0]


def _backward_variant(dy, x, gamma, eps, *, mean_term=True, var_term=True):
    mu = x.mean(0)
    std = torch.sqrt(x.var(0, unbiased=False) + eps)
    x_hat = (x - mu) / std
    inner = dy.clone()
    if mean_term:
        inner = inner - dy.mean(0)
    if var_term:
        inner = inner - x_hat * (dy * x_hat).mean(0)
    return gamma / std * inner


BACKWARD_MISTAKES = [
    Mistake(
        "the mean treated as a constant",
        lambda dy, x, g, eps: _backward_variant(dy, x, g, eps, mean_term=False),
        "every x_i moves the batch mean mu, so dx_i has a term -mean(dy) (times gamma/sigma) "
        "from the path through mu.",
    ),
    Mistake(
        "the variance treated as a constant",
        lambda dy, x, g, eps: _backward_variant(dy, x, g, eps, var_term=False),
        "every x_i moves the batch variance, so dx_i has a term -x_hat_i * mean(dy * x_hat) "
        "(times gamma/sigma) from the path through sigma^2.",
    ),
    Mistake(
        "the batch statistics treated as constants",
        lambda dy, x, g, eps: _backward_variant(dy, x, g, eps, mean_term=False, var_term=False),
        "gamma / sigma * dy is the gradient of an affine map with fixed statistics (eval "
        "mode); in training mode mu and sigma depend on x and add two terms.",
    ),
]


def _backward_cases() -> list[tuple]:
    g = torch.Generator().manual_seed(1)
    cases = []
    for n, c in [(6, 3), (10, 2), (4, 5)]:
        x = torch.randn(n, c, generator=g) * 1.5 + 0.5
        dy = torch.randn(n, c, generator=g)
        gamma = torch.rand(c, generator=g) + 0.5
        cases.append((dy, x, gamma, 1e-5))
    return cases


def check_batch_norm_backward(fn: Callable[..., Tensor]) -> CheckResult:
    """Check ``fn(dy, x, gamma, eps) -> dx``, the training-mode input gradient for ``x`` (N, C).

    See book/batchnorm.ipynb.
    """
    return check_function(
        fn,
        _backward_reference,
        _backward_cases(),
        mistakes=BACKWARD_MISTAKES,
        name="batch_norm_backward",
        rtol=1e-4,
        atol=1e-5,
    )


# ---------------------------------------------------------------------------------------
# Folding: fn(weight, bias, gamma, beta, running_mean, running_var, eps) -> (W', b')
# ---------------------------------------------------------------------------------------


def _fold_variant(w, b, gamma, beta, rm, rv, eps, *, scale_bias=True, columns=False):
    scale = gamma / torch.sqrt(rv + eps)
    w2 = w * scale[None, :] if columns else w * scale[:, None]
    b2 = (b - rm) * scale + beta if scale_bias else b - rm + beta
    return w2, b2


FOLD_MISTAKES = [
    Mistake(
        "the bias not rescaled",
        lambda *a: _fold_variant(*a, scale_bias=False),
        "the shift (b - running_mean) passes through the scale gamma / sqrt(var + eps) too: "
        "b' = (b - running_mean) * scale + beta.",
    ),
    Mistake(
        "the weight scaled along the wrong axis",
        lambda *a: _fold_variant(*a, columns=True),
        "output unit c is scaled by scale[c], so row c of the weight (C, D) is multiplied: "
        "weight * scale[:, None].",
    ),
]


def _fold_cases() -> list[tuple]:
    g = torch.Generator().manual_seed(2)
    cases = []
    for c in [3, 4]:  # square weights, so that a wrong-axis scaling still runs
        w = torch.randn(c, c, generator=g)
        b = torch.randn(c, generator=g)
        gamma = torch.rand(c, generator=g) + 0.5
        beta = torch.randn(c, generator=g)
        rm = torch.randn(c, generator=g)
        rv = torch.rand(c, generator=g) + 0.2
        cases.append((w, b, gamma, beta, rm, rv, 1e-5))
    return cases


def check_fold_batch_norm(fn: Callable[..., tuple[Tensor, Tensor]]) -> CheckResult:
    """Check ``fn(weight, bias, gamma, beta, running_mean, running_var, eps) -> (W', b')``.

    See book/batchnorm.ipynb.
    """
    return check_function(
        fn,
        fold_batch_norm,
        _fold_cases(),
        mistakes=FOLD_MISTAKES,
        name="fold_batch_norm",
        rtol=1e-4,
        atol=1e-5,
    )
