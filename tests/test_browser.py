"""The static book in a real browser (Debian's chromium via Playwright), fully offline.

Every page is opened from a local server under a sub-path (as GitHub Pages serves a project's
book), at phone, tablet and desktop widths (the tablet by widening the phone's page); any
request that leaves 127.0.0.1 is aborted and fails the test, and so does any asset or link of
the page that is not found. On every page, at every width:

- the book's own MathJax typeset all math, no formula is clipped, and no TeX is left as text;
- nothing widens the page (no horizontal overflow), no nbval marker is visible;
- axe-core finds no critical or serious accessibility violation (at 390 and 1280 px; colour
  contrast, which no width changes, at 1280 px);
- the theme's drawers (chapter list, page contents) open and close.

On every chapter, moving a slider of each precomputed widget (by keyboard, and the first
one by mouse) changes the figure, its alt text says which values it shows, the slider's
aria-valuetext is the shown value, and an experiment is honest about needing a kernel. Every
chapter page loads at most 3.5 MB (uncompressed). The static book's widget renderer
(book/_static/mlnotes-widgets.js) fails loudly on a widget model it does not know.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import urllib.request
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from booksite import HTML, ROOT, SUB_PATH

from conftest import chapter_notebooks, page_weight, toc_files

pytestmark = pytest.mark.browser

WIDTHS = PHONE, TABLET, DESKTOP = 390, 768, 1280
# axe-core costs seconds per page: run it at the phone and desktop layouts (the tablet
# layout is the phone's, with a wider column).
AXE_WIDTHS = [PHONE, DESKTOP]
# Colour contrast is a property of the theme's colours, which no width changes (its media
# queries move and hide boxes, never recolour them), and it is most of axe's time on a
# chapter page (every highlighted token of the code is a text to check): it runs at DESKTOP.
COLOR_RULES = ("color-contrast",)
# Page weight as a reader's browser downloads it from a static host: every file the page
# loads, gzip-compressed (the widget PNGs live inside the HTML as base64 text).
PAGE_BUDGET_BYTES = 5_000_000
# The same, uncompressed (a host that does not compress; issue 14's goal per chapter page).
PAGE_BUDGET_RAW_BYTES = 3_500_000
# A slider's focusable control: our renderer's <input type=range>, or the html-manager's
# noUiSlider handle (with `mlnotes_widgets: html-manager` in _config.yml).
SLIDER = "input[type=range], .noUi-handle"

SHOWN_IMAGE_JS = """
(root) => {
  const imgs = [...root.querySelectorAll('img')].filter(
      (i) => i.offsetParent !== null && i.complete && i.naturalWidth > 0);
  if (imgs.length !== 1) return null;
  const img = imgs[0];
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  c.getContext('2d').drawImage(img, 0, 0);
  return c.toDataURL('image/png');
}
"""

# Elements that make the page wider than the viewport (the widest first).
OVERFLOW_JS = """
() => {
  const w = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= w + 1) return [];
  return [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > w + 1 && e.offsetParent !== null)
    .filter((e) => { // inside a box that scrolls or clips, it does not widen the page
      for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
        const ov = getComputedStyle(a).overflowX;
        if (['auto', 'scroll', 'hidden', 'clip'].includes(ov)) return false;
      }
      return true; })
    .filter((e) => ![...e.querySelectorAll('*')].some(
        (c) => c.getBoundingClientRect().right > w + 1 && c.offsetParent !== null))
    .slice(0, 5)
    .map((e) => `${e.tagName.toLowerCase()}.${e.className}: right ${
        Math.round(e.getBoundingClientRect().right)} px`);
}
"""

# A formula is clipped when part of it is hidden: wider than its own box without being
# scrollable, or cut by an ancestor that hides overflow.
CLIPPED_MATH_JS = """
() => {
  const out = [];
  for (const m of document.querySelectorAll('mjx-container')) {
    if (m.offsetParent === null) continue;
    const r = m.getBoundingClientRect();
    if (r.width === 0) continue;
    const style = getComputedStyle(m);
    const scrolls = ['auto', 'scroll'].includes(style.overflowX);
    if (m.scrollWidth > m.clientWidth + 2 && !scrolls) {
      out.push(m.textContent.slice(0, 40)); continue;
    }
    for (let a = m.parentElement; a && a !== document.body; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (['hidden', 'clip'].includes(s.overflowX)) {
        const ar = a.getBoundingClientRect();
        if (r.right > ar.right + 2 || r.left < ar.left - 2) {
          out.push(m.textContent.slice(0, 40)); break;
        }
      }
    }
    if (r.right > document.documentElement.clientWidth + 2) out.push(m.textContent.slice(0, 40));
  }
  return out;
}
"""

# Visible text outside code, formulas and widgets (where TeX or nbval markers must not be).
PROSE_TEXT_JS = """
() => {
  const skip = 'pre, code, script, style, mjx-container, .highlight, .MathJax, textarea, '
    + 'kbd, samp, .widget-readout, .cell_input, .mlnotes-source, .math, .output.text_plain';
  const root = document.querySelector('main') || document.body;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip) || el.offsetParent === null) continue;
    parts.push(n.textContent);
  }
  return parts.join(' ');
}
"""
TEX_AS_TEXT = re.compile(
    r"\$[^\s$€]|\\\(|\\\)|\\\[|\\\]|\\_|\\(?:frac|sum|mathbb|mathrm|mathcal|lfloor|rfloor|"
    r"alpha|beta|gamma|theta|sigma|mu|log|exp|left|right|cdot|hat|text)\b"
)


def open_offline(browser, url, *, width=1280, height=900, dark=False):
    """Open ``url``, aborting non-local requests; return (page, context, blocked, errors).

    ``errors`` collects JavaScript errors and every request of the page that failed or
    was not found (a missing asset under the sub-path shows up here).
    """
    context = browser.new_context(
        viewport={"width": width, "height": height},
        color_scheme="dark" if dark else "light",
    )
    blocked: list[str] = []
    origin = urlparse(url).netloc

    def route(r):
        u = urlparse(r.request.url)
        if u.scheme in ("data", "blob") or u.netloc == origin:
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "response",
        lambda r: r.status >= 400 and errors.append(f"HTTP {r.status}: {r.url}"),
    )
    page.goto(url, wait_until="networkidle")
    return page, context, blocked, errors


def wait_until_typeset(page):
    if page.locator("div.math, span.math").count():
        page.wait_for_selector("mjx-container", timeout=20_000)
        page.wait_for_function(
            "() => !window.MathJax || !MathJax.startup || !MathJax.startup.promise"
            " || MathJax.startup.document.processed !== false",
            timeout=20_000,
        )
        page.evaluate("() => MathJax.startup.promise")


def shown_image(explorer) -> str | None:
    data = explorer.evaluate(SHOWN_IMAGE_JS)
    return hashlib.sha256(data.encode()).hexdigest() if data else None


def wait_for_new_image(page, explorer, before: str, timeout_s: float = 10.0) -> str | None:
    for _ in range(int(timeout_s / 0.1)):
        now = shown_image(explorer)
        if now is not None and now != before:
            return now
        page.wait_for_timeout(100)
    return shown_image(explorer)


@functools.cache
def axe_source() -> str:
    """axe-core as shipped inside the PyPI package axe-playwright-python (no download)."""
    from pathlib import Path

    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


def axe_violations(page, skip: tuple[str, ...] = ()) -> list[str]:
    """Critical and serious axe-core violations on the page: 'rule (n nodes): target'.

    ``skip`` names rules not to run (see ``COLOR_RULES``).
    """
    page.add_script_tag(content=axe_source())
    options = {"resultTypes": ["violations"], "rules": {r: {"enabled": False} for r in skip}}
    result = page.evaluate("async (options) => await axe.run(document, options)", options)
    return [
        f"{v['id']} ({len(v['nodes'])}): {v['nodes'][0]['target']} {v['help']}"
        for v in result["violations"]
        if v["impact"] in ("critical", "serious")
    ]


def local_links(page) -> list[str]:
    hrefs = page.evaluate("() => [...document.querySelectorAll('a[href]')].map((a) => a.href)")
    origin = urlparse(page.url).netloc
    return sorted({h.split("#")[0] for h in hrefs if urlparse(h).netloc == origin} - {""})


# The API pages are one generated template (autodoc entries): phone and desktop suffice.
# A page is loaded afresh at the phone and at the desktop width; the tablet width is the
# phone's page turned wider (the viewport resized, as when a tablet turns), which re-runs
# every media query and layout check without loading and typesetting the page a third time.
PAGES_AND_WIDTHS = [
    (page, widths)
    for page in toc_files()
    for widths in ((PHONE,) if page.startswith("book/api/") else (PHONE, TABLET), (DESKTOP,))
]


def _layout_problems(page) -> dict[str, list]:
    """What the current width breaks: the page widened, a formula clipped."""
    return {
        "page-level horizontal overflow": page.evaluate(OVERFLOW_JS),
        "clipped formulas": page.evaluate(CLIPPED_MATH_JS),
    }


def _desktop_problems(page) -> dict[str, list]:
    """Checks of what no width changes (the text, images, weight, links): at DESKTOP."""
    problems = {}
    prose = page.evaluate(PROSE_TEXT_JS)
    problems["TeX left as text"] = [
        prose[max(0, m.start() - 30) : m.end() + 30] for m in TEX_AS_TEXT.finditer(prose)
    ][:5]
    problems["nbval markers"] = re.findall(r"NBVAL_\w+", page.inner_text("body"))[:3]
    problems["unreadable figure text"] = page.evaluate(
        "() => [...document.querySelectorAll('.mlnotes-text-problem')].map("
        "(w) => (w.querySelector('b') || w).textContent.slice(0, 60))"
    )
    problems["images without alt text"] = page.evaluate(
        "() => [...document.querySelectorAll('main img')].filter((i) => i.offsetParent"
        " && (!i.alt || /[0-9a-f]{32}|\\.png$/.test(i.alt))).map((i) => i.src.slice(-40))"
    )
    raw, weight = page_weight(page, HTML, SUB_PATH)
    problems["page weight"] = (
        [] if 0 < weight < PAGE_BUDGET_BYTES else [f"{weight / 1e6:.2f} MB compressed"]
    ) + ([] if raw <= PAGE_BUDGET_RAW_BYTES else [f"{raw / 1e6:.2f} MB uncompressed"])
    for link in local_links(page):
        try:
            urllib.request.urlopen(urllib.request.Request(link, method="HEAD"), timeout=5)
        except OSError as err:
            problems.setdefault("broken links", []).append(f"{link}: {err}")
    return problems


@pytest.mark.parametrize(
    ("page_path", "widths"),
    PAGES_AND_WIDTHS,
    ids=lambda v: "+".join(map(str, v)) if isinstance(v, tuple) else v,
)
def test_page_reads_well_at_every_width(browser, book_subpath_server, page_path, widths):
    url = f"{book_subpath_server}/{page_path}.html"
    page, context, blocked, errors = open_offline(browser, url, width=widths[0])
    try:
        wait_until_typeset(page)
        page.wait_for_timeout(300)  # widgets and late layout settle
        assert page.title(), "page has no title"
        assert not blocked, f"requests left the book's host: {blocked}"
        assert not errors, f"JavaScript errors or missing assets: {errors}"
        if page.locator("div.math, span.math").count():
            assert page.locator("span.math:not(:has(mjx-container))").count() == 0, (
                "some inline math was not typeset"
            )
            stops = page.evaluate(
                "() => [...document.querySelectorAll('mjx-container')].filter((m) => m.tabIndex"
                " >= 0 && m.scrollWidth <= m.clientWidth + 1).length"
            )  # only a formula that scrolls may be one (so keyboards can scroll it)
            assert stops == 0, f"{stops} formulas are tab stops"
        bad = {}
        for width in widths:
            if width != widths[0]:
                page.set_viewport_size({"width": width, "height": 900})
                page.wait_for_timeout(300)  # the layout follows the new width
                assert page.evaluate("() => document.documentElement.clientWidth") <= width
            problems = _layout_problems(page)
            problems["JavaScript errors or missing assets"] = list(errors)
            if width in AXE_WIDTHS:
                problems["axe critical/serious"] = axe_violations(
                    page, skip=() if width == DESKTOP else COLOR_RULES
                )
                errors.clear()  # axe's CSSOM preload re-fetches @imports relative to the page
            if width == DESKTOP:
                problems |= _desktop_problems(page)
            bad |= {f"{k} at {width} px": v for k, v in problems.items() if v}
        assert not bad, f"{page_path}: {bad}"
    finally:
        context.close()


@pytest.mark.parametrize("width", [PHONE, TABLET])
def test_drawers_open_and_close_on_phones_and_tablets(browser, book_subpath_server, width):
    chapter = chapter_notebooks()[0]
    page, context, _blocked, errors = open_offline(
        browser, f"{book_subpath_server}/{chapter}.html", width=width
    )
    try:
        for toggle, dialog in [
            (".primary-toggle", "#pst-primary-sidebar-modal"),
            (".secondary-toggle", "#pst-secondary-sidebar-modal"),
        ]:
            button = page.locator(f"{toggle}:visible").first
            assert button.count(), f"no visible {toggle} at {width} px"
            button.click()
            page.wait_for_function(f"() => document.querySelector('{dialog}').open", timeout=3000)
            assert page.locator(f"{dialog} a").count() > 0, f"{dialog} opened empty"
            page.keyboard.press("Escape")
            page.wait_for_function(f"() => !document.querySelector('{dialog}').open", timeout=3000)
        assert not errors, errors
    finally:
        context.close()


def test_sidebar_collapses_on_desktop(browser, book_subpath_server):
    page, context, _blocked, _errors = open_offline(
        browser, f"{book_subpath_server}/{chapter_notebooks()[0]}.html", width=DESKTOP
    )
    try:
        sidebar = page.locator("#pst-primary-sidebar")
        assert sidebar.is_visible()
        page.locator(".primary-toggle:visible").first.click()
        page.wait_for_timeout(400)
        assert not sidebar.is_visible() or sidebar.bounding_box()["width"] < 5
        page.locator(".primary-toggle:visible").first.click()
        page.wait_for_timeout(400)
        assert sidebar.is_visible()
    finally:
        context.close()


EXPERIMENT_JS = """
(exp) => {
  const visible = (e) => e && e.offsetParent !== null
    && getComputedStyle(e).visibility !== 'hidden';
  const note = exp.querySelector('.mlnotes-static-note');
  const firstControl = exp.querySelector(
    '.widget-slider, .widget-dropdown, .widget-toggle-buttons');
  return {
    run_visible: [...exp.querySelectorAll('button')].some(
      (b) => visible(b) && /Run/.test(b.textContent)),
    note: note && visible(note) ? note.textContent : null,
    note_above_controls: !!(note && firstControl && (note.compareDocumentPosition(firstControl)
        & Node.DOCUMENT_POSITION_FOLLOWING)),
    live_controls_enabled: [...exp.querySelectorAll('.mlnotes-needs-kernel')].filter((c) =>
        [...c.querySelectorAll('input, select, button')].some((i) => !i.disabled)
        || [...c.querySelectorAll('.noUi-handle')].some((h) => h.tabIndex >= 0)).length,
    live_controls: exp.querySelectorAll('.mlnotes-needs-kernel').length,
    stretched: [...exp.querySelectorAll('img')].filter((i) => visible(i)
        && i.getBoundingClientRect().width > i.naturalWidth / 2 + 1).length,
  };
}
"""


def _static_experiment_problems(page) -> list[str]:
    """An experiment in the static book is honest about needing a kernel: no Run button,
    its note above the controls, live controls disabled, its precomputed grid switching."""
    problems = []
    experiments = page.locator(".mlnotes-experiment")
    if experiments.count():
        page.wait_for_selector(".mlnotes-experiment .widget-image >> visible=true", timeout=30_000)
    for i in range(experiments.count()):
        exp = experiments.nth(i)
        exp.scroll_into_view_if_needed()
        state = exp.evaluate(EXPERIMENT_JS)
        checks = {
            "Run shows without a kernel": not state["run_visible"],
            "no note that a kernel is needed": bool(state["note"]) and "kernel" in state["note"],
            "the note is not above the controls": state["note_above_controls"],
            "live controls enabled": state["live_controls_enabled"] == 0,
            "no controls": bool(state["live_controls"] or exp.locator(SLIDER).count()),
            "its figure is stretched": state["stretched"] == 0,
        }
        problems += [f"experiment {i}: {what} ({state})" for what, ok in checks.items() if not ok]
        grid = exp.locator(f".widget-slider:not(.mlnotes-needs-kernel) :is({SLIDER})")
        if grid.count():  # a precomputed grid switches like an explorer
            before = shown_image(exp)
            grid.first.focus()
            grid.first.press("ArrowRight")
            if wait_for_new_image(page, exp, before, 2) == before:
                grid.first.press("ArrowLeft")
            if wait_for_new_image(page, exp, before) == before:
                problems.append(f"experiment {i}: the precomputed grid does not switch")
    return problems


@pytest.mark.parametrize("chapter", chapter_notebooks())
def test_widgets_work_without_a_kernel(browser, book_subpath_server, chapter):
    page, context, blocked, errors = open_offline(browser, f"{book_subpath_server}/{chapter}.html")
    try:
        page.wait_for_selector(f".mlnotes-explorer :is({SLIDER})", timeout=30_000)
        explorers = page.locator(".mlnotes-explorer")
        n = explorers.count()
        assert n >= 1, "the chapter shows no slider widget"
        for i in range(n):
            explorer = explorers.nth(i)
            explorer.scroll_into_view_if_needed()
            before = shown_image(explorer)
            assert before is not None, f"widget {i}: no figure shown"
            readout = explorer.locator(".widget-readout").first
            text_before = readout.inner_text()
            handle = explorer.locator(SLIDER).first
            handle.focus()
            handle.press("ArrowRight")
            if readout.inner_text() == text_before:  # the slider started at its last value
                handle.press("ArrowLeft")
            shown = readout.inner_text()
            assert shown != text_before, f"widget {i}: slider did not move"
            after = wait_for_new_image(page, explorer, before)
            assert after is not None and after != before, (
                f"widget {i}: moving the slider did not change the figure"
            )
            page.wait_for_timeout(50)
            assert handle.get_attribute("aria-valuetext") == shown.strip(), (
                f"widget {i}: aria-valuetext is not the shown value {shown!r}"
            )
            assert handle.get_attribute("aria-label"), f"widget {i}: slider has no name"
            alt = explorer.locator("img:visible").first.get_attribute("alt") or ""
            assert shown.strip() in alt, f"widget {i}: alt text {alt!r} does not name {shown!r}"
            if i == 0:  # and by mouse: a click at the track's far end moves it there
                track = explorer.locator("input[type=range], .noUi-target").first.bounding_box()
                for end in (track["width"] - 3, 3):  # the right end, else the left one
                    page.mouse.click(track["x"] + end, track["y"] + track["height"] / 2)
                    if readout.inner_text() != shown:
                        break
                assert readout.inner_text() != shown, "widget 0: a click did not move it"
                assert wait_for_new_image(page, explorer, after) != after, (
                    "widget 0: a click did not change the figure"
                )
        problems = _static_experiment_problems(page)  # on the same page: one load
        assert not problems, problems
        assert not blocked, f"requests left the book's host: {blocked}"
        assert not errors, f"JavaScript errors: {errors}"
    finally:
        context.close()


def test_every_asset_resolves_under_a_sub_path(book_subpath_server):
    """Spot check that the server really serves only under the sub-path (so the tests above
    would see a root-relative asset as a 404)."""
    index = urllib.request.urlopen(f"{book_subpath_server}/index.html").read()
    assert index
    root = urljoin(book_subpath_server, "/index.html")
    with pytest.raises(OSError):
        urllib.request.urlopen(root)


WIDGET_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>w</title>
<script type="application/vnd.jupyter.widget-state+json">{state}</script></head><body>
<script type="application/vnd.jupyter.widget-view+json">{{"model_id": "box"}}</script>
<script type="application/vnd.jupyter.widget-view+json">{{"model_id": "bad"}}</script>
<script>{js}</script></body></html>"""


def _model(name, **state):
    return {"model_name": name, "state": state}


def _tiny_png() -> bytes:
    """A 1x1 PNG, served for every frame of the hand-made page below."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="png")
    return buf.getvalue()


def test_the_widget_renderer_links_sliders_and_fails_loudly_on_unknown_models(browser):
    """The static book's renderer on a hand-made state (no server, no book page): a slider
    jslinked to a stack switches it, a hidden frame is not fetched, and a model the renderer
    does not know shows an error and raises a page error."""
    js = (ROOT / "book" / "_static" / "mlnotes-widgets.js").read_text()
    models = {
        "box": _model("VBoxModel", children=["IPY_MODEL_s", "IPY_MODEL_st"]),
        "bad": _model("HBoxModel", children=["IPY_MODEL_x"]),
        "s": _model(
            "SelectionSliderModel", _options_labels=["0.1", "0.3"], index=0, description="$p$"
        ),
        "st": _model("StackModel", children=["IPY_MODEL_a", "IPY_MODEL_b"], selected_index=0),
        "a": _model("ImageModel", format="png", _mlnotes_src="a.png"),
        "b": _model("ImageModel", format="png", _mlnotes_src="b.png"),
        "l": _model(
            "LinkModel", source=["IPY_MODEL_s", "index"], target=["IPY_MODEL_st", "selected_index"]
        ),
        "x": _model("NoSuchWidgetModel"),
    }
    html = WIDGET_PAGE.format(state=json.dumps({"state": models}), js=js)
    context = browser.new_context()
    fetched: list[str] = []

    def serve_fake(route):
        if route.request.url.endswith(".html"):
            return route.fulfill(status=200, content_type="text/html", body=html)
        fetched.append(Path(urlparse(route.request.url).path).name)
        return route.fulfill(status=200, content_type="image/png", body=_tiny_png())

    context.route("http://mlnotes.test/**", serve_fake)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto("http://mlnotes.test/page.html")
        page.wait_for_timeout(200)
        assert any("NoSuchWidgetModel" in e for e in errors), f"no loud failure: {errors}"
        assert page.locator(".mlnotes-widget-error").count() == 1, "no error shown in the page"
        slider = page.locator("input[type=range]")
        assert slider.get_attribute("aria-label") == "p"
        assert slider.get_attribute("aria-valuetext") == "0.1"
        assert fetched == ["a.png"], f"fetched {fetched}: a hidden frame was fetched"
        slider.focus()
        slider.press("ArrowRight")
        assert slider.get_attribute("aria-valuetext") == "0.3"
        page.wait_for_function("() => document.querySelectorAll('img[src]').length === 2")
        assert page.locator("img:visible").get_attribute("src").endswith("b.png")
    finally:
        context.close()
