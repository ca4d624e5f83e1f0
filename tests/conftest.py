"""Shared fixtures: the built book, a local HTTP server for it, and Debian's chromium.

The server, the browser settings and the page helpers live in ``booksite.py``, which
``benchmarks/run.py`` imports too; the names stay importable from here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from booksite import (  # noqa: F401  (re-exported for the tests)
    CHROMIUM,
    CHROMIUM_ARGS,
    HTML,
    ROOT,
    SUB_PATH,
    chapter_notebooks,
    page_weight,
    serve,
    toc_files,
)

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


#: The longest-running modules, longest first (measured with `pytest --durations`). `make test`
#: runs `pytest -n 2 --dist loadscope --no-loadscope-reorder`: each module goes whole to one
#: worker in collection order, so starting with the longest ones keeps both workers busy
#: until the end instead of leaving one long module running alone.
LONGEST_FIRST = [
    "test_browser.py",
    "test_lab.py",
    "test_reader.py",
    "dcgan.ipynb",
    "batchnorm.ipynb",
    "conv.ipynb",
    "test_batchnorm_sweep.py",
    "test_gan_sweep.py",
    "test_resnet_sweep.py",
    "gan.ipynb",
    "resnet.ipynb",
    "test_site.py",
    "test_dcgan_cli.py",
    "test_mle_sweep.py",
    "test_conv_checkerboard.py",
    "rl.ipynb",
    "mle.ipynb",
    "losses.ipynb",
]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


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


@pytest.fixture(scope="session")
def book_server(built_book):
    """The book served at the site root (as ``make serve`` does)."""
    with serve(built_book) as url:
        yield url


@pytest.fixture(scope="session")
def book_subpath_server(built_book):
    """The book served under a sub-path, as GitHub Pages serves a project's site."""
    with serve(built_book, SUB_PATH) as url:
        yield url


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


def sweep_fixture(code: str, *, timeout: float = 1200):
    """A module-scoped fixture: ``code``'s JSON result under each of ``CPU_SETTINGS``.

    A sweep file defines ``sweep = sweep_fixture(SWEEP)``; each test that takes ``sweep``
    then runs once per CPU kernel setting on that setting's numbers.
    """

    @pytest.fixture(scope="module", params=sorted(CPU_SETTINGS))
    def sweep(request):
        result = run_under_cpu(request.param, code, timeout=timeout)
        print(request.param, json.dumps(result))  # the numbers, for `pytest -s`
        return result

    return sweep
