"""The built book as a browser sees it: a local server (optionally under a sub-path, as GitHub
Pages serves a project site), Debian's chromium, and what a page costs to load.

Shared by the tests (through conftest.py's fixtures) and by ``benchmarks/run.py``; it imports
no pytest, so the benchmark can use it as a plain module.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import io
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

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
#: GitHub Pages serves a project's book under /<repository>/: the tests do the same.
SUB_PATH = "/mlnotes/"


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


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves ``directory`` under ``prefix`` only (everything else is a 404), quietly.

    With ``gzip`` it compresses text as a static host does (GitHub Pages, Netlify...).
    """

    prefix = "/"
    gzip = False
    _TEXT = (".html", ".js", ".css", ".json", ".svg", ".txt", ".ipynb", ".map")

    def log_message(self, *args):  # keep test output clean
        pass

    def translate_path(self, path):
        clean = urlparse(path).path
        if not clean.startswith(self.prefix):
            return str(Path(self.directory) / "\0missing")  # never exists: 404
        return super().translate_path("/" + clean[len(self.prefix) :])

    def send_head(self):
        path = self.translate_path(self.path)
        wants = "gzip" in self.headers.get("Accept-Encoding", "")
        if not (self.gzip and wants and path.endswith(self._TEXT) and Path(path).is_file()):
            return super().send_head()
        data = gzip.compress(Path(path).read_bytes(), compresslevel=6, mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return io.BytesIO(data)


@contextlib.contextmanager
def serve(directory: Path = HTML, prefix: str = "/", *, gzip: bool = False) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 under ``prefix``; yield the site's base URL."""
    handler = functools.partial(
        type("Handler", (_QuietHandler,), {"prefix": prefix, "gzip": gzip}),
        directory=str(directory),
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{prefix.rstrip('/')}"
    finally:
        server.shutdown()
        server.server_close()


RESOURCE_URLS_JS = """() => [performance.getEntriesByType('navigation')[0].name,
    ...performance.getEntriesByType('resource').map((r) => r.name)]"""


def page_weight(page, html_root: Path = HTML, prefix: str = "/") -> tuple[int, int]:
    """Bytes a loaded page fetched: (raw, gzip-compressed as a static host serves them).

    The files are read from the built book on disk; ``data:`` and ``blob:`` URLs (the
    widget images, already counted inside the HTML) are skipped.
    """
    raw = compressed = 0
    for url in set(page.evaluate(RESOURCE_URLS_JS)):
        u = urlparse(url)
        if u.scheme not in ("http", "https"):
            continue
        rel = unquote(u.path)
        rel = rel[len(prefix) :] if rel.startswith(prefix) else rel.lstrip("/")
        path = html_root / rel
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():  # a 404 weighs nothing
            continue
        data = path.read_bytes()
        raw += len(data)
        compressed += len(gzip.compress(data, compresslevel=6, mtime=0))
    return raw, compressed
