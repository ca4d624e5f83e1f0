"""Datasets that ship inside pip packages (never a download at run time), plus optional loaders.

- :func:`load_digits`: scikit-learn's 1,797 handwritten digits (8×8, 16 grey levels), as
  torch tensors, optionally resized for convolutional networks.
- :func:`sample_image`: a real photograph that ships with matplotlib.
- :func:`load_image_folder` / :func:`load_torchvision_dataset`: the reader's own images or a
  torchvision dataset already on disk (optional dependencies, clear message when missing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["load_digits", "load_image_folder", "load_torchvision_dataset", "sample_image"]


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


def load_image_folder(root: str | Path, *, image_size: int = 64, nc: int = 3):
    """Images from a folder tree (any depth; png/jpg), resized and scaled to [-1, 1].

    Returns a tensor of shape (N, nc, image_size, image_size). Uses Pillow only, so it
    works without torchvision.
    """
    from PIL import Image

    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"root: {root} is not a directory")
    if nc not in (1, 3):
        raise ValueError(f"nc must be 1 or 3, got {nc}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    if not files:
        raise ValueError(f"root: no .png/.jpg images under {root}")
    out = []
    for p in files:
        with Image.open(p) as im:
            im = im.convert("L" if nc == 1 else "RGB")
            w, h = im.size
            side = min(w, h)
            im = im.crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))
            im = im.resize((image_size, image_size), Image.Resampling.BILINEAR)
            a = np.asarray(im, dtype=np.float32) / 127.5 - 1.0
        out.append(torch.from_numpy(a).reshape(image_size, image_size, nc).permute(2, 0, 1))
    return torch.stack(out)


def load_torchvision_dataset(name: str, root: str | Path, *, image_size: int = 64, train=True):
    """A torchvision dataset already on disk (``download=False``), resized to [-1, 1].

    torchvision is optional (its PyPI wheel does not import beside this project's torch):
    a clear ``ImportError`` says so when it is missing.
    """
    try:
        import torchvision
        from torchvision import transforms
    except Exception as err:
        raise ImportError(
            "load_torchvision_dataset needs torchvision, an optional dependency "
            "(pip install 'mlnotes-lib[vision]'); use load_image_folder or load_digits instead"
        ) from err
    cls = getattr(torchvision.datasets, name, None)
    if cls is None:
        raise ValueError(f"name: torchvision.datasets has no dataset {name!r}")
    tf = transforms.Compose(
        [
            transforms.Resize(image_size),
            transforms.CenterCrop(image_size),
            transforms.ToTensor(),
            transforms.Normalize(0.5, 0.5),
        ]
    )
    return cls(root=str(root), train=train, download=False, transform=tf)
