"""Checkers for the exercises of the DCGAN chapter (book/dcgan.ipynb).

- :func:`check_transposed_sizes`: the side of the feature map after each transposed
  convolution of a generator, from the formula O = S(W - 1) + F - 2P.
- :func:`check_generator_num_params`: the number of trainable parameters of
  :class:`mlnotes_lib.dcgan.Generator`, counted by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from mlnotes_lib.exercises import CheckResult, Mistake, check_function

__all__ = [
    "check_generator_num_params",
    "check_transposed_sizes",
    "generator_num_params",
    "transposed_sizes",
]

Layer = tuple[int, int, int]  # (kernel F, stride S, padding P)


def transposed_sizes(w: int, layers: Sequence[Layer]) -> list[int]:
    """Side of the feature map after each transposed convolution, starting from side ``w``.

    ``layers`` lists ``(f, s, p)`` (kernel, stride, padding) per layer, in order.

    See book/dcgan.ipynb.
    """
    sizes = []
    for f, s, p in layers:
        w = s * (w - 1) + f - 2 * p
        sizes.append(w)
    return sizes


def _sizes_with(rule: Callable[[int, int, int, int], int]):
    def fn(w, layers):
        sizes = []
        for f, s, p in layers:
            w = rule(w, f, s, p)
            sizes.append(w)
        return sizes

    return fn


_SIZE_CASES = [
    (1, [(4, 1, 0), (4, 2, 1), (4, 2, 1), (4, 2, 1), (4, 2, 1)]),  # the paper's generator
    (1, [(4, 1, 0), (4, 2, 1), (4, 2, 1), (4, 2, 1)]),  # the 32x32 digits generator
    (3, [(3, 1, 1), (5, 2, 2), (4, 2, 1)]),
    (2, [(3, 2, 0), (2, 2, 0)]),
]

_SIZE_MISTAKES = [
    Mistake(
        "the convolution's formula",
        _sizes_with(lambda w, f, s, p: (w - f + 2 * p) // s + 1),
        "O = (W - F + 2P)/S + 1 is the size after a convolution, which shrinks the map; "
        "a transposed convolution goes the other way: O = S(W - 1) + F - 2P.",
    ),
    Mistake(
        "a forgotten padding",
        _sizes_with(lambda w, f, s, p: s * (w - 1) + f),
        "padding P removes P pixels from each side of a transposed convolution's output: "
        "subtract 2P.",
    ),
    Mistake(
        "padding added instead of removed",
        _sizes_with(lambda w, f, s, p: s * (w - 1) + f + 2 * p),
        "in a transposed convolution the padding is cropped off the output: -2P, not +2P.",
    ),
    Mistake(
        "S·W instead of S(W - 1)",
        _sizes_with(lambda w, f, s, p: s * w + f - 2 * p),
        "W input pixels placed S apart span S(W - 1) + 1 positions, not SW; the kernel then "
        "adds F - 1 more.",
    ),
]


def check_transposed_sizes(fn: Callable[[int, Sequence[Layer]], Sequence[int]]) -> CheckResult:
    """Check ``fn(w, layers) -> list of sizes`` against :func:`transposed_sizes`.

    See book/dcgan.ipynb.
    """
    return check_function(
        fn, transposed_sizes, _SIZE_CASES, mistakes=_SIZE_MISTAKES, name="transposed_sizes"
    )


def _count(
    nz: int,
    ngf: int,
    nc: int,
    image_size: int,
    *,
    bn_per_channel: int = 2,
    hidden_bias: bool = False,
    out_bias: bool = True,
) -> int:
    n = int(math.log2(image_size)) - 2
    ch = ngf * 2 ** (n - 1)
    total = nz * ch * 16 + ch * (hidden_bias + bn_per_channel)  # project + its batch norm
    for _ in range(1, n):
        total += ch * (ch // 2) * 16 + (ch // 2) * (hidden_bias + bn_per_channel)
        ch //= 2
    return total + ch * nc * 16 + nc * out_bias


def generator_num_params(nz: int, ngf: int, nc: int, image_size: int) -> int:
    """Trainable parameters of ``Generator(nz, ngf, nc, image_size)``, by formula.

    A transposed convolution from ``c_in`` to ``c_out`` channels with a 4×4 kernel has
    ``16 c_in c_out`` weights; each batch norm has a scale and a shift per channel;
    only the output layer has a bias.

    See book/dcgan.ipynb.
    """
    return _count(nz, ngf, nc, image_size)


_PARAM_CASES = [(100, 64, 3, 64), (100, 32, 1, 32), (16, 8, 1, 16), (10, 4, 3, 128)]

_PARAM_MISTAKES = [
    Mistake(
        "a forgotten batch norm",
        lambda *a: _count(*a, bn_per_channel=0),
        "each BatchNorm2d learns a scale gamma and a shift beta per channel: 2 parameters "
        "per channel.",
    ),
    Mistake(
        "running statistics counted as parameters",
        lambda *a: _count(*a, bn_per_channel=4) + (int(math.log2(a[3])) - 2),
        "the running mean and variance (and num_batches_tracked) are buffers in the "
        "state_dict, not trainable parameters: count model.parameters(), not the state_dict.",
    ),
    Mistake(
        "a bias on every convolution",
        lambda *a: _count(*a, hidden_bias=True),
        "a convolution followed by batch norm needs no bias (the norm subtracts the mean, "
        "cancelling it), so the hidden layers are built with bias=False.",
    ),
    Mistake(
        "a forgotten output bias",
        lambda *a: _count(*a, out_bias=False),
        "the output layer has no batch norm after it, so it keeps its bias: nc more.",
    ),
]


def check_generator_num_params(fn: Callable[[int, int, int, int], int]) -> CheckResult:
    """Check ``fn(nz, ngf, nc, image_size) -> int`` against :func:`generator_num_params`.

    See book/dcgan.ipynb.
    """
    return check_function(
        fn,
        generator_num_params,
        _PARAM_CASES,
        mistakes=_PARAM_MISTAKES,
        name="generator_num_params",
    )
