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


# Feedback is one line: values are rounded, tensors are named by their shape, never printed.
_SHORT = 40  # characters of a value or of an error message shown in feedback


def _number(x: Any) -> str:
    if isinstance(x, bool) or x is None:
        return repr(x)
    if isinstance(x, int):
        return str(x)
    return f"{float(x):.4g}"


def _describe(value: Any) -> str:
    """A value as a few words: '0.5', '[1, 2, 3]', 'a tensor of shape (8, 3)', 'None'."""
    if value is None or isinstance(value, bool | int | float):
        return _number(value)
    if isinstance(value, torch.Tensor):
        if value.dim() == 0:
            return _number(value.item())
        if value.dim() == 1 and value.numel() <= 4:
            return "tensor([" + ", ".join(_number(v) for v in value.tolist()) + "])"
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, tuple | list):
        text = "[" + ", ".join(_describe(v) for v in value) + "]"
        kind = type(value).__name__
        return text if len(text) <= _SHORT else f"a {kind} of {len(value)} items"
    text = repr(value).splitlines()[0] if repr(value) else repr(value)
    return text if len(text) <= _SHORT else f"a {type(value).__name__}"


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    text = text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _difference(got: Any, want: Any, rtol: float, atol: float) -> str:
    """Where ``got`` first differs from ``want``, in one short clause."""
    if isinstance(want, tuple | list) and isinstance(got, tuple | list) and len(got) == len(want):
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            if not same_answer(g, w, rtol=rtol, atol=atol):
                return f"item {k}: {_difference(g, w, rtol, atol)}"
    plain = f"you return {_describe(got)}, expected {_describe(want)}"
    if isinstance(want, tuple | list) != isinstance(got, tuple | list):
        return plain
    try:
        tg = torch.as_tensor(got, dtype=torch.float64)
        tw = torch.as_tensor(want, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return plain
    if tg.shape != tw.shape:
        return f"you return shape {tuple(tg.shape)}, expected shape {tuple(tw.shape)}"
    if not any("shape" in _describe(v) for v in (got, want)):
        return plain  # a few numbers: show them all
    bad = ~torch.isclose(tg, tw, rtol=rtol, atol=atol)
    where = tuple(int(i) for i in bad.nonzero()[0])
    return f"at {list(where)} you return {_number(tg[where])}, expected {_number(tw[where])}"


def _case(i: int, args: Sequence[Any]) -> str:
    """'case 2 (16, 32, 2)': the inputs too when they are a few numbers."""
    shown = ", ".join(_describe(a) for a in args)
    return f"case {i}" if len(shown) > _SHORT or "shape" in shown else f"case {i} ({shown})"


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

    Returns a :class:`CheckResult` whose message is one line: a stub that raises
    ``NotImplementedError`` is "not written yet"; a wrong answer names the typical
    mistake it matches, or the first case that differs and how (its shape or its first
    differing value, rounded), never a tensor dump.
    """
    if not callable(fn):
        raise ValueError("fn must be callable: pass your function, not its result")
    cases = [tuple(c) for c in cases]
    if not cases:
        raise ValueError("cases must hold at least one case")
    label = name or getattr(reference, "__name__", "function")
    answers, failures = _run_cases(fn, reference, cases, rtol, atol)
    if not failures:
        return CheckResult(True, f"{label}: all {len(cases)} cases agree with the reference.")
    if any(isinstance(a, _Raised) and isinstance(a.err, NotImplementedError) for a in answers):
        return CheckResult(
            False,
            f"not written yet: replace `raise NotImplementedError` in your {label} with your "
            "code, then run this cell again.",
            failures=failures,
        )
    differ = f"{label}: {len(failures)} of {len(cases)} cases differ"
    for mistake in mistakes:
        hits = 0
        for args, got in zip(cases, answers, strict=True):
            wrong, err = _call(mistake.fn, args)
            if err is None and not isinstance(got, _Raised):
                hits += same_answer(got, wrong, rtol=rtol, atol=atol)
        if hits == len(cases):
            return CheckResult(
                False,
                f"{differ}. Looks like {mistake.name}: {mistake.hint}",
                mistake=mistake.name,
                failures=failures,
            )
    return CheckResult(False, f"{differ}; {failures[0]}.", failures=failures)


def _run_cases(fn, reference, cases, rtol, atol) -> tuple[list[Any], list[str]]:
    """``fn``'s answer to each case (``_Raised`` where it raised) and one line per failure."""
    answers, failures = [], []
    for i, args in enumerate(cases, start=1):
        case = _case(i, args)
        want, ref_err = _call(reference, args)
        got, err = _call(fn, args)
        answers.append(got if err is None else _Raised(err))
        if ref_err is not None:  # a case the reference rejects: fn should reject it too
            if err is None:
                failures.append(f"{case}: should raise an error, you return {_describe(got)}")
        elif err is not None:
            failures.append(f"{case}: raised {_one_line(err)}")
        elif not same_answer(got, want, rtol=rtol, atol=atol):
            failures.append(f"{case}: {_difference(got, want, rtol, atol)}")
    return answers, failures
