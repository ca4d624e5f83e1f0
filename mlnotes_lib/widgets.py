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

import base64
import html
import itertools
import json
import math
import os
import re
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as W
from ipywidgets.widgets.widget_selection import _Selection
from matplotlib.figure import Figure

from mlnotes_lib.plots.frames import (
    COLUMN_PX,
    MIN_TEXT_PX,
    PIXEL_RATIO,
    _plain,
    _rounded,
    figure_to_png,
    image_format,
    render_frame,
    text_problems,
)

__all__ = [
    "MAX_BYTES",
    "MAX_FRAMES",
    "MIN_TEXT_PX",
    "PIXEL_RATIO",
    "COLUMN_PX",
    "Experiment",
    "Explorer",
    "alt_text",
    "experiment",
    "explore",
    "figure_to_png",
    "image_format",
    "render_frame",
    "show_source",
    "text_problems",
]

#: Most frames one ``explore`` widget may render (the product of the grid sizes).
MAX_FRAMES = 120
#: Most PNG bytes one ``explore`` widget may embed in a page (base64 adds a third on top).
MAX_BYTES = 1_200_000


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

    def __init__(self, sliders, frames, view, *, title=None, caption=None, problems=(), **kwargs):
        header = [W.HTML(f"<b>{title}</b>")] if title else []
        footer = [W.HTML(f"<small>{caption}</small>")] if caption else []
        super().__init__(
            children=[*header, *sliders.values(), view, *footer],
            layout=W.Layout(width="100%"),
            **kwargs,
        )
        self.sliders = sliders
        self.frames = frames
        #: Unreadable text in the frames (see :func:`text_problems`); the browser test
        #: fails on widgets whose frames have any (they carry a ``mlnotes-text-problem`` class).
        self.text_problems = sorted(set(problems))
        self.add_class("mlnotes-explorer")
        if self.text_problems:
            self.add_class("mlnotes-text-problem")

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
    alt: str | Callable[..., str] | None = None,
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
    alt : str or callable, optional
        Alt text of each frame: what it shows and at which values. A string is formatted
        with the frame's parameters (``"Bernoulli entropy, p = {p}"``), a callable is
        called with them. Default: the title (or caption) and each slider's label and
        readout, such as "Bernoulli entropy, p = 0.3".
    dpi : int
        CSS pixels per inch of the figure; frames carry ``PIXEL_RATIO`` times as many.
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

    sliders = _selection_sliders(values, initial, labels, formats)
    try:
        frames, widths, problems, seconds = _render_grid(fn, values, dpi, PIXEL_RATIO, max_bytes)
    except _TooHeavy:  # keep the page light: 1x frames rather than none
        frames, widths, problems, seconds = _render_grid(fn, values, dpi, 1, max_bytes)
    total = sum(len(f) for f in frames.values())
    alts = {c: _alt_text(alt, dict(zip(names, c, strict=True)), sliders, title or caption,
                         fn) for c in frames}  # fmt: skip
    _log_timing(fn, title, seconds, total)
    images = {c: _image(frames[c], widths[c], alts[c]) for c in frames}
    view = _build_stack(names, values, images, sliders, ())
    return Explorer(sliders, frames, view, title=title, caption=caption, problems=problems)


class _TooHeavy(ValueError):
    pass


def _render_grid(fn, values, dpi, pixel_ratio, max_bytes):
    """Every grid point's frame; fails early (after a few frames) when over ``max_bytes``."""
    names = list(values)
    frames, widths, problems, seconds = {}, {}, [], []
    total = 0
    n_frames = math.prod(len(v) for v in values.values())
    for i, combo in enumerate(itertools.product(*values.values())):
        start = time.perf_counter()
        fig = fn(**dict(zip(names, combo, strict=True)))
        if not isinstance(fig, Figure):
            raise ValueError(f"fn must return a matplotlib Figure, got {type(fig).__name__}")
        frames[combo], widths[combo], found = render_frame(fig, dpi=dpi, pixel_ratio=pixel_ratio)
        problems += found
        seconds.append(time.perf_counter() - start)
        total += len(frames[combo])
        projected = total / (i + 1) * n_frames  # after a few frames the average predicts
        if total > max_bytes or (i >= 3 and projected > 1.5 * max_bytes):
            raise _TooHeavy(
                f"grid frames weigh about {projected / 1e6:.1f} MB, more than "
                f"max_bytes={max_bytes / 1e6:.1f} MB; use fewer values, a smaller figure "
                "or a lower dpi"
            )
    return frames, widths, problems, seconds


def _selection_sliders(values, initial, labels, formats) -> dict[str, W.SelectionSlider]:
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
    return sliders


def _alt_text(alt, params, sliders, heading, fn) -> str:
    """What a frame shows and at which values (the ``alt`` of :func:`explore`)."""
    if callable(alt):
        return _plain(str(alt(**params)))
    if isinstance(alt, str):
        return _plain(alt.format(**params))
    what = _plain(heading) or getattr(fn, "__name__", "figure").replace("_", " ")
    shown = []
    for name, value in params.items():
        slider = sliders[name]
        readout = slider._options_labels[slider._options_values.index(value)]
        shown.append(f"{_plain(slider.description) or name} = {readout}")
    return f"{what}, {', '.join(shown)}"


def _image(data: bytes, css_width: int, alt: str) -> W.Image:
    """A frame shown at its CSS width (never stretched), carrying ``alt`` as its alt text."""
    image = W.Image(
        value=data,
        format=image_format(data),
        width=str(css_width),
        layout=W.Layout(max_width="100%"),
    )
    _set_alt(image, alt)
    return image


def _set_alt(image: W.Image, alt: str) -> None:
    """Give an Image widget its alt text.

    ipywidgets' Image has no alt attribute, and its ``tooltip`` breaks the static widget
    manager (it reads the ``description`` that Image lacks). So the text travels in a CSS
    class, ``mlnotes-alt-<base64url of the text>``, which the book's script turns into
    the ``alt`` attribute.
    """
    code = base64.urlsafe_b64encode(alt.encode()).decode().rstrip("=")
    image._dom_classes = tuple(c for c in image._dom_classes if not c.startswith("mlnotes-alt-"))
    image.add_class(f"mlnotes-alt-{code}")


def alt_text(image: W.Image) -> str:
    """The alt text given to a frame (see :func:`explore`'s ``alt``)."""
    for cls in image._dom_classes:
        if cls.startswith("mlnotes-alt-"):
            code = cls.removeprefix("mlnotes-alt-")
            return base64.urlsafe_b64decode(code + "=" * (-len(code) % 4)).decode()
    return ""


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


def _build_stack(names, values, images, sliders, prefix):
    """Nested stacks: level k has one child per value of parameter k, linked to its slider."""
    level = len(prefix)
    name = names[level]
    children = []
    for v in values[name]:
        key = (*prefix, v)
        if level == len(names) - 1:
            children.append(images[key])
        else:
            children.append(_build_stack(names, values, images, sliders, key))
    stack = W.Stack(children=children, selected_index=sliders[name].index)
    W.jslink((sliders[name], "index"), (stack, "selected_index"))
    return stack


class Experiment(W.VBox):
    """The widget returned by :func:`experiment`: note, controls, Run, progress, figure.

    The note above the controls says what the figure shows. In the static book (no
    kernel) the book's script disables the controls that need a kernel (class
    ``mlnotes-needs-kernel``) and hides Run (``mlnotes-live-only``); controls on the
    precomputed grid keep switching between precomputed results there, as an explorer's do.
    """

    def __init__(self, run, controls, plot, default, *, title=None, dpi=80, grid_results=None):
        self._run_fn, self._plot, self._dpi = run, plot, dpi
        self.controls = dict(controls)
        #: Precomputed results keyed by the values of the grid controls (their names).
        self.grid_results = dict(grid_results[1]) if grid_results else {}
        self.grid = list(grid_results[0]) if grid_results else []
        self.result = default
        for name, w in self.controls.items():
            w.style.description_width = "initial"  # no "learning r…" labels
            w.layout.width = "min(100%, 30rem)"
            if name not in self.grid:
                w.add_class("mlnotes-needs-kernel")
        self.button = W.Button(description="Run", icon="play", button_style="")
        self.button.add_class("mlnotes-run")
        self.progress = W.FloatProgress(value=0.0, min=0.0, max=1.0, description="progress")
        # The note sits above the controls; a run replaces it with the run's settings.
        self.status = W.HTML(self._note_html())
        self.status.add_class("mlnotes-status")
        self.precomputed = self._precomputed_view(default)
        if self.grid:
            self.image = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
            self.image.layout.display = "none"  # shows a live run's result
            _set_alt(self.image, "Result of a live run")
            views = [self.precomputed, self.image]
        else:
            self.image = self.precomputed
            views = [self.image]
        run_row = W.HBox([self.button, self.progress])
        run_row.add_class("mlnotes-live-only")
        header = [W.HTML(f"<b>{title}</b>")] if title else []
        super().__init__(children=[*header, self.status, *self.controls.values(), run_row, *views])
        self.add_class("mlnotes-experiment")
        self.button.on_click(lambda _: self.run())
        for name in self.grid:
            self.controls[name].observe(self._show_precomputed, names="value")

    def _fixed(self) -> str:
        return ", ".join(
            f"{_plain(w.description) or k} = {_rounded(w.value)}"
            for k, w in self.controls.items()
            if k not in self.grid
        )

    def _note_html(self) -> str:
        """Live (JupyterLab) text and static-book text; the book's CSS shows the second."""
        grid = ", ".join(_plain(self.controls[k].description) or k for k in self.grid)
        fixed = self._fixed()
        if grid:
            live = f"Precomputed results over {grid}; press Run to train with any settings."
            static = f"Precomputed results: move {grid} to switch between them" + (
                f" ({fixed})." if fixed else "."
            )
        else:
            live = "Precomputed result for the settings shown; pick settings and press Run."
            static = f"Precomputed result for {fixed}." if fixed else "Precomputed result."
        static += (
            " The other controls and Run need a Python kernel: this experiment runs live in "
            "JupyterLab (see <i>How to run this chapter</i> at the top of the page)."
        )
        return (
            f'<small><span class="mlnotes-live-note">{live}</span>'
            f'<span class="mlnotes-static-note" style="display:none">{static}</span></small>'
        )

    def _frame(self, result, params) -> W.Image:
        data, width, _ = render_frame(self._plot(result), dpi=self._dpi)
        shown = ", ".join(f"{_plain(self.controls[k].description) or k} = {_rounded(v)}"
                          for k, v in params.items())  # fmt: skip
        return _image(data, width, f"Result of the experiment for {shown}")

    def _precomputed_view(self, default):
        if not self.grid:
            return self._frame(default, self.params())
        names = list(self.grid)
        values = {k: list(self.controls[k]._options_values) for k in names}
        params = self.params()
        images = {
            key: self._frame(result, {**params, **dict(zip(names, key, strict=True))})
            for key, result in self.grid_results.items()
        }
        return _build_stack(names, values, images, self.controls, ())

    def _show_precomputed(self, _change=None) -> None:
        self.image.layout.display = "none"
        self.precomputed.layout.display = None
        self.status.value = self._note_html()

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
            data, width, _ = render_frame(self._plot(self.result), dpi=self._dpi)
            shown = ", ".join(f"{k}={_rounded(v)}" for k, v in params.items())
            self.image.format = image_format(data)
            self.image.value, self.image.width = data, str(width)
            _set_alt(self.image, f"Result of the experiment for {shown}")
            if self.grid:
                self.image.layout.display = None
                self.precomputed.layout.display = "none"
            self.status.value = (
                f"<small>Result for {html.escape(shown)} "
                f"({time.perf_counter() - start:.1f} s).</small>"
            )
        except Exception as err:  # show it in the widget, then let the reader see the trace
            self.status.value = (
                f"<small>Failed: {html.escape(f'{type(err).__name__}: {err}')}</small>"
            )
            raise
        finally:
            self.button.disabled = False
            self.progress.value = 1.0
        return self.result

    def __repr__(self) -> str:
        return f"Experiment({', '.join(self.controls)})"


def _on_grid(w: W.ValueWidget) -> tuple[bool, Any]:
    """Whether a control's value is one its front end can hold, and the value it would show.

    A slider snaps to ``min + k * step`` (a log slider in the exponent), so a value between
    steps would be displayed, and run, as another value.
    """
    if isinstance(w, W.FloatLogSlider):
        k = (math.log(w.value, w.base) - w.min) / w.step
        return abs(k - round(k)) < 1e-6, w.base ** (w.min + round(k) * w.step)
    if isinstance(w, W.IntSlider | W.FloatSlider | W.BoundedIntText | W.BoundedFloatText):
        step = getattr(w, "step", None) or 1
        k = (w.value - w.min) / step
        return abs(k - round(k)) < 1e-6, w.min + round(k) * step
    return True, w.value


def _check_precomputed(controls, grid, precomputed) -> tuple[list[str], dict[tuple, Any]]:
    if isinstance(grid, str) or not isinstance(grid, Sequence) or not grid:
        raise ValueError("grid must be a non-empty sequence of control names")
    if not isinstance(precomputed, Mapping):
        raise ValueError("precomputed must be a mapping of grid values -> result")
    names = list(grid)
    for name in names:
        w = controls.get(name)
        if not isinstance(w, _Selection):
            raise ValueError(
                f"precomputed: controls[{name!r}] must be a SelectionSlider, Dropdown or "
                "ToggleButtons, so the static book can switch its results"
            )
    results = {k if isinstance(k, tuple) else (k,): v for k, v in precomputed.items()}
    wanted = set(itertools.product(*(controls[k]._options_values for k in names)))
    if set(results) != wanted:
        missing = sorted(map(str, wanted - set(results)))[:3]
        extra = sorted(map(str, set(results) - wanted))[:3]
        raise ValueError(
            f"precomputed must hold one result per combination of the options of {names}: "
            f"missing {missing}, not options {extra}"
        )
    return names, results


def experiment(
    run: Callable[..., Any],
    controls: Mapping[str, W.ValueWidget],
    *,
    plot: Callable[[Any], Figure],
    default: Any = None,
    title: str | None = None,
    dpi: int = 80,
    grid: Sequence[str] | None = None,
    precomputed: Mapping[Any, Any] | None = None,
) -> Experiment:
    """A live experiment: a note, controls, a Run button, a progress bar and a figure.

    Parameters
    ----------
    run : callable
        ``run(progress=callback, **params) -> result``; ``params`` are the controls'
        values by name, and ``callback(done, total)`` advances the progress bar.
    controls : mapping of str to ipywidgets value widget
        The settings the reader chooses (sliders, dropdowns...). Each starts at a value
        the widget can hold exactly (a slider's ``min + k * step``), so that Run with
        unchanged settings reproduces the precomputed figure.
    plot : callable
        ``plot(result) -> Figure``.
    default : object
        The precomputed result for the controls' initial values, shown before any run.
        Optional with ``precomputed``, which then supplies it.
    grid, precomputed : optional
        A small grid of precomputed results the static book can switch between, as an
        explorer does: ``grid`` names selection controls (``SelectionSlider``,
        ``Dropdown``...) and ``precomputed`` maps each combination of their options (a
        tuple in ``grid`` order, or the bare value for one name) to its result. Run then
        stays for settings off the grid, live in JupyterLab.

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
        exact, shown = _on_grid(w)
        if not exact:
            raise ValueError(
                f"controls[{name!r}] starts at {w.value!r}, which the slider cannot hold: it "
                f"would show and run {_rounded(shown)}; start at a step of the slider, or "
                "use a SelectionSlider with the values you precomputed"
            )
    grid_results = None
    if grid is not None or precomputed is not None:
        grid_results = _check_precomputed(controls, grid, precomputed)
        key = tuple(controls[k].value for k in grid_results[0])
        default = grid_results[1][key] if default is None else default
    return Experiment(run, controls, plot, default, title=title, dpi=dpi, grid_results=grid_results)


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
    import textwrap

    try:
        code = inspect.getsource(obj)
    except (TypeError, OSError) as err:
        raise ValueError(f"obj: no Python source for {obj!r}") from err
    code = re.sub(r"\n[ \t]*See book/[\w/.-]+\.ipynb\.[ \t]*(?=\n)", "", textwrap.dedent(code))
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    return _Source(name, code.rstrip() + "\n")
