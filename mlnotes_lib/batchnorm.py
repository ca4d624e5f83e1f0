"""Batch normalization: the kernel, its backward pass, a module, and the chapter's network.

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
- :func:`fold_batch_norm`: an evaluation-mode batch norm folded into the layer before it.
- :func:`layer_norm` and :func:`group_norm`: the normalizations that do not use the batch,
  re-exported from :mod:`mlnotes_lib.normalization`, where their kernels live.
- :class:`MLP`: the chapter's deep fully connected network, with batch, layer or group norm
  or none, which the experiments train.

The experiments (training, sweeps, probes) are in :mod:`mlnotes_lib.experiments.batchnorm`
and the drawing in :mod:`mlnotes_lib.plots.batchnorm`; the experiment names that used to
live here (``train_mlp``, ``digits_split``, ...) are still importable from this module.

References: Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift", ICML 2015; Santurkar et al., "How Does Batch
Normalization Help Optimization?", NeurIPS 2018; Ba et al., "Layer Normalization", 2016;
Wu & He, "Group Normalization", ECCV 2018. See book/batchnorm.ipynb.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

from mlnotes_lib._common import forward_moved
from mlnotes_lib.normalization import GroupNorm, LayerNorm, _check_eps, group_norm, layer_norm

__all__ = [
    "MLP",
    "BatchNorm",
    "batch_norm",
    "batch_norm_backward",
    "batch_norm_naive",
    "fold_batch_norm",
    "group_norm",
    "layer_norm",
]

#: Names that moved to :mod:`mlnotes_lib.experiments.batchnorm`; still importable from here.
_MOVED_TO_EXPERIMENTS = frozenset(
    {
        "TrainConfig",
        "TrainResult",
        "accuracy",
        "digits_split",
        "layer_activations",
        "minibatch_statistics",
        "running_stats_trace",
        "train_mlp",
    }
)


# Names that moved to experiments/batchnorm.py still import from here.
__getattr__ = forward_moved(__name__, "mlnotes_lib.experiments.batchnorm", _MOVED_TO_EXPERIMENTS)


# ---------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------


def _check_hyper(eps: float, momentum: float) -> None:
    _check_eps(eps)
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
        if x.dim() == 2:  # (N, C): the fewest ops, since per-op overhead dominates small tensors
            mean = x.mean(0)  # (C,); var_mean over the strided axis is several times slower
            centered = x - mean  # (N, C), exact two-pass variance
            var = centered.square().mean(0)  # (C,)
            rstd = torch.rsqrt(var + eps)
            ctx.save_for_backward(centered, gamma, mean, rstd)
            ctx.mark_non_differentiable(mean, var)
            return torch.addcmul(beta, centered, gamma * rstd), mean, var
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
        x, gamma, mean, rstd = ctx.saved_tensors  # for (N, C) inputs x holds x - mean
        if x.dim() == 2:  # the same formula as _backward_from_stats, in fewer ops
            m = x.shape[0]
            x_hat = x * rstd  # (N, C)
            dbeta, dgamma = dy.sum(0), (dy * x_hat).sum(0)  # (C,) each
            dx = (dy - dbeta / m).addcmul_(x_hat, dgamma / m, value=-1.0).mul_(gamma * rstd)
            return dx, dgamma, dbeta, None
        dx, dgamma, dbeta = _backward_from_stats(dy.contiguous(), x, gamma, mean, rstd)
        return dx, dgamma, dbeta, None


def batch_norm(
    x: Tensor,
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
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
        if self.momentum is None:  # a cumulative average: weight 1/k for the k-th batch
            factor = 1.0 / (int(self.num_batches_tracked) + 1)
        else:
            factor = self.momentum
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
# The chapter's network (the experiments train it: mlnotes_lib.experiments.batchnorm)
# ---------------------------------------------------------------------------------------


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


_NORMS = frozenset({"none", "bn", "bn+noise", "ln", "gn"})
GN_GROUP_SIZE = 8  # units per group of the MLP's group norm: 8 groups of a 64-unit layer


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
    norm : {"none", "bn", "bn+noise", "ln", "gn"}
        No normalization, batch norm, batch norm followed by random per-unit noise that
        changes every step (the "noisy BN" of Santurkar et al., 2018), layer norm, or group
        norm with groups of 8 units (``width`` must then be a multiple of 8).
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
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {sorted(_NORMS)}, got {norm!r}")
        if norm == "gn" and width % GN_GROUP_SIZE:
            raise ValueError(f"width must be a multiple of {GN_GROUP_SIZE} for 'gn', got {width}")
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
            if norm in ("bn", "bn+noise"):
                layers.append(BatchNorm(width))
            elif norm == "ln":
                layers.append(LayerNorm(width))
            elif norm == "gn":
                layers.append(GroupNorm(width // GN_GROUP_SIZE, width))
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
