"""Checkers for the exercises of book/resnet.ipynb."""

from __future__ import annotations

import torch

from mlnotes_lib.exercises import CheckResult, Mistake, check_function
from mlnotes_lib.resnet import ResidualBlock

__all__ = [
    "block_parameter_count",
    "check_block_parameter_count",
    "check_shortcut_gradient",
    "shortcut_gradient",
]


# ------------------------------------------------------------ parameters of a block
def block_parameter_count(in_channels: int, out_channels: int, stride: int) -> int:
    """Parameters of ``ResidualBlock(in_channels, out_channels, stride)``, counted by torch."""
    block = ResidualBlock(in_channels, out_channels, stride)
    return sum(p.numel() for p in block.parameters())


def _count(c_in, c_out, stride, *, bn=True, proj="auto", proj_kernel=1, bias=False):
    """A parameter count with switches for the typical mistakes."""
    per_bn = 2 * c_out if bn else 0  # gamma and beta
    n = 9 * c_in * c_out + 9 * c_out * c_out + 2 * per_bn
    if bias:
        n += 2 * c_out
    needs = c_in != c_out or stride != 1
    if proj == "always" or (proj == "auto" and needs):
        n += proj_kernel * c_in * c_out + per_bn
    return n


_COUNT_CASES = [(16, 16, 1), (16, 32, 2), (32, 32, 2), (8, 16, 1), (64, 64, 1), (3, 5, 1)]

_COUNT_MISTAKES = [
    Mistake(
        "no projection shortcut",
        lambda c_in, c_out, s: _count(c_in, c_out, s, proj="never"),
        "when the block changes the channels or the resolution, x cannot be added to F(x) "
        "as it is: the shortcut becomes a 1×1 convolution with the block's stride, plus "
        "its batch norm, and those have parameters.",
    ),
    Mistake(
        "a projection on every block",
        lambda c_in, c_out, s: _count(c_in, c_out, s, proj="always"),
        "a block that keeps the shape uses the identity shortcut, which has no parameters.",
    ),
    Mistake(
        "forgotten batch-norm parameters",
        lambda c_in, c_out, s: _count(c_in, c_out, s, bn=False),
        "every batch norm learns a scale gamma and a shift beta per channel (its running "
        "mean and variance are buffers, not parameters).",
    ),
    Mistake(
        "a 3×3 projection",
        lambda c_in, c_out, s: _count(c_in, c_out, s, proj_kernel=9),
        "the projection shortcut is a 1×1 convolution: c_in * c_out weights.",
    ),
    Mistake(
        "convolution biases",
        lambda c_in, c_out, s: _count(c_in, c_out, s, bias=True),
        "a convolution followed by batch norm has no bias: the normalisation subtracts "
        "any constant again, and beta plays its role.",
    ),
]


def check_block_parameter_count(fn) -> CheckResult:
    """Check ``fn(in_channels, out_channels, stride) -> int`` against torch's count."""
    return check_function(
        fn,
        block_parameter_count,
        _COUNT_CASES,
        mistakes=_COUNT_MISTAKES,
        name="block_parameter_count",
    )


# -------------------------------------------------- the gradient through the shortcut
def shortcut_gradient(w: torch.Tensor, l: int) -> torch.Tensor:
    """``dx_L/dx_l`` for scalar residual units ``x_{i+1} = x_i + w_i x_i``, i = 0 .. L-1.

    ``w`` has shape (L,). Computed by autograd, not by a formula.
    """
    x_l = torch.tensor(1.0, dtype=w.dtype, requires_grad=True)
    x = x_l
    for w_i in w[l:]:
        x = x + w_i * x
    (g,) = torch.autograd.grad(x, x_l)
    return g.detach()


_GRAD_CASES = [
    (torch.tensor([0.5, -0.2, 0.1, 0.3], dtype=torch.float64), 0),
    (torch.tensor([0.5, -0.2, 0.1, 0.3], dtype=torch.float64), 1),
    (torch.tensor([0.1, 0.2, -0.3, 0.05, 0.4, -0.1], dtype=torch.float64), 2),
    (torch.tensor([-0.5, 0.25, 0.25, 0.5, 0.1], dtype=torch.float64), 0),
]

_GRAD_MISTAKES = [
    Mistake(
        "the plain network's gradient",
        lambda w, l: torch.prod(w[l:]),
        "that product of the w_i is the chain rule for plain units x_{i+1} = w_i x_i. A "
        "residual unit's derivative is 1 + w_i: the shortcut adds the 1.",
    ),
    Mistake(
        "only first-order terms",
        lambda w, l: 1 + torch.sum(w[l:]),
        "1 + sum of w_i treats every F_i as a function of x_l alone. But x_i itself depends "
        "on x_l through the earlier units, so the derivatives multiply: the product of "
        "(1 + w_i), which also holds the products w_i w_j, w_i w_j w_k, ...",
    ),
    Mistake(
        "an off-by-one in the range",
        lambda w, l: torch.prod(1 + w[l + 1 :]),
        "x_l is the input of unit l, so units l, l+1, ..., L-1 all lie between x_l and x_L.",
    ),
]


def check_shortcut_gradient(fn) -> CheckResult:
    """Check ``fn(w, l) -> dx_L/dx_l`` for scalar residual units against autograd."""
    return check_function(
        fn,
        shortcut_gradient,
        _GRAD_CASES,
        mistakes=_GRAD_MISTAKES,
        name="shortcut_gradient",
    )
