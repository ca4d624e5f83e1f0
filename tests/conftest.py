"""Shared fixtures: the built book, a local HTTP server for it, and Debian's chromium."""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import shutil
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
