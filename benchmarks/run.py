"""`make bench`: time the book and the kernels, print one table, save it to _build/bench.md.

Rows:
- cold book build (execution cache cleared) and warm rebuild (nothing changed), seconds;
- `make test`, seconds (skip with --skip-test);
- each chapter notebook's execution time, and for each of its widgets the median seconds
  to render one frame;
- each page as a reader on a 10 Mbit/s line gets it (Chromium's own timings, cold cache,
  CDP network throttling): first contentful paint, widgets interactive (first slider and
  figure shown), bytes transferred uncompressed, and the gzip-compressed weight;
- every `benchmarks/bench_*.py` module's rows: ours vs the torch reference timed in the
  same run, as a ratio.

    python benchmarks/run.py [--skip-build] [--skip-test] [--only NAME]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

# The server, browser settings and page helpers shared with the browser tests.
from booksite import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    HTML,
    SUB_PATH,
    chapter_notebooks,
    page_weight,
    serve,
    toc_files,
)

TARGETS = {
    "cold book build": "< 360 s",
    "warm rebuild": "< 30 s",
    "make test": "< 900 s",
    "page weight": "< 5 MB",
}
#: Reader-side targets per chapter page at 10 Mbit/s (issue 14).
FCP_TARGET_S, INTERACTIVE_TARGET_S, TRANSFER_TARGET_MB = 1.5, 4.0, 3.5
THROTTLE = {  # 10 Mbit/s down and up, 20 ms round trip
    "offline": False,
    "latency": 20,
    "downloadThroughput": 10e6 / 8,
    "uploadThroughput": 10e6 / 8,
}
STALL_S, RETRIES = 20, 2  # a load that has not reached DOMContentLoaded after 20 s is stuck
CHAPTER_TARGET_S = {
    "rl": 60,
    "mle": 30,
    "losses": 30,
    "gan": 180,
    "dcgan": 180,
    "batchnorm": 120,
    "resnet": 120,
    "conv": 60,
}


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def build_rows(skip_test: bool) -> list[dict]:
    rows = []
    subprocess.run(["rm", "-rf", "_build"], cwd=ROOT, check=True)
    rows.append(row("cold book build", timed(["make", "book"]), unit="s"))
    rows.append(row("warm rebuild", timed(["make", "book"]), unit="s"))
    if not skip_test:
        rows.append(row("make test", timed(["make", "test"]), unit="s"))
    return rows


def notebook_rows() -> list[dict]:
    import nbformat
    from nbclient import NotebookClient

    rows = []
    for chapter in chapter_notebooks():
        path = ROOT / f"{chapter}.ipynb"
        name = path.stem
        with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as log:
            os.environ["MLNOTES_WIDGET_LOG"] = log.name
            nb = nbformat.read(path, as_version=4)
            start = time.perf_counter()
            NotebookClient(
                nb,
                timeout=900,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
            ).execute()
            seconds = time.perf_counter() - start
            target = CHAPTER_TARGET_S.get(name)
            rows.append(row(f"{name}: execute notebook", seconds, unit="s", target=f"< {target} s"))
            for line in Path(log.name).read_text().splitlines():
                w = json.loads(line)
                rows.append(
                    row(
                        f"{name}: widget '{w['widget']}' ({w['frames']} frames)",
                        w["median_frame_s"],
                        unit="s/frame",
                        target="",
                    )
                )
        os.environ.pop("MLNOTES_WIDGET_LOG", None)
    return rows


# The first explorer's slider (our renderer's range input, or the html-manager's handle) and
# its figure are on screen.
INTERACTIVE_JS = """() => {
  const h = document.querySelector(
    '.mlnotes-explorer input[type=range], .mlnotes-explorer .noUi-handle');
  const img = [...document.querySelectorAll('.mlnotes-explorer img')].find(
    (i) => i.offsetParent !== null);
  return !!(h && img && img.complete && img.naturalWidth > 0);
}"""


def _load_throttled(browser, url: str) -> dict:
    """Open ``url`` cold at 10 Mbit/s; Chromium's first paint, interactivity and bytes."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send("Network.emulateNetworkConditions", THROTTLE)
    transferred = []
    cdp.on("Network.loadingFinished", lambda e: transferred.append(e["encodedDataLength"]))
    page.goto(url, wait_until="commit")
    interactive = None
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_load_state("domcontentloaded", timeout=STALL_S * 1000)
    except PlaywrightTimeout:  # a stalled load: see _measure_page; other errors propagate
        context.close()
        return None
    if "mlnotes-explorer" in page.content():  # a chapter with sliders
        page.wait_for_function(INTERACTIVE_JS, timeout=60_000, polling=50)
        interactive = page.evaluate("() => performance.now()") / 1000
    page.wait_for_load_state("networkidle")
    fcp = page.evaluate(
        "() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime"
    )
    raw, gz = page_weight(page, HTML, SUB_PATH)
    context.close()
    return {
        "fcp": (fcp or 0) / 1000,
        "interactive": interactive,
        "transfer": sum(transferred),
        "raw": raw,
        "gz": gz,
    }


def _measure_page(browser, url: str) -> tuple[dict, int]:
    """``_load_throttled`` with up to ``RETRIES`` fresh tries; the result and the retries.

    About one cold load in twenty under CDP throttling, on a busy 2-core machine, never
    reaches DOMContentLoaded (a request stalls in the emulated network; the same page loads
    in under 2 s when reopened). Such a load is retried in a fresh context, and the row says
    so, rather than sinking the whole benchmark or being dropped silently.
    """
    for attempt in range(RETRIES + 1):
        m = _load_throttled(browser, url)
        if m is not None:
            return m, attempt
    raise SystemExit(f"bench: {url} never reached DOMContentLoaded in {RETRIES + 1} tries")


def page_rows() -> list[dict]:
    from playwright.sync_api import sync_playwright

    rows = []
    with serve(HTML, SUB_PATH) as site, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for page_path in toc_files():
            m, retries = _measure_page(browser, f"{site}/{page_path}.html")
            name = f"page {page_path}.html" + (
                f" ({retries} stalled load retried)" if retries else ""
            )
            rows.append(row(f"{name}: first contentful paint", m["fcp"], unit="s",
                            target=f"<= {FCP_TARGET_S} s"))  # fmt: skip
            if m["interactive"] is not None:
                rows.append(row(f"{name}: widgets interactive", m["interactive"], unit="s",
                                target=f"<= {INTERACTIVE_TARGET_S} s"))  # fmt: skip
            rows.append(row(f"{name}: transferred (uncompressed host)", m["transfer"] / 1e6,
                            unit="MB", target=f"<= {TRANSFER_TARGET_MB} MB"))  # fmt: skip
            rows.append(row(f"{name}: weight gzip-compressed (raw {m['raw'] / 1e6:.2f} MB)",
                            m["gz"] / 1e6, unit="MB gz", target="< 5 MB"))  # fmt: skip
        browser.close()
    return rows


def kernel_rows(only: str | None) -> list[dict]:
    rows = []
    for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        if only and only not in path.stem:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        rows.extend(mod.rows())
    return rows


def row(
    what: str, ours: float, *, ref: float | None = None, unit: str = "s", target: str | None = None
):
    return {
        "what": what,
        "ours": ours,
        "ref": ref,
        "unit": unit,
        "target": TARGETS.get(what, "") if target is None else target,
    }


def main() -> int:
    from timing import render_rows

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--skip-build", action="store_true", help="reuse _build/html; no build timings")
    ap.add_argument("--skip-test", action="store_true", help="do not time `make test`")
    ap.add_argument("--only", help="run only the kernel benchmarks whose file name contains this")
    ap.add_argument("--pages-only", action="store_true", help="only the reader-side page rows")
    args = ap.parse_args()
    rows: list[dict] = []
    if args.pages_only:
        print(render_rows(page_rows()))
        return 0
    if not args.only:
        if not args.skip_build:
            rows += build_rows(args.skip_test)
        rows += page_rows()
        rows += notebook_rows()
    rows += kernel_rows(args.only)
    table = render_rows(rows)
    print(table)
    out = ROOT / "_build" / "bench.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table + "\n")
    print(f"\n(saved to {out.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
