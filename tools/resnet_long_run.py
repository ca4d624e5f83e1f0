"""The long-budget degradation run of book/resnet.ipynb: He et al.'s figure 1 at 10x the budget.

The chapter's in-notebook runs train for 150 SGD steps, which cannot tell "slower" from
"worse". This script trains the 8- and 32-layer plain and zero-init residual networks of the
chapter (``mlnotes_lib.experiments.resnet.depth_experiment``, same width, batch and cosine
schedule) for ``--steps`` steps (default 1,500, about a hundred epochs of the 1,797 digits) from
several seeds, on one CPU thread, and writes the curves (every 10th step's mini-batch loss,
averaged over those 10 steps) and each network's final training loss to a small JSON file:

    python tools/resnet_long_run.py            # writes mlnotes_lib/assets/resnet_long_run.json

It takes a few minutes. The numbers depend on the CPU's floating-point kernels in their
last digits; the ordering the chapter reads from them does not (the script reports it).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from mlnotes_lib.data import load_digits
from mlnotes_lib.experiments.resnet import DepthConfig, depth_experiment

OUT = Path(__file__).resolve().parents[1] / "mlnotes_lib" / "assets" / "resnet_long_run.json"
EVERY = 10  # keep one averaged point per 10 steps: the file stays small


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    x, y = load_digits(flatten=True)
    cfg = DepthConfig(depths=(3, 15), variants=("plain", "residual, zero-init"), steps=args.steps)
    runs = []
    start = time.perf_counter()
    for seed in args.seeds:
        r = depth_experiment(x, y, config=cfg, seed=seed)
        for (variant, depth), curve in r.curves.items():
            averaged = curve[: len(curve) // EVERY * EVERY].view(-1, EVERY).mean(1)
            runs.append(
                {
                    "variant": variant,
                    "blocks": depth,
                    "seed": seed,
                    "final_training_loss": r.final[variant, depth],
                    "curve": [round(float(v), 5) for v in averaged],
                }
            )
        print(f"seed {seed} done after {time.perf_counter() - start:.0f} s", flush=True)
    result = {
        "settings": {**r.settings, "seeds": args.seeds, "curve_every": EVERY},
        "torch": torch.__version__,
        "runs": runs,
    }
    args.out.write_text(json.dumps(result, indent=0) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
