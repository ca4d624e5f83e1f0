"""Residual blocks: forward + backward time of our block against the same block in functional torch.

Ours is :class:`mlnotes_lib.resnet.ResidualBlock` (identity shortcut) and the downsampling
block (1×1 projection shortcut, stride 2), on a batch of shape (32, 64, 32, 32) in training
mode. The reference computes the same thing from the same parameters with
``F.conv2d``/``F.batch_norm``/``F.relu`` calls, so the ratio measures the overhead of our
module structure (it should be about 1). Timings alternate ours and the reference after a
warm-up and report the median of the repeats, so both see the same machine load.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from mlnotes_lib.resnet import ResidualBlock
from timing import render_rows

SHAPE = (32, 64, 32, 32)
REPEATS = 5


def _bn(x, bn):
    return F.batch_norm(x, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)


def _functional(block: ResidualBlock, x: torch.Tensor) -> torch.Tensor:
    h = F.conv2d(x, block.layer1.weight, stride=block.stride, padding=1)
    h = F.relu(_bn(h, block.bn1))
    h = _bn(F.conv2d(h, block.layer2.weight, padding=1), block.bn2)
    if isinstance(block.shortcut, torch.nn.Identity):
        return F.relu(h + x)
    conv, bn = block.shortcut
    return F.relu(h + _bn(F.conv2d(x, conv.weight, stride=block.stride), bn))


def _time(fn, x) -> float:
    start = time.perf_counter()
    fn(x).sum().backward()
    return time.perf_counter() - start


def rows() -> list[dict]:
    torch.manual_seed(0)
    x = torch.randn(*SHAPE)
    out = []
    for what, block in [
        ("ResidualBlock(64) fwd+bwd (32,64,32,32)", ResidualBlock(64)),
        ("ResidualBlock(64, 128, 2) fwd+bwd (32,64,32,32)", ResidualBlock(64, 128, 2)),
    ]:
        ours_fn = block
        ref_fn = lambda t, b=block: _functional(b, t)  # noqa: E731
        _time(ours_fn, x), _time(ref_fn, x)  # warm-up
        ours, ref = [], []
        for _ in range(REPEATS):
            ours.append(_time(ours_fn, x))
            ref.append(_time(ref_fn, x))
        out.append(
            {
                "what": what,
                "ours": statistics.median(ours),
                "ref": statistics.median(ref),
                "unit": "s",
                "target": "within 1.2x of functional torch",
            }
        )
    return out


if __name__ == "__main__":
    print(render_rows(rows()))
