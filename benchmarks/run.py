"""`make bench`: time the book and the kernels, print one table, save it to _build/bench.md.

Rows:
- cold book build (execution cache cleared) and warm rebuild (nothing changed), seconds;
- `make test`, seconds (skip with --skip-test);
- each chapter notebook's execution time, and for each of its widgets the median seconds
  to render one frame;
- each chapter page's weight (raw and gzip-compressed, as a static host serves it), MB;
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

TARGETS = {
    "cold book build": "< 360 s",
    "warm rebuild": "< 30 s",
    "make test": "< 900 s",
    "page weight": "< 5 MB",
}
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

    from conftest import chapter_notebooks

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


def page_rows() -> list[dict]:
    import functools
    import http.server
    import threading

    from playwright.sync_api import sync_playwright

    from conftest import CHROMIUM, CHROMIUM_ARGS, HTML, _QuietHandler, page_weight, toc_files

    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for page_path in toc_files():
            page = browser.new_page()
            page.goto(
                f"http://127.0.0.1:{server.server_address[1]}/{page_path}.html",
                wait_until="networkidle",
            )
            raw, gz = page_weight(page)
            page.close()
            rows.append(
                row(
                    f"page {page_path}.html (raw {raw / 1e6:.2f} MB)",
                    gz / 1e6,
                    unit="MB gz",
                    target="< 5 MB",
                )
            )
        browser.close()
    server.shutdown()
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
    args = ap.parse_args()
    rows: list[dict] = []
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
