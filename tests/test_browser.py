"""The static book in a real browser (Debian's chromium via Playwright), fully offline.

Each chapter page is opened from a local server; any request that leaves 127.0.0.1 is
aborted and fails the test. On every page the math must be typeset by the book's own
MathJax, and moving a slider of each precomputed widget must change the figure shown.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlparse

import pytest

from conftest import chapter_notebooks, page_weight, toc_files

pytestmark = pytest.mark.browser

# Page weight as a reader's browser downloads it from a static host: every file the page
# loads, gzip-compressed (the widget PNGs live inside the HTML as base64 text).
PAGE_BUDGET_BYTES = 5_000_000

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


def open_offline(browser, url):
    """Open ``url``, aborting non-local requests; return (page, context, blocked, errors)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
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
    page.goto(url, wait_until="networkidle")
    return page, context, blocked, errors


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


@pytest.mark.parametrize("page_path", toc_files())
def test_page_loads_offline_with_math(browser, book_server, page_path):
    page, context, blocked, errors = open_offline(browser, f"{book_server}/{page_path}.html")
    try:
        assert page.title(), "page has no title"
        assert not blocked, f"requests left the book's host: {blocked}"
        assert not errors, f"JavaScript errors: {errors}"
        if page.locator("div.math, span.math").count():
            page.wait_for_selector("mjx-container", timeout=20_000)
            assert page.locator("mjx-container").count() >= 1
            assert page.locator("span.math:not(:has(mjx-container))").count() == 0, (
                "some inline math was not typeset"
            )
        raw, weight = page_weight(page)
        assert 0 < weight < PAGE_BUDGET_BYTES, (
            f"page weighs {weight / 1e6:.2f} MB compressed ({raw / 1e6:.2f} MB raw)"
        )
    finally:
        context.close()


@pytest.mark.parametrize("chapter", chapter_notebooks())
def test_sliders_change_the_figure_without_a_kernel(browser, book_server, chapter):
    page, context, blocked, errors = open_offline(browser, f"{book_server}/{chapter}.html")
    try:
        page.wait_for_selector(".mlnotes-explorer .noUi-handle", timeout=30_000)
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
            handle = explorer.locator(".noUi-handle").first
            handle.focus()
            handle.press("ArrowRight")
            if readout.inner_text() == text_before:  # the slider started at its last value
                handle.press("ArrowLeft")
            assert readout.inner_text() != text_before, f"widget {i}: slider did not move"
            after = wait_for_new_image(page, explorer, before)
            assert after is not None and after != before, (
                f"widget {i}: moving the slider did not change the figure"
            )
        assert not blocked, f"requests left the book's host: {blocked}"
        assert not errors, f"JavaScript errors: {errors}"
    finally:
        context.close()
