"""The machinery a trainer needs beyond the model: processes, devices, precision, state on disk.

- Processes: :func:`start` reads torchrun's environment (``RANK``, ``WORLD_SIZE``,
  ``LOCAL_RANK``) and joins the process group (gloo on CPUs, nccl on GPUs);
  :func:`agree` makes every rank fail together, with one message, when any rank finds
  bad input.
- Precision: :func:`autocast_dtype` picks bf16 where the GPU supports it, else fp16 (which
  needs a gradient scaler), and nothing on the CPU unless asked.
- Batch norm across processes: :func:`sync_batch_norm` swaps in ``nn.SyncBatchNorm`` on
  GPUs and :class:`GlooSyncBatchNorm` on CPUs, where torch's version refuses to run.
- State: :func:`rng_state` / :func:`set_rng_state` as tensors and plain types (so that
  ``torch.load(..., weights_only=True)`` reads them), :func:`atomic_save`,
  :func:`param_digest` to compare ranks, :func:`save_grid` to write a PNG of samples.

See book/dcgan.ipynb.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn


class UsageError(Exception):
    """Bad input from the command line: the program prints the message and exits with 2."""


@dataclass
class Runtime:
    """Where this process runs: its rank among ``world`` processes and its device."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_size_from_env() -> int:
    """How many processes torchrun started (1 when run directly)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        raise UsageError(f"WORLD_SIZE must be an int, got {os.environ['WORLD_SIZE']!r}") from None


def pick_device(choice: str, local_rank: int = 0) -> torch.device:
    """``auto``: this process's GPU when there is one, else the CPU; or ``cpu`` / ``cuda``."""
    if choice not in ("auto", "cpu", "cuda"):
        raise UsageError(f"--device must be auto, cpu or cuda, got {choice!r}")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is visible to torch")
    if local_rank >= torch.cuda.device_count():
        raise UsageError(
            f"local rank {local_rank} has no GPU: {torch.cuda.device_count()} visible, "
            "start at most that many processes per node"
        )
    return torch.device("cuda", local_rank)


def start(device_choice: str) -> Runtime:
    """Join torchrun's process group when there is one, and choose this rank's device."""
    world = world_size_from_env()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_choice, local_rank)
    if world > 1:
        if device.type == "cuda":
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    return Runtime(rank=rank, world=world, local_rank=local_rank, device=device)


def stop(rt: Runtime) -> None:
    """Leave the process group (if this process joined one)."""
    if rt.distributed and dist.is_initialized():
        dist.destroy_process_group()


def gather(rt: Runtime, obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank (pickled: plain data only)."""
    if not rt.distributed:
        return [obj]
    out: list[Any] = [None] * rt.world
    dist.all_gather_object(out, obj)
    return out


def broadcast(rt: Runtime, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not rt.distributed:
        return obj
    box = [obj if rt.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def agree(rt: Runtime, error: str | None) -> None:
    """Raise :class:`UsageError` on every rank if any rank has an ``error`` message."""
    errors = [e for e in gather(rt, error) if e]
    if errors:
        raise UsageError(errors[0])


def mean_over_ranks(rt: Runtime, x: Tensor) -> Tensor:
    """The average of ``x`` over the ranks (``x`` itself for one process)."""
    if rt.distributed:
        x = x.clone()
        dist.all_reduce(x)
        x /= rt.world
    return x


def autocast_dtype(choice: str, device: torch.device) -> torch.dtype | None:
    """The dtype to autocast to: ``auto`` is bf16 on GPUs that support it, fp16 on older
    GPUs (with a gradient scaler), and full precision on the CPU."""
    if choice not in ("auto", "bf16", "fp16", "off"):
        raise UsageError(f"--amp must be auto, bf16, fp16 or off, got {choice!r}")
    if choice == "off" or (choice == "auto" and device.type != "cuda"):
        return None
    if choice == "fp16" and device.type != "cuda":
        raise UsageError("--amp fp16 needs a CUDA device (on the CPU use bf16 or off)")
    if choice == "bf16" or (choice == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks, differentiable: the gradient of a sum is the sum of gradients."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlooSyncBatchNorm(nn.BatchNorm2d):
    """Batch norm whose training statistics are over the whole global batch, on CPUs.

    ``nn.SyncBatchNorm`` runs only on accelerators. This computes the per-channel mean
    and the (biased) variance of the inputs of every rank with differentiable all-reduces
    (whose backward all-reduces the gradient), so forward and backward equal batch norm
    over the concatenated batch. Outside training, or in a single process, it is ``BatchNorm2d``.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        all_reduce = _AllReduceSum.apply
        dtype, x = x.dtype, x.float()  # statistics in float32, also under autocast
        c = x.shape[1]
        n = all_reduce(torch.tensor([x.numel() // c], dtype=x.dtype))  # values per channel
        mean = all_reduce(x.sum((0, 2, 3))) / n  # (C,)
        var = all_reduce(((x - mean.view(1, c, 1, 1)) ** 2).sum((0, 2, 3))) / n  # (C,)
        if self.track_running_stats:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * n / (n - 1).clamp(min=1), m)
                self.num_batches_tracked += 1
        x_hat = (x - mean.view(1, c, 1, 1)) * torch.rsqrt(var.view(1, c, 1, 1) + self.eps)
        if self.affine:
            x_hat = x_hat * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        return x_hat.to(dtype)


def sync_batch_norm(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` with every ``BatchNorm2d`` computing its statistics over all ranks."""
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            new = GlooSyncBatchNorm(child.num_features, child.eps, child.momentum)
            new.load_state_dict(child.state_dict())
            setattr(model, name, new)
        else:
            sync_batch_norm(child, device)
    return model


def rng_state(device: torch.device) -> dict[str, Any]:
    """This process's global random states (torch, CUDA, NumPy, Python) as plain data."""
    np_state = np.random.get_state()  # noqa: NPY002 - the legacy global state is what we save
    version, internal, gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [
            np_state[0],
            torch.from_numpy(np_state[1].astype(np.int64)),
            *map(int, np_state[2:4]),
            float(np_state[4]),
        ],
        "python": [version, torch.tensor(internal, dtype=torch.int64), gauss],
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(v) for v in internal), gauss))
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def param_digest(*models: nn.Module) -> str:
    """SHA-256 of the bytes of every parameter: equal digests mean equal parameters."""
    h = hashlib.sha256()
    for model in models:
        for name, p in model.named_parameters():
            h.update(name.encode())
            h.update(p.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, flushed to disk, then renamed.

    ``os.replace`` is atomic on POSIX and Windows, so a kill during a save leaves the
    previous file intact instead of a half-written one.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_grid(images: Tensor, path: Path, *, nrow: int = 8, pad: int = 2) -> None:
    """Write images in [-1, 1], shape (B, C, H, W) with C 1 or 3, as one PNG grid."""
    from PIL import Image

    b, c, h, w = images.shape
    ncol = min(nrow, b)
    rows = -(-b // ncol)
    grid = torch.ones(c, rows * (h + pad) + pad, ncol * (w + pad) + pad)  # white gaps
    x = (images.detach().float().cpu().clamp(-1, 1) + 1) / 2
    for i in range(b):
        top, left = pad + (i // ncol) * (h + pad), pad + (i % ncol) * (w + pad)
        grid[:, top : top + h, left : left + w] = x[i]
    a = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, C)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(a[..., 0] if c == 1 else a).save(tmp, format="PNG")
    os.replace(tmp, path)
