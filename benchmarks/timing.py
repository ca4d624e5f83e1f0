"""Timing and the result table shared by every benchmark (see run.py)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], repeats: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls.

    The warm-up pays for allocator growth and first-call dispatch; the median ignores the
    odd run slowed by the rest of the machine.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def render_rows(rows: list[dict]) -> str:
    """A Markdown table of benchmark rows, with ours / reference as a ratio."""
    lines = ["| what | ours | reference | ratio | target |", "|---|---:|---:|---:|---|"]
    for r in rows:
        ref, unit = r.get("ref"), r["unit"]
        ratio = f"{r['ours'] / ref:.2f}×" if ref else ""
        ref_text = "" if ref is None else f"{ref:.4g} {unit}"
        target = r.get("target", "")
        lines.append(f"| {r['what']} | {r['ours']:.4g} {unit} | {ref_text} | {ratio} | {target} |")
    return "\n".join(lines)
