"""pad2d (index arithmetic) against torch's F.pad on a (64, 3, 256, 256) tensor, per mode."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlnotes_lib import conv
from timing import median_seconds

TORCH_MODE = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}


def rows() -> list[dict]:
    torch.manual_seed(0)
    x = torch.randn(64, 3, 256, 256)
    pad = (3, 3, 3, 3)
    out = []
    for mode in conv.PAD_MODES:
        # Interleave ours and torch's so background load hits both alike.
        ours_t, ref_t = [], []
        for _ in range(3):
            ours_t.append(median_seconds(lambda m=mode: conv.pad2d(x, pad, m), repeats=5))
            ref_t.append(
                median_seconds(lambda m=mode: F.pad(x, pad, mode=TORCH_MODE[m]), repeats=5)
            )
        out.append(
            {
                "what": f"pad2d {mode} (64, 3, 256, 256), pad 3",
                "ours": min(ours_t),
                "ref": min(ref_t),
                "unit": "s",
                "target": "ratio < 2×",
            }
        )
    return out
