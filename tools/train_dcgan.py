"""Train a DCGAN and save its generator (by default, the one book/dcgan.ipynb loads).

    python tools/train_dcgan.py --steps 1700 --image-size 32 --ngf 32 --ndf 32 --threads 1 \\
        --output mlnotes_lib/assets/dcgan_digits32.pt --checkpoint-dir checkpoints/dcgan

Trains on scikit-learn's handwritten digits resized to ``--image-size`` (or on a folder of
your own images with ``--image-folder``), with the paper's settings (Adam, lr 2e-4,
beta1 0.5, batch 128, N(0, 0.02) initialisation), and writes the generator's
``state_dict`` to ``--output``: load it with ``torch.load(path, weights_only=True)``.
Checkpoints go to ``--checkpoint-dir``; ``--resume`` continues from its latest checkpoint
(or from a checkpoint file given as ``--resume PATH``) up to ``--steps``, with the same
result as an uninterrupted run. Runs on CUDA when available.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from mlnotes_lib import dcgan
from mlnotes_lib.data import load_digits, load_image_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="total training steps")
    parser.add_argument("--image-size", type=int, default=32, help="image side (power of 2)")
    parser.add_argument("--output", type=Path, default=Path("dcgan_generator.pt"))
    parser.add_argument("--checkpoint-dir", type=Path, default=None)
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        help="resume from the latest checkpoint in --checkpoint-dir, or from PATH",
    )
    parser.add_argument("--ngf", type=int, default=32)
    parser.add_argument("--ndf", type=int, default=32)
    parser.add_argument("--nz", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if any)")
    parser.add_argument("--image-folder", type=Path, default=None, help="train on these images")
    parser.add_argument("--nc", type=int, default=None, help="image channels (folder: 1 or 3)")
    args = parser.parse_args(argv)

    if args.image_folder is not None:
        data = load_image_folder(args.image_folder, image_size=args.image_size, nc=args.nc or 3)
    else:
        data, _ = load_digits(image_size=args.image_size, value_range=(-1, 1))
    nc = data.shape[1]

    resume = None
    if args.resume == "latest":
        if args.checkpoint_dir is None:
            parser.error("--resume without PATH needs --checkpoint-dir")
        resume = dcgan.latest_checkpoint(args.checkpoint_dir)
        if resume is None:
            print(f"no checkpoint in {args.checkpoint_dir}: starting from scratch")
    elif args.resume is not None:
        resume = Path(args.resume)

    torch.manual_seed(args.seed)
    G = dcgan.Generator(nz=args.nz, ngf=args.ngf, nc=nc, image_size=args.image_size)
    D = dcgan.Discriminator(nc=nc, ndf=args.ndf, image_size=args.image_size)
    G.apply(dcgan.weights_init)
    D.apply(dcgan.weights_init)
    start = time.perf_counter()
    history = dcgan.train_dcgan(
        G,
        D,
        data,
        args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_every=args.checkpoint_every,
        resume_from=resume,
        device=args.device,
        num_threads=args.threads,
    )
    seconds = time.perf_counter() - start
    args.output.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    torch.save(state, args.output)
    logged = ("d_loss", "g_loss", "d_real", "d_fake")
    last = {k: round(history[k][-1], 4) for k in logged} if history["step"] else {}
    summary = {
        "steps": args.steps,
        "seconds_this_run": round(seconds, 1),
        "last": last,
        "output": str(args.output),
        "bytes": args.output.stat().st_size,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
