"""``mlnotes-dcgan train`` throughput on the CPU: 1 process against 2 gloo processes.

Each run trains the default networks (ngf = ndf = 64) on the shipped digits at 32×32 with a
global batch of 64 for ``STEPS`` steps and logs images/s every ``LOG_EVERY`` steps; a row
is the median of those log lines after the first (which pays for start-up). Every process
uses one thread (torchrun's default under ``--nproc_per_node=2``, and ``--threads 1`` for
the single process), so the scaling row, 2 processes over 1, has 2.0 as its ideal: what
it loses to that is DDP's gradient all-reduce over gloo and the halved per-process batch.
(One process with two OpenMP threads is no fair reference on a busy 2-core machine: its
threads wait on each other whenever another program takes a core.)

The ``channels_last`` row checks the trainer's CPU default (contiguous memory): channels-last
over contiguous in one process, same run otherwise.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import render_rows

STEPS = 24
LOG_EVERY = 6
ARGS = ["--data", "digits", "--image-size", "32", "--batch-size", "64", "--no-progress"]
ARGS += ["--steps", str(STEPS), "--log-every", str(LOG_EVERY), "--checkpoint-every", "1000"]
ARGS += ["--sample-every", "1000", "--workers", "0"]


def images_per_second(nproc: int, *extra: str) -> float:
    """Median logged images/s of one ``mlnotes-dcgan train`` run with ``nproc`` processes."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        launcher = [sys.executable]
        if nproc > 1:
            launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
        cmd = [*launcher, "-m", "mlnotes_lib.cli.dcgan", "train", "--out", str(out)]
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        env["TMPDIR"] = tmp  # torchrun's log folders go with the rest
        subprocess.run(cmd + ARGS + list(extra), cwd=tmp, env=env, check=True, capture_output=True)
        lines = [json.loads(s) for s in (out / "log.jsonl").read_text().splitlines()]
        rates = [r["images_per_s"] for r in lines if "images_per_s" in r]
    return statistics.median(rates[1:])


def rows() -> list[dict]:
    one = images_per_second(1, "--threads", "1")
    two = images_per_second(2)
    nhwc = images_per_second(1, "--threads", "1", "--channels-last", "on")
    what = "mlnotes-dcgan train, 32×32, batch 64, ngf = ndf = 64"
    return [
        {
            "what": f"{what}: 1 process, 1 thread",
            "ours": one,
            "ref": None,
            "unit": "img/s",
            "target": "",
        },
        {
            "what": f"{what}: 2 gloo processes vs 1 (scaling ratio, ideal 2)",
            "ours": two,
            "ref": one,
            "unit": "img/s",
            "target": "",
        },
        {
            "what": f"{what}: channels_last vs contiguous, 1 process",
            "ours": nhwc,
            "ref": one,
            "unit": "img/s",
            "target": "",
        },
    ]


if __name__ == "__main__":
    print(render_rows(rows()))
