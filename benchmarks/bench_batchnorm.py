"""Benchmark: our batch norm against torch's, forward + backward on (128, 64, 32, 32).

``rows()`` times, in the same run, ``mlnotes_lib.batchnorm.batch_norm`` (its custom
autograd function, whose backward is ``batch_norm_backward``) and ``F.batch_norm``, in
training mode with running statistics, forward then backward. For information it also
times autograd through the line-by-line ``batch_norm_naive`` and the evaluation-mode
forward. Target: ours within 2x of torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from mlnotes_lib.batchnorm import batch_norm, batch_norm_naive
from timing import median_seconds, render_rows

SHAPE = (128, 64, 32, 32)


def _median_seconds(fn: Callable[[], object], repeats: int = 7) -> float:
    return median_seconds(fn, repeats=repeats)


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


if __name__ == "__main__":
    print(render_rows(rows()))
