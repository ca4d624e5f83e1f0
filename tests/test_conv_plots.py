"""The convolution chapter's figures: every widget frame renders with its text on the canvas,
and the kernel-position legend stays clear of the bars' labels."""

from __future__ import annotations

import itertools

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from mlnotes_lib import conv, data
from mlnotes_lib.experiments import conv as runs
from mlnotes_lib.plots import conv as draw


def _drawn_texts(fig):
    """The text artists a reader sees (tick labels only on axes that are switched on)."""
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += [*ax.texts, ax.title]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
        if ax.axison:  # matplotlib keeps labels for ticks outside the view; those are not drawn
            (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
            texts += [t for t in ax.get_xticklabels() if x0 <= t.get_position()[0] <= x1]
            texts += [t for t in ax.get_yticklabels() if y0 <= t.get_position()[1] <= y1]
            texts += [ax.xaxis.label, ax.yaxis.label]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def _texts_on_canvas(fig) -> None:
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    for text in _drawn_texts(fig):
        ext = text.get_window_extent(renderer)
        assert box.x0 - 1 <= ext.x0 and ext.x1 <= box.x1 + 1, text.get_text()
        assert box.y0 - 1 <= ext.y0 and ext.y1 <= box.y1 + 1, text.get_text()


@pytest.mark.parametrize(
    ("w", "f", "p", "s"), [(6, 3, 1, 2), (8, 5, 0, 3), (6, 1, 2, 1), (6, 5, 0, 1)]
)
def test_conv_arithmetic_frames_render_on_the_canvas(w, f, p, s):
    _texts_on_canvas(draw.conv_arithmetic_figure(w, f, p, s))


def test_kernel_position_legend_does_not_cover_the_output_labels():
    fig, ax = draw.figure(figsize=(6.4, 3.1))
    draw.plot_conv_positions(ax, 7, 3, 1, 2)
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    labels = [t for t in ax.texts if t.get_text().startswith("out[")]
    assert len(labels) == conv.conv_output_size(7, 3, 1, 2)
    for t in labels:
        assert not legend.overlaps(t.get_window_extent(renderer)), t.get_text()


@pytest.mark.parametrize(
    ("w", "f", "s", "p"), list(itertools.product((2, 3), (2, 4), (1, 3), (0, 1)))
)
def test_transpose_recipe_frames_render_on_the_canvas(w, f, s, p):
    _texts_on_canvas(draw.transpose_recipe_figure(w, f, s, p))


def test_other_figures_render():
    _texts_on_canvas(draw.padding_figure("reflect", 3, image=data.sample_image(size=32)))
    fig, axes = draw.figure(2, 3, figsize=(7.2, 5.0))
    draw.plot_checkerboard(axes, runs.checkerboard(runs.CheckerboardConfig(seeds=2)))
    _texts_on_canvas(fig)
    fig, axes = draw.figure(1, 2)
    draw.plot_overlap_counts(axes[0], {"F=3, S=2": conv.overlap_counts(4, 3, 2).tolist()})
    draw.plot_receptive_fields(axes[1], {"3x3 stack": [(3, 1)] * 4})
    _texts_on_canvas(fig)
