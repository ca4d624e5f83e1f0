"""The normalizations that do not use the batch: layer norm and group norm.

Scope
-----
- :func:`layer_norm`: Ba et al. (2016), each sample standardized over its trailing
  ``normalized_shape`` dimensions, equal to ``torch.nn.functional.layer_norm``.
- :func:`group_norm`: Wu & He (2018), each sample's channels split into groups, each group
  standardized over its channels and positions, equal to ``torch.nn.functional.group_norm``.
- :class:`LayerNorm` and :class:`GroupNorm`: ``nn.Module`` wrappers with learnable gamma and
  beta, for the chapter's small-batch experiment.

Both kernels are our own torch code with an analytic backward pass (a custom autograd
function): two reductions that write nothing (the row sums of x and of x^2) give the mean
and the variance, and the closed-form input gradient is written as ``dx = a * dy + b * x +
c`` with per-row (or per-channel) coefficients, so that it costs a few passes over the
tensors and allocates nothing but ``dx``. Both are
re-exported by :mod:`mlnotes_lib.batchnorm`, the public path. See book/batchnorm.ipynb.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["GroupNorm", "LayerNorm", "group_norm", "layer_norm"]


def _check_eps(eps: float) -> None:
    if not (isinstance(eps, numbers.Real) and eps > 0 and math.isfinite(eps)):
        raise ValueError(f"eps must be a positive number, got {eps!r}")


def _check_param(name: str, t: Tensor | None, shape: tuple[int, ...]) -> None:
    if t is None:
        return
    if not isinstance(t, Tensor) or tuple(t.shape) != shape:
        got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a tensor of shape {shape}, got {got}")


def _row_stats(x2: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Row means and 1/sqrt(var + eps) of ``x2`` (M, K), both (M, 1).

    The variance is mean(x^2) - mean^2, from the row sums of x and of x^2: two reductions
    that write nothing, where the two-pass mean((x - mean)^2) would write a centred copy
    (and ``torch.var_mean``'s Welford pass is many times slower on the CPU). It loses
    precision only when a row's mean is many standard deviations from zero.
    """
    k = x2.shape[1]
    mean = x2.sum(1, keepdim=True).div_(k)
    sq = torch.linalg.vector_norm(x2, dim=1, keepdim=True).square_().div_(k)  # mean(x^2)
    var = (sq - mean.square()).clamp_min_(0.0)
    return mean, torch.rsqrt(var + eps)


def _input_coefficients(dsg, dbg, mean, rstd, k):
    """``b`` and ``c`` of ``dx = rstd * gamma * dy + b * x + c``.

    With ``g = gamma * dy``, ``dbg`` = sum of g and ``dsg`` = sum of g * x over a row of K
    values, the standard ``dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat))`` expands to
    these two per-row numbers.
    """
    b = (dbg * mean - dsg) * rstd.pow(3) / k
    return b, -b * mean - dbg * rstd / k


# Both kernels allocate only their output (y forward, dx backward), as torch's fused kernels
# do, and work on whole tensors: every pass is one multithreaded torch op. Cache-sized blocks
# of rows were measured too (benchmarks/bench_batchnorm.py's shape, 2 cores): they multiply
# the ops by the number of blocks, whose dispatch cost more than the cache saved (group
# norm 1.1-1.2 times slower, layer norm no faster).


class _LayerNorm(torch.autograd.Function):
    """Rows of ``x2`` (M, K) standardized, then ``* gamma + beta`` elementwise ((1, K) each)."""

    @staticmethod
    def forward(ctx, x2, gamma, beta, eps):
        mean, rstd = _row_stats(x2, eps)
        y = torch.sub(x2, mean).mul_(rstd)  # x_hat
        if gamma is not None and beta is not None:
            torch.addcmul(beta, y, gamma, out=y)
        elif gamma is not None:
            y.mul_(gamma)
        elif beta is not None:
            y.add_(beta)
        ctx.save_for_backward(x2, gamma, mean, rstd)
        ctx.has_beta = beta is not None
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy):
        x2, gamma, mean, rstd = ctx.saved_tensors
        dy = dy.contiguous()
        k = x2.shape[1]
        want_gamma = gamma is not None and ctx.needs_input_grad[1]
        want_beta = ctx.has_beta and ctx.needs_input_grad[2]
        dx = torch.mul(dy, x2)  # dy * x first, then overwritten by dx
        if gamma is not None:
            g = gamma.view(-1)
            dsg, dbg = (dx @ g).view(-1, 1), (dy @ g).view(-1, 1)  # (M, 1) each
        else:
            dsg, dbg = dx.sum(1, keepdim=True), dy.sum(1, keepdim=True)
        # dgamma = sum over rows of dy * (x - mean) * rstd; dbeta = sum over rows of dy
        dgamma = dbeta = None
        if want_gamma and want_beta:  # both sums over dy in one matrix product
            sums = torch.cat([torch.ones_like(rstd), rstd * mean], 1).t() @ dy  # (2, K)
            dbeta = sums[:1]
            dgamma = torch.addmm(sums[1:], rstd.t(), dx, beta=-1).view_as(gamma)
        elif want_gamma:
            dgamma = torch.addmm((rstd * mean).t() @ dy, rstd.t(), dx, beta=-1).view_as(gamma)
        elif want_beta:
            dbeta = dy.sum(0, keepdim=True)
        b, c = _input_coefficients(dsg, dbg, mean, rstd, k)
        torch.mul(x2, b / rstd, out=dx).add_(c / rstd)  # (b x + c) / rstd
        if gamma is not None:
            dx.addcmul_(dy, gamma)
        else:
            dx.add_(dy)
        return dx.mul_(rstd), dgamma, dbeta, None


class _GroupNorm(torch.autograd.Function):
    """``x4`` (N, G, C/G, L) standardized per (N, G), then scaled and shifted per channel;
    ``gamma`` and ``beta`` are (1, G, C/G, 1) or None."""

    @staticmethod
    def forward(ctx, x4, gamma, beta, eps):
        n, groups = x4.shape[:2]
        mean, rstd = _row_stats(x4.view(n * groups, -1), eps)  # (N*G, 1) each
        mean, rstd = mean.view(n, groups, 1, 1), rstd.view(n, groups, 1, 1)
        scale = rstd if gamma is None else rstd * gamma  # (N, G, C/G, 1): one pass below
        shift = -mean * scale if beta is None else beta - mean * scale
        y = torch.mul(x4, scale).add_(shift)  # one fused addcmul is slower with these factors
        ctx.save_for_backward(x4, gamma, mean, rstd)
        ctx.has_beta = beta is not None
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy):
        x4, gamma, mean, rstd = ctx.saved_tensors
        dy = dy.contiguous().view_as(x4)
        k = x4.shape[2] * x4.shape[3]
        dx = torch.mul(dy, x4)  # dy * x first, then overwritten by dx
        ds = dx.sum(3, keepdim=True)  # per (sample, channel): sum of dy * x
        db = dy.sum(3, keepdim=True)  # and sum of dy
        scale = rstd if gamma is None else rstd * gamma  # (N, G, C/G, 1)
        dsg, dbg = (ds, db) if gamma is None else (ds * gamma, db * gamma)
        b, c = _input_coefficients(dsg.sum(2, keepdim=True), dbg.sum(2, keepdim=True), mean,
                                   rstd, k)  # fmt: skip
        torch.mul(x4, b, out=dx).add_(c).addcmul_(dy, scale)
        dgamma = dbeta = None  # once for all samples, from the per-channel sums
        if gamma is not None and ctx.needs_input_grad[1]:
            dgamma = ((ds - db * mean) * rstd).sum(0, keepdim=True)  # (1, G, C/G, 1)
        if ctx.has_beta and ctx.needs_input_grad[2]:
            dbeta = db.sum(0, keepdim=True)
        return dx, dgamma, dbeta, None


def layer_norm(
    x: Tensor,
    normalized_shape: int | Sequence[int],
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalization (Ba et al., 2016) by our own kernel, equal to ``F.layer_norm``.

    Every sample is standardized with the mean and biased variance of its own last
    ``len(normalized_shape)`` dimensions, then scaled by ``gamma`` and shifted by ``beta``
    elementwise. Nothing depends on the other samples of the batch, so training and
    evaluation compute the same thing, and a batch of one sample is fine.

    Parameters
    ----------
    x : Tensor, shape (..., ``*normalized_shape``)
    normalized_shape : int or sequence of int
        The trailing dimensions to normalize over, e.g. (C, H, W) or (features,).
    gamma, beta : Tensor or None, shape normalized_shape
    eps : float
        Added to the variance, positive.

    Returns
    -------
    Tensor, same shape as ``x``

    Raises
    ------
    ValueError
        If ``normalized_shape`` does not match the trailing dimensions of ``x``, ``gamma``
        or ``beta`` does not have that shape, or ``eps`` is not positive.

    See book/batchnorm.ipynb.
    """
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point torch.Tensor, got {type(x).__name__}")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or k > x.dim() or tuple(x.shape[x.dim() - k :]) != shape:
        raise ValueError(
            f"normalized_shape must equal the trailing dimensions of x {tuple(x.shape)}, "
            f"got {shape}"
        )
    _check_param("gamma", gamma, shape)
    _check_param("beta", beta, shape)
    _check_eps(eps)
    k = math.prod(shape)
    x2 = x.contiguous().view(-1, k)  # (M, K): one row per sample (and leading position)
    g = None if gamma is None else gamma.reshape(1, k)
    b = None if beta is None else beta.reshape(1, k)
    return _LayerNorm.apply(x2, g, b, eps).view(x.shape)


def group_norm(
    x: Tensor,
    num_groups: int,
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Group normalization (Wu & He, 2018) by our own kernel, equal to ``F.group_norm``.

    The C channels of every sample are split into ``num_groups`` groups of C / num_groups
    consecutive channels; each group is standardized over its channels and all positions,
    then each channel is scaled by ``gamma`` and shifted by ``beta``. One group is layer
    norm over (C, H, W); C groups is instance norm.

    Parameters
    ----------
    x : Tensor, shape (N, C) or (N, C, H, W)
        (N, C, ...) shapes work too.
    num_groups : int
        Divides C.
    gamma, beta : Tensor or None, shape (C,)
    eps : float
        Added to the variance, positive.

    Returns
    -------
    Tensor, same shape as ``x``

    Raises
    ------
    ValueError
        If the channels of ``x`` are not divisible by ``num_groups``, ``gamma`` or ``beta``
        does not have shape (C,), or ``eps`` is not positive.

    See book/batchnorm.ipynb.
    """
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a floating-point tensor of shape (N, C, ...), got {got}")
    c = x.shape[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, int) or num_groups < 1:
        raise ValueError(f"num_groups must be a positive int, got {num_groups!r}")
    if c % num_groups:
        raise ValueError(
            f"num_groups must divide the {c} channels of x, got num_groups={num_groups}"
        )
    _check_param("gamma", gamma, (c,))
    _check_param("beta", beta, (c,))
    _check_eps(eps)
    shape4 = (x.shape[0], num_groups, c // num_groups, -1)  # (N, G, C/G, L)
    x4 = x.contiguous().view(shape4)
    g = None if gamma is None else gamma.view(shape4[1:3]).unsqueeze(-1).unsqueeze(0)
    b = None if beta is None else beta.view(shape4[1:3]).unsqueeze(-1).unsqueeze(0)
    return _GroupNorm.apply(x4, g, b, eps).view(x.shape)


class LayerNorm(nn.Module):
    """Layer norm over the last dimension of (N, C) inputs, learnable gamma and beta.

    See book/batchnorm.ipynb.
    """

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        _check_eps(eps)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: Tensor) -> Tensor:
        """Normalize each row of ``x`` (N, C); same shape out."""
        return layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class GroupNorm(nn.Module):
    """Group norm of (N, C, ...) inputs in ``num_groups`` groups, learnable gamma and beta.

    See book/batchnorm.ipynb.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5):
        super().__init__()
        if not isinstance(num_channels, int) or num_channels < 1:
            raise ValueError(f"num_channels must be a positive int, got {num_channels!r}")
        if not isinstance(num_groups, int) or num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"num_groups must divide num_channels, got {num_groups!r}")
        _check_eps(eps)
        self.num_groups, self.eps = num_groups, eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x: Tensor) -> Tensor:
        """Normalize ``x`` (N, C, ...) per sample and group; same shape out."""
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
