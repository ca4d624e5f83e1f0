"""Checkers for the book's coding exercises.

A checker runs the reader's function against the library's reference on a few inputs.
When the answers differ it also runs a list of *typical mistakes* (small wrong variants
of the reference, e.g. a variance where a standard deviation belongs, a missing minus
sign, a forgotten floor) and names the one the reader's answers match.

Each chapter has its own submodule, e.g. ``from mlnotes_lib.exercises import conv``
then ``padding.check_conv_output_size(my_fn)``. This module holds the shared engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["CheckResult", "Mistake", "check_function", "same_answer"]


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer: ``fn`` reproduces it, ``hint`` explains it to the reader."""

    name: str
    fn: Callable[..., Any]
    hint: str


@dataclass
class CheckResult:
    """Outcome of a check; shows as one line in a notebook, and is truthy when it passed."""

    passed: bool
    message: str
    mistake: str | None = None
    failures: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("✔ " if self.passed else "✘ ") + self.message

    _repr_pretty_ = lambda self, p, cycle: p.text(repr(self))  # noqa: E731


def same_answer(a: Any, b: Any, *, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """Whether two answers agree: numbers, tensors, arrays and (nested) tuples/lists of them."""
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(
            same_answer(x, y, rtol=rtol, atol=atol) for x, y in zip(a, b, strict=True)
        )
    if isinstance(a, tuple | list) or isinstance(b, tuple | list):
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    try:
        ta = torch.as_tensor(a, dtype=torch.float64)
        tb = torch.as_tensor(b, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return a == b
    if ta.shape != tb.shape:
        return False
    return bool(torch.allclose(ta, tb, rtol=rtol, atol=atol, equal_nan=False))


class _Raised:
    """Marks a call that raised, so it never matches an answer."""

    def __init__(self, err: BaseException | None = None):
        self.err = err


def _call(fn: Callable[..., Any], args: Sequence[Any]) -> tuple[Any, BaseException | None]:
    try:
        # Clone tensors so a reader's in-place edit cannot change the next call's input.
        safe = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
        return fn(*safe), None
    except Exception as err:  # the reader's code may raise anything
        return None, err


def check_function(
    fn: Callable[..., Any],
    reference: Callable[..., Any],
    cases: Iterable[Sequence[Any]],
    *,
    mistakes: Sequence[Mistake] = (),
    name: str | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> CheckResult:
    """Run ``fn`` and ``reference`` on each case (a tuple of positional arguments).

    Returns a :class:`CheckResult`. When ``fn`` disagrees with the reference and its
    answers agree with one of ``mistakes`` on every case, the result names that mistake.
    """
    if not callable(fn):
        raise ValueError("fn must be callable: pass your function, not its result")
    cases = [tuple(c) for c in cases]
    if not cases:
        raise ValueError("cases must hold at least one case")
    label = name or getattr(reference, "__name__", "function")
    answers, failures = [], []
    for args in cases:
        want, ref_err = _call(reference, args)
        if ref_err is not None:  # a case the reference rejects: fn should reject it too
            got, err = _call(fn, args)
            ok = err is not None
            if not ok:
                failures.append(f"{label}{args} should raise, returned {got!r}")
            answers.append(_Raised(err) if err is not None else got)
            continue
        got, err = _call(fn, args)
        answers.append(got if err is None else _Raised(err))
        if err is not None:
            failures.append(f"{label}{args} raised {type(err).__name__}: {err}")
        elif not same_answer(got, want, rtol=rtol, atol=atol):
            failures.append(f"{label}{args} = {got!r}, expected {want!r}")
    if not failures:
        return CheckResult(True, f"{label}: all {len(cases)} cases agree with the reference.")
    for mistake in mistakes:
        hits = 0
        for args, got in zip(cases, answers, strict=True):
            wrong, err = _call(mistake.fn, args)
            if err is None and not isinstance(got, _Raised):
                hits += same_answer(got, wrong, rtol=rtol, atol=atol)
        if hits == len(cases):
            return CheckResult(
                False,
                f"{label}: {len(failures)} of {len(cases)} cases differ. Looks like "
                f"{mistake.name}: {mistake.hint}",
                mistake=mistake.name,
                failures=failures,
            )
    return CheckResult(
        False,
        f"{label}: {len(failures)} of {len(cases)} cases differ, e.g. {failures[0]}",
        failures=failures,
    )
