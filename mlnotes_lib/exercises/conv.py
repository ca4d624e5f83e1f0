"""Checkers for the exercises of book/conv.ipynb."""

from __future__ import annotations

import math

from mlnotes_lib._common import check_int
from mlnotes_lib.conv import conv_output_size, overlap_counts, pad_indices
from mlnotes_lib.exercises import CheckResult, Mistake, check_function

__all__ = ["check_conv_output_size", "check_overlap_prediction", "check_reflect_index"]

# (w, f, p, s, d): strides that do not divide evenly, dilation, padding.
_SIZE_CASES = [
    (32, 3, 1, 1, 1),
    (7, 3, 0, 2, 1),
    (8, 3, 1, 2, 1),
    (224, 7, 3, 2, 1),
    (28, 5, 0, 3, 1),
    (10, 3, 2, 1, 2),
    (64, 3, 1, 2, 3),
]

_SIZE_MISTAKES = [
    Mistake(
        "a forgotten floor",
        lambda w, f, p, s, d: (w + 2 * p - d * (f - 1) - 1) / s + 1,
        "the kernel only fits floor((W + 2P - F_eff) / S) + 1 times; the last partial step "
        "is dropped, so use integer division.",
    ),
    Mistake(
        "rounding instead of flooring",
        lambda w, f, p, s, d: round((w + 2 * p - d * (f - 1) - 1) / s) + 1,
        "a window that does not fit is not used: floor, do not round.",
    ),
    Mistake(
        "ignoring dilation",
        lambda w, f, p, s, d: (w + 2 * p - f) // s + 1,
        "a dilated kernel spans F_eff = D(F - 1) + 1 input cells, not F.",
    ),
    Mistake(
        "padding on one side only",
        lambda w, f, p, s, d: (w + p - d * (f - 1) - 1) // s + 1,
        "P zeros are added on *each* side: the padded size is W + 2P.",
    ),
    Mistake(
        "a missing +1",
        lambda w, f, p, s, d: (w + 2 * p - d * (f - 1) - 1) // s,
        "count the first window too: positions 0, S, 2S, ... give (last / S) + 1 windows.",
    ),
]


def check_conv_output_size(fn) -> CheckResult:
    """Check ``fn(w, f, p, s, d) -> int`` against :func:`mlnotes_lib.conv.conv_output_size`."""

    def as_int(w, f, p, s, d):
        out = fn(w, f, p, s, d)
        if isinstance(out, float) and not out.is_integer():
            return out  # a fractional size is an answer to compare, not an error
        return int(out) if isinstance(out, int | float) and math.isfinite(out) else out

    as_int.__name__ = "conv_output_size"
    return check_function(
        as_int, conv_output_size, _SIZE_CASES, mistakes=_SIZE_MISTAKES, name="conv_output_size"
    )


def _reflect_reference(i: int, n: int) -> int:
    return int(pad_indices(n, n - 1, n - 1, "reflect")[i + n - 1])


_REFLECT_CASES = [(-1, 5), (-2, 5), (-4, 5), (0, 5), (4, 5), (5, 5), (6, 5), (8, 5), (-3, 8)]

_REFLECT_MISTAKES = [
    Mistake(
        "symmetric padding (edge repeated)",
        lambda i, n: -i - 1 if i < 0 else (2 * n - 1 - i if i >= n else i),
        "reflect mode mirrors about the edge pixel without repeating it (-1 -> 1); "
        "repeating the edge (-1 -> 0) is numpy's 'symmetric' mode.",
    ),
    Mistake(
        "clamping (replicate)",
        lambda i, n: min(max(i, 0), n - 1),
        "that is replicate padding: reflect mirrors, it does not clamp.",
    ),
    Mistake(
        "wrapping (circular)",
        lambda i, n: i % n,
        "that is circular padding: reflect mirrors, it does not wrap around.",
    ),
]


def check_reflect_index(fn) -> CheckResult:
    """Check ``fn(i, n)``: the source index of padded position ``i`` (may be < 0 or >= n)."""
    return check_function(
        fn, _reflect_reference, _REFLECT_CASES, mistakes=_REFLECT_MISTAKES, name="reflect_index"
    )


def _period(f: int, s: int) -> list[int]:
    """One period of the interior overlap counts of a transposed conv (kernel f, stride s)."""
    counts = overlap_counts(4 * f + 4, f, s).tolist()
    start = (f // s + 1) * s  # past the border, aligned to output phase 0
    return counts[start : start + s]


def check_overlap_prediction(predicted, f: int, s: int) -> CheckResult:
    """Compare a predicted period of interior overlap counts with the real one.

    ``predicted`` is one period of the repeating pattern (``s`` numbers), in any rotation:
    where the period starts depends on the padding, not on the kernel.
    """
    f, s = check_int("f", f, minimum=1), check_int("s", s, minimum=1)
    truth = _period(f, s)
    try:
        guess = [float(v) for v in predicted]
    except TypeError:
        guess = [float(predicted)]
    rotations = [truth[k:] + truth[:k] for k in range(len(truth))]
    if any(guess == [float(v) for v in r] for r in rotations):
        kind = "even: no checkerboard" if len(set(truth)) == 1 else "uneven: a checkerboard"
        return CheckResult(True, f"right: F={f}, S={s} gives the pattern {truth} ({kind})")
    hint = (
        "output k receives one tap from every input i with 0 <= k - i*S < F; count the i's "
        "for k = 0, 1, ..., S - 1 (they are ceil((F - r) / S) for r = k mod S)"
    )
    if len(guess) != s:
        hint = f"give one period: {s} numbers, one per output phase k mod S. " + hint
    mistake = "F / S everywhere" if guess == [f / s] * len(guess) else None
    return CheckResult(False, f"not quite ({guess}): {hint}", mistake=mistake)
