"""Batch normalization: the kernel, its backward pass, a module, and the chapter's experiments.

Scope
-----
- :func:`batch_norm`: the Batch Normalizing Transform of Ioffe & Szegedy (2015, Algorithm 1)
  for ``x`` of shape (N, C) or (N, C, H, W), in training mode (mini-batch statistics, with
  the in-place update of the running statistics) and in evaluation mode (running
  statistics). Same arguments and results as ``torch.nn.functional.batch_norm``, computed by
  our own torch code.
- :func:`batch_norm_backward`: the training-mode backward pass derived by hand; the custom
  autograd function behind :func:`batch_norm` uses it.
- :class:`BatchNorm`: an ``nn.Module`` that behaves like ``nn.BatchNorm1d``/``nn.BatchNorm2d``.
- :func:`batch_norm_naive`: Algorithm 1 written line by line, for reading, not for speed.
- The chapter's experiments on scikit-learn's digits: :class:`MLP`, :func:`digits_split`,
  :func:`layer_activations`, :func:`minibatch_statistics`, :func:`train_mlp` and their
  ``plot_*`` helpers.

References: Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift", ICML 2015; Santurkar et al., "How Does Batch
Normalization Help Optimization?", NeurIPS 2018. See book/batchnorm.ipynb.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from matplotlib.axes import Axes
from torch import Tensor, nn
from torch.nn import functional as F

from .plotting import COLORS

__all__ = [
    "MLP",
    "BatchNorm",
    "TrainResult",
    "accuracy",
    "batch_norm",
    "batch_norm_backward",
    "batch_norm_naive",
    "digits_split",
    "fold_batch_norm",
    "layer_activations",
    "minibatch_statistics",
    "plot_activation_histogram",
    "plot_batch_estimates",
    "plot_bn_steps",
    "plot_landscape",
    "plot_layer_spread",
    "plot_lr_summary",
    "plot_running_stats",
    "plot_training_curves",
    "plot_unit_percentiles",
    "running_stats_trace",
    "train_mlp",
]


# ---------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------


def _check_hyper(eps: float, momentum: float) -> None:
    if not (isinstance(eps, numbers.Real) and eps > 0 and math.isfinite(eps)):
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    if not (isinstance(momentum, numbers.Real) and 0 <= momentum <= 1):
        raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")


def _check_x(x: Tensor) -> int:
    """Check ``x`` and return its channel count C."""
    if not isinstance(x, Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"x must have shape (N, C) or (N, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
    return x.shape[1]


def _check_channels(name: str, t: Tensor | None, c: int) -> None:
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor or None, got {type(t).__name__}")
    if tuple(t.shape) != (c,):
        raise ValueError(
            f"{name} must have shape ({c},) to match the {c} channels of x, got {tuple(t.shape)}"
        )


def _values_per_channel(x: Tensor) -> int:
    return x.numel() // x.shape[1] if x.numel() else 0


# ---------------------------------------------------------------------------------------
# The kernel
# ---------------------------------------------------------------------------------------


def batch_norm_naive(x: Tensor, gamma: Tensor, beta: Tensor, eps: float = 1e-5) -> Tensor:
    """Algorithm 1 of Ioffe & Szegedy (2015), line by line, in training mode.

    Readable, differentiable by autograd, and slower than :func:`batch_norm` (it keeps every
    intermediate tensor). No argument checks.

    Parameters
    ----------
    x : Tensor, shape (N, C) or (N, C, H, W)
    gamma, beta : Tensor, shape (C,)

    Returns
    -------
    Tensor, same shape as ``x``

    See book/batchnorm.ipynb.
    """
    dims = [0, *range(2, x.dim())]  # statistics per channel, over the batch and all positions
    shape = [1, -1] + [1] * (x.dim() - 2)  # broadcast (C,) against x
    mu = x.mean(dim=dims, keepdim=True)  # mini-batch mean
    var = ((x - mu) ** 2).mean(dim=dims, keepdim=True)  # mini-batch variance (biased, 1/m)
    x_hat = (x - mu) / torch.sqrt(var + eps)  # normalize
    return gamma.view(shape) * x_hat + beta.view(shape)  # scale and shift


def _stats_and_centered(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-channel mean, biased variance and the centred input x - mean, shape (N, C, L)."""
    n, c = x.shape[:2]
    x3 = x.reshape(n, c, -1)  # (N, C, L): a view for contiguous input
    if x3.shape[2] == 1:  # (N, C): few, small ops (python overhead dominates)
        mean = x3.mean(0)  # (C, 1)
        centered = x3 - mean  # (N, C, 1)
        return mean.view(c), centered.square().mean(0).view(c), centered
    m = n * x3.shape[2]
    # Sums along the contiguous last axis first, then over the batch: much faster on
    # (N, C, H, W) than one reduction over the strided axes (0, 2, 3).
    mean = x3.sum(2).sum(0) / m  # (C,)
    centered = x3 - mean.view(1, c, 1)  # (N, C, L), exact two-pass variance below
    var = torch.linalg.vector_norm(centered, dim=2).square().sum(0) / m  # (C,)
    return mean, var, centered


def _backward_from_stats(
    dy: Tensor, x: Tensor, gamma: Tensor, mean: Tensor, rstd: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """The backward pass given the forward's per-channel mean and 1/sqrt(var + eps)."""
    n, c = x.shape[:2]
    x3 = x.reshape(n, c, -1)  # (N, C, L)
    dy3 = dy.reshape(n, c, -1)  # (N, C, L)
    m = n * x3.shape[2]
    dx = x3 - mean.view(1, c, 1)  # (N, C, L): x - mu, the buffer that becomes dx
    if x3.shape[2] == 1:  # (N, C): small tensors, fewest ops
        dbeta = dy3.sum((0, 2))  # (C,)
        dot = (dy3 * dx).sum((0, 2))  # (C,)
    else:  # contiguous reductions first; dot products as a batched matmul, no temporary
        dbeta = dy3.sum(2).sum(0)  # (C,)
        dot = (dy3.unsqueeze(2) @ dx.unsqueeze(3)).reshape(n, c).sum(0)  # (C,)
    dgamma = dot * rstd  # sum_i dy_i * x_hat_i
    # dx_i = gamma * rstd * (dy_i - dbeta / m - x_hat_i * dgamma / m), rearranged as
    # k1 * dy_i + k2 * (x_i - mu) + k3 so that it runs in two passes over the buffer.
    k1 = gamma * rstd
    k1_m = k1 * (-1.0 / m)
    k2 = k1_m * rstd * dgamma
    k3 = k1_m * dbeta
    torch.addcmul(k3.view(1, c, 1), dx, k2.view(1, c, 1), out=dx)
    dx.addcmul_(dy3, k1.view(1, c, 1))
    return dx.view_as(x), dgamma, dbeta


def batch_norm_backward(
    dy: Tensor, x: Tensor, gamma: Tensor, eps: float = 1e-5
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of the training-mode batch norm with respect to its input, gamma and beta.

    With :math:`\\hat x = (x - \\mu)/\\sqrt{\\sigma^2 + \\epsilon}` and :math:`m` values per
    channel, the gradients are :math:`\\partial\\beta = \\sum_i \\partial y_i`,
    :math:`\\partial\\gamma = \\sum_i \\partial y_i \\hat x_i` and
    :math:`\\partial x_i = \\frac{\\gamma}{\\sqrt{\\sigma^2+\\epsilon}}(\\partial y_i -
    \\partial\\beta/m - \\hat x_i\\,\\partial\\gamma/m)`, sums running over the batch and all
    positions of a channel.

    Parameters
    ----------
    dy : Tensor, shape (N, C) or (N, C, H, W)
        Gradient of the loss with respect to the output ``y``.
    x : Tensor, same shape as ``dy``
        The forward input.
    gamma : Tensor, shape (C,)
    eps : float
        The forward's ``eps``.

    Returns
    -------
    dx : Tensor, same shape as ``x``
    dgamma, dbeta : Tensor, shape (C,)

    See book/batchnorm.ipynb.
    """
    c = _check_x(x)
    if not isinstance(dy, Tensor) or dy.shape != x.shape:
        got = tuple(dy.shape) if isinstance(dy, Tensor) else type(dy).__name__
        raise ValueError(f"dy must be a tensor of the shape of x {tuple(x.shape)}, got {got}")
    _check_channels("gamma", gamma, c)
    if gamma is None:
        raise ValueError("gamma must be a tensor of shape (C,), got None")
    _check_hyper(eps, 0.0)
    if _values_per_channel(x) < 2:
        raise ValueError(f"x must have more than one value per channel, got shape {tuple(x.shape)}")
    with torch.no_grad():
        mean, var, _ = _stats_and_centered(x)
        return _backward_from_stats(dy, x, gamma, mean, torch.rsqrt(var + eps))


class _BatchNormTrain(torch.autograd.Function):
    """Training-mode batch norm whose backward is :func:`batch_norm_backward`'s formula."""

    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        c = x.shape[1]
        mean, var, y = _stats_and_centered(x)  # y holds x - mean, then the output
        rstd = torch.rsqrt(var + eps)
        torch.addcmul(beta.view(1, c, 1), y, (gamma * rstd).view(1, c, 1), out=y)
        ctx.save_for_backward(x, gamma, mean, rstd)
        ctx.mark_non_differentiable(mean, var)
        return y.view_as(x), mean, var

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy, _dmean, _dvar):
        x, gamma, mean, rstd = ctx.saved_tensors
        dx, dgamma, dbeta = _backward_from_stats(dy.contiguous(), x, gamma, mean, rstd)
        return dx, dgamma, dbeta, None


def batch_norm(
    x: Tensor,
    gamma: Tensor | None,
    beta: Tensor | None,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization computed by our own kernel, the same as ``F.batch_norm``.

    ``batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps)``
    returns ``F.batch_norm(x, running_mean, running_var, gamma, beta, training, momentum,
    eps)``, including the in-place update of the running statistics.

    In training mode each channel is normalized with the mean and the biased variance of
    the mini-batch, over the batch and all spatial positions, then scaled by ``gamma`` and
    shifted by ``beta``. If running statistics are given they are updated in place:
    ``running = (1 - momentum) * running + momentum * batch_statistic``, where the running
    variance receives the unbiased batch variance (factor m / (m - 1), m = values per
    channel). In evaluation mode the running statistics normalize instead, and nothing is
    updated.

    Parameters
    ----------
    x : Tensor, shape (N, C) or (N, C, H, W)
        (N, C, L) and other (N, C, ...) shapes work too.
    gamma, beta : Tensor or None, shape (C,)
        Scale and shift; ``None`` means ones and zeros.
    running_mean, running_var : Tensor or None, shape (C,)
        Running statistics, both given or both ``None``; required when ``training`` is
        false.
    training : bool
        Use (and record) mini-batch statistics if true, the running statistics if false.
    momentum : float
        Weight of the new mini-batch statistic in the running average, in [0, 1].
    eps : float
        Added to the variance before the square root, positive.

    Returns
    -------
    Tensor, same shape as ``x``

    Raises
    ------
    ValueError
        If ``x`` has one value per channel in training mode (a batch of one sample of shape
        (1, C)), a channel count does not match ``gamma``, ``beta``, ``running_mean`` or
        ``running_var``, ``eps`` is not positive or ``momentum`` is outside [0, 1].

    See book/batchnorm.ipynb.
    """
    c = _check_x(x)
    for name, t in [
        ("gamma", gamma),
        ("beta", beta),
        ("running_mean", running_mean),
        ("running_var", running_var),
    ]:
        _check_channels(name, t, c)
    _check_hyper(eps, momentum)
    if (running_mean is None) != (running_var is None):
        missing = "running_var" if running_var is None else "running_mean"
        raise ValueError(f"{missing} must be given together with the other running statistic")
    shape = [1, c] + [1] * (x.dim() - 2)  # broadcast (C,) against x
    if gamma is None:
        gamma = torch.ones(c, dtype=x.dtype, device=x.device)
    if beta is None:
        beta = torch.zeros(c, dtype=x.dtype, device=x.device)

    if not training:
        if running_mean is None:
            raise ValueError("running_mean and running_var are required when training=False")
        scale = gamma * torch.rsqrt(running_var + eps)  # (C,)
        shift = beta - running_mean * scale  # (C,)
        return torch.addcmul(shift.view(shape), x, scale.view(shape))  # one pass over x

    m = _values_per_channel(x)
    if m < 2:
        raise ValueError(
            f"x must have more than one value per channel in training mode (the variance of "
            f"one sample is undefined), got shape {tuple(x.shape)}"
        )
    y, mean, var = _BatchNormTrain.apply(x.contiguous(), gamma, beta, eps)
    if running_mean is not None:
        with torch.no_grad():  # (1 - momentum) * running + momentum * batch statistic
            running_mean.lerp_(mean.to(running_mean.dtype), momentum)
            running_var.lerp_((var * (m / (m - 1))).to(running_var.dtype), momentum)
    return y


class BatchNorm(nn.Module):
    """Batch normalization layer, a drop-in for ``nn.BatchNorm1d`` and ``nn.BatchNorm2d``.

    Learnable ``weight`` (gamma, initialised to ones) and ``bias`` (beta, zeros); buffers
    ``running_mean`` (zeros), ``running_var`` (ones) and ``num_batches_tracked``. Its
    ``state_dict`` has the keys of ``nn.BatchNorm2d``, so weights load in both directions.

    Parameters
    ----------
    num_features : int
        The channel count C of inputs (N, C) or (N, C, H, W).
    eps : float
        Added to the variance, positive.
    momentum : float or None
        Weight of each new batch in the running statistics, in [0, 1]; ``None`` makes them a
        cumulative average over all batches seen, as in torch.

    See book/batchnorm.ipynb.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1):
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        _check_hyper(eps, 0.0 if momentum is None else momentum)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def reset_running_stats(self) -> None:
        """Running mean to zeros, running variance to ones, batch count to zero."""
        self.running_mean.zero_()
        self.running_var.fill_(1)
        self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, gamma to ones and beta to zeros."""
        self.reset_running_stats()
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Normalize ``x`` of shape (N, C) or (N, C, H, W); same shape out."""
        if not self.training:
            return batch_norm(
                x,
                self.weight,
                self.bias,
                self.running_mean,
                self.running_var,
                training=False,
                eps=self.eps,
            )
        seen = int(self.num_batches_tracked) + 1
        factor = 1.0 / seen if self.momentum is None else self.momentum
        y = batch_norm(
            x,
            self.weight,
            self.bias,
            self.running_mean,
            self.running_var,
            training=True,
            momentum=factor,
            eps=self.eps,
        )
        self.num_batches_tracked.add_(1)
        return y

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


def fold_batch_norm(
    weight: Tensor,
    bias: Tensor | None,
    gamma: Tensor,
    beta: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    eps: float = 1e-5,
) -> tuple[Tensor, Tensor]:
    """Fold an evaluation-mode batch norm into the linear layer before it.

    ``batch_norm(x @ weight.T + bias, ..., training=False)`` equals
    ``x @ folded_weight.T + folded_bias``.

    Parameters
    ----------
    weight : Tensor, shape (C, D)
    bias : Tensor or None, shape (C,)
    gamma, beta, running_mean, running_var : Tensor, shape (C,)

    Returns
    -------
    folded_weight : Tensor, shape (C, D)
    folded_bias : Tensor, shape (C,)

    See book/batchnorm.ipynb.
    """
    if weight.dim() != 2:
        raise ValueError(f"weight must have shape (C, D), got {tuple(weight.shape)}")
    c = weight.shape[0]
    for name, t in [
        ("bias", bias),
        ("gamma", gamma),
        ("beta", beta),
        ("running_mean", running_mean),
        ("running_var", running_var),
    ]:
        _check_channels(name, t, c)
    _check_hyper(eps, 0.0)
    scale = gamma / torch.sqrt(running_var + eps)  # (C,)
    b = torch.zeros_like(running_mean) if bias is None else bias
    return weight * scale[:, None], (b - running_mean) * scale + beta


# ---------------------------------------------------------------------------------------
# Experiments on scikit-learn's digits
# ---------------------------------------------------------------------------------------


def digits_split(*, n_test: int = 397, seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """scikit-learn's digits, flattened, split at random and standardized per pixel.

    Pixels are standardized with the training set's mean and standard deviation (pixels
    that are constant in the training set are only centred).

    Returns
    -------
    x_train : Tensor, shape (1797 - n_test, 64)
    y_train : Tensor, shape (1797 - n_test,)
    x_test : Tensor, shape (n_test, 64)
    y_test : Tensor, shape (n_test,)

    See book/batchnorm.ipynb.
    """
    from .data import load_digits

    x, y = load_digits(flatten=True)  # (1797, 64) in [0, 1]
    if not 0 < n_test < len(x):
        raise ValueError(f"n_test must be in [1, {len(x) - 1}], got {n_test}")
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    test, train = perm[:n_test], perm[n_test:]
    mean, std = x[train].mean(0), x[train].std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    x = (x - mean) / std
    return x[train], y[train], x[test], y[test]


class _NoisyShift(nn.Module):
    """Per-unit random scale and shift, redrawn at every training step (Santurkar et al.).

    The noise is the same for all samples of a batch, so it moves the distribution of each
    unit from step to step: deliberate internal covariate shift. Identity in eval mode.
    """

    def __init__(self, num_features: int, strength: float, generator: torch.Generator):
        super().__init__()
        self.num_features = num_features
        self.strength = strength
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        g, c = self.generator, self.num_features
        scale = torch.exp(self.strength * torch.randn(c, generator=g))  # (C,) log-normal
        shift = self.strength * torch.randn(c, generator=g)  # (C,)
        return x * scale + shift


class MLP(nn.Module):
    """A deep fully connected classifier: ``depth`` blocks of Linear, [BatchNorm], activation.

    Batch norm sits between the linear map and the nonlinearity, as in Ioffe & Szegedy
    (2015); the linear layers before it have no bias (batch norm's beta replaces it).
    Weights are drawn from N(0, (init_scale * gain)^2 / fan_in), with gain sqrt(2) for ReLU
    (He initialisation at ``init_scale=1``) and 1 for tanh.

    Parameters
    ----------
    depth : int
        Number of hidden blocks, at least 1.
    width : int
        Units per hidden layer.
    norm : {"none", "bn", "bn+noise"}
        No normalization, batch norm, or batch norm followed by random per-unit noise that
        changes every step (the "noisy BN" of Santurkar et al., 2018).
    activation : {"relu", "tanh"}
    init_scale : float
        Multiplies the standard deviation of the initial weights.
    noise : float
        Strength of the "bn+noise" noise.
    seed : int
        Seeds the initial weights and the noise.

    See book/batchnorm.ipynb.
    """

    def __init__(
        self,
        depth: int,
        width: int = 64,
        *,
        in_features: int = 64,
        out_features: int = 10,
        norm: str = "none",
        activation: str = "relu",
        init_scale: float = 1.0,
        noise: float = 0.5,
        seed: int = 0,
    ):
        super().__init__()
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive int, got {depth!r}")
        if norm not in {"none", "bn", "bn+noise"}:
            raise ValueError(f"norm must be 'none', 'bn' or 'bn+noise', got {norm!r}")
        if activation not in {"relu", "tanh"}:
            raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")
        if not init_scale > 0:
            raise ValueError(f"init_scale must be positive, got {init_scale!r}")
        g = torch.Generator().manual_seed(seed)
        gain = math.sqrt(2.0) if activation == "relu" else 1.0
        self.blocks = nn.ModuleList()
        fan_in = in_features
        for _ in range(depth):
            linear = nn.Linear(fan_in, width, bias=norm == "none")
            with torch.no_grad():
                linear.weight.normal_(0.0, init_scale * gain / math.sqrt(fan_in), generator=g)
                if linear.bias is not None:
                    linear.bias.zero_()
            layers: list[nn.Module] = [linear]
            if norm != "none":
                layers.append(BatchNorm(width))
            if norm == "bn+noise":
                layers.append(_NoisyShift(width, noise, g))
            layers.append(nn.ReLU() if activation == "relu" else nn.Tanh())
            self.blocks.append(nn.Sequential(*layers))
            fan_in = width
        self.head = nn.Linear(width, out_features)
        with torch.no_grad():
            self.head.weight.normal_(0.0, 1.0 / math.sqrt(width), generator=g)
            self.head.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        """Logits, shape (N, out_features), for ``x`` of shape (N, in_features)."""
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def layer_activations(model: MLP, x: Tensor) -> list[Tensor]:
    """The output of every hidden block (after the nonlinearity) of ``model`` for input ``x``.

    Runs without gradients in the model's current mode.

    Returns
    -------
    list of Tensor, each of shape (N, width), one per block

    See book/batchnorm.ipynb.
    """
    outs = []
    with torch.no_grad():
        for block in model.blocks:
            x = block(x)
            outs.append(x)
    return outs


def minibatch_statistics(
    values: Tensor, batch_size: int, *, n_batches: int = 2000, index: int = 0, seed: int = 0
) -> dict[str, Tensor]:
    """Mini-batch means and variances of one unit, and its normalized value for one sample.

    Batches are drawn without replacement from the population ``values`` (one value per
    sample), ``n_batches`` times.

    Returns
    -------
    dict with keys
        ``"mean"``, ``"var"``: Tensor, shape (n_batches,), the mini-batch mean and biased
        variance of random batches; ``"x_hat"``: Tensor, shape (n_batches,), the normalized
        value of ``values[index]`` in random batches that contain it (with eps = 1e-5).

    See book/batchnorm.ipynb.
    """
    values = torch.as_tensor(values, dtype=torch.float64).flatten()
    n = len(values)
    if not (isinstance(batch_size, int) and 2 <= batch_size <= n):
        raise ValueError(f"batch_size must be an int in [2, {n}], got {batch_size!r}")
    g = torch.Generator().manual_seed(seed)
    idx = torch.rand(n_batches, n, generator=g).topk(batch_size, dim=1).indices  # (B', bs)
    batches = values[idx]
    var, mean = torch.var_mean(batches, dim=1, unbiased=False)
    others = torch.cat([values[:index], values[index + 1 :]])
    idx = torch.rand(n_batches, n - 1, generator=g).topk(batch_size - 1, dim=1).indices
    with_i = torch.cat([values[index].expand(n_batches, 1), others[idx]], dim=1)
    var_i, mean_i = torch.var_mean(with_i, dim=1, unbiased=False)
    x_hat = (values[index] - mean_i) / torch.sqrt(var_i + 1e-5)
    return {"mean": mean, "var": var, "x_hat": x_hat}


def running_stats_trace(
    values: Tensor, *, batch_size: int, momentum: float, steps: int = 100, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Running mean and variance of a :class:`BatchNorm` fed random mini-batches of one unit.

    Parameters
    ----------
    values : Tensor, shape (n,)
        The population the mini-batches are drawn from (without replacement within a batch).

    Returns
    -------
    running_mean, running_var : ndarray, shape (steps + 1,)
        The buffers before the first batch (0 and 1) and after every batch.

    See book/batchnorm.ipynb.
    """
    values = torch.as_tensor(values, dtype=torch.float32).flatten()
    bn = BatchNorm(1, momentum=momentum)
    g = torch.Generator().manual_seed(seed)
    means, variances = [bn.running_mean.item()], [bn.running_var.item()]
    with torch.no_grad():
        for _ in range(steps):
            idx = torch.randperm(len(values), generator=g)[:batch_size]
            bn(values[idx, None])  # (batch_size, 1)
            means.append(bn.running_mean.item())
            variances.append(bn.running_var.item())
    return np.array(means), np.array(variances)


def accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    training: bool = False,
    batch_size: int | None = None,
) -> float:
    """Classification accuracy of ``model`` on ``(x, y)``, evaluated in batches, in order.

    With ``training=True`` the model runs in training mode, as in the classic bug: batch norm
    then normalizes with each batch's own statistics and overwrites its running statistics.
    The model's mode is restored afterwards; its running statistics are not.

    Parameters
    ----------
    x : Tensor, shape (N, ...)
    y : Tensor, shape (N,)
    batch_size : int, optional
        Samples per forward pass (default: all at once).

    See book/batchnorm.ipynb.
    """
    was_training = model.training
    model.train(training)
    bs = len(x) if batch_size is None else batch_size
    correct = 0
    try:
        with torch.no_grad():
            for i in range(0, len(x), bs):
                correct += (model(x[i : i + bs]).argmax(1) == y[i : i + bs]).sum().item()
    finally:
        model.train(was_training)
    return correct / len(x)


@dataclass
class TrainResult:
    """What :func:`train_mlp` returns (arrays are NumPy, one entry per step or probe)."""

    losses: np.ndarray
    test_accuracy: float
    diverged_at: int | None
    model: MLP
    probe_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    landscape: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    grad_change: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    percentiles: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    settings: dict = field(default_factory=dict)


def _probe(model: MLP, xb: Tensor, yb: Tensor, step_sizes: Sequence[float]):
    """Loss and gradient change along the gradient direction (Santurkar et al., 2018, Fig. 4).

    Works on a copy, so the model's weights and running statistics stay as they are.
    """
    probe = copy.deepcopy(model)
    params = [p for p in probe.parameters()]
    loss = F.cross_entropy(probe(xb), yb)
    grads = torch.autograd.grad(loss, params)
    start = [p.detach().clone() for p in params]
    losses, changes = [], []
    for eta in step_sizes:
        with torch.no_grad():
            for p, p0, g in zip(params, start, grads, strict=True):
                p.copy_(p0 - eta * g)
        loss_eta = F.cross_entropy(probe(xb), yb)
        grads_eta = torch.autograd.grad(loss_eta, params)
        losses.append(loss_eta.item())
        diff = torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(grads, grads_eta, strict=True)))
        changes.append(diff.item())
    return losses, changes


def train_mlp(
    *,
    depth: int = 8,
    width: int = 64,
    norm: str = "none",
    activation: str = "relu",
    init_scale: float = 1.0,
    lr: float = 0.1,
    steps: int = 300,
    batch_size: int = 64,
    noise: float = 0.5,
    seed: int = 0,
    data: tuple[Tensor, Tensor, Tensor, Tensor] | None = None,
    probe_every: int = 0,
    probe_step_sizes: Sequence[float] = (0.25, 0.5, 1.0, 2.0),
    track_unit: bool = False,
    progress: Callable[[float, float], None] | None = None,
) -> TrainResult:
    """Train an :class:`MLP` on the digits with plain SGD and record what the chapter plots.

    Runs on one CPU thread, so results do not depend on the machine's thread count. A run
    whose loss becomes non-finite (or exceeds 1e3) is stopped and marked as diverged; its
    remaining losses are NaN.

    Parameters
    ----------
    depth, width, norm, activation, init_scale, noise, seed
        Passed to :class:`MLP` (``seed`` also orders the mini-batches).
    lr : float
        SGD learning rate (no momentum, no weight decay).
    steps, batch_size : int
        Number of SGD steps and mini-batch size.
    data : tuple of Tensor, optional
        ``(x_train, y_train, x_test, y_test)``; default :func:`digits_split`.
    probe_every : int
        If positive, every ``probe_every`` steps measure the loss and the gradient change
        along the gradient direction for each step size in ``probe_step_sizes``, multiplied
        by ``lr``.
    track_unit : bool
        Record the 15th, 50th and 85th percentiles of the input to the last hidden layer's
        nonlinearity (unit 0) over each step's mini-batch (as in Ioffe & Szegedy, Fig. 1).
    progress : callable, optional
        ``progress(done, total)`` after each step.

    Returns
    -------
    TrainResult

    See book/batchnorm.ipynb.
    """
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    x_train, y_train, x_test, y_test = data if data is not None else digits_split()
    if not (isinstance(batch_size, int) and 2 <= batch_size <= len(x_train)):
        raise ValueError(f"batch_size must be an int in [2, {len(x_train)}], got {batch_size!r}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = MLP(
            depth,
            width,
            in_features=x_train.shape[1],
            norm=norm,
            activation=activation,
            init_scale=init_scale,
            noise=noise,
            seed=seed,
        )
        model.train()
        g = torch.Generator().manual_seed(seed + 1)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        losses = np.full(steps, np.nan)
        probe_steps, landscape, grad_change, pct = [], [], [], []
        diverged_at = None
        order = torch.randperm(len(x_train), generator=g)
        pos = 0
        for step in range(steps):
            if pos + batch_size > len(order):
                order, pos = torch.randperm(len(x_train), generator=g), 0
            idx = order[pos : pos + batch_size]
            pos += batch_size
            xb, yb = x_train[idx], y_train[idx]
            if probe_every and step % probe_every == 0:
                ls, cs = _probe(model, xb, yb, [lr * s for s in probe_step_sizes])
                probe_steps.append(step)
                landscape.append(ls)
                grad_change.append(cs)
            if track_unit:
                logits, z = _forward_tracking(model, xb)
                pct.append(torch.quantile(z.detach(), _QUANTILES).tolist())
            else:
                logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            if not torch.isfinite(loss) or loss.item() > 1e3:
                diverged_at = step
                break
            losses[step] = loss.item()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if progress is not None:
                progress(step + 1, steps)
        model.eval()
        with torch.no_grad():
            acc = (model(x_test).argmax(1) == y_test).float().mean().item()
        if diverged_at is not None:
            acc = float("nan")
    finally:
        torch.set_num_threads(threads)
    n_sizes = len(probe_step_sizes)
    settings = dict(
        depth=depth,
        width=width,
        norm=norm,
        activation=activation,
        init_scale=init_scale,
        lr=lr,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
    )
    return TrainResult(
        losses=losses,
        test_accuracy=acc,
        diverged_at=diverged_at,
        model=model,
        probe_steps=np.asarray(probe_steps, dtype=int),
        landscape=np.asarray(landscape, dtype=float).reshape(len(probe_steps), n_sizes),
        grad_change=np.asarray(grad_change, dtype=float).reshape(len(probe_steps), n_sizes),
        percentiles=np.asarray(pct, dtype=float).reshape(-1, 3),
        settings=settings,
    )


_QUANTILES = torch.tensor([0.15, 0.5, 0.85])


def _forward_tracking(model: MLP, x: Tensor) -> tuple[Tensor, Tensor]:
    """``model(x)`` and, on the way, unit 0's input to the last hidden nonlinearity."""
    for block in model.blocks[:-1]:
        x = block(x)
    z = model.blocks[-1][:-1](x)  # (N, width): everything in the block but the activation
    return model.head(model.blocks[-1][-1](z)), z[:, 0]


# ---------------------------------------------------------------------------------------
# Drawing helpers (draw on the given Axes, return it)
# ---------------------------------------------------------------------------------------


def plot_bn_steps(ax: Axes, x: Tensor, gamma: float, beta: float, eps: float = 1e-5) -> Axes:
    """Algorithm 1 on one unit: the mini-batch x, the normalized x_hat and y = gamma x_hat + beta.

    Parameters
    ----------
    x : Tensor, shape (m,)
        One unit's values over a mini-batch.

    See book/batchnorm.ipynb.
    """
    x = torch.as_tensor(x, dtype=torch.float64).flatten()
    mu, var = x.mean(), x.var(unbiased=False)
    x_hat = (x - mu) / torch.sqrt(var + eps)
    y = gamma * x_hat + beta
    rows = [
        (r"$x_i$", x, mu.item(), var.sqrt().item()),
        (r"$\hat x_i$", x_hat, 0.0, 1.0),
        (r"$y_i=\gamma\hat x_i+\beta$", y, beta, abs(gamma)),
    ]
    colors = [COLORS["blue"], COLORS["orange"], COLORS["green"]]
    for k, ((_, vals, center, spread), color) in enumerate(zip(rows, colors, strict=True)):
        level = len(rows) - 1 - k
        ax.scatter(vals.numpy(), np.full(len(vals), level), color=color, s=30, zorder=3)
        ax.plot([center - spread, center + spread], [level - 0.25] * 2, color=color, lw=2)
        ax.plot([center], [level - 0.25], marker="|", ms=10, color=color)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows][::-1])
    ax.set_ylim(-0.6, len(rows) - 0.5)
    ax.set_xlabel("value (bar: mean ± standard deviation)")
    ax.grid(axis="y", visible=False)
    return ax


def plot_activation_histogram(
    ax: Axes, acts: Tensor, *, activation: str = "tanh", bins: int = 60, color: str | None = None
) -> Axes:
    """Histogram of one layer's activations (all samples and units pooled).

    Parameters
    ----------
    acts : Tensor, shape (N, width)

    See book/batchnorm.ipynb.
    """
    a = acts.detach().flatten().numpy()
    rng = (-1.05, 1.05) if activation == "tanh" else (0.0, max(float(a.max()), 1e-6) * 1.02)
    ax.hist(a, bins=bins, range=rng, density=True, color=color or COLORS["blue"], alpha=0.85)
    ax.set_xlabel("activation")
    ax.set_ylabel("density")
    return ax


def plot_layer_spread(
    ax: Axes,
    stds: dict[str, Sequence[float]],
    *,
    styles: dict[str, dict] | None = None,
    current: int | None = None,
) -> Axes:
    """Standard deviation of the activations per layer, one line per network.

    Parameters
    ----------
    stds : dict of str to sequence of float
        Label -> one standard deviation per layer (layer 1 first).
    styles : dict of str to dict, optional
        Label -> keyword arguments for ``ax.plot`` (colour, line style...).
    current : int, optional
        Layer (1-based) to mark.

    See book/batchnorm.ipynb.
    """
    palette = list(COLORS.values())
    styles = styles or {}
    for k, (label, s) in enumerate(stds.items()):
        style = {
            "color": palette[k % len(palette)],
            "marker": "o",
            "ms": 3,
            **styles.get(label, {}),
        }
        ax.plot(range(1, len(s) + 1), s, label=label, **style)
    if current is not None:
        ax.axvline(current, color="grey", lw=1, ls="--")
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("std of activations")
    ax.legend(fontsize=8)
    return ax


def plot_batch_estimates(
    axes: Sequence[Axes],
    stats: dict[str, Tensor],
    population: Tensor,
    index: int = 0,
    *,
    ranges: Sequence[tuple[float, float]] | None = None,
) -> Sequence[Axes]:
    """Histograms of mini-batch means, variances and one sample's normalized value.

    Draws on three axes, with the population value of each quantity as a dashed line.

    Parameters
    ----------
    axes : sequence of three Axes
    stats : dict
        The output of :func:`minibatch_statistics`.
    population : Tensor, shape (n,)
        The values the batches were drawn from.
    ranges : sequence of three (float, float), optional
        Fixed x-ranges, so frames of a widget share their axes.

    See book/batchnorm.ipynb.
    """
    pop = torch.as_tensor(population, dtype=torch.float64).flatten()
    mu, var = pop.mean().item(), pop.var(unbiased=False).item()
    truth = [mu, var, ((pop[index] - mu) / math.sqrt(var + 1e-5)).item()]
    titles = ["batch mean", "batch variance", f"$\\hat x$ of sample {index}"]
    colors = [COLORS["blue"], COLORS["orange"], COLORS["green"]]
    for k, (ax, key) in enumerate(zip(axes, ["mean", "var", "x_hat"], strict=True)):
        rng = None if ranges is None else ranges[k]
        ax.hist(stats[key].numpy(), bins=40, range=rng, density=True, color=colors[k], alpha=0.85)
        ax.axvline(truth[k], color="black", ls="--", lw=1)
        ax.set_title(titles[k])
        ax.set_yticks([])
        if rng is not None:
            ax.set_xlim(rng)
    return axes


def plot_training_curves(
    ax: Axes, results: dict[str, TrainResult], *, smooth: int = 10, ylim: tuple = (0.0, 2.5)
) -> Axes:
    """Training loss per step for several runs; a cross marks where a run diverged.

    See book/batchnorm.ipynb.
    """
    colors = [COLORS["red"], COLORS["blue"], COLORS["green"], COLORS["purple"], COLORS["orange"]]
    for (label, r), color in zip(results.items(), colors, strict=False):
        ys = r.losses
        if smooth > 1:
            kernel = np.ones(smooth) / smooth
            ys = np.convolve(np.nan_to_num(ys, nan=np.inf), kernel, mode="valid")
            ys[~np.isfinite(ys)] = np.nan
            xs = np.arange(smooth - 1, smooth - 1 + len(ys))
        else:
            xs = np.arange(len(ys))
        acc = "" if math.isnan(r.test_accuracy) else f", test acc {r.test_accuracy:.0%}"
        ax.plot(xs, ys, color=color, label=f"{label}{acc}")
        if r.diverged_at is not None:
            ax.plot(
                [r.diverged_at],
                [ylim[1] * 0.97],
                marker="x",
                ms=9,
                mew=2,
                color=color,
                ls="none",
                label=f"{label}: diverged at step {r.diverged_at}",
            )
    ax.set_ylim(*ylim)
    ax.set_xlabel("SGD step")
    ax.set_ylabel("training loss")
    ax.legend(loc="upper right")
    return ax


def plot_landscape(
    ax: Axes,
    results: dict[str, TrainResult],
    *,
    quantity: str = "landscape",
    logy: bool = False,
) -> Axes:
    """The range (min to max over step sizes) of a probed quantity along training.

    ``quantity`` is ``"landscape"`` (loss along the gradient direction) or ``"grad_change"``
    (distance between the gradient and the gradient after the step).

    See book/batchnorm.ipynb.
    """
    colors = [COLORS["red"], COLORS["blue"], COLORS["green"]]
    for (label, r), color in zip(results.items(), colors, strict=False):
        vals = getattr(r, quantity)
        steps = r.probe_steps
        lo, hi = np.nanmin(vals, axis=1), np.nanmax(vals, axis=1)
        ax.fill_between(steps, lo, hi, color=color, alpha=0.35, label=label, lw=0)
        ax.plot(steps, lo, color=color, lw=0.8)
        ax.plot(steps, hi, color=color, lw=0.8)
    ax.set_xlabel("SGD step")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return ax


def plot_running_stats(
    axes: Sequence[Axes],
    traces: dict[str, tuple[np.ndarray, np.ndarray]],
    population: Tensor,
) -> Sequence[Axes]:
    """Running mean (first Axes) and running variance (second) against the batch count.

    Parameters
    ----------
    traces : dict of str to (ndarray, ndarray)
        Label -> the output of :func:`running_stats_trace`.
    population : Tensor, shape (n,)
        The population: its mean and unbiased variance are drawn as dashed lines.

    See book/batchnorm.ipynb.
    """
    pop = torch.as_tensor(population, dtype=torch.float64).flatten()
    colors = [COLORS["orange"], COLORS["blue"], COLORS["green"], COLORS["purple"]]
    for (label, (mean, var)), color in zip(traces.items(), colors, strict=False):
        axes[0].plot(mean, color=color, label=label)
        axes[1].plot(var, color=color, label=label)
    axes[0].axhline(pop.mean().item(), color="black", ls="--", lw=1)
    axes[1].axhline(pop.var().item(), color="black", ls="--", lw=1)
    axes[0].set_title("running_mean")
    axes[1].set_title("running_var")
    for ax in axes:
        ax.set_xlabel("mini-batches seen")
    axes[1].legend()
    return axes


def plot_unit_percentiles(
    ax: Axes,
    result: TrainResult,
    *,
    color: str | None = None,
    label: str = "",
    band: bool = True,
) -> Axes:
    """15th, 50th and 85th percentiles of a tracked unit's input over training.

    ``result`` comes from :func:`train_mlp` with ``track_unit=True``. The median is a line,
    the 15th to 85th percentiles a band (unless ``band`` is false).

    See book/batchnorm.ipynb.
    """
    p = result.percentiles
    steps = np.arange(len(p))
    color = color or COLORS["blue"]
    if band:
        ax.fill_between(steps, p[:, 0], p[:, 2], color=color, alpha=0.3, lw=0)
    ax.plot(steps, p[:, 1], color=color, lw=1, label=label or None)
    ax.set_xlabel("SGD step")
    return ax


def plot_lr_summary(
    ax: Axes,
    sweep: dict[str, dict[float, TrainResult]],
    *,
    current: float | None = None,
    last: int = 20,
) -> Axes:
    """Mean training loss over the last ``last`` steps against the learning rate.

    Diverged runs are drawn at the top as crosses.

    Parameters
    ----------
    sweep : dict of str to dict of float to TrainResult
        Label -> {learning rate: result}.
    current : float, optional
        Learning rate to mark.

    See book/batchnorm.ipynb.
    """
    colors = [COLORS["red"], COLORS["blue"], COLORS["green"]]
    top = 3.0
    for (label, runs), color in zip(sweep.items(), colors, strict=False):
        lrs = sorted(runs)
        final = [np.mean(runs[lr].losses[-last:]) for lr in lrs]
        ok = [(lr, f) for lr, f in zip(lrs, final, strict=True) if np.isfinite(f)]
        bad = [lr for lr, f in zip(lrs, final, strict=True) if not np.isfinite(f)]
        if ok:
            ax.plot(*zip(*ok, strict=True), marker="o", color=color, label=label)
        if bad:
            ax.plot(bad, [top] * len(bad), marker="x", ms=9, mew=2, ls="none", color=color)
    if current is not None:
        ax.axvline(current, color="grey", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"final training loss (last {last} steps)")
    ax.legend()
    return ax
