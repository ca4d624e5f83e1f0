"""Benchmark: our batch, layer and group norm against torch's, forward + backward.

``rows()`` times, in the same run, ``mlnotes_lib.batchnorm.batch_norm`` (its custom
autograd function, whose backward is ``batch_norm_backward``) and ``F.batch_norm``, in
training mode with running statistics, forward then backward. For information it also
times autograd through the line-by-line ``batch_norm_naive`` and the evaluation-mode
forward. ``norm_rows()`` times our ``layer_norm`` (over (C, H, W)) and ``group_norm``
(32 groups) against ``F.layer_norm`` and ``F.group_norm``, forward then backward with the
affine parameters, on (32, 64, 32, 32), ours and torch's timed alternately so that a busy
machine slows both alike. Target: ours within 2x of torch.

The layer and group norm rows are timed twice. Each step allocates 8 MiB outputs, and with
glibc's default policy the heap it frees is sometimes handed back to the OS, so the next
step page-faults its output in again: how often depends on the order of earlier
allocations, not on the kernel (torch's own group_norm took 1.0-2.8 ms and 0-1,100 page
faults a step, run to run, on the 2-core machine). The target rows therefore run in a child
process whose heap is kept (``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``), for
both kernels alike; the rows with glibc's default policy follow, for information.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F

from mlnotes_lib.batchnorm import batch_norm, batch_norm_naive, group_norm, layer_norm
from timing import median_seconds, render_rows

SHAPE = (128, 64, 32, 32)
NORM_SHAPE = (32, 64, 32, 32)
GROUPS = 32


def _median_seconds(fn: Callable[[], object], repeats: int = 7) -> float:
    return median_seconds(fn, repeats=repeats)


def _paired_seconds(ours: Callable[[], object], ref: Callable[[], object], repeats: int = 11):
    """Median seconds of ``ours`` and of ``ref``, timed alternately, so that a busy machine
    slows both alike instead of whichever happened to run during the busy spell."""
    pairs = [
        (median_seconds(ours, repeats=1), median_seconds(ref, repeats=1)) for _ in range(repeats)
    ]
    return statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs)


def _fwd_bwd(forward: Callable[..., torch.Tensor], x, gamma, beta, dy) -> Callable[[], None]:
    def step() -> None:
        for t in (x, gamma, beta):
            t.grad = None
        forward(x, gamma, beta).backward(dy)

    return step


def rows() -> list[dict]:
    g = torch.Generator().manual_seed(0)
    c = SHAPE[1]
    x = (torch.randn(SHAPE, generator=g) * 2 + 1).requires_grad_()
    gamma = (torch.rand(c, generator=g) + 0.5).requires_grad_()
    beta = torch.randn(c, generator=g).requires_grad_()
    dy = torch.randn(SHAPE, generator=g)
    rm_ours, rv_ours = torch.zeros(c), torch.ones(c)
    rm_ref, rv_ref = torch.zeros(c), torch.ones(c)

    def ours(x, gamma, beta):
        return batch_norm(x, gamma, beta, rm_ours, rv_ours, training=True)

    def ref(x, gamma, beta):
        return F.batch_norm(x, rm_ref, rv_ref, gamma, beta, True)

    t_ours = _median_seconds(_fwd_bwd(ours, x, gamma, beta, dy))
    t_ref = _median_seconds(_fwd_bwd(ref, x, gamma, beta, dy))
    t_naive = _median_seconds(_fwd_bwd(batch_norm_naive, x, gamma, beta, dy), repeats=3)
    with torch.no_grad():
        t_eval = _median_seconds(lambda: batch_norm(x, gamma, beta, rm_ours, rv_ours, False))
        t_eval_ref = _median_seconds(lambda: F.batch_norm(x, rm_ref, rv_ref, gamma, beta, False))
    shape = "x".join(map(str, SHAPE))
    return [
        *norm_rows(),
        {
            "what": f"batch_norm train fwd+bwd {shape}",
            "ours": t_ours,
            "ref": t_ref,
            "unit": "s",
            "target": "ours <= 2x torch",
        },
        {
            "what": f"batch_norm_naive (autograd) fwd+bwd {shape}",
            "ours": t_naive,
            "ref": t_ref,
            "unit": "s",
            "target": "none (for reading, not speed)",
        },
        {
            "what": f"batch_norm eval fwd {shape}",
            "ours": t_eval,
            "ref": t_eval_ref,
            "unit": "s",
            "target": "ours <= 2x torch",
        },
    ]


#: glibc keeps freed memory in the heap (no trimming; 8 MiB blocks are not mmapped).
KEEP_HEAP = {"MALLOC_TRIM_THRESHOLD_": str(1 << 30), "MALLOC_MMAP_THRESHOLD_": str(1 << 25)}


def norm_rows() -> list[dict]:
    """:func:`_norm_rows` in a child process whose heap is kept (the target rows), then in
    this process under glibc's default policy (for information)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--norm-rows"],
        env={**os.environ, **KEEP_HEAP},
        capture_output=True,
        text=True,
        check=True,
    )
    kept = json.loads(proc.stdout.strip().splitlines()[-1])
    for r in kept:
        r["what"] += " (heap kept)"
    default = _norm_rows()
    for r in default:
        r["what"] += " (glibc default: page faults vary)"
        r["target"] = ""
    return kept + default


def _norm_rows() -> list[dict]:
    """Our layer_norm and group_norm against torch's, fwd+bwd, timed in the same run."""
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(NORM_SHAPE, generator=g) * 2 + 1).requires_grad_()
    dy = torch.randn(NORM_SHAPE, generator=g)
    out = []
    ln_shape, c = NORM_SHAPE[1:], NORM_SHAPE[1]
    cases = [
        (
            "layer_norm",
            ln_shape,
            lambda a, w, b: layer_norm(a, ln_shape, w, b),
            lambda a, w, b: F.layer_norm(a, ln_shape, w, b),
        ),
        (
            f"group_norm ({GROUPS} groups)",
            (c,),
            lambda a, w, b: group_norm(a, GROUPS, w, b),
            lambda a, w, b: F.group_norm(a, GROUPS, w, b),
        ),
    ]
    for what, pshape, ours, ref in cases:
        w = (torch.rand(pshape, generator=g) + 0.5).requires_grad_()
        b = torch.randn(pshape, generator=g).requires_grad_()
        t_ours, t_ref = _paired_seconds(
            _fwd_bwd(ours, x, w, b, dy), _fwd_bwd(ref, x, w, b, dy), repeats=21
        )
        shape = "x".join(map(str, NORM_SHAPE))
        out.append(
            {
                "what": f"{what} fwd+bwd {shape}",
                "ours": t_ours,
                "ref": t_ref,
                "unit": "s",
                "target": "ours <= 2x torch",
            }
        )
    return out


if __name__ == "__main__":
    if sys.argv[1:] == ["--norm-rows"]:  # the child of norm_rows()
        print(json.dumps(_norm_rows()))
    else:
        print(render_rows(rows()))
