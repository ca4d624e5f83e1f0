"""Our kernels against torch's: pad2d vs F.pad per mode, conv2d / conv_transpose2d fwd+bwd.

pad2d (index arithmetic) runs on a (64, 3, 256, 256) tensor; the convolutions (strided
views + one matmul, and zero insertion + that convolution) on (32, 16, 64, 64) with a 3x3
kernel and 16 output channels, forward and backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlnotes_lib import conv
from timing import median_seconds


def _interleaved(ours, ref, rounds: int = 3, repeats: int = 5) -> tuple[float, float]:
    # Interleave ours and torch's so background load hits both alike; keep the best round.
    ours_t, ref_t = [], []
    for _ in range(rounds):
        ours_t.append(median_seconds(ours, repeats=repeats))
        ref_t.append(median_seconds(ref, repeats=repeats))
    return min(ours_t), min(ref_t)


def _fwd_bwd(fn, x, weight, **kwargs):
    def step():
        x.grad = weight.grad = None
        fn(x, weight, **kwargs).sum().backward()

    return step


def _pad_rows() -> list[dict]:
    x = torch.randn(64, 3, 256, 256)
    pad = (3, 3, 3, 3)
    out = []
    for mode in conv.PAD_MODES:
        ours, ref = _interleaved(
            lambda m=mode: conv.pad2d(x, pad, m),
            lambda m=mode: F.pad(x, pad, mode=conv.TORCH_PAD_MODE[m]),
        )
        what = f"pad2d {mode} (64, 3, 256, 256), pad 3"
        out.append({"what": what, "ours": ours, "ref": ref, "unit": "s", "target": "ratio < 2×"})
    return out


def _conv_rows() -> list[dict]:
    x = torch.randn(32, 16, 64, 64, requires_grad=True)
    w = torch.randn(16, 16, 3, 3, requires_grad=True)
    cases = [
        ("conv2d", conv.conv2d, F.conv2d, {"padding": 1}),
        ("conv_transpose2d", conv.conv_transpose2d, F.conv_transpose2d, {"padding": 1}),
        ("conv_transpose2d stride 2", conv.conv_transpose2d, F.conv_transpose2d, {"stride": 2}),
    ]
    out = []
    for name, ours_fn, ref_fn, kwargs in cases:
        ours, ref = _interleaved(
            _fwd_bwd(ours_fn, x, w, **kwargs), _fwd_bwd(ref_fn, x, w, **kwargs), repeats=3
        )
        setting = ", ".join(f"{k} {v}" for k, v in kwargs.items())
        what = f"{name} fwd+bwd (32, 16, 64, 64), 3x3, {setting}"
        out.append({"what": what, "ours": ours, "ref": ref, "unit": "s", "target": "ratio < 3×"})
    return out


def rows() -> list[dict]:
    torch.manual_seed(0)
    return _pad_rows() + _conv_rows()
