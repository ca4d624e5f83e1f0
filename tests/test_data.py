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
