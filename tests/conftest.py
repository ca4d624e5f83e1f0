"""Shared fixtures: the built book, a local HTTP server for it, and Debian's chromium."""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # root needs it
    "--headless=new",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


#: CPU kernel settings that emulate other readers' machines. ``native`` is this machine's
#: best kernels; ``baseline`` is torch's unvectorised ATen kernels, oneDNN/MKL capped to SSE4,
#: on one thread (another reduction order). The Makefile runs nbval under ``baseline``.
CPU_SETTINGS: dict[str, dict[str, str]] = {
    "native": {},
    "baseline": {
        "ATEN_CPU_CAPABILITY": "default",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "OMP_NUM_THREADS": "1",
    },
}


def run_under_cpu(setting: str, code: str, *, timeout: float = 300):
    """Run ``code`` in a fresh interpreter under a CPU kernel setting; return its JSON result.

    The kernels are chosen when torch is imported, so a setting needs its own process. The
    code must print one JSON document (its last line of stdout) with the numbers to compare.
    """
    env = {k: v for k, v in os.environ.items() if k not in CPU_SETTINGS["baseline"]}
    env.update(CPU_SETTINGS[setting])
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(f"under {setting}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def toc_files() -> list[str]:
    """Every page of the book, in _toc.yml order (paths without suffix)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [ch["file"] for ch in part.get("chapters", [])]
    return files


def chapter_notebooks() -> list[str]:
    """The chapters that are notebooks (book/<topic>), in toc order."""
    return [f for f in toc_files() if (ROOT / f"{f}.ipynb").exists()]


@pytest.fixture
def one_thread():
    """Run a test on one torch thread: small tensors are fastest so on a shared 2-core
    machine, and trained numbers do not depend on the core count."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def built_book() -> Path:
    if not (HTML / "index.html").exists():
        pytest.fail("_build/html is missing: run `make book` (make test does) first")
    return HTML


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture(scope="session")
def book_server(built_book):
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


RESOURCE_URLS_JS = """() => [performance.getEntriesByType('navigation')[0].name,
    ...performance.getEntriesByType('resource').map((r) => r.name)]"""


def page_weight(page, html_root: Path = HTML) -> tuple[int, int]:
    """Bytes a loaded page fetched: (raw, gzip-compressed as a static host serves them).

    The files are read from the built book on disk; ``data:`` and ``blob:`` URLs (the
    widget images, already counted inside the HTML) are skipped.
    """
    raw = compressed = 0
    for url in set(page.evaluate(RESOURCE_URLS_JS)):
        u = urlparse(url)
        if u.scheme not in ("http", "https"):
            continue
        path = html_root / unquote(u.path).lstrip("/")
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():  # a 404 (e.g. the browser's favicon probe) weighs nothing
            continue
        data = path.read_bytes()
        raw += len(data)
        compressed += len(gzip.compress(data, compresslevel=6, mtime=0))
    return raw, compressed
