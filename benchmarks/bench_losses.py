"""Benchmarks for the MLE and entropy chapters (run by ``make bench``).

- ``binary_cross_entropy_with_logits`` forward + backward on 10**7 elements, ours against
  torch's built-in in the same run (target: ours within 2x of torch);
- the same for ``binary_cross_entropy`` from probabilities (no target, for information);
- ``cross_entropy_with_logits`` forward + backward on (65536, 100) logits against
  ``F.cross_entropy`` (target: within 3x; ours is plain torch ops, torch's is fused).

The chapters' execution times are timed by benchmarks/run.py with every other chapter.

Each row is ``{"what", "ours", "ref", "unit", "target"}``; run this file directly to print them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from mlnotes_lib import losses
from mlnotes_lib._common import num_threads
from timing import median_seconds, render_rows

ROOT = Path(__file__).resolve().parents[1]
N = 10**7
REPEATS = 5


def _median_seconds(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    return median_seconds(fn, repeats=repeats)


def _forward_backward(loss_fn, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        x.grad = None
        loss_fn(x, y).backward()

    return step


def _loss_rows() -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    x = (4 * torch.randn(N, generator=gen)).requires_grad_()
    y = torch.rand(N, generator=gen).round_()
    ours = _median_seconds(_forward_backward(losses.binary_cross_entropy_with_logits, x, y))
    ref = _median_seconds(_forward_backward(F.binary_cross_entropy_with_logits, x, y))
    p = torch.sigmoid(x.detach()).requires_grad_()
    ours_p = _median_seconds(_forward_backward(losses.binary_cross_entropy, p, y))
    ref_p = _median_seconds(_forward_backward(F.binary_cross_entropy, p, y))
    z = torch.randn(65_536, 100, generator=gen).requires_grad_()
    c = torch.randint(0, 100, (65_536,), generator=gen)
    assert torch.allclose(losses.cross_entropy_with_logits(z, c), F.cross_entropy(z, c))
    ours_ce = _median_seconds(_forward_backward(losses.cross_entropy_with_logits, z, c))
    ref_ce = _median_seconds(_forward_backward(F.cross_entropy, z, c))
    return [
        {
            "what": "cross_entropy_with_logits fwd+bwd, (65536, 100), class indices",
            "ours": ours_ce,
            "ref": ref_ce,
            "unit": "s",
            "target": "ours within 3x of torch",
        },
        {
            "what": "binary_cross_entropy_with_logits fwd+bwd, 1e7 elements",
            "ours": ours,
            "ref": ref,
            "unit": "s",
            "target": "ours within 2x of torch",
        },
        {
            "what": "binary_cross_entropy fwd+bwd, 1e7 elements",
            "ours": ours_p,
            "ref": ref_p,
            "unit": "s",
            "target": "(for information)",
        },
    ]


def rows() -> list[dict]:
    """Time our losses against torch's in this run."""
    with num_threads(1):  # the machine's cores are shared: one thread is steadier
        return _loss_rows()


if __name__ == "__main__":
    print(render_rows(rows()))
