"""The widget core: precomputed frames, slider/stack links, bounds and the live experiment."""

from __future__ import annotations

import ipywidgets as W
import pytest
from ipywidgets.embed import dependency_state

from mlnotes_lib import plotting, widgets


def draw_line(a, b=1.0):
    fig, ax = plotting.figure(figsize=(3, 2))
    ax.plot([0, 1], [a, b])
    ax.set_ylim(-3, 3)
    return fig


def _links(widget) -> list[tuple[str, str, str, str]]:
    """(source model id, attr, target model id, attr) of every jslink in the saved state."""
    out = []
    for state in dependency_state(widget).values():
        if state["model_name"] == "LinkModel":
            (src, sattr), (tgt, tattr) = state["state"]["source"], state["state"]["target"]
            out.append(
                (src.removeprefix("IPY_MODEL_"), sattr, tgt.removeprefix("IPY_MODEL_"), tattr)
            )
    return out


def test_explore_renders_every_grid_point_once():
    calls = []

    def draw(a, b):
        calls.append((a, b))
        return draw_line(a, b)

    w = widgets.explore(draw, {"a": [0, 1, 2], "b": [-1.0, 1.0]})
    assert sorted(calls) == sorted((a, b) for a in [0, 1, 2] for b in [-1.0, 1.0])
    assert set(w.frames) == set(calls)
    assert len({png for png in w.frames.values()}) == 6, "distinct parameters, distinct frames"
    assert all(png.startswith(b"\x89PNG") for png in w.frames.values())
    assert list(w.sliders) == ["a", "b"]
    assert w.params() == {"a": 0, "b": -1.0}


def test_frames_are_deterministic():
    w1 = widgets.explore(draw_line, {"a": [0.5, 1.5]})
    w2 = widgets.explore(draw_line, {"a": [0.5, 1.5]})
    assert w1.frames == w2.frames


def test_nested_stacks_are_linked_to_their_sliders_in_the_browser():
    w = widgets.explore(draw_line, {"a": [0, 1, 2], "b": [-1.0, 0.0, 1.0, 2.0]})
    outer = next(c for c in w.children if isinstance(c, W.Stack))
    assert len(outer.children) == 3
    assert all(isinstance(c, W.Stack) and len(c.children) == 4 for c in outer.children)
    links = _links(w)
    # one link per stack: the outer one to slider a, each inner one to slider b
    assert len(links) == 1 + 3
    assert all(sattr == "index" and tattr == "selected_index" for _, sattr, _, tattr in links)
    pairs = {(src, tgt) for src, _, tgt, _ in links}
    assert (w.sliders["a"].model_id, outer.model_id) in pairs
    for inner in outer.children:
        assert (w.sliders["b"].model_id, inner.model_id) in pairs
    # the image at outer[i].children[j] is the frame for (a_i, b_j)
    img = outer.children[2].children[1]
    assert img.value == w.frames[(2, 0.0)]


def test_initial_values_select_the_right_frame():
    w = widgets.explore(draw_line, {"a": [0, 1, 2]}, initial={"a": 2})
    outer = next(c for c in w.children if isinstance(c, W.Stack))
    assert w.sliders["a"].value == 2 and outer.selected_index == 2
    assert w.current_png() == w.frames[(2,)]


def test_too_many_frames_is_a_clear_error_before_rendering():
    calls = []

    def draw(a, b):
        calls.append(1)
        return draw_line(a, b)

    with pytest.raises(ValueError, match="grid would render 400 frames"):
        widgets.explore(draw, {"a": range(20), "b": range(20)}, max_frames=100)
    assert not calls


def test_too_heavy_frames_are_a_clear_error():
    with pytest.raises(ValueError, match="max_bytes"):
        widgets.explore(draw_line, {"a": [0, 1, 2, 3, 4, 5]}, max_bytes=10_000)


@pytest.mark.parametrize(
    ("grid", "match"),
    [
        ({}, "grid"),
        ({"a": []}, "grid\\['a'\\]"),
        ({"a": "abc"}, "grid\\['a'\\]"),
        ({"1a": [1]}, "grid"),
    ],
)
def test_bad_grids_are_rejected(grid, match):
    with pytest.raises(ValueError, match=match):
        widgets.explore(draw_line, grid)


def test_fn_must_return_a_figure():
    with pytest.raises(ValueError, match="fn must return a matplotlib Figure"):
        widgets.explore(lambda a: None, {"a": [1]})
    with pytest.raises(ValueError, match="fn must be callable"):
        widgets.explore(None, {"a": [1]})


def test_bad_initial_is_rejected():
    with pytest.raises(ValueError, match="initial"):
        widgets.explore(draw_line, {"a": [0, 1]}, initial={"a": 5})
    with pytest.raises(ValueError, match="initial"):
        widgets.explore(draw_line, {"a": [0, 1]}, initial={"z": 0})


def test_colliding_readouts_are_rejected():
    with pytest.raises(ValueError, match="formats"):
        widgets.explore(draw_line, {"a": [0.1, 0.12]}, formats={"a": "{:.0f}"})


def test_figure_to_png_is_deterministic_and_rejects_non_figures():
    assert widgets.figure_to_png(draw_line(1)) == widgets.figure_to_png(draw_line(1))
    with pytest.raises(ValueError, match="fig"):
        widgets.figure_to_png("not a figure")


def test_experiment_runs_with_the_controls_and_updates_the_figure():
    seen = {}

    def run(progress, n, scale):
        for i in range(n):
            progress(i + 1, n)
        seen.update(n=n, scale=scale)
        return [scale * i for i in range(n)]

    def plot(result):
        fig, ax = plotting.figure(figsize=(3, 2))
        ax.plot(result)
        return fig

    controls = {"n": W.IntSlider(value=3, min=2, max=10), "scale": W.FloatSlider(value=1.0)}
    exp = widgets.experiment(run, controls, plot=plot, default=[0, 1, 2])
    first = exp.image.value
    assert "runs live in JupyterLab" in exp.status.value
    controls["n"].value = 5
    result = exp.run(scale=2.0)
    assert seen == {"n": 5, "scale": 2.0}
    assert result == [0, 2.0, 4.0, 6.0, 8.0]
    assert exp.progress.value == 1.0
    assert exp.image.value != first
    assert "n=5" in exp.status.value


def test_experiment_shows_failures_and_reraises():
    def run(progress, lr):
        raise RuntimeError("diverged")

    exp = widgets.experiment(
        run, {"lr": W.FloatSlider(value=0.1)}, plot=lambda r: draw_line(0), default=None
    )
    with pytest.raises(RuntimeError, match="diverged"):
        exp.run()
    assert "diverged" in exp.status.value and not exp.button.disabled


def test_experiment_rejects_bad_arguments():
    with pytest.raises(ValueError, match="run"):
        widgets.experiment(None, {}, plot=draw_line, default=None)
    with pytest.raises(ValueError, match="plot"):
        widgets.experiment(lambda progress: 0, {}, plot=None, default=None)
    with pytest.raises(ValueError, match="controls"):
        widgets.experiment(lambda progress: 0, {"x": 3}, plot=draw_line, default=None)
