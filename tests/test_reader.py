"""The book as a keyboard reader and a dark-mode reader meet it, in chromium (issue 14).

- Keyboard: on every chapter, a few Tab presses reach "Skip to the first interactive
  figure" (shown while it has the focus), and Enter puts the focus on the first slider.
- Dark mode, from the OS preference and from the theme's switch: figures follow the theme
  (their dominant colour, as the screen shows it, is dark; in the light theme it is light),
  and a widget has one frame, not a frame inside a frame.
"""

from __future__ import annotations

import io

import pytest

from conftest import chapter_notebooks
from test_browser import open_offline, wait_until_typeset

pytestmark = pytest.mark.browser

CHAPTERS = chapter_notebooks()
# Tabs from the top of a page to the skip link: the theme's "Skip to main content" comes first.
TABS_TO_SKIP_LINK = 3
SKIP_TEXT = "Skip to the first interactive figure"
WIDGETS = ".mlnotes-explorer, .mlnotes-experiment"
# A slider's focusable control: the book's renderer's <input type=range>, or ipywidgets'
# noUiSlider handle (the html-manager), as in test_browser.py.
SLIDER = "input[type=range], .noUi-handle"

FOCUSED_JS = """(slider) => {
  const e = document.activeElement;
  const r = e.getBoundingClientRect();
  return {text: (e.textContent || '').trim(), handle: e.matches(slider),
          visible: r.bottom > 0 && r.top < innerHeight && r.width > 0,
          first: e === [...document.querySelectorAll(
              `:is(.mlnotes-explorer, .mlnotes-experiment) :is(${slider})`)]
              .find((h) => h.tabIndex >= 0 && !h.disabled
                    && h.getAttribute('aria-disabled') !== 'true')};
}"""


def _ready(page):
    page.wait_for_selector(f".mlnotes-explorer :is({SLIDER})", timeout=60_000)
    wait_until_typeset(page)
    page.wait_for_timeout(200)


def _keyboard_problems(page) -> list[str]:
    """What stops a keyboard reader from reaching the first slider in a few keys."""
    link = page.locator("#mlnotes-skip-figure")
    if link.count() != 1:
        return [f"no '{SKIP_TEXT}' link"]
    if not link.evaluate("(a) => a.getBoundingClientRect().bottom <= 0"):
        return ["the skip link shows before it has the focus"]
    tabs, focused = 0, {"text": ""}
    while focused["text"] != SKIP_TEXT:
        tabs += 1
        if tabs > TABS_TO_SKIP_LINK:
            return [f"'{SKIP_TEXT}' is not within {TABS_TO_SKIP_LINK} Tabs"]
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_JS, SLIDER)
    page.wait_for_timeout(300)  # the theme slides its skip bar in
    if not page.evaluate(FOCUSED_JS, SLIDER)["visible"]:
        return ["the focused skip link is not shown"]
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    focused = page.evaluate(FOCUSED_JS, SLIDER)
    if not (focused["handle"] and focused["first"] and focused["visible"]):
        return [f"Enter did not put the first slider on screen in focus: {focused}"]
    readout = "() => document.activeElement.closest('.widget-slider').textContent"
    before = page.evaluate(readout)
    page.keyboard.press("ArrowRight")
    if page.evaluate(readout) == before:  # the slider started at its last value
        page.keyboard.press("ArrowLeft")
    if page.evaluate(readout) == before:
        return ["the focused slider does not move"]
    print(f"{tabs} Tabs + Enter to the first slider", end="; ")
    return []


# ------------------------------------------------------------------------------ dark mode
def dominant_luminance(png: bytes) -> float:
    """Relative luminance (0 black .. 1 white) of the commonest colour of a screenshot."""
    import numpy as np
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.thumbnail((200, 200))
    colours, counts = np.unique(
        np.asarray(image).reshape(-1, 3) // 8 * 8, axis=0, return_counts=True
    )
    r, g, b = colours[counts.argmax()]
    return float(0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


# Frames around a widget: the card, its ancestors up to the notebook cell, and any box
# inside it nearly as large as the card. A box draws a frame with a border, a shadow, or a
# background other than the page's. Only the card may draw one.
FRAMES_JS = """(selector) => {
  const page = getComputedStyle(document.body).backgroundColor;
  const clear = (c) => /^transparent$|rgba\\(.*, 0\\)$/.test(c);
  const framed = (e) => {
    const s = getComputedStyle(e);
    const side = ['Top', 'Right', 'Bottom', 'Left'].some((k) =>
      parseFloat(s[`border${k}Width`]) > 0 && s[`border${k}Style`] !== 'none'
      && !clear(s[`border${k}Color`]));
    const shadow = s.boxShadow && s.boxShadow !== 'none';
    return side || shadow || !(clear(s.backgroundColor) || s.backgroundColor === page);
  };
  const problems = [];
  document.querySelectorAll(selector).forEach((card, i) => {
    const big = card.getBoundingClientRect();
    const boxes = [card];
    for (let a = card.parentElement; a && !a.classList.contains('cell'); a = a.parentElement) {
      boxes.push(a);
    }
    for (const d of card.querySelectorAll(':not(img)')) {  // a figure's pixels: screenshots
      const r = d.getBoundingClientRect();
      if (r.width > 0.9 * big.width && r.height > 0.9 * big.height) boxes.push(d);
    }
    const frames = boxes.filter(framed).map((e) => `${e.tagName.toLowerCase()}.${e.className}`);
    if (frames.length !== 1) problems.push(`widget ${i} has ${frames.length} frames: ${frames}`);
  });
  return problems;
}"""


def _to_dark_by_switch(page):
    for _ in range(3):  # the switch cycles light -> dark -> auto
        if page.evaluate("() => document.documentElement.dataset.theme") == "dark":
            return
        page.locator(".theme-switch-button:visible").first.click()
        page.wait_for_timeout(200)
    pytest.fail("the theme switch never turned the page dark")


def _figures(page):
    """The first explorer's shown frame and the first static figure not kept in colour."""
    explorer_img = page.locator(".mlnotes-explorer img:visible").first
    static_img = page.locator(
        ".cell:not(.tag_keep-colors) .cell_output img:not(.widget-image):visible"
    ).first
    return [("explorer", explorer_img)] + ([("figure", static_img)] if static_img.count() else [])


def _check_theme(page, dark: bool, figures: int = 2) -> list[str]:
    problems = page.evaluate(FRAMES_JS, WIDGETS)[:2]
    for what, img in _figures(page)[:figures]:
        img.scroll_into_view_if_needed()
        luminance = dominant_luminance(img.screenshot(animations="disabled", caret="initial"))
        if (luminance > 0.25) if dark else (luminance < 0.75):
            problems.append(f"{what}: dominant luminance {luminance:.2f}")
    return problems


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_keyboard_and_dark_mode_readers(browser, book_subpath_server, chapter):
    """One page per chapter: the keyboard path in the light theme, then the OS turning dark,
    then (back in a light OS) the theme's switch."""
    page, context, _blocked, errors = open_offline(browser, f"{book_subpath_server}/{chapter}.html")
    try:
        _ready(page)
        problems = {"keyboard": _keyboard_problems(page), "light": _check_theme(page, dark=False)}
        page.emulate_media(color_scheme="dark")
        page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
        problems["dark (OS)"] = _check_theme(page, dark=True)
        page.emulate_media(color_scheme="light")
        page.wait_for_function("() => document.documentElement.dataset.theme === 'light'")
        _to_dark_by_switch(page)
        problems["dark (switch)"] = _check_theme(page, dark=True, figures=1)  # the same CSS
        problems["errors"] = errors
        bad = {k: v for k, v in problems.items() if v}
        assert not bad, f"{chapter}: {bad}"
    finally:
        context.close()
