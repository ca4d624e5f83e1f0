"""Checkers for the exercises of the chapter "Entropy, cross-entropy and KL divergence".

Each checker runs the reader's function against the reference in
:mod:`mlnotes_lib.losses` and, when the answers differ, names the typical mistake they
match, including the two that give ``nan`` or ``inf``: ``0 log 0`` left undefined, and
the binary cross-entropy from logits computed through ``sigmoid`` (which overflows).

See book/losses.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from mlnotes_lib import losses
from mlnotes_lib.exercises import CheckResult, Mistake, check_function

__all__ = ["check_bce_with_logits", "check_binary_cross_entropy", "check_entropy_bits"]


def _nonfinite_where_reference_is_finite(fn, reference, cases) -> bool:
    """Whether ``fn`` gives NaN or inf on some case where ``reference`` is finite."""
    for args in cases:
        want = reference(*args)
        try:
            got = torch.as_tensor(fn(*[a.clone() if isinstance(a, Tensor) else a for a in args]))
        except Exception:  # the reader's code may raise anything
            continue
        if bool(torch.isfinite(torch.as_tensor(want)).all()) and not bool(
            torch.isfinite(got).all()
        ):
            return True
    return False


def _check(
    fn: Callable[..., Any],
    reference: Callable[..., Any],
    cases: Sequence[tuple],
    mistakes: Sequence[Mistake],
    name: str,
    nonfinite: tuple[str, str],
) -> CheckResult:
    """``check_function``, then name ``nonfinite`` (name, hint) when NaN/inf explain it."""
    result = check_function(fn, reference, cases, mistakes=mistakes, name=name)
    if result.passed or result.mistake is not None:
        return result
    if _nonfinite_where_reference_is_finite(fn, reference, cases):
        mistake, hint = nonfinite
        return CheckResult(
            False,
            f"{name}: {len(result.failures)} of {len(cases)} cases differ. Looks like "
            f"{mistake}: {hint}",
            mistake=mistake,
            failures=result.failures,
        )
    return result


# -------------------------------------------------------------------------- entropy
def _entropy_bits(q: Tensor) -> Tensor:
    return losses.entropy(q, base=2)


_ENTROPY_CASES = [
    (torch.tensor([0.5, 0.5], dtype=torch.float64),),
    (torch.tensor([0.9, 0.1], dtype=torch.float64),),
    (torch.tensor([0.25, 0.25, 0.25, 0.25], dtype=torch.float64),),
    (torch.tensor([0.7, 0.2, 0.1], dtype=torch.float64),),
    (torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64),),
    (torch.tensor([1.0, 0.0], dtype=torch.float64),),
]

_ENTROPY_MISTAKES = [
    Mistake(
        "a missing minus sign",
        lambda q: -losses.entropy(q, base=2),
        "log q is negative for q < 1, so H = -sum q log q needs the minus to be positive.",
    ),
    Mistake(
        "nats instead of bits",
        lambda q: losses.entropy(q),
        "you used the natural logarithm. Bits need log base 2 (torch.log2, or divide by log(2)).",
    ),
]

_ZERO_LOG_ZERO = (
    "0 log 0 left undefined",
    "an outcome of probability 0 gives 0 * log(0) = 0 * (-inf) = nan in floating point, "
    "but by convention (the limit of q log q as q -> 0) it counts as 0. Skip those terms, "
    "e.g. with torch.where(q > 0, q * torch.log2(q), 0) or torch.special.xlogy.",
)


def check_entropy_bits(fn: Callable[[Tensor], Tensor]) -> CheckResult:
    """Check ``fn(q)``, the entropy in bits of a 1-D distribution ``q``.

    See book/losses.ipynb.
    """
    return _check(
        fn, _entropy_bits, _ENTROPY_CASES, _ENTROPY_MISTAKES, "entropy_bits", _ZERO_LOG_ZERO
    )


# ------------------------------------------------------------ binary cross-entropy
def _bce_cases() -> list[tuple[Tensor, Tensor]]:
    f64 = torch.float64
    return [
        (torch.tensor([0.9, 0.2, 0.6], dtype=f64), torch.tensor([1.0, 0.0, 1.0], dtype=f64)),
        (torch.tensor([0.3, 0.7], dtype=f64), torch.tensor([0.0, 0.0], dtype=f64)),
        (
            torch.tensor([0.05, 0.5, 0.99, 0.4], dtype=f64),
            torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=f64),
        ),
    ]


def _bce_ref(p: Tensor, y: Tensor) -> Tensor:
    return losses.binary_cross_entropy(p, y.to(p.dtype))


_BCE_MISTAKES = [
    Mistake(
        "the notes' formula, without the log on the second term",
        lambda p, y: -(y * torch.log(p) + (1 - y) * (1 - p)).mean(),
        "the second term is (1 - y) log(1 - p): the loss of a negative example is the "
        "negative log of the probability given to class 0.",
    ),
    Mistake(
        "a missing minus sign",
        lambda p, y: -_bce_ref(p, y),
        "logs of probabilities are negative; the loss -log p is positive.",
    ),
    Mistake(
        "a sum instead of a mean",
        lambda p, y: _bce_ref(p, y) * p.numel(),
        "average over the N examples (divide by N).",
    ),
]


def check_binary_cross_entropy(fn: Callable[[Tensor, Tensor], Tensor]) -> CheckResult:
    """Check ``fn(p, y)``, the mean BCE of probabilities ``p`` for labels ``y``.

    See book/losses.ipynb.
    """
    return check_function(
        fn, _bce_ref, _bce_cases(), mistakes=_BCE_MISTAKES, name="binary_cross_entropy"
    )


# ------------------------------------------------------------- BCE from logits
def _logit_cases() -> list[tuple[Tensor, Tensor]]:
    f64 = torch.float64
    return [
        (torch.tensor([2.0, -1.0, 0.5], dtype=f64), torch.tensor([1.0, 0.0, 0.0], dtype=f64)),
        (torch.tensor([-3.0, 4.0], dtype=f64), torch.tensor([1.0, 1.0], dtype=f64)),
        (torch.tensor([50.0, -60.0, 1e3], dtype=f64), torch.tensor([0.0, 1.0, 1.0], dtype=f64)),
        (torch.tensor([-800.0, 800.0], dtype=f64), torch.tensor([0.0, 0.0], dtype=f64)),
    ]


def _no_max_term(x: Tensor, y: Tensor) -> Tensor:
    return (-x * y + torch.log1p(torch.exp(-x.abs()))).mean()


def _sign_flip(x: Tensor, y: Tensor) -> Tensor:
    return losses.binary_cross_entropy_with_logits(-x, y)


_LOGIT_MISTAKES = [
    Mistake(
        "a missing max(x, 0) term",
        _no_max_term,
        "log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)): the max(x, 0) part matters "
        "for positive logits.",
    ),
    Mistake(
        "the logit's sign flipped",
        _sign_flip,
        "p = sigmoid(x) is the probability of y = 1, so a large positive logit with y = 1 "
        "must cost almost nothing.",
    ),
]

_OVERFLOW = (
    "the naive formula through sigmoid",
    "for a large |x|, sigmoid(x) rounds to exactly 0 or 1 and log(0) = -inf (or exp(x) "
    "overflows). Rewrite the loss so that exp only ever sees -|x|: "
    "max(x, 0) - x y + log(1 + exp(-|x|)).",
)


def check_bce_with_logits(fn: Callable[[Tensor, Tensor], Tensor]) -> CheckResult:
    """Check ``fn(logits, y)``, the mean BCE from logits, including logits of size 1e3.

    See book/losses.ipynb.
    """
    return _check(
        fn,
        losses.binary_cross_entropy_with_logits,
        _logit_cases(),
        _LOGIT_MISTAKES,
        "bce_with_logits",
        _OVERFLOW,
    )
