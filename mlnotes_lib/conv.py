"""Convolution arithmetic, padding and the transposed convolution.

Output sizes of (transposed) convolutions with padding, stride and dilation, as in
Dumoulin & Visin, *A guide to convolution arithmetic for deep learning* (2016); the four
padding modes of ``torch.nn.functional.pad`` written as index arithmetic (every padded
pixel is a copy of an input pixel, or zero); and the convolution itself:

- :func:`conv2d` reads every kernel window through strided views of the padded input and
  contracts them with the weight by matrix products (one per kernel tap at stride 1);
- :func:`conv_transpose2d` is built the way the guide draws it: insert ``s - 1`` zeros
  between the inputs, pad by ``d(f - 1) - p``, and run :func:`conv2d` with the flipped,
  channel-swapped kernel;
- :func:`conv_matrix` writes a single-channel convolution as the matrix ``C`` with
  ``conv(x) = C @ vec(x)``; the transposed convolution is ``C.T``.

See book/conv.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mlnotes_lib._common import blocks

__all__ = [
    "PAD_MODES",
    "TORCH_PAD_MODE",
    "conv2d",
    "conv_matrix",
    "conv_output_size",
    "conv_transpose2d",
    "conv_transpose_output_size",
    "overlap_counts",
    "pad2d",
    "pad_indices",
    "receptive_field",
    "same_padding",
]

PAD_MODES = ("zeros", "reflect", "replicate", "circular")
#: The name ``F.pad`` uses for each of our modes (the one copy of this map).
TORCH_PAD_MODE = {"zeros": "constant", **{m: m for m in PAD_MODES[1:]}}


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < low:
        kind = "positive" if low == 1 else "non-negative"
        raise ValueError(f"{name} must be {kind} (>= {low}), got {value}")
    return int(value)


def _torch_names(p, s, d, padding, stride, dilation) -> tuple:
    """``p, s, d``, or PyTorch's names for them (``padding``, ``stride``, ``dilation``)."""
    out = []
    for short, name, value, alias, default in (
        ("p", "padding", p, padding, 0),
        ("s", "stride", s, stride, 1),
        ("d", "dilation", d, dilation, 1),
    ):
        if alias is not None:
            if not (isinstance(value, int) and value == default):
                raise ValueError(f"{name}: give {short} or {name}, not both")
            value = alias
        out.append(value)
    return tuple(out)


def conv_output_size(
    w: int,
    f: int,
    p: int = 0,
    s: int = 1,
    d: int = 1,
    *,
    padding: int | None = None,
    stride: int | None = None,
    dilation: int | None = None,
) -> int:
    """Output length of a convolution along one dimension.

    .. math:: O = \\left\\lfloor \\frac{W + 2P - D(F - 1) - 1}{S} \\right\\rfloor + 1

    which is ``floor((W - F_eff + 2P) / S) + 1`` with the effective (dilated) kernel
    size ``F_eff = D(F - 1) + 1``. The floor is there because the last window must fit
    entirely inside the padded input: any leftover columns are never visited.

    Parameters
    ----------
    w, f, p, s, d : int
        Input size ``W``, kernel size ``F``, zero padding ``P`` on each side, stride ``S``
        and dilation ``D``.
    padding, stride, dilation : int, optional
        PyTorch's names for ``p``, ``s`` and ``d`` (give one name or the other).

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
    p, s, d = _torch_names(p, s, d, padding, stride, dilation)
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
    w: int,
    f: int,
    p: int = 0,
    s: int = 1,
    output_padding: int = 0,
    d: int = 1,
    *,
    padding: int | None = None,
    stride: int | None = None,
    dilation: int | None = None,
) -> int:
    """Output length of a transposed ("fractionally strided") convolution.

    .. math:: O = S(W - 1) - 2P + D(F - 1) + P_\\text{out} + 1

    where :math:`P_\\text{out}` is ``output_padding``. With ``d = 1`` and
    ``output_padding = 0`` this is the notes' ``O = S(W - 1) + F - 2P``.
    A strided convolution maps up to ``S`` different input sizes to the same output size
    (the floor in :func:`conv_output_size`); ``output_padding`` picks which of them the
    transposed convolution returns, so it must be smaller than the stride (or dilation).

    Parameters
    ----------
    w, f, p, s, d : int
        Input size, kernel size, padding, stride and dilation, as for :func:`conv_output_size`.
    output_padding : int
        Extra size added to one side of the output, ``0 <= output_padding < max(s, d)``.
    padding, stride, dilation : int, optional
        PyTorch's names for ``p``, ``s`` and ``d``.

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
    p, s, d = _torch_names(p, s, d, padding, stride, dilation)
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


# --- the convolution, its transpose and its matrix -----------------------------------------


def _pair(name: str, value, low: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= ``low``, as ``(height, width)``."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}")
        return _check_int(name, value[0], low), _check_int(name, value[1], low)
    v = _check_int(name, value, low)
    return v, v


def _check_conv_args(x, weight, bias, in_dim: int, out_dim: int) -> None:
    """Shapes of ``x`` (N, C, H, W), ``weight`` (4-D, C on ``in_dim``) and ``bias``."""
    for name, t in (("x", x), ("weight", weight)):
        if not isinstance(t, torch.Tensor) or t.dim() != 4:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a 4-D tensor, got {shape}")
    if weight.shape[in_dim] != x.shape[1]:
        raise ValueError(
            f"weight: expects {weight.shape[in_dim]} input channels (dimension {in_dim}), "
            f"but x has {x.shape[1]} channels"
        )
    if bias is not None and (
        not isinstance(bias, torch.Tensor) or bias.shape != (weight.shape[out_dim],)
    ):
        got = tuple(bias.shape) if isinstance(bias, torch.Tensor) else type(bias).__name__
        raise ValueError(f"bias must have shape ({weight.shape[out_dim]},), got {got}")


def same_padding(f: int, d: int = 1) -> tuple[int, int]:
    """The (left, right) padding of torch's ``padding="same"`` for kernel ``f``, dilation ``d``.

    A stride-1 convolution keeps the size when the padding adds up to the kernel's span
    minus one, ``d(f - 1)``. When that is odd, torch puts the extra cell on the right (and
    at the bottom): ``left = d(f - 1) // 2``, ``right = d(f - 1) - left``.

    See book/conv.ipynb.
    """
    f, d = _check_int("f", f, 1), _check_int("d", d, 1)
    total = d * (f - 1)
    return total // 2, total - total // 2


#: Output elements per block of :class:`_ShiftedMatmul` (1 MiB of float32): a block stays in
#: the cache while all ``kH * kW`` taps add into it, instead of going to memory once per tap.
_BLOCK_ELEMENTS = 1 << 18


class _ShiftedMatmul(torch.autograd.Function):
    """Stride-1 convolution of a padded input as ``kH * kW`` shifted matrix products.

    With the channels first and every image's pixels side by side, ``(C, N * Hp * Wp)``, the
    input of tap ``(i, j)`` for every output is one column slice, shifted by
    ``i*dh*Wp + j*dw`` (columns that run past an image's right edge compute values that are
    then dropped). Each tap is one ``addmm`` of the ``(C_out, C_in)`` tap matrix with a view
    of the input, in both passes, block by block of columns. The backward is written out:
    autograd through the slices would allocate a full-size gradient per tap.
    """

    @staticmethod
    def forward(ctx, xp, weight, dh: int, dw: int):
        n, c, hp, wp = xp.shape
        co, _, kh, kw = weight.shape
        xs = xp.transpose(0, 1).reshape(c, n * hp * wp)  # (C, N*Hp*Wp)
        offsets = [i * dh * wp + j * dw for i in range(kh) for j in range(kw)]
        cols = n * hp * wp - offsets[-1]
        taps = weight.permute(2, 3, 0, 1).reshape(kh * kw, co, c)  # (taps, C_out, C_in)
        out = xs.new_empty(co, n * hp * wp)  # columns past `cols` are never valid outputs
        for cb in blocks(cols, max(c, co), _BLOCK_ELEMENTS):  # column blocks
            a, b = cb.start, cb.stop
            block = out[:, a:b]
            torch.mm(taps[0], xs[:, a:b], out=block)  # tap (0, 0) has offset 0
            for tap, off in zip(taps[1:], offsets[1:], strict=True):
                block.addmm_(tap, xs[:, a + off : b + off])
        ctx.save_for_backward(xs, taps)
        ho, wo = hp - dh * (kh - 1), wp - dw * (kw - 1)
        ctx.meta = (xp.shape, weight.shape, offsets, cols, ho, wo)
        return out.view(co, n, hp, wp)[:, :, :ho, :wo].transpose(0, 1)  # (N, C_out, Ho, Wo)

    @staticmethod
    def backward(ctx, grad):
        xs, taps = ctx.saved_tensors
        (n, c, hp, wp), (co, _, kh, kw), offsets, cols, ho, wo = ctx.meta
        g = grad.new_zeros(co, n, hp, wp)  # zeros where the forward dropped its columns
        g[:, :, :ho, :wo] = grad.transpose(0, 1)
        g = g.view(co, n * hp * wp)
        gx, gw = xs.new_zeros(c, n * hp * wp), taps.new_zeros(len(offsets), c, co)
        for cb in blocks(cols, max(c, co), _BLOCK_ELEMENTS):
            a, b = cb.start, cb.stop
            for t, off in enumerate(offsets):  # taps[t].t() is (C_in, C_out)
                gx[:, a + off : b + off].addmm_(taps[t].t(), g[:, a:b])
                gw[t].addmm_(xs[:, a + off : b + off], g[:, a:b].t())
        gx = gx.view(c, n, hp, wp).transpose(0, 1)
        return gx, gw.view(kh, kw, c, co).permute(3, 2, 0, 1), None, None


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
) -> torch.Tensor:
    """2-D convolution (cross-correlation, as in torch) from strided views and one matmul.

    The padded input is viewed as every kernel window at once, ``(N, C, H_out, W_out,
    kH, kW)``, without copying (``Tensor.unfold`` views; dilation is a stride over the
    window); the windows are laid out as columns and multiplied by the weight matrix
    ``(C_out, C_in * kH * kW)``, and autograd gives the backward pass. At stride 1 the
    same sum runs as one matrix product per kernel tap on shifted views of the input
    (:class:`_ShiftedMatmul`), which avoids copying every window.

    Parameters
    ----------
    x : Tensor, shape (N, C_in, H, W)
    weight : Tensor, shape (C_out, C_in, kH, kW)
    bias : Tensor, shape (C_out,), optional
    stride, dilation : int or (int, int)
    padding : int, (int, int) or "same"
        Zeros on each side; ``"same"`` keeps the size (stride 1 only, as in torch), with
        the extra cell of an even span on the right and bottom (:func:`same_padding`).

    Returns
    -------
    Tensor, shape (N, C_out, H_out, W_out)
        The same values and gradients as ``F.conv2d`` with the same arguments.

    Raises
    ------
    ValueError
        Under the rules of :func:`conv_output_size` (naming ``stride``, ``padding``,
        ``dilation`` or ``weight`` for a kernel larger than the padded input), for channel
        counts that do not match ``weight``, a malformed ``bias``, and ``"same"`` with a
        stride above 1.

    See book/conv.ipynb.
    """
    _check_conv_args(x, weight, bias, 1, 0)
    (sh, sw), (dh, dw) = _pair("stride", stride, 1), _pair("dilation", dilation, 1)
    kh, kw = weight.shape[-2:]
    if isinstance(padding, str):
        if padding != "same":
            raise ValueError(f"padding must be an int, a pair or 'same', got {padding!r}")
        if (sh, sw) != (1, 1):
            raise ValueError("padding='same' needs stride 1 (torch refuses it too)")
        (top, bottom), (left, right) = same_padding(kh, dh), same_padding(kw, dw)
    else:
        (top, left) = _pair("padding", padding, 0)
        bottom, right = top, left
    n, c, h, w = x.shape
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if span_h > h + top + bottom or span_w > w + left + right:
        raise ValueError(
            f"weight: the kernel spans {span_h}x{span_w} cells (with dilation), more than "
            f"the padded input {h + top + bottom}x{w + left + right}"
        )
    if top or bottom or left or right:
        x = pad2d(x, (left, right, top, bottom))
    if (sh, sw) == (1, 1):
        out = _ShiftedMatmul.apply(x, weight, dh, dw)
    else:
        windows = x.unfold(2, span_h, sh).unfold(3, span_w, sw)[..., ::dh, ::dw]
        ho, wo = windows.shape[2], windows.shape[3]  # (N, C, H_out, W_out, kH, kW)
        cols = windows.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, ho * wo)
        out = (weight.reshape(weight.shape[0], -1) @ cols).view(n, -1, ho, wo)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def _insert_zeros_and_pad(x: torch.Tensor, s, before, after) -> torch.Tensor:
    """``s - 1`` zeros between neighbouring cells of the last two dimensions, then ``before``
    and ``after`` zeros on each side (a negative amount crops that side), in one copy."""
    hz, wz = (s[i] * (x.shape[i - 2] - 1) + 1 for i in range(2))
    (t, l), (b, r) = ((max(v, 0) for v in side) for side in (before, after))
    z = x.new_zeros(*x.shape[:-2], hz + t + b, wz + l + r)
    z[..., t : t + hz : s[0], l : l + wz : s[1]] = x
    (ct, cl), (cb, cr) = ((max(-v, 0) for v in side) for side in (before, after))
    return z[..., ct : z.shape[-2] - cb, cl : z.shape[-1] - cr]


def conv_transpose2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride=1,
    padding=0,
    output_padding=0,
    dilation=1,
) -> torch.Tensor:
    """Transposed convolution as a stride-1 :func:`conv2d` of a zero-inserted, padded input.

    1. insert ``s - 1`` zeros between neighbouring inputs (in each dimension);
    2. pad each side with ``d(f - 1) - p`` zeros (crop where that is negative) and add
       ``output_padding`` more at the bottom and right;
    3. convolve with stride 1 and dilation ``d``, using the kernel flipped in both spatial
       dimensions with its input and output channels swapped.

    Parameters
    ----------
    x : Tensor, shape (N, C_in, H, W)
    weight : Tensor, shape (C_in, C_out, kH, kW)
        As in ``F.conv_transpose2d``.
    bias : Tensor, shape (C_out,), optional
    stride, padding, output_padding, dilation : int or (int, int)
        ``padding`` is that of the convolution being transposed; it is removed from the
        output. ``output_padding`` must be below ``max(stride, dilation)``.

    Returns
    -------
    Tensor, shape (N, C_out, H_out, W_out)
        ``H_out = s(H - 1) - 2p + d(kH - 1) + output_padding + 1``; the same values and
        gradients as ``F.conv_transpose2d``.

    Raises
    ------
    ValueError
        Under the rules of :func:`conv_transpose_output_size`, for channel counts that do
        not match ``weight`` and a malformed ``bias``.

    See book/conv.ipynb.
    """
    _check_conv_args(x, weight, bias, 0, 1)
    s, d = _pair("stride", stride, 1), _pair("dilation", dilation, 1)
    p, op = _pair("padding", padding, 0), _pair("output_padding", output_padding, 0)
    k = weight.shape[-2:]
    for i in range(2):
        if op[i] >= max(s[i], d[i]):
            raise ValueError(
                f"output_padding must be smaller than max(stride, dilation) = "
                f"{max(s[i], d[i])}, got {op[i]}"
            )
        if s[i] * (x.shape[2 + i] - 1) - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1 < 1:
            raise ValueError(f"padding {p[i]} removes the whole output")
    qh, qw = d[0] * (k[0] - 1) - p[0], d[1] * (k[1] - 1) - p[1]
    z = _insert_zeros_and_pad(x, s, (qh, qw), (qh + op[0], qw + op[1]))  # steps 1 and 2
    flipped = weight.flip(-2, -1).transpose(0, 1)  # (C_out, C_in, kH, kW)
    return conv2d(z, flipped, bias, stride=1, padding=0, dilation=d)


def conv_matrix(weight: torch.Tensor, input_size, stride=1, padding=0, dilation=1) -> torch.Tensor:
    """The matrix ``C`` of a single-channel convolution: ``vec(conv2d(x)) = C @ vec(x)``.

    Row ``a * W_out + b`` holds the kernel taps at the input cells that output ``(a, b)``
    reads (row-major ``vec``); cells that fall on padding are dropped. ``C.T`` is the
    transposed convolution with the same settings (no ``output_padding``), and it is also
    the map that backpropagation applies to the output's gradient.

    Parameters
    ----------
    weight : Tensor, shape (kH, kW)
    input_size : (int, int)
        ``(H, W)`` of the input.
    stride, padding, dilation : int or (int, int)

    Returns
    -------
    Tensor, shape (H_out * W_out, H * W)
        Differentiable in ``weight``.

    See book/conv.ipynb.
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise ValueError("weight must be a 2-D tensor (kH, kW)")
    h, w = _pair("input_size", input_size, 1)
    s, p = _pair("stride", stride, 1), _pair("padding", padding, 0)
    d = _pair("dilation", dilation, 1)
    k = weight.shape
    out = [
        conv_output_size(size, k[i], stride=s[i], padding=p[i], dilation=d[i])
        for i, size in enumerate((h, w))
    ]
    a = torch.arange(out[0]).view(-1, 1, 1, 1)
    b = torch.arange(out[1]).view(1, -1, 1, 1)
    r = a * s[0] + torch.arange(k[0]).view(1, 1, -1, 1) * d[0] - p[0]  # (H_out, 1, kH, 1)
    q = b * s[1] + torch.arange(k[1]).view(1, 1, 1, -1) * d[1] - p[1]  # (1, W_out, 1, kW)
    r, q = torch.broadcast_tensors(r, q)  # (H_out, W_out, kH, kW)
    row = (a * out[1] + b).expand_as(r)
    inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
    taps = weight.expand(*r.shape[:2], *k)
    c = weight.new_zeros(out[0] * out[1], h * w)
    return c.index_put((row[inside], (r * w + q)[inside]), taps[inside], accumulate=True)


def receptive_field(layers: Sequence[Sequence[int]]) -> tuple[int, int]:
    """Receptive field and jump of the last layer of a stack of convolutions.

    Each layer is ``(f, s)`` or ``(f, s, d)``. Going up one layer, the field grows by
    ``d(f - 1)`` cells of that layer's input, each ``jump`` input pixels apart, and the
    jump multiplies by the stride: ``r += d(f - 1) * j``, then ``j *= s``, from
    ``r = j = 1``. Padding shifts the field but does not change its size.

    Returns
    -------
    (int, int)
        ``(size, jump)``: one output cell sees ``size`` input pixels per dimension, and
        neighbouring output cells are ``jump`` input pixels apart.

    See book/conv.ipynb.
    """
    if isinstance(layers, str) or not isinstance(layers, Sequence):
        raise ValueError("layers must be a sequence of (f, s) or (f, s, d) tuples")
    size, jump = 1, 1
    for i, layer in enumerate(layers):
        if isinstance(layer, str) or not isinstance(layer, Sequence) or len(layer) not in (2, 3):
            raise ValueError(f"layers[{i}] must be (f, s) or (f, s, d), got {layer!r}")
        f, s = _check_int("f", layer[0], 1), _check_int("s", layer[1], 1)
        d = _check_int("d", layer[2], 1) if len(layer) == 3 else 1
        size += d * (f - 1) * jump
        jump *= s
    return size, jump


def overlap_counts(w: int, f: int, s: int, p: int = 0, output_padding: int = 0) -> torch.Tensor:
    """How many (input, kernel tap) pairs land on each output cell of a 1-D transposed conv.

    Input ``i`` spreads its value over outputs ``i * s + k - p`` for taps ``k < f``. When
    ``s`` does not divide ``f`` the counts alternate (the checkerboard of Odena et al.,
    2016); when it does, every interior cell gets ``f / s`` contributions.

    Returns
    -------
    Tensor, shape (O,), int64
        ``O = conv_transpose_output_size(w, f, p, s, output_padding)``.

    See book/conv.ipynb.
    """
    o = conv_transpose_output_size(w, f, p, s, output_padding)
    pos = (torch.arange(w).view(-1, 1) * s + torch.arange(f).view(1, -1) - p).flatten()
    pos = pos[(pos >= 0) & (pos < o)]
    return torch.bincount(pos, minlength=o)
