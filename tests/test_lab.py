"""A chapter notebook running live in JupyterLab with a real kernel, driven by chromium.

JupyterLab is started on 127.0.0.1 with a copy of the notebook (so autosave cannot touch
the committed one), every cell is run, and moving a slider of the first widget must change
the figure, just as it does in the static book.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT
from test_browser import open_offline, shown_image, wait_for_new_image

pytestmark = pytest.mark.browser

NOTEBOOK = "conv.ipynb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "book" / NOTEBOOK, work / NOTEBOOK)
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(work / ".runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / ".workspaces"),
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
        for _ in range(120):
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited: {(work / 'lab.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_notebook_runs_live_and_its_slider_changes_the_figure(browser, lab):
    page, context, blocked, _errors = open_offline(browser, f"{lab}/lab/tree/{NOTEBOOK}")
    try:
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
            timeout=60_000,
        )
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        explorer = page.locator(".jp-OutputArea-output .mlnotes-explorer").first
        explorer.wait_for(timeout=300_000)
        page.wait_for_function(
            "() => !document.querySelector('.jp-InputArea-prompt') ||"
            " ![...document.querySelectorAll('.jp-InputArea-prompt')]"
            ".some((p) => p.textContent.includes('*'))",
            timeout=300_000,
        )
        assert page.locator(".jp-OutputArea-output [data-mime-type*='error']").count() == 0
        explorer.scroll_into_view_if_needed()
        explorer.locator(".noUi-handle").first.wait_for(timeout=30_000)
        before = shown_image(explorer)
        assert before is not None, "the widget shows no figure"
        readout = explorer.locator(".widget-readout").first
        text_before = readout.inner_text()
        handle = explorer.locator(".noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")
        if readout.inner_text() == text_before:
            handle.press("ArrowLeft")
        assert readout.inner_text() != text_before, "the slider did not move"
        after = wait_for_new_image(page, explorer, before)
        assert after is not None and after != before, "moving the slider did not change the figure"
        assert not blocked, f"requests left 127.0.0.1: {blocked}"
    finally:
        context.close()
