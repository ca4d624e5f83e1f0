"""The widget core: sliders that work with a live kernel *and* in the static book.

Two kinds of widget, nothing topic-specific:

``explore(fn, grid)``
    Turns a pure drawing function ``fn(**params) -> matplotlib.figure.Figure`` and a
    discrete grid of values per parameter into sliders and a figure. Every grid point is
    rendered to PNG when the cell runs; the images sit in (nested) ``ipywidgets.Stack``
    widgets whose ``selected_index`` is ``jslink``-ed to each slider's ``index``. The links
    run in the browser's widget manager, so moving a slider changes the figure in
    JupyterLab and in the rendered HTML book alike, with no kernel.

``experiment(run, controls, plot=..., default=...)``
    For live experiments that need a kernel (training with chosen hyperparameters): a
    Run button, a progress bar and the figure of the last result. The static book shows
    the precomputed default result and one line saying that it runs live in JupyterLab.

The grid is bounded: too many frames, or frames too heavy for a page, raise a
``ValueError`` before the page is bloated. See book/conv.ipynb for both in use.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as W
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from PIL import Image as PILImage

__all__ = [
    "MAX_BYTES",
    "MAX_FRAMES",
    "Experiment",
    "Explorer",
    "experiment",
    "explore",
    "figure_to_png",
    "show_source",
]

#: Most frames one ``explore`` widget may render (the product of the grid sizes).
MAX_FRAMES = 120
#: Most PNG bytes one ``explore`` widget may embed in a page (base64 adds a third on top).
MAX_BYTES = 1_200_000
#: Colours kept when a frame is quantised to a palette PNG (plots use few colours).
PALETTE_COLORS = 192


def figure_to_png(fig: Figure, *, dpi: int = 80, quantize: bool = True) -> bytes:
    """Render ``fig`` to PNG bytes, deterministically, and close it.

    The PNG carries no timestamp or software tag, so the same figure gives the same
    bytes on every run. With ``quantize`` the image is reduced to a palette of
    ``PALETTE_COLORS`` colours, which makes plot frames 2-4 times smaller.
    """
    if not isinstance(fig, Figure):
        raise ValueError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)  # a no-op for figures made without pyplot
    if not quantize:
        return buf.getvalue()
    img = PILImage.open(io.BytesIO(buf.getvalue())).convert("RGB")
    pal = img.quantize(
        colors=PALETTE_COLORS,
        method=PILImage.Quantize.MEDIANCUT,
        dither=PILImage.Dither.NONE,
    )
    out = io.BytesIO()
    pal.save(out, format="png", optimize=True)
    return out.getvalue()


def _format_value(value: Any, fmt: str | Callable[[Any], str] | None) -> str:
    if callable(fmt):
        return str(fmt(value))
    if fmt is not None:
        return fmt.format(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _check_grid(grid: Mapping[str, Sequence[Any]], max_frames: int) -> dict[str, list[Any]]:
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("grid must be a non-empty mapping of parameter name -> values")
    clean: dict[str, list[Any]] = {}
    for name, values in grid.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"grid: parameter names must be identifiers, got {name!r}")
        if isinstance(values, str | bytes):
            raise ValueError(f"grid[{name!r}] must be a sequence of values, not a string")
        try:
            vals = list(values)
        except TypeError:
            raise ValueError(f"grid[{name!r}] must be a sequence of values") from None
        if not vals:
            raise ValueError(f"grid[{name!r}] is empty: give at least one value")
        clean[name] = vals
    n_frames = 1
    for vals in clean.values():
        n_frames *= len(vals)
    if n_frames > max_frames:
        sizes = " x ".join(f"{len(v)} {k}" for k, v in clean.items())
        raise ValueError(
            f"grid would render {n_frames} frames ({sizes}), more than max_frames={max_frames}; "
            "use fewer values per parameter"
        )
    return clean


class Explorer(W.VBox):
    """The widget returned by :func:`explore` (a ``VBox``: sliders above, figure below).

    Attributes
    ----------
    sliders : dict[str, ipywidgets.SelectionSlider]
        One slider per grid parameter, in grid order.
    frames : dict[tuple, bytes]
        The PNG of every grid point, keyed by the tuple of parameter values.
    """

    def __init__(self, sliders, frames, view, *, title=None, caption=None, **kwargs):
        header = [W.HTML(f"<b>{title}</b>")] if title else []
        footer = [W.HTML(f"<small>{caption}</small>")] if caption else []
        super().__init__(
            children=[*header, *sliders.values(), view, *footer],
            layout=W.Layout(width="100%"),
            **kwargs,
        )
        self.sliders = sliders
        self.frames = frames
        self.add_class("mlnotes-explorer")

    @property
    def nbytes(self) -> int:
        """Total PNG bytes embedded by this widget."""
        return sum(len(png) for png in self.frames.values())

    def params(self) -> dict[str, Any]:
        """The parameter values the sliders show now."""
        return {name: s.value for name, s in self.sliders.items()}

    def current_png(self) -> bytes:
        """The PNG of the frame the sliders select now."""
        return self.frames[tuple(self.params().values())]

    def __repr__(self) -> str:  # short, stable text/plain for nbval and the reader
        shape = " x ".join(str(len(s.options)) for s in self.sliders.values())
        return f"Explorer({', '.join(self.sliders)}; {shape} frames, {self.nbytes / 1e3:.0f} kB)"


def explore(
    fn: Callable[..., Figure],
    grid: Mapping[str, Sequence[Any]],
    *,
    initial: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    formats: Mapping[str, str | Callable[[Any], str]] | None = None,
    title: str | None = None,
    caption: str | None = None,
    dpi: int = 80,
    max_frames: int = MAX_FRAMES,
    max_bytes: int = MAX_BYTES,
) -> Explorer:
    """Sliders over a discrete grid that flip between precomputed figures.

    Parameters
    ----------
    fn : callable
        ``fn(**params)`` returns a matplotlib ``Figure`` (best made with
        :func:`mlnotes_lib.plotting.figure`, which does not register it with pyplot).
        It should be pure: the same parameters give the same figure.
    grid : mapping of str to sequence
        The values each parameter takes, in slider order. One slider per parameter;
        the figure is rendered for every combination (their product).
    initial : mapping, optional
        Starting value per parameter (default: the first value of each).
    labels, formats : mapping, optional
        Slider description per parameter, and a format string or callable for its readout.
    max_frames, max_bytes : int
        Bounds on the number of frames and on the PNG bytes embedded in the page.

    Returns
    -------
    Explorer
        A ``VBox`` of the sliders and the figure. Works live and in the static book.

    Raises
    ------
    ValueError
        If ``grid`` is empty or has too many frames, ``fn`` does not return a Figure,
        ``initial`` names an unknown parameter or value, or the frames exceed ``max_bytes``.
    """
    if not callable(fn):
        raise ValueError("fn must be callable: fn(**params) -> Figure")
    if max_frames < 1:
        raise ValueError("max_frames must be at least 1")
    if max_bytes < 1:
        raise ValueError("max_bytes must be positive")
    values = _check_grid(grid, max_frames)
    names = list(values)
    labels = dict(labels or {})
    formats = dict(formats or {})
    initial = dict(initial or {})
    for name in initial:
        if name not in values:
            raise ValueError(f"initial names {name!r}, which is not in grid")

    frames: dict[tuple, bytes] = {}
    total = 0
    seconds = []
    n_frames = len(list(itertools.product(*values.values())))
    for i, combo in enumerate(itertools.product(*values.values())):
        start = time.perf_counter()
        fig = fn(**dict(zip(names, combo, strict=True)))
        if not isinstance(fig, Figure):
            raise ValueError(f"fn must return a matplotlib Figure, got {type(fig).__name__}")
        png = figure_to_png(fig, dpi=dpi)
        seconds.append(time.perf_counter() - start)
        frames[combo] = png
        total += len(png)
        # Fail early: after a few frames the average size predicts the total.
        projected = total / (i + 1) * n_frames
        if total > max_bytes or (i >= 3 and projected > 1.5 * max_bytes):
            raise ValueError(
                f"grid frames weigh about {projected / 1e6:.1f} MB, more than "
                f"max_bytes={max_bytes / 1e6:.1f} MB; use fewer values, a smaller figure "
                "or a lower dpi"
            )

    sliders: dict[str, W.SelectionSlider] = {}
    for name, vals in values.items():
        options = [(_format_value(v, formats.get(name)), v) for v in vals]
        if len({label for label, _ in options}) != len(options):
            raise ValueError(f"grid[{name!r}] has values whose readouts coincide; give formats")
        start = initial.get(name, vals[0])
        if start not in vals:
            raise ValueError(f"initial[{name!r}]={start!r} is not one of grid[{name!r}]")
        sliders[name] = W.SelectionSlider(
            options=options,
            value=start,
            description=labels.get(name, name),
            continuous_update=True,
            style={"description_width": "initial"},
            layout=W.Layout(width="min(100%, 32rem)"),
        )

    _log_timing(fn, title, seconds, total)
    view = _build_stack(names, values, frames, sliders, ())
    return Explorer(sliders, frames, view, title=title, caption=caption)


def _log_timing(fn, title, seconds, nbytes) -> None:
    """Append frame timings to $MLNOTES_WIDGET_LOG (set by `make bench`; off otherwise)."""
    path = os.environ.get("MLNOTES_WIDGET_LOG")
    if not path:
        return
    row = {
        "widget": title or getattr(fn, "__name__", "explore"),
        "frames": len(seconds),
        "median_frame_s": statistics.median(seconds),
        "bytes": nbytes,
    }
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def _build_stack(names, values, frames, sliders, prefix):
    """Nested stacks: level k has one child per value of parameter k, linked to its slider."""
    level = len(prefix)
    name = names[level]
    children = []
    for v in values[name]:
        key = (*prefix, v)
        if level == len(names) - 1:
            children.append(
                W.Image(value=frames[key], format="png", layout=W.Layout(max_width="100%"))
            )
        else:
            children.append(_build_stack(names, values, frames, sliders, key))
    stack = W.Stack(children=children, selected_index=sliders[name].index)
    W.jslink((sliders[name], "index"), (stack, "selected_index"))
    return stack


class Experiment(W.VBox):
    """The widget returned by :func:`experiment`: controls, Run button, progress, figure."""

    def __init__(self, run, controls, plot, default, *, title=None, dpi=80):
        self._run_fn = run
        self._plot = plot
        self._dpi = dpi
        self.controls = dict(controls)
        self.button = W.Button(description="Run", icon="play", button_style="primary")
        self.progress = W.FloatProgress(value=0.0, min=0.0, max=1.0, description="progress")
        self.status = W.HTML(
            "<small>Precomputed result for the default settings. This experiment runs live in "
            "JupyterLab: open the notebook, pick settings and press Run.</small>"
        )
        self.image = W.Image(
            value=figure_to_png(plot(default), dpi=dpi),
            format="png",
            layout=W.Layout(max_width="100%"),
        )
        self.result = default
        header = [W.HTML(f"<b>{title}</b>")] if title else []
        super().__init__(
            children=[
                *header,
                *self.controls.values(),
                W.HBox([self.button, self.progress]),
                self.status,
                self.image,
            ]
        )
        self.add_class("mlnotes-experiment")
        self.button.on_click(lambda _: self.run())

    def params(self) -> dict[str, Any]:
        return {name: w.value for name, w in self.controls.items()}

    def _report(self, done: float, total: float) -> None:
        self.progress.value = min(1.0, done / total) if total else 1.0

    def run(self, **overrides: Any) -> Any:
        """Run with the controls' values (or ``overrides``); show and return the result."""
        params = {**self.params(), **overrides}
        self.button.disabled = True
        self.progress.value = 0.0
        self.status.value = "<small>Running…</small>"
        start = time.perf_counter()
        try:
            self.result = self._run_fn(progress=self._report, **params)
            self.image.value = figure_to_png(self._plot(self.result), dpi=self._dpi)
            shown = ", ".join(f"{k}={v}" for k, v in params.items())
            self.status.value = (
                f"<small>Result for {shown} ({time.perf_counter() - start:.1f} s).</small>"
            )
        except Exception as err:  # show it in the widget, then let the reader see the trace
            self.status.value = f"<small>Failed: {type(err).__name__}: {err}</small>"
            raise
        finally:
            self.button.disabled = False
            self.progress.value = 1.0
        return self.result

    def __repr__(self) -> str:
        return f"Experiment({', '.join(self.controls)})"


def experiment(
    run: Callable[..., Any],
    controls: Mapping[str, W.ValueWidget],
    *,
    plot: Callable[[Any], Figure],
    default: Any,
    title: str | None = None,
    dpi: int = 80,
) -> Experiment:
    """A live experiment: controls, a Run button, a progress bar and a figure.

    Parameters
    ----------
    run : callable
        ``run(progress=callback, **params) -> result``; ``params`` are the controls'
        values by name, and ``callback(done, total)`` advances the progress bar.
    controls : mapping of str to ipywidgets value widget
        The settings the reader chooses (sliders, dropdowns...).
    plot : callable
        ``plot(result) -> Figure``.
    default : object
        A precomputed result for the controls' initial values, shown before any run (and
        the only result in the static book).

    Returns
    -------
    Experiment
        A ``VBox``; ``.run(**overrides)`` runs it from code, as the button does.
    """
    if not callable(run):
        raise ValueError("run must be callable: run(progress=..., **params)")
    if not callable(plot):
        raise ValueError("plot must be callable: plot(result) -> Figure")
    if not isinstance(controls, Mapping):
        raise ValueError("controls must be a mapping of name -> ipywidgets widget")
    for name, w in controls.items():
        if not isinstance(w, W.ValueWidget):
            raise ValueError(f"controls[{name!r}] must be an ipywidgets value widget")
    return Experiment(run, controls, plot, default, title=title, dpi=dpi)


class _Source:
    """Highlighted, collapsible source code: HTML in the book and Lab, plain text elsewhere."""

    def __init__(self, name: str, code: str):
        self.name, self.code = name, code

    def __repr__(self) -> str:
        return self.code

    def _repr_html_(self) -> str:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        body = highlight(self.code, PythonLexer(), HtmlFormatter(cssclass="highlight"))
        return (
            f'<details class="mlnotes-source"><summary>Source of <code>{self.name}</code> '
            f"in <code>mlnotes_lib</code></summary>{body}</details>"
        )


def show_source(obj: Any) -> _Source:
    """The library's own source of ``obj``, to display in a notebook instead of a copy.

    Shown highlighted and collapsible; the docstring's closing cross-reference line
    ("See book/<topic>.ipynb.") is dropped, since the reader is already in that chapter.
    """
    import inspect
    import re
    import textwrap

    try:
        code = inspect.getsource(obj)
    except (TypeError, OSError) as err:
        raise ValueError(f"obj: no Python source for {obj!r}") from err
    code = re.sub(r"\n[ \t]*See book/[\w/.-]+\.ipynb\.[ \t]*(?=\n)", "", textwrap.dedent(code))
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    return _Source(name, code.rstrip() + "\n")
