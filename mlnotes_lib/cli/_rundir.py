"""The run folder of ``mlnotes-dcgan train``: what it holds, and when a run may use it.

A run folder holds ``run.json``, ``checkpoint.pt``, ``log.jsonl``, ``generator.pt`` and
``samples/``. A new run needs an empty or new folder (or ``--overwrite``, which deletes
those files and nothing else); ``--resume`` needs a readable checkpoint of the same
architecture. Every check here happens before anything is written.

See book/dcgan.ipynb.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from mlnotes_lib.cli._runtime import Runtime, UsageError

FORMAT = "mlnotes-dcgan/1"
ARCH = ("image_size", "nc", "nz", "ngf", "ndf")
RUN_FILES = ("run.json", "checkpoint.pt", "log.jsonl", "generator.pt")


def load_checkpoint(path: Path, what: str) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated, foreign or corrupt file: say which
        raise UsageError(f"{what}: cannot read {path} ({type(err).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UsageError(f"{what}: {path} is not an mlnotes-dcgan checkpoint")
    return ckpt


def inspect_run_dir(cfg: Any) -> dict[str, Any] | None:
    """(rank 0, no writes) Check --out against --resume / --overwrite; the checkpoint to resume."""
    out = cfg.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    if cfg.resume:
        if not (out / "checkpoint.pt").is_file():
            raise UsageError(
                f"--resume: no checkpoint.pt in {out}; start a new run there without --resume "
                "(with --overwrite if an unfinished run is in the way)"
            )
        return load_checkpoint(out / "checkpoint.pt", "--resume")
    holds_run = any((out / name).exists() for name in RUN_FILES)
    if holds_run and not cfg.overwrite:
        raise UsageError(
            f"--out {out} already holds a run: add --resume to continue it or --overwrite "
            "to start again"
        )
    if not cfg.overwrite and out.is_dir() and any(out.iterdir()):
        raise UsageError(f"--out {out} is not empty and holds no run: choose a new folder")
    return None


def clear_run_dir(out: Path) -> None:
    """Delete a previous run's files (and nothing else) for --overwrite."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
        (out / f".{name}.tmp").unlink(missing_ok=True)  # left by a kill during a save
    samples = out / "samples"
    if samples.is_dir():
        for png in samples.glob("step_*.png"):
            png.unlink()
        if not any(samples.iterdir()):
            samples.rmdir()


def resolve_arch(cfg: Any, ckpt: dict[str, Any] | None) -> dict[str, int | None]:
    """The architecture: the checkpoint's on --resume (given options must agree), else the
    options, with the paper's defaults."""
    if ckpt is not None:
        saved = ckpt["arch"]
        for key in ARCH:
            given = getattr(cfg, key)
            if given is not None and given != saved[key]:
                raise UsageError(
                    f"--resume: {cfg.out} holds a different architecture "
                    f"(--{key.replace('_', '-')} {saved[key]}, not {given})"
                )
        return dict(saved)
    defaults = {"image_size": 64, "nc": None, "nz": 100, "ngf": 64, "ndf": 64}
    return {k: getattr(cfg, k) if getattr(cfg, k) is not None else defaults[k] for k in ARCH}


class RunLog:
    """JSON lines in RUN_DIR/log.jsonl, written by rank 0 only."""

    def __init__(self, path: Path, rt: Runtime, *, keep_until: int | None):
        self.path, self.on = path, rt.is_main
        if self.on and keep_until is not None and path.exists():
            lines = path.read_text().splitlines()  # drop what came after the checkpoint
            kept = [ln for ln in lines if json.loads(ln).get("step", 0) <= keep_until]
            path.write_text("".join(ln + "\n" for ln in kept))

    def write(self, **record: Any) -> None:
        if self.on:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
