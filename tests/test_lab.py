"""Chapter notebooks running live in JupyterLab with a real kernel, driven by chromium.

One JupyterLab server, started on 127.0.0.1 with copies of the notebooks (so autosave cannot
touch the committed ones), serves every chapter. For each chapter every cell is run; no cell
may end in a traceback (read from the page, with a selector first shown to match a
deliberate traceback, and from the notebook model), the chapters' MyST markup must be
rendered by jupyterlab-myst rather than shown as raw text, moving one slider of each
explorer must change its figure, and each experiment's Run (on its cheapest settings: every
slider at its minimum) must show its result.

Chapters are pipelined: while one chapter's figures are checked, the next chapter's Run All
already runs in its own kernel. ``MLNOTES_LAB_CHAPTERS=conv,gan`` drives only those.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, chapter_notebooks
from test_browser import open_offline, shown_image, wait_for_new_image

pytestmark = pytest.mark.browser

_chosen = os.environ.get("MLNOTES_LAB_CHAPTERS", "all")
CHAPTERS = [Path(c).name for c in chapter_notebooks()] if _chosen == "all" else _chosen.split(",")
RUN_ALL_TIMEOUT_S = 600
RUN_TIMEOUT_S = 240

# JupyterLab renders a traceback (and any stderr stream) as text of this mime type.
STDERR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\w*(Error|Exception)\b", re.M)

# Outputs of the notebook's model that are errors.
MODEL_ERRORS_JS = """() => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  const errors = [];
  for (let i = 0; i < nb.model.cells.length; i++) {
    const cell = nb.model.cells.get(i);
    if (cell.type !== 'code') continue;
    for (const out of cell.outputs.toJSON()) {
      if (out.output_type === 'error') errors.push(`cell ${i}: ${out.ename}: ${out.evalue}`);
    }
  }
  return errors;
}"""
# Start Run All without waiting for it; `window.mlnotesRunAll` says when it has finished.
START_RUN_ALL_JS = """async () => {
  const w = window.jupyterapp.shell.currentWidget;
  await w.sessionContext.ready;
  window.mlnotesRunAll = null;
  window.jupyterapp.commands.execute('notebook:run-all-cells').then(
      (ok) => { window.mlnotesRunAll = {ok: ok, t: performance.now()}; },
      (err) => { window.mlnotesRunAll = {ok: false, error: String(err)}; });
}"""
KERNEL_IDLE_JS = """() => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
  return !!k && k.status === 'idle';
}"""
RAW_MYST_JS = """() => [...document.querySelectorAll('.jp-MarkdownOutput')]
  .map((m) => m.innerText).filter((t) => /\\{(cite|doc|glue)[:a-z]*\\}`|^:::\\{/m.test(t))
  .map((t) => t.slice(0, 80))"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _broken_notebook() -> str:
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "metadata": {},
                    "outputs": [],
                    "source": ["import warnings\n", "warnings.warn('only a warning')"],
                },
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "metadata": {},
                    "outputs": [],
                    "source": ["raise ValueError('a deliberate traceback')"],
                },
            ],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("lab")
    for name in CHAPTERS:
        shutil.copy(ROOT / "book" / f"{name}.ipynb", work / f"{name}.ipynb")
    (work / "broken.ipynb").write_text(_broken_notebook())
    # Every cell in the DOM (no windowing), so the page shows every output to check.
    settings = work / ".settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(work / ".runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / ".workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(work / ".settings"),
        # One torch thread per kernel: a chapter runs while the next one starts and pytest's
        # other worker is busy; on a 2-core machine more threads only wait for each other.
        "OMP_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        f"--ServerApp.root_dir={work}",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--IdentityProvider.token=", "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True", "--allow-root",
        "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.workspaces_dir={work / '.workspaces'}",
    ]  # fmt: skip
    log = open(work / "lab.log", "w")
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited: {(work / 'lab.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 120 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class Notebooks:
    """Notebooks open in JupyterLab, one page and one kernel each, their Run All started."""

    def __init__(self, browser, url):
        self.browser, self.url, self.open = browser, url, {}

    def start(self, name: str) -> None:
        if name in self.open:
            return
        # A workspace of its own (reset), or JupyterLab would reopen the other pages' notebooks.
        t0 = time.perf_counter()
        page, context, blocked, _errors = open_offline(
            self.browser, f"{self.url}/lab/workspaces/{name}/tree/{name}.ipynb?reset"
        )
        page.wait_for_function(
            "(path) => { const w = window.jupyterapp?.shell.currentWidget;"
            " return w?.context?.path === path && w.sessionContext?.session?.kernel; }",
            arg=f"{name}.ipynb",
            timeout=120_000,
        )
        page.evaluate(START_RUN_ALL_JS)
        print(f"[{name} opened in {time.perf_counter() - t0:.1f} s]", end=" ")
        self.open[name] = (page, context, blocked, time.perf_counter())

    def finish(self, name: str, timeout_s: float = RUN_ALL_TIMEOUT_S):
        """Wait for ``name``'s Run All; return (page, blocked requests, seconds it took)."""
        self.start(name)
        page, _context, blocked, started = self.open[name]
        page.wait_for_function(
            "() => window.mlnotesRunAll !== null", timeout=timeout_s * 1000, polling=500
        )
        page.wait_for_function(KERNEL_IDLE_JS, timeout=60_000, polling=250)
        return page, blocked, time.perf_counter() - started

    def close(self, name: str) -> None:
        page, context, *_ = self.open.pop(name)
        page.evaluate(  # shut the kernel down: the next chapters get the CPU
            "() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()"
        )
        context.close()

    def close_all(self) -> None:
        for name in list(self.open):
            self.close(name)


@pytest.fixture(scope="module")
def notebooks(browser, lab):
    nbs = Notebooks(browser, lab)
    yield nbs
    nbs.close_all()


def tracebacks(page) -> list[str]:
    """Tracebacks shown on the page (stderr outputs that are errors, not warnings)."""
    texts = page.locator(STDERR_OUTPUT).all_inner_texts()
    return [t.strip()[:300] for t in texts if TRACEBACK.search(t)]


def test_a_traceback_in_lab_is_detected(notebooks):
    """The error checks below must be able to fail: a cell that raises is reported, by the
    page's selector and by the model, and a warning on stderr is not."""
    page, _blocked, _seconds = notebooks.finish("broken", 120)
    try:
        page.wait_for_selector(STDERR_OUTPUT, timeout=30_000)
        shown = page.locator(STDERR_OUTPUT).all_inner_texts()
        assert any("only a warning" in t for t in shown), shown  # the warning is shown ...
        found = tracebacks(page)
        assert len(found) == 1 and "deliberate traceback" in found[0], found  # ... not counted
        errors = page.evaluate(MODEL_ERRORS_JS)
        assert errors and "deliberate traceback" in errors[0], errors
    finally:
        notebooks.close("broken")


def _move_each_slider(page) -> list[str]:
    problems = []
    explorers = page.locator(".jp-OutputArea-output .mlnotes-explorer")
    if explorers.count() == 0:
        return ["the chapter shows no slider widget"]
    for i in range(explorers.count()):
        explorer = explorers.nth(i)
        explorer.scroll_into_view_if_needed()
        handle = explorer.locator(".noUi-handle").first
        handle.wait_for(timeout=30_000)
        before = shown_image(explorer)
        readout = explorer.locator(".widget-readout").first
        text_before = readout.inner_text()
        handle.focus()
        handle.press("ArrowRight")
        if readout.inner_text() == text_before:  # it started at its last value
            handle.press("ArrowLeft")
        if before is None or readout.inner_text() == text_before:
            problems.append(f"explorer {i}: no figure, or the slider did not move")
        elif wait_for_new_image(page, explorer, before) in (None, before):
            problems.append(f"explorer {i}: the figure did not change")
    return problems


def _cheapest_settings(exp) -> None:
    """Every slider of an experiment at its minimum (fewest steps, blocks, iterations)."""
    for handle in exp.locator(".widget-slider .noUi-handle").all():
        handle.focus()
        handle.press("Home")


def _run_each_experiment(page) -> list[str]:
    problems = []
    experiments = page.locator(".jp-OutputArea-output .mlnotes-experiment")
    for i in range(experiments.count()):
        exp = experiments.nth(i)
        exp.scroll_into_view_if_needed()
        note = exp.locator(".mlnotes-status").inner_text()
        if "JupyterLab" in note:
            problems.append(f"experiment {i} tells a Lab user to open Lab: {note}")
        _cheapest_settings(exp)
        start = time.perf_counter()
        exp.locator("button.mlnotes-run").click()
        status = exp.locator(".mlnotes-status")
        status.filter(has_text=re.compile("Result for|Failed")).wait_for(
            timeout=RUN_TIMEOUT_S * 1000
        )
        text = status.inner_text()
        print(f"experiment {i}: Run took {time.perf_counter() - start:.1f} s", end="; ")
        if not text.startswith("Result for"):
            problems.append(f"experiment {i}: {text}")
    return problems


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_live_and_its_widgets_work(notebooks, chapter):
    page, blocked, seconds = notebooks.finish(chapter)
    later = CHAPTERS[CHAPTERS.index(chapter) + 1 :]
    if later:  # the next chapter runs while this one is checked
        notebooks.start(later[0])
    try:
        print(f"{chapter}: Run All {seconds:.0f} s", end="; ")
        problems = {
            "run all failed": [] if page.evaluate("() => window.mlnotesRunAll.ok") else ["no"],
            "tracebacks on the page": tracebacks(page),
            "errors in the notebook": page.evaluate(MODEL_ERRORS_JS),
            "MyST shown as raw text (jupyterlab-myst?)": page.evaluate(RAW_MYST_JS),
        }
        if not any(problems.values()):
            start = time.perf_counter()
            problems["explorers"] = _move_each_slider(page)
            print(f"explorers {time.perf_counter() - start:.1f} s", end="; ")
            problems["experiments"] = _run_each_experiment(page)
            problems["tracebacks after the widgets ran"] = tracebacks(page)
        problems["requests that left 127.0.0.1"] = blocked
        bad = {k: v for k, v in problems.items() if v}
        assert not bad, f"{chapter} in JupyterLab: {bad}"
    finally:
        notebooks.close(chapter)
