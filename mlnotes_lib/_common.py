"""Private helpers shared by the library: argument checks and a thread-count context.

Nothing here is topic-specific, and nothing here draws.
"""

from __future__ import annotations

import contextlib
import importlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch


@contextlib.contextmanager
def num_threads(n: int | None) -> Iterator[None]:
    """Run the body on ``n`` torch threads, then restore the previous count.

    Small tensors train fastest on one thread, and one thread also keeps a run's numbers
    independent of the machine's core count (reductions split across threads add in another
    order). ``None`` leaves the count as it is.
    """
    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"num_threads must be a positive int or None, got {n!r}")
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def check_int(name: str, value, *, minimum: int | None = None) -> int:
    """``value`` as an int, or a ``ValueError`` naming ``name`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_positive(name: str, value) -> float:
    """A finite number > 0, or a ``ValueError`` naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def check_unit_interval(name: str, value, *, closed: bool = True) -> float:
    """A number in [0, 1], or (0, 1) unless ``closed``; else a ``ValueError`` naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}") from None
    ok = (0.0 <= v <= 1.0) if closed else (0.0 < v < 1.0)
    if not ok:
        rule = "[0, 1]" if closed else "(0, 1)"
        raise ValueError(f"{name} must be in {rule}, got {value!r}")
    return v


def forward_moved(module: str, target: str, names) -> Callable[[str], Any]:
    """A module ``__getattr__`` that keeps names moved to ``target`` importable from ``module``.

    A chapter's experiments moved from its math module to ``mlnotes_lib.experiments``; their
    old import paths are part of the public API. ``target`` is imported on first use only, so
    the math module still imports nothing of the layers above it.
    """
    moved = frozenset(names)

    def __getattr__(name: str) -> Any:
        if name in moved:
            return getattr(importlib.import_module(target), name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


def blocks(items: int, item_elements: int, block_elements: int) -> list[slice]:
    """Slices of ``range(items)``, each about ``block_elements`` elements (at least one item)
    when an item holds ``item_elements``: the blocks of a cache-blocked kernel."""
    step = max(1, block_elements // max(1, item_elements))
    return [slice(i, min(i + step, items)) for i in range(0, items, step)]
