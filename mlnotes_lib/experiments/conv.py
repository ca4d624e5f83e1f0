"""The convolution chapter's runs: size sweeps against torch, the notes' letter grid, border
statistics of the padding modes, and checkerboard artefacts of random upsampling stacks.

Each run uses the kernels of :mod:`mlnotes_lib.conv` and never draws.

See book/conv.ipynb.
"""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from mlnotes_lib._common import check_int, num_threads
from mlnotes_lib.conv import (
    PAD_MODES,
    conv2d,
    conv_output_size,
    conv_transpose2d,
    conv_transpose_output_size,
    pad2d,
)

__all__ = [
    "CheckerboardConfig",
    "CheckerboardResult",
    "SizeCheck",
    "blur_edge_brightness",
    "border_contrast",
    "check_conv_sizes",
    "check_transpose_sizes",
    "checkerboard",
    "kernel_errors",
    "letter_grid",
    "pad_letters",
]


# --- the notes' letter grid -----------------------------------------------------------------


def letter_grid(rows: int = 6, cols: int = 8) -> list[list[str]]:
    """The notes' letter grid: ``A``..``Z`` then ``a``..``z`` row by row (6×8 gives A…v)."""
    rows, cols = check_int("rows", rows, minimum=1), check_int("cols", cols, minimum=1)
    letters = string.ascii_uppercase + string.ascii_lowercase
    if rows * cols > len(letters):
        raise ValueError(f"rows * cols must be at most {len(letters)}, got {rows * cols}")
    return [list(letters[r * cols : (r + 1) * cols]) for r in range(rows)]


def pad_letters(grid: list[list[str]], pad, mode: str = "reflect") -> list[list[str]]:
    """Pad a grid of letters with ``pad2d`` (letters become codes and back; zeros -> '·')."""
    codes = torch.tensor([[ord(ch) for ch in row] for row in grid])
    padded = pad2d(codes, pad, mode)
    return [[chr(c) if c else "·" for c in row] for row in padded.tolist()]


# --- the size formulas and the kernels against torch ------------------------------------------


@dataclass
class SizeCheck:
    """Settings where the formula and torch agree on the size, and where both refuse."""

    agree: int
    rejected: int


def _torch_size(fn, w: int, f: int, **kwargs) -> int | None:
    try:
        size = fn(torch.zeros(1, 1, w, w), torch.zeros(1, 1, f, f), **kwargs).shape[-1]
    except RuntimeError:
        return None
    return size or None  # torch returns an empty map where we raise


def _compare(ours, theirs, setting, check: SizeCheck) -> None:
    if ours != theirs:
        raise AssertionError(f"setting {setting}: formula {ours}, torch {theirs}")
    check.agree += ours is not None
    check.rejected += ours is None


def check_conv_sizes() -> SizeCheck:
    """``conv_output_size`` against ``F.conv2d`` on W 1-12, F 1-5, P 0-2, S 1-3, D 1-2."""
    check = SizeCheck(0, 0)
    for w, f, p, s, d in itertools.product(range(1, 13), range(1, 6), range(3), (1, 2, 3), (1, 2)):
        try:
            ours = conv_output_size(w, f, p, s, d)
        except ValueError:
            ours = None
        theirs = _torch_size(F.conv2d, w, f, stride=s, padding=p, dilation=d)
        _compare(ours, theirs, (w, f, p, s, d), check)
    return check


def check_transpose_sizes() -> SizeCheck:
    """``conv_transpose_output_size`` against ``F.conv_transpose2d`` (W 1-8, F 1-4, ...)."""
    check = SizeCheck(0, 0)
    grid = itertools.product(range(1, 9), range(1, 5), range(3), (1, 2, 3), (1, 2), range(3))
    for w, f, p, s, d, op in grid:
        try:
            ours = conv_transpose_output_size(w, f, p, s, op, d)
        except ValueError:
            ours = None
        kwargs = {"stride": s, "padding": p, "output_padding": op, "dilation": d}
        theirs = _torch_size(F.conv_transpose2d, w, f, **kwargs)
        _compare(ours, theirs, (w, f, p, s, d, op), check)
    return check


def kernel_errors(seed: int = 0) -> dict[str, float]:
    """Largest absolute difference between ours and torch's ``conv2d`` and ``conv_transpose2d``.

    Values and gradients, in float64, over strides, paddings, dilations and kernel shapes;
    tests/ sweep a larger grid.
    """
    gen = torch.Generator().manual_seed(seed)
    pairs = {
        "conv2d": (conv2d, F.conv2d),
        "conv_transpose2d": (conv_transpose2d, F.conv_transpose2d),
    }
    worst = dict.fromkeys(pairs, 0.0)
    for name, s, p, d, k in itertools.product(pairs, (1, 2), (0, 1), (1, 2), ((3, 3), (2, 4))):
        ours, ref = pairs[name]
        shape = (4, 3, *k) if name == "conv2d" else (3, 4, *k)
        kw = {"stride": s, "padding": p, "dilation": d}
        if name == "conv_transpose2d":
            kw["output_padding"] = (s - 1, 0)
        x = torch.randn(2, 3, 8, 7, dtype=torch.float64, generator=gen, requires_grad=True)
        w = torch.randn(shape, dtype=torch.float64, generator=gen, requires_grad=True)
        want, got = ref(x, w, **kw), ours(x, w, **kw)
        g = torch.randn(want.shape, dtype=torch.float64, generator=gen)
        grads = zip(
            torch.autograd.grad(got, (x, w), g), torch.autograd.grad(want, (x, w), g), strict=True
        )
        diffs = [got - want, *(a - b for a, b in grads)]
        worst[name] = max(worst[name], *(float(t.detach().abs().max()) for t in diffs))
    return worst


# --- padding at the border ---------------------------------------------------------------------


def _edge(img: torch.Tensor) -> float:
    """Mean of the outermost ring of pixels of (H, W)."""
    return torch.cat([img[0], img[-1], img[1:-1, 0], img[1:-1, -1]]).mean().item()


def blur_edge_brightness(image: torch.Tensor, size: int = 5) -> dict[str, float]:
    """Mean brightness of the outermost pixel ring after a ``size`` box blur, per padding mode.

    Also ``"original"``: the ring of the unblurred image. Zero padding averages in black.
    """
    kernel = torch.full((1, 1, size, size), 1.0 / size**2, dtype=image.dtype)
    out = {"original": _edge(image)}
    for mode in PAD_MODES:
        padded = pad2d(image[None, None], size // 2, mode)
        out[mode] = _edge(conv2d(padded, kernel)[0, 0])
    return out


def border_contrast(image: torch.Tensor, pad: int = 8) -> dict[str, float]:
    """Mean absolute difference between vertically neighbouring pixels near the top and bottom.

    ``"inside"`` is measured on the image's own ``pad + 1`` outermost rows; each mode on the
    ``pad`` rows it invents plus the edge row they continue. Replicate invents rows with no
    vertical change at all; reflect copies the edge's texture; circular adds a seam.
    """

    def contrast(rows_top: torch.Tensor, rows_bottom: torch.Tensor) -> float:
        steps = torch.cat([rows_top.diff(dim=0), rows_bottom.diff(dim=0)])
        return steps.abs().mean().item()

    n = pad + 1
    out = {"inside": contrast(image[:n], image[-n:])}
    for mode in PAD_MODES[1:]:
        padded = pad2d(image, (0, 0, pad, pad), mode)
        out[mode] = contrast(padded[:n], padded[-n:])
    return out


# --- checkerboard artefacts -----------------------------------------------------------------------

UPSAMPLERS = ("F3 S2 transposed", "F4 S2 transposed", "resize + F3 conv")


@dataclass
class CheckerboardConfig:
    """Random (untrained) upsampling stacks, 4x4 -> 32x32, as in a DCGAN generator's body."""

    seeds: int = 64  # random initialisations averaged; the phase contrast settles by ~30
    seed: int = 0  # first seed; the sweep in tests/ moves it
    channels: int = 16  # wide enough for sums of many random taps, cheap enough for the book
    layers: int = 3  # 4 -> 8 -> 16 -> 32, like the last three blocks of the digits generator
    threads: int = 1  # one thread: the same numbers on any core count


@dataclass
class CheckerboardResult:
    """Per upsampler: one sample (H, W), the mean energy map E[y^2] (H, W), phase contrast."""

    sample: dict[str, torch.Tensor] = field(default_factory=dict)
    energy: dict[str, torch.Tensor] = field(default_factory=dict)
    contrast: dict[str, float] = field(default_factory=dict)


def _upsampler(kind: str, c_in: int, c_out: int) -> nn.Module:
    if kind == UPSAMPLERS[0]:
        return nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1)
    if kind == UPSAMPLERS[1]:
        return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
    return nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(c_in, c_out, 3, padding=1))


def _random_stack(kind: str, cfg: CheckerboardConfig, gen: torch.Generator) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(cfg.layers):
        last = i == cfg.layers - 1
        mods += [_upsampler(kind, cfg.channels, 1 if last else cfg.channels)]
        mods += [] if last else [nn.ReLU()]
    net = nn.Sequential(*mods)
    with torch.no_grad():  # He-style scale, drawn from our generator; no biases
        for name, prm in net.named_parameters():
            fan = prm.shape[0] * prm[0, 0].numel() if "weight" in name else 1
            prm.copy_(torch.randn(prm.shape, generator=gen) * (2 / fan) ** 0.5)
            if "bias" in name:
                prm.zero_()
    return net


def phase_contrast(energy: torch.Tensor, period: int = 2, margin: int = 4) -> float:
    """(max - min) / mean of the mean energy on each of the ``period``² pixel phases.

    Away from a ``margin`` at the border; 0 for an output that treats every pixel alike.
    """
    inner = energy[margin:-margin, margin:-margin]
    phases = torch.stack([inner[a::period, b::period].mean() for a in range(period)
                          for b in range(period)])  # fmt: skip
    return float((phases.max() - phases.min()) / phases.mean())


def checkerboard(cfg: CheckerboardConfig | None = None) -> CheckerboardResult:
    """Push random 4x4 maps through random upsampling stacks; measure the checkerboard."""
    cfg = cfg or CheckerboardConfig()
    res = CheckerboardResult()
    with num_threads(cfg.threads), torch.no_grad():
        for kind in UPSAMPLERS:
            total = 0.0
            for k in range(cfg.seeds):
                gen = torch.Generator().manual_seed(cfg.seed * 10_000 + k)
                net = _random_stack(kind, cfg, gen)
                y = net(torch.randn(1, cfg.channels, 4, 4, generator=gen))[0, 0]
                total = total + y**2
                res.sample.setdefault(kind, y)
            res.energy[kind] = total / cfg.seeds
            res.contrast[kind] = phase_contrast(res.energy[kind])
    return res
