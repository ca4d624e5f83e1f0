"""Convolution arithmetic and padding.

Output sizes of (transposed) convolutions, with padding, stride and dilation, as in
Dumoulin & Visin, *A guide to convolution arithmetic for deep learning* (2016), and the
four padding modes of ``torch.nn.functional.pad`` written as index arithmetic: every
padded pixel is a copy of an input pixel (or zero), found by mapping its coordinate
back into the input.

See book/conv.ipynb.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

__all__ = [
    "PAD_MODES",
    "conv_output_size",
    "conv_transpose_output_size",
    "letter_grid",
    "pad2d",
    "pad_indices",
    "pad_letters",
    "plot_conv_arithmetic",
    "plot_conv_positions",
    "plot_padding",
    "plot_letter_grid",
]

PAD_MODES = ("zeros", "reflect", "replicate", "circular")


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < low:
        kind = "positive" if low == 1 else "non-negative"
        raise ValueError(f"{name} must be {kind} (>= {low}), got {value}")
    return int(value)


def conv_output_size(w: int, f: int, p: int = 0, s: int = 1, d: int = 1) -> int:
    """Output length of a convolution along one dimension.

    .. math:: O = \\left\\lfloor \\frac{W + 2P - D(F - 1) - 1}{S} \\right\\rfloor + 1

    which is ``floor((W - F_eff + 2P) / S) + 1`` with the effective (dilated) kernel
    size ``F_eff = D(F - 1) + 1``. The floor is there because the last window must fit
    entirely inside the padded input: any leftover columns are never visited.

    Parameters
    ----------
    w : int
        Input size ``W``.
    f : int
        Kernel size ``F``.
    p : int
        Zero padding ``P`` on each side.
    s : int
        Stride ``S``.
    d : int
        Dilation ``D``.

    Returns
    -------
    int
        The output size ``O``; the same as ``nn.Conv2d`` gives.

    Raises
    ------
    ValueError
        If an argument is not an int, ``w``/``f``/``s``/``d`` < 1, ``p`` < 0, or the
        (dilated) kernel is larger than the padded input.

    See book/conv.ipynb.
    """
    w, f = _check_int("w", w, 1), _check_int("f", f, 1)
    p, s, d = _check_int("p", p, 0), _check_int("s", s, 1), _check_int("d", d, 1)
    f_eff = d * (f - 1) + 1
    if f_eff > w + 2 * p:
        raise ValueError(
            f"f: the kernel (effective size {f_eff} with dilation {d}) is larger than the "
            f"padded input (w + 2p = {w + 2 * p})"
        )
    return (w + 2 * p - f_eff) // s + 1


def conv_transpose_output_size(
    w: int, f: int, p: int = 0, s: int = 1, output_padding: int = 0, d: int = 1
) -> int:
    """Output length of a transposed ("fractionally strided") convolution.

    .. math:: O = S(W - 1) - 2P + D(F - 1) + \\text{output\\_padding} + 1

    With ``d = 1`` and ``output_padding = 0`` this is the notes' ``O = S(W - 1) + F - 2P``.
    A strided convolution maps up to ``S`` different input sizes to the same output size
    (the floor in :func:`conv_output_size`); ``output_padding`` picks which of them the
    transposed convolution returns, so it must be smaller than the stride (or dilation).

    Parameters
    ----------
    w, f, p, s, d : int
        Input size, kernel size, padding, stride and dilation, as for :func:`conv_output_size`.
    output_padding : int
        Extra size added to one side of the output, ``0 <= output_padding < max(s, d)``.

    Returns
    -------
    int
        The output size; the same as ``nn.ConvTranspose2d`` gives.

    Raises
    ------
    ValueError
        If an argument is out of range, ``output_padding >= max(s, d)``, or the result
        would not be positive.

    See book/conv.ipynb.
    """
    w, f = _check_int("w", w, 1), _check_int("f", f, 1)
    p, s, d = _check_int("p", p, 0), _check_int("s", s, 1), _check_int("d", d, 1)
    output_padding = _check_int("output_padding", output_padding, 0)
    if output_padding >= max(s, d):
        raise ValueError(
            f"output_padding must be smaller than max(stride, dilation) = {max(s, d)}, "
            f"got {output_padding}"
        )
    out = s * (w - 1) - 2 * p + d * (f - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"p: padding {p} removes the whole output (size would be {out})")
    return out


def _normalize_pad(pad) -> tuple[int, int, int, int]:
    if isinstance(pad, int | np.integer) and not isinstance(pad, bool):
        pad = (int(pad),) * 4
    if not isinstance(pad, Sequence) or len(pad) != 4:
        raise ValueError(f"pad must be an int or (left, right, top, bottom), got {pad!r}")
    out = []
    for name, v in zip(("left", "right", "top", "bottom"), pad, strict=True):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise ValueError(f"pad ({name}) must be an int, got {v!r}")
        if v < 0:
            raise ValueError(f"pad ({name}) must be non-negative, got {v}")
        out.append(int(v))
    return out[0], out[1], out[2], out[3]


def pad_indices(n: int, before: int, after: int, mode: str) -> torch.Tensor:
    """Source index in ``[0, n)`` for each of the ``before + n + after`` padded positions.

    Zero padding marks its new positions with ``-1``. The other modes map a position
    ``i`` (counted from the first input element, so padding has ``i < 0`` or ``i >= n``):

    - reflect: mirror about the edge element, which is not repeated:
      ``-1 -> 1, -2 -> 2``; requires ``before, after < n``;
    - replicate: clamp to the nearest edge, ``i -> min(max(i, 0), n - 1)``;
    - circular: wrap around, ``i -> i mod n``; requires ``before, after <= n``
      (as in ``F.pad``).

    Returns
    -------
    Tensor, shape (before + n + after,), int64

    See book/conv.ipynb.
    """
    if mode not in PAD_MODES:
        raise ValueError(f"mode must be one of {PAD_MODES}, got {mode!r}")
    i = torch.arange(-before, n + after)
    if mode == "zeros":
        return torch.where((i >= 0) & (i < n), i, torch.full_like(i, -1))
    if mode == "replicate":
        return i.clamp(0, n - 1)
    if mode == "circular":
        if before > n or after > n:
            raise ValueError(
                f"pad: circular padding ({before}, {after}) must not exceed the input size {n}"
            )
        return i.remainder(n)
    if before >= n or after >= n:  # reflect
        raise ValueError(
            f"pad: reflect padding ({before}, {after}) must be smaller than the input size {n}"
        )
    # Reflection about 0 and n - 1: fold i into [0, 2n - 2) then mirror the upper half.
    period = 2 * (n - 1)
    if period == 0:
        return torch.zeros_like(i)
    j = i.remainder(period)
    return torch.where(j < n, j, period - j)


def pad2d(x: torch.Tensor, pad, mode: str = "zeros") -> torch.Tensor:
    """Pad the last two dimensions of ``x`` by gathering input pixels (no ``F.pad``).

    Parameters
    ----------
    x : Tensor, shape (..., H, W)
        Any floating or integer dtype, any number of leading dimensions.
    pad : int or (left, right, top, bottom)
        Padding of the last dimension (left, right) and the second-to-last (top, bottom).
    mode : {"zeros", "reflect", "replicate", "circular"}
        ``"zeros"`` is ``F.pad(mode="constant", value=0)``; the others match ``F.pad``'s
        modes of the same name.

    Returns
    -------
    Tensor, shape (..., H + top + bottom, W + left + right)
        The same values as ``F.pad(x, (left, right, top, bottom), mode)``; differentiable.

    Raises
    ------
    ValueError
        For a non-tensor ``x`` or one with fewer than two dimensions, negative or malformed
        ``pad``, an unknown ``mode``, reflect padding >= the input size, or circular
        padding > the input size.

    See book/conv.ipynb.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(
            f"x must have at least 2 dimensions (..., H, W), got shape {tuple(x.shape)}"
        )
    if mode not in PAD_MODES:
        raise ValueError(f"mode must be one of {PAD_MODES}, got {mode!r}")
    left, right, top, bottom = _normalize_pad(pad)
    h, w = x.shape[-2], x.shape[-1]
    if h == 0 or w == 0:
        raise ValueError(f"x must not be empty, got shape {tuple(x.shape)}")
    rows = pad_indices(h, top, bottom, mode)
    cols = pad_indices(w, left, right, mode)
    out = x.new_empty((*x.shape[:-2], h + top + bottom, w + left + right))
    out[..., top : top + h, left : left + w] = x
    # Only the border strips need the index map: copy each strip from its source columns
    # (inside the original rows), then whole padded rows from their source rows. Zero
    # padding's sources are -1: those strips are filled with zeros instead.
    for dst in (slice(0, left), slice(left + w, left + w + right)):
        if dst.stop > dst.start:
            strip = out[..., top : top + h, dst]
            strip.copy_(_take(x, -1, cols[dst])) if mode != "zeros" else strip.zero_()
    for dst in (slice(0, top), slice(top + h, top + h + bottom)):
        if dst.stop > dst.start:
            strip = out[..., dst, :]
            strip.copy_(_take(out, -2, rows[dst] + top)) if mode != "zeros" else strip.zero_()
    return out


def _take(x: torch.Tensor, dim: int, idx: torch.Tensor) -> torch.Tensor:
    """``x.index_select(dim, idx)``, as a view when ``idx`` is a run with step 1, -1 or 0.

    Padding strips are such runs (reflect counts down, circular counts up, replicate
    repeats one index); views avoid a slow gather along the last dimension.
    """
    first, n = int(idx[0]), idx.numel()
    steps = idx.diff().unique().tolist() if n > 1 else [1]
    if steps == [1]:
        return x.narrow(dim, first, n)
    if steps == [-1]:
        return x.narrow(dim, first - n + 1, n).flip(dim)
    if steps == [0]:
        shape = list(x.shape)
        shape[dim] = n
        return x.narrow(dim, first, 1).expand(shape)
    return x.index_select(dim, idx.to(x.device))


def letter_grid(rows: int = 6, cols: int = 8) -> list[list[str]]:
    """The notes' letter grid: ``A``..``Z`` then ``a``..``z`` row by row (6×8 gives A…v)."""
    rows, cols = _check_int("rows", rows, 1), _check_int("cols", cols, 1)
    letters = string.ascii_uppercase + string.ascii_lowercase
    if rows * cols > len(letters):
        raise ValueError(f"rows * cols must be at most {len(letters)}, got {rows * cols}")
    return [list(letters[r * cols : (r + 1) * cols]) for r in range(rows)]


def pad_letters(grid: list[list[str]], pad, mode: str = "reflect") -> list[list[str]]:
    """Pad a grid of letters with :func:`pad2d` (letters become codes and back; zeros -> '·')."""
    codes = torch.tensor([[ord(ch) for ch in row] for row in grid])
    padded = pad2d(codes, pad, mode)
    return [[chr(c) if c else "·" for c in row] for row in padded.tolist()]


def plot_letter_grid(ax: Axes, grid: list[list[str]], *, inner=None, fontsize: int = 11) -> Axes:
    """Draw a grid of letters; ``inner=(top, left, h, w)`` outlines the original input."""
    nrows, ncols = len(grid), len(grid[0])
    ax.set_xlim(-0.5, ncols - 0.5)
    ax.set_ylim(nrows - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    for r, row in enumerate(grid):
        for c, ch in enumerate(row):
            inside = inner is None or (
                inner[0] <= r < inner[0] + inner[2] and inner[1] <= c < inner[1] + inner[3]
            )
            ax.text(
                c,
                r,
                ch,
                ha="center",
                va="center",
                fontsize=fontsize,
                family="monospace",
                color="black" if inside else "#D55E00",
                fontweight="bold" if inside else "normal",
            )
    if inner is not None:
        top, left, h, w = inner
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, lw=1.5, ec="#0072B2"))
    return ax


def plot_conv_positions(ax: Axes, w: int, f: int, p: int = 0, s: int = 1) -> Axes:
    """Draw a 1-D input of size ``w`` padded by ``p`` and every window of a size-``f`` kernel.

    Windows step by ``s``. Padded cells are hatched, each kernel position is a bar below
    the input, and cells that no window reaches (the remainder the floor discards) are red.
    """
    o = conv_output_size(w, f, p, s)
    total = w + 2 * p
    for i in range(total):
        pad_cell = i < p or i >= p + w
        ax.add_patch(
            Rectangle(
                (i, 0),
                1,
                1,
                fc="#eeeeee" if pad_cell else "#cfe3f3",
                ec="black",
                hatch="//" if pad_cell else None,
                lw=0.8,
            )
        )
    covered = (o - 1) * s + f
    for i in range(covered, total):
        ax.add_patch(Rectangle((i, 0), 1, 1, fc="#D55E00", alpha=0.45, ec="black", lw=0.8))
    for k in range(o):
        y = -0.35 - 0.45 * k
        ax.plot(
            [k * s + 0.1, k * s + f - 0.1], [y, y], lw=4, solid_capstyle="butt", color="#009E73"
        )
        ax.text(k * s + f + 0.15, y, f"out[{k}]", va="center", fontsize=7)
    for i in range(total):  # input coordinates, counted from the first real cell
        ax.text(i + 0.5, 1.15, str(i - p), ha="center", va="bottom", fontsize=7, color="0.35")
    ax.legend(
        handles=[
            Rectangle((0, 0), 1, 1, fc="#cfe3f3", ec="black", label="input"),
            Rectangle((0, 0), 1, 1, fc="#eeeeee", ec="black", hatch="//", label="padding"),
            Rectangle((0, 0), 1, 1, fc="#D55E00", alpha=0.45, ec="black", label="never visited"),
        ],
        loc="lower right",
        fontsize=7,
        frameon=False,
    )
    ax.set_xlim(-0.5, total + 2.5)
    ax.set_ylim(-0.6 - 0.45 * o, 1.8)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return ax


def plot_conv_arithmetic(ax: Axes, w: int, f: int, p: int = 0, s: int = 1) -> Axes:
    """:func:`plot_conv_positions` titled with the output-size formula evaluated.

    When the kernel does not fit in the padded input, says so instead of drawing.
    """
    if f > w + 2 * p:
        ax.text(
            0.5,
            0.5,
            f"F = {f} > W + 2P = {w + 2 * p}: the kernel does not fit",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        return ax
    o = conv_output_size(w, f, p, s)
    plot_conv_positions(ax, w, f, p, s)
    exact = (w + 2 * p - f) / s + 1
    title = f"O = ⌊(W + 2P − F)/S⌋ + 1 = ⌊({w} + {2 * p} − {f})/{s}⌋ + 1 = {o}"
    if exact != o:
        title += f"   (without the floor: {exact:.2f})"
    ax.set_title(title, fontsize=10)
    return ax


def plot_padding(ax_letters: Axes, ax_image: Axes, image: torch.Tensor, mode: str, pad: int):
    """Pad the notes' letter grid by ``pad`` and ``image`` (H, W) by ``8 * pad``; draw both."""
    grid = pad_letters(letter_grid(6, 8), pad, mode)
    plot_letter_grid(ax_letters, grid, inner=(pad, pad, 6, 8), fontsize=8)
    ax_letters.set_title(f"letters, {mode}, pad = {pad}")
    h, w = image.shape[-2:]
    ax_image.imshow(pad2d(image, 8 * pad, mode), cmap="gray", vmin=0, vmax=1)
    ax_image.add_patch(
        Rectangle((8 * pad - 0.5, 8 * pad - 0.5), w, h, fill=False, ec="#E69F00", lw=1.5)
    )
    ax_image.set_title(f"photo, pad = {8 * pad} px")
    ax_image.set_axis_off()
    return ax_letters, ax_image
