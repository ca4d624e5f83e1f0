"""The site as a web reader gets it: the library and the notebooks it serves, the publishing
workflow, and the one setting that turns on the repository and launch buttons."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml
from booksite import SUB_PATH, serve

from conftest import HTML, ROOT, chapter_notebooks

BIN = Path(sys.executable).parent
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
# The quickest chapter to execute end to end from the served files (about 20 s).
SMOKE_CHAPTER = "losses"


def _wheel_name() -> str:
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        import mlnotes_book
    finally:
        sys.path.pop(0)
    return mlnotes_book._wheel_name(ROOT)


def test_the_workflow_is_valid_for_github_actions():
    proc = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
         str(WORKFLOW)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    flow = yaml.safe_load(WORKFLOW.read_text())
    on = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert on["push"]["branches"] == ["main"]
    steps = [s for job in flow["jobs"].values() for s in job.get("steps", [])]
    assert any(s.get("run") == "make book" for s in steps)
    upload = next(s for s in steps if "upload-pages-artifact" in s.get("uses", ""))
    assert upload["with"]["path"] == "_build/html"
    assert any("deploy-pages" in s.get("uses", "") for s in steps)


def test_the_site_serves_every_notebook_and_the_library(built_book):
    downloads = built_book / "downloads"
    with zipfile.ZipFile(downloads / "mlnotes-notebooks.zip") as zf:
        names = {Path(n).name for n in zf.namelist()}
    chapters = {f"{Path(c).name}.ipynb" for c in chapter_notebooks()}
    assert chapters <= names
    assert all((downloads / "notebooks" / n).is_file() for n in chapters)
    with zipfile.ZipFile(downloads / _wheel_name()) as zf:
        files = set(zf.namelist())
    assert "mlnotes_lib/widgets.py" in files and "mlnotes_lib/plots/__init__.py" in files


def test_each_chapter_says_how_to_run_it(built_book):
    for chapter in chapter_notebooks():
        page = (built_book / f"{chapter}.html").read_text()
        assert page.count('class="mlnotes-run-box"') == 1, chapter
        assert f"downloads/notebooks/{Path(chapter).name}.ipynb" in page
        assert _wheel_name() in page and "pip install -e ." in page


def test_no_repository_placeholder_while_no_url_is_set(built_book):
    assert not yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    for page in built_book.rglob("*.html"):
        text = page.read_text()
        assert "<this repository>" not in text and "&lt;this repository&gt;" not in text, page
        assert "repository-button" not in text and "mybinder" not in text, page


def test_a_fresh_venv_installs_the_wheel_from_the_served_site_and_runs_a_chapter(
    built_book, tmp_path
):
    """`pip install <the site's wheel URL>` in a new venv, then run a downloaded chapter.

    pip installs only the wheel (``--no-deps --no-index``, so nothing is downloaded); the
    chapter's heavy dependencies (torch...) come from this test's environment through
    PYTHONPATH, which holds no copy of mlnotes_lib (it is installed there in editable mode,
    by a .pth file that PYTHONPATH does not read).
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    with serve(built_book, SUB_PATH) as site:
        wheel_url = f"{site}/downloads/{_wheel_name()}"
        subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel_url],
            check=True, env=env, timeout=300,
        )  # fmt: skip
        nb_url = f"{site}/downloads/notebooks/{SMOKE_CHAPTER}.ipynb"
        (tmp_path / f"{SMOKE_CHAPTER}.ipynb").write_bytes(urllib.request.urlopen(nb_url).read())
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    where = subprocess.run(
        [str(py), "-c", "import mlnotes_lib, mlnotes_lib.widgets; print(mlnotes_lib.__file__)"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    ).stdout  # fmt: skip  (cwd: not the checkout, whose mlnotes_lib/ would shadow the wheel)
    assert where.startswith(str(venv)), f"mlnotes_lib came from {where}, not the new venv"
    run = (
        "import nbformat, sys; from nbclient import NotebookClient;"
        f"nb = nbformat.read('{SMOKE_CHAPTER}.ipynb', 4);"
        "NotebookClient(nb, timeout=600, kernel_name='python3').execute()"
    )
    proc = subprocess.run(
        [str(py), "-c", run], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_repository_url_turns_on_the_repository_and_launch_buttons(tmp_path):
    """Build a one-notebook book with a sample repository.url in a temporary config."""
    sample = "https://github.com/example/mlnotes"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["repository"] = {"url": sample, "branch": "main"}
    config["execute"] = {"execute_notebooks": "off"}
    config["bibtex_bibfiles"] = [str(ROOT / "references.bib")]
    config["logo"] = config["html"]["favicon"] = ""
    config["sphinx"]["local_extensions"] = {"mlnotes_book": str(ROOT / "book" / "_ext")}
    config["sphinx"]["config"]["html_static_path"] = [str(ROOT / "book" / "_static")]
    config["sphinx"]["config"]["mlnotes_build_downloads"] = False
    book = tmp_path / "book"
    (book / "book").mkdir(parents=True)
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    (book / "_toc.yml").write_text(
        yaml.safe_dump({"format": "jb-book", "root": "book/intro",
                        "chapters": [{"file": "book/chapter"}]})
    )  # fmt: skip
    (book / "book" / "intro.md").write_text("# Intro\n\nA sample book.\n")
    (book / "book" / "chapter.ipynb").write_text(
        '{"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# A chapter"]},'
        ' {"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [],'
        ' "source": ["1 + 1"]}], "metadata": {"kernelspec": {"name": "python3",'
        ' "display_name": "Python 3", "language": "python"}}, "nbformat": 4,'
        ' "nbformat_minor": 5}'
    )
    proc = subprocess.run(
        [str(BIN / "jupyter-book"), "build", str(book), "-W", "--keep-going"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    page = (book / "_build" / "html" / "book" / "chapter.html").read_text()
    assert f'href="{sample}"' in page, "no repository button"
    assert "mybinder.org/v2/gh/example/mlnotes/main" in page, "no Binder launch button"
    assert "colab.research.google.com/github/example/mlnotes" in page, "no Colab launch button"
    assert f'<a href="{sample}">the repository</a>' in page, "the run box does not link it"


@pytest.fixture(scope="module", autouse=True)
def _needs_the_built_book():
    if not (HTML / "index.html").exists():
        pytest.fail("_build/html is missing: run `make book` (make test does) first")
    if shutil.which("npm") is None and not (ROOT / "book" / "_static" / "vendor").exists():
        pytest.fail("the vendored JavaScript is missing: run tools/vendor_assets.sh")


# --- what a chapter page loads (issue 14: first paint, weight) ------------------------------
_HEAD_SCRIPT = re.compile(r"<script\b([^>]*)\bsrc=\"([^\"]+)\"([^>]*)>")
_STATE = re.compile(
    r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', re.S
)


def _widget_renderer() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["sphinx"]["config"].get("mlnotes_widgets", "html-manager")


def test_chapter_pages_load_light_and_block_nothing(built_book):
    """No script blocks the first paint from <head>; MathJax only where there is math; with
    our renderer, no embed.js and no frame inside the page (each is a file of its own)."""
    ours = _widget_renderer() == "mlnotes"
    for chapter in chapter_notebooks():
        text = (built_book / f"{chapter}.html").read_text(encoding="utf-8")
        head = text.split("</head>")[0]
        blocking = [src for pre, src, post in _HEAD_SCRIPT.findall(head)
                    if not re.search(r"\b(defer|async)\b", pre + post)]  # fmt: skip
        assert not blocking, f"{chapter}: scripts block the first paint: {blocking}"
        assert ("tex-chtml" in text) == ('class="math' in text), f"{chapter}: MathJax"
        state = _STATE.search(text)
        if not (ours and state):
            continue
        assert "embed.js" not in text and "mlnotes-widgets.js" in head, chapter
        models = json.loads(state[1].replace("<\\/", "</"))["state"].values()
        images = [m for m in models if m["model_name"] == "ImageModel"]
        assert not any(m.get("buffers") for m in images), f"{chapter}: frames inside the page"
        for m in images:
            src = m["state"].get("_mlnotes_src")
            if src:  # (a live run's image has none)
                frame = (built_book / Path(chapter).parent / src).resolve()
                assert frame.is_file() and frame.stat().st_size, f"{chapter}: {src} missing"


# --- the widgets as readers meet them (frames, alt text, honest experiments) ----------------
def _line(a, b=1.0, *, label="x", fontsize=None):
    from mlnotes_lib import plotting

    fig, ax = plotting.figure(figsize=(3, 2))
    ax.plot([0, 1], [a, b])
    ax.set_xlabel(label, fontsize=fontsize)
    return fig


def test_frames_are_hidpi_and_shown_at_their_css_width():
    import io

    from PIL import Image

    from mlnotes_lib import widgets

    w = widgets.explore(_line, {"a": [0, 1]}, dpi=80)
    png = w.frames[(0,)]
    assert Image.open(io.BytesIO(png)).size == (3 * 80 * widgets.PIXEL_RATIO, 2 * 80 * 2)
    stack = next(c for c in w.children if hasattr(c, "selected_index"))
    assert stack.children[0].width == "240"  # CSS px: crisp at device-pixel-ratio 2


def test_every_frame_says_what_it_shows_and_at_which_values():
    from mlnotes_lib import widgets

    w = widgets.explore(_line, {"a": [0.3, 1.0]}, labels={"a": "$p$"}, title="Bernoulli line")
    stack = next(c for c in w.children if hasattr(c, "selected_index"))
    assert widgets.alt_text(stack.children[0]) == "Bernoulli line, p = 0.3"
    w = widgets.explore(_line, {"a": [1, 2]}, alt="line through {a}")
    stack = next(c for c in w.children if hasattr(c, "selected_index"))
    assert widgets.alt_text(stack.children[1]) == "line through 2"


def test_text_outside_the_canvas_or_too_small_is_reported():
    from mlnotes_lib import widgets

    assert widgets.text_problems(_line(0)) == []
    small = widgets.text_problems(_line(0, label="tiny", fontsize=5))
    assert any("'tiny'" in p and "CSS px" in p for p in small)
    fig = _line(0)
    fig.text(0.9, 0.5, "a label that runs off the right edge")
    assert any("outside the canvas" in p for p in widgets.text_problems(fig))
    w = widgets.explore(lambda a: _line(a, label="tiny", fontsize=5), {"a": [0, 1]})
    assert w.text_problems and "mlnotes-text-problem" in w._dom_classes


def _experiment(**kw):
    import ipywidgets as W

    from mlnotes_lib import widgets

    def run(progress, lr, k):
        return [lr, k]

    controls = {
        "lr": W.SelectionSlider(options=[0.1, 0.3], value=0.3, description="learning rate"),
        "k": W.IntSlider(value=2, min=1, max=5, description="k"),
    }
    return widgets.experiment(run, controls, plot=lambda r: _line(*r), **kw)


def test_an_experiment_is_honest_in_the_static_book_and_live_in_lab():
    exp = _experiment(default=[0.3, 2])
    note = exp.status.value
    # The static book shows the static note (its CSS), JupyterLab the live one.
    assert 'class="mlnotes-static-note" style="display:none"' in note
    assert "learning rate = 0.3, k = 2" in note and "kernel" in note
    live = note.split('class="mlnotes-live-note">')[1].split("</span>")[0]
    assert "JupyterLab" not in live
    assert exp.children.index(exp.status) < exp.children.index(exp.controls["lr"])
    assert all("mlnotes-needs-kernel" in w._dom_classes for w in exp.controls.values())
    exp.run(lr=0.1)
    assert "lr=0.1, k=2" in exp.status.value


def test_an_experiment_switches_between_precomputed_results():
    from ipywidgets.embed import dependency_state

    exp = _experiment(grid=["lr"], precomputed={0.1: [0.1, 2], 0.3: [0.3, 2]})
    assert exp.result == [0.3, 2]  # the default comes from the grid
    assert "mlnotes-needs-kernel" not in exp.controls["lr"]._dom_classes
    links = [s for s in dependency_state(exp).values() if s["model_name"] == "LinkModel"]
    assert len(links) == 1
    with pytest.raises(ValueError, match=r"\bprecomputed\b"):
        _experiment(grid=["lr"], precomputed={0.1: [0.1, 2]})
    with pytest.raises(ValueError, match=r"\bcontrols\b"):
        _experiment(grid=["k"], precomputed={2: [0.3, 2]})


def test_an_experiment_starts_at_values_its_sliders_can_hold():
    import ipywidgets as W

    from mlnotes_lib import widgets

    lr = W.FloatLogSlider(value=0.3, base=10, min=-3, max=0.5, description="learning rate")
    with pytest.raises(ValueError, match=r"\bcontrols\b.*0\.316"):
        widgets.experiment(lambda progress, lr: lr, {"lr": lr}, plot=_line, default=0.3)
    ok = W.FloatLogSlider(value=0.1, base=10, min=-3, max=0.5, description="learning rate")
    widgets.experiment(lambda progress, lr: lr, {"lr": ok}, plot=_line, default=0.1)
