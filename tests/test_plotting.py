"""Shared drawing helpers: they draw on the Axes they get and reject malformed input."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest

from mlnotes_lib import plotting


def test_figure_is_not_managed_by_pyplot_and_has_a_white_background():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig, axes = plotting.figure(1, 2)
    assert plt.get_fignums() == before
    assert len(axes) == 2 and mpl.colors.to_hex(fig.get_facecolor()) == "#ffffff"
    with pytest.raises(ValueError, match="nrows"):
        plotting.figure(0, 1)
    with pytest.raises(ValueError, match="layout"):
        plotting.figure(layout="grid")


def test_use_book_style_sets_rcparams_only_when_called():
    with mpl.rc_context():
        mpl.rcParams["figure.facecolor"] = "black"
        plotting.use_book_style()
        assert mpl.rcParams["figure.facecolor"] == "white"


def test_plot_heatmap_writes_every_value():
    _, ax = plotting.figure()
    values = np.arange(6.0).reshape(2, 3)
    assert plotting.plot_heatmap(ax, values, fmt="{:.0f}") is ax
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "2", "3", "4", "5"]
    with pytest.raises(ValueError, match="values"):
        plotting.plot_heatmap(ax, np.zeros(3))


def test_plot_image_grid_tiles_and_rescales_tanh_images():
    _, ax = plotting.figure()
    imgs = -np.ones((5, 1, 4, 4))
    imgs[0] = 1.0
    plotting.plot_image_grid(ax, imgs, nrow=3, padding=1)
    canvas = ax.images[0].get_array()
    assert canvas.shape == (2 * 5 + 1, 3 * 5 + 1)
    assert canvas[1:5, 1:5].min() == 1.0 and canvas[1:5, 6:10].max() == 0.0
    with pytest.raises(ValueError, match="images"):
        plotting.plot_image_grid(ax, np.zeros((2, 3)))


def test_plot_curves_smooths_and_labels():
    _, ax = plotting.figure()
    plotting.plot_curves(ax, {"loss": [4.0, 2.0, 0.0, 2.0]}, smooth=2, ylabel="loss")
    (line,) = ax.lines
    assert list(line.get_ydata()) == [3.0, 1.0, 1.0]
    assert ax.get_legend().get_texts()[0].get_text() == "loss"
