"""Precompute the DCGAN chapter's guideline ablations: every variant over 5 seeds.

    python tools/dcgan_ablations.py --output mlnotes_lib/assets/dcgan_ablations.json

Trains each network of :data:`mlnotes_lib.experiments.dcgan.ABLATIONS` (the DCGAN, no batch
norm in G, max pooling in D) with :func:`~mlnotes_lib.experiments.dcgan.run_ablation` and the
default :class:`~mlnotes_lib.experiments.dcgan.AblationConfig` on the 5,000 MNIST digits of
:func:`mlnotes_lib.data.load_mnist`, for seeds 0-4, on one CPU thread (so the file is the same
on every run on one machine), and writes
:func:`~mlnotes_lib.experiments.dcgan.ablation_sweep`'s record: each run's outcome (train,
stall or collapse) with the numbers that decided it, the curves, the counts and a few samples.
book/dcgan.ipynb loads it; tests/test_dcgan.py checks its counts against its numbers and
reruns the first 20 steps of each variant's seed 0 (a full rerun differs across CPU kernels).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from mlnotes_lib.data import load_mnist
from mlnotes_lib.experiments import dcgan as xdcgan


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output", type=Path, default=Path("mlnotes_lib/assets/dcgan_ablations.json"))
    p.add_argument("--seeds", type=int, default=5, help="seeds 0 .. N-1 per variant")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    X, _ = load_mnist(pad=True, value_range=(-1.0, 1.0))  # (5000, 1, 32, 32)
    start = time.process_time()
    record = xdcgan.ablation_sweep(
        X, range(args.seeds), progress=lambda done, total: print(f"{done}/{total}", flush=True)
    )
    record["cpu_seconds"] = round(time.process_time() - start, 1)
    record["torch"] = torch.__version__
    args.output.write_text(json.dumps(record, separators=(",", ":")) + "\n")
    print(json.dumps(record["counts"]), f"{record['cpu_seconds']} s of CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
