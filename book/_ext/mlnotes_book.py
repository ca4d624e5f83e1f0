"""Sphinx tweaks that make the mlnotes book work for its readers.

- **No CDN, lighter pages.** Jupyter Book 1 always loads sphinx-thebe, which puts a script
  naming a CDN on every page and declares ``THEBE_JS_URL`` twice (a JavaScript error); the
  theme's ``fontawesome.js`` (1.5 MB) only re-draws icons that its CSS webfont already
  draws. Both are dropped. The scripts that used to block the first paint in ``<head>``
  (the widget manager's ``embed.js``, the search index) are deferred.
- **The site carries its library.** Every build writes a wheel of ``mlnotes_lib`` and a zip
  of all chapter notebooks into the site (``_downloads/``), and each chapter page starts
  with a collapsible "How to run this chapter" box: download the notebook, ``pip install``
  the wheel from this site (or ``pip install -e .`` in a clone), ``jupyter lab``.
- **One setting for the repository.** With ``repository.url`` in ``_config.yml`` the theme
  shows its repository and issue buttons and the Binder and Colab launch buttons; without
  it nothing mentions a repository.
- **Alt text.** A figure a notebook displays carries its description in the PNG (see
  :func:`mlnotes_lib.plots.figure_png`); it becomes the image's ``alt``.
- **Light widgets.** With ``mlnotes_widgets: mlnotes`` (the default in ``_config.yml``) the
  static book renders its widgets with ``_static/mlnotes-widgets.js`` (a few kB) instead of
  the html-manager's ``embed.js`` (1.9 MB), and each widget frame becomes a file of its own
  (``_images/mlnotes-frames/``), fetched when its slider shows it, instead of base64 text
  inside the page. ``mlnotes_widgets: html-manager`` brings back ``embed.js``. JupyterLab
  always runs the real ipywidgets.
- **Old URLs.** ``mlnotes_redirects`` maps old page names to new ones; each old name gets a
  small page that forwards there.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from docutils import nodes

DOWNLOADS = "downloads"
#: The repository: the library the wheel is built from sits beside the book.
LIBRARY_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_ZIP = "mlnotes-notebooks.zip"
_DEFERRED = ("embed.js", "searchindex.js", "searchtools.js", "language_data.js")
#: The widget renderers of the static book (``mlnotes_widgets`` in ``_config.yml``).
WIDGET_RENDERERS = ("mlnotes", "html-manager")
WIDGETS_JS = "mlnotes-widgets.js"
WIDGET_STATE_TYPE = "application/vnd.jupyter.widget-state+json"
#: Where the widget frames are written, under the site's root.
FRAMES_DIR = "_images/mlnotes-frames"


def _script_name(js) -> str:
    return str(getattr(js, "filename", js) or "")


def _is_dropped(js) -> bool:
    name = _script_name(js)
    body = str(getattr(js, "attributes", {}).get("body", ""))
    return "thebe" in name or "THEBE_JS_URL" in body or name.endswith("fontawesome.js")


def _page_context(app, pagename, templatename, context, doctree):
    if "script_files" in context:
        context["script_files"] = [js for js in context["script_files"] if not _is_dropped(js)]
        for js in context["script_files"]:
            attrs = getattr(js, "attributes", None)
            if attrs is not None and _script_name(js).endswith(_DEFERRED):
                attrs.setdefault("defer", "defer")
        if app.config.mlnotes_widgets == "mlnotes":
            _light_widgets(app, pagename, context)


# --- widgets without the html-manager --------------------------------------------------------
def _widget_renderer(app, config):
    """``mlnotes_widgets: mlnotes``: our renderer instead of embed.js and its MathJax shim."""
    if config.mlnotes_widgets not in WIDGET_RENDERERS:
        raise ValueError(
            f"mlnotes_widgets must be one of {WIDGET_RENDERERS}, got {config.mlnotes_widgets!r}"
        )
    if config.mlnotes_widgets == "mlnotes":
        config.nb_ipywidgets_js = {WIDGETS_JS: {"defer": "defer"}}
        config.html_js_files = [
            js
            for js in config.html_js_files
            if "mlnotes-mathjax-shim" not in str(js[0] if isinstance(js, list | tuple) else js)
        ]


def _light_widgets(app, pagename, context):
    """Frames out of the page's widget state into files; our renderer first in line.

    Deferred scripts run in document order: the renderer (a few kB) goes first, so the
    widgets do not wait for MathJax's download.
    """
    scripts = context["script_files"]
    ours = [js for js in scripts if _script_name(js).endswith(WIDGETS_JS)]
    if ours:
        context["script_files"] = ours + [js for js in scripts if js not in ours]
    for js in scripts:
        attrs = getattr(js, "attributes", None) or {}
        if attrs.get("type") == WIDGET_STATE_TYPE and attrs.get("body"):
            attrs["body"] = _externalize_frames(app, pagename, attrs["body"])


def _externalize_frames(app, pagename: str, body: str) -> str:
    """Write each Image model's bytes to ``FRAMES_DIR`` (named by content) and put the
    file's URL, relative to the page, in the model's ``_mlnotes_src`` instead.

    The state also loses what only the html-manager reads (module names and versions) and
    every unset (null) attribute: a Layout is ~40 nulls, a third of a page's weight."""
    saved = json.loads(body)
    out = Path(app.outdir) / FRAMES_DIR
    to_root = os.path.relpath(".", os.path.dirname(pagename) or ".")
    for model in saved.get("state", {}).values():
        model.pop("model_module", None)
        model.pop("model_module_version", None)
        model["state"] = {
            k: v
            for k, v in model.get("state", {}).items()
            if v is not None and not k.startswith(("_model_", "_view_"))
        }
        buffers = model.get("buffers") or []
        value = [b for b in buffers if b.get("path") == ["value"] and b.get("encoding") == "base64"]
        if model.get("model_name") != "ImageModel" or not value:
            continue
        data = base64.b64decode(value[0]["data"])
        model["buffers"] = [b for b in buffers if b is not value[0]]
        if not data:  # an empty image (a live run's result, before any run)
            continue
        fmt = re.sub(r"[^a-z0-9]", "", str(model["state"].get("format", "png")).lower()) or "png"
        name = f"{hashlib.sha256(data).hexdigest()[:20]}.{fmt}"
        out.mkdir(parents=True, exist_ok=True)
        if not (out / name).is_file():
            (out / name).write_bytes(data)
        model["state"]["_mlnotes_src"] = f"{to_root}/{FRAMES_DIR}/{name}"
    return json.dumps(saved, separators=(",", ":")).replace("</", "<\\/")


_FONTAWESOME_JS = re.compile(
    r'\s*<(?:script defer|link rel="preload" as="script")[^>]*fontawesome\.js[^>]*>(?:</script>)?'
)
_MATHJAX = re.compile(
    r"<script>window\.MathJax = .*?</script>\s*"
    r'|<script defer="defer" src="[^"]*tex-chtml\.js[^"]*"></script>\s*',
    re.S,
)
_BLOCKING_SEARCH = re.compile(
    r'<script src="([^"]*(?:searchtools|language_data|searchindex)\.js[^"]*)"></script>'
)
_SEARCH_SCRIPTS = re.compile(
    r'\s*<script defer src="[^"]*(?:searchtools|language_data|searchindex)\.js[^"]*"></script>'
)
_DOC_OPTIONS = re.compile(r'<script src="[^"]*_static/documentation_options\.js[^"]*"></script>')
_SCRIPT_SRC = re.compile(r'<script((?:\s+[\w-]+(?:="[^"]*")?)*)></script>')
_MATHJAX_TAG = re.compile(r'<script defer="defer" src="([^"]*tex-chtml\.js[^"]*)"></script>')
# MathJax (1 MB) is fetched once the page is parsed, so that its download does not slow the
# first paint (the stylesheets and the page come first); it typesets the page when it lands.
_MATHJAX_LATE = (
    '<script>document.addEventListener("DOMContentLoaded", function () {{'
    ' var s = document.createElement("script"); s.src = "{src}"; s.async = true;'
    " document.head.appendChild(s); }});</script>"
)


def _deferred(m: re.Match) -> str:
    attrs = m[1]
    if " src=" not in attrs or re.search(r"\s(?:defer|async|type)\b", attrs):
        return m[0]
    return f"<script defer{attrs}></script>"


def _unblock_head(text: str, options_js: str, *, search_page: bool) -> str:
    """No script blocks the first paint: the tiny documentation_options.js goes inline (the
    inline scripts after it use it), every other script in <head> is deferred (in order),
    MathJax is fetched after parsing, and only the search page loads the search index."""
    head, sep, body = text.partition("</head>")
    if not sep:
        return text
    if options_js:
        head = _DOC_OPTIONS.sub(lambda m: f"<script>{options_js}</script>", head)
    head = _SCRIPT_SRC.sub(_deferred, head)
    head = _MATHJAX_TAG.sub(lambda m: _MATHJAX_LATE.format(src=m[1]), head)
    if not search_page:
        head = _SEARCH_SCRIPTS.sub("", head)
    return head + sep + body


def _lighten_pages(app, exception):
    """Drop the theme's fontawesome.js (its CSS webfont draws the same icons), load MathJax
    only on pages with math, and let nothing in ``<head>`` block the first paint (see
    :func:`_unblock_head`)."""
    if exception is not None or app.builder.format != "html":
        return
    options = Path(app.outdir) / "_static" / "documentation_options.js"
    options_js = options.read_text(encoding="utf-8") if options.is_file() else ""
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = _FONTAWESOME_JS.sub("", text)
        new = _BLOCKING_SEARCH.sub(r'<script defer src="\1"></script>', new)
        # docutils gives the bibliography role=list, whose children are doc-biblioentry:
        # an ARIA error (axe aria-required-children). A plain container is correct.
        new = new.replace('<div role="list" class="citation-list">', '<div class="citation-list">')
        if 'class="math' not in new:
            new = _MATHJAX.sub("", new)
        new = _unblock_head(new, options_js, search_page=page.name == "search.html")
        if new != text:
            page.write_text(new, encoding="utf-8")


# --- the repository setting ------------------------------------------------------------------
def _repository_buttons(app, config):
    """Turn on repository, issue and launch buttons when ``repository.url`` is set."""
    options = dict(config.html_theme_options or {})
    url = (options.get("repository_url") or "").strip()
    if not url or "<" in url:  # unset, or a placeholder: no buttons, no broken links
        for key in ("use_repository_button", "use_issues_button", "use_edit_page_button"):
            options[key] = False
        options["repository_url"] = ""
        options["launch_buttons"] = {}
    else:
        options.setdefault("repository_branch", "main")
        options.setdefault("path_to_docs", "")
        options["use_repository_button"] = True
        options["use_issues_button"] = True
        launch = dict(options.get("launch_buttons") or {})
        launch["binderhub_url"] = launch.get("binderhub_url") or "https://mybinder.org"
        launch["colab_url"] = launch.get("colab_url") or "https://colab.research.google.com"
        launch.setdefault("notebook_interface", "jupyterlab")
        options["launch_buttons"] = launch
    config.html_theme_options = options
    config.mlnotes_repository_url = url if options["repository_url"] else ""


# --- the library and the notebooks, served by the site ---------------------------------------
def _wheel_name(root: Path) -> str:
    init = (root / "mlnotes_lib" / "__init__.py").read_text()
    version = re.search(r"__version__\s*=\s*[\"']([^\"']+)", init)[1]
    return f"mlnotes_lib-{version}-py3-none-any.whl"


def _chapter_notebooks(app) -> list[str]:
    return sorted(d for d in app.env.found_docs if Path(app.env.doc2path(d)).suffix == ".ipynb")


def _run_box(app, docname: str) -> str:
    to_root = os.path.relpath(".", os.path.dirname(docname) or ".")
    dl = f"{to_root}/{DOWNLOADS}"
    nb = f"{Path(docname).name}.ipynb"
    wheel = _wheel_name(LIBRARY_ROOT)
    repo = app.config.mlnotes_repository_url
    clone = (
        f' or, in a clone of <a href="{html.escape(repo)}">the repository</a>, '
        "<code>pip install -e .</code>"
        if repo
        else " or, in a clone of the book's repository, <code>pip install -e .</code>"
    )
    return f"""<details class="mlnotes-run-box"><summary>How to run this chapter</summary>
<p>The figures with sliders work in this page as they are. To run the code yourself:</p>
<ol>
<li>Download the notebook <a href="{dl}/notebooks/{nb}" download>{nb}</a>
(or all chapters: <a href="{dl}/{NOTEBOOK_ZIP}" download>{NOTEBOOK_ZIP}</a>).</li>
<li>Install the book's library, served with this site:
<code class="mlnotes-pip" data-href="{dl}/{wheel}">pip install {dl}/{wheel}</code>
(<a href="{dl}/{wheel}" download>{wheel}</a>, which installs torch, matplotlib and
ipywidgets with it),{clone}.</li>
<li>Start <code>jupyter lab {nb}</code> and run all cells.</li>
</ol>
<p>After a notebook is reopened, its widgets show "Error displaying widget: model not
found" until the cells run again: that is how ipywidgets works.</p>
</details>"""


def _insert_run_box(app, doctree, docname):
    if app.builder.format != "html" or docname not in _chapter_notebooks(app):
        return
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        return
    title = next(iter(section.findall(nodes.title)), None)
    index = section.index(title) + 1 if title is not None else 0
    section.insert(index, nodes.raw("", _run_box(app, docname), format="html"))


def _describe_images(app, doctree, docname):
    """Alt text for notebook figures: the description their PNG carries."""
    from PIL import Image

    for node in doctree.findall(nodes.image):
        uri = node.get("uri", "")
        if node.get("alt") or not uri.endswith(".png"):
            continue
        path = Path(app.srcdir) / uri
        if not path.is_file():
            path = Path(app.srcdir) / os.path.dirname(docname) / uri
        if not path.is_file():
            continue
        with Image.open(path) as img:
            text = img.info.get("Description")
        node["alt"] = text or "Figure"


def _write_downloads(app, exception):
    if (
        exception is not None
        or app.builder.format != "html"
        or not app.config.mlnotes_build_downloads
    ):
        return
    root, out = LIBRARY_ROOT, Path(app.outdir) / DOWNLOADS
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out / NOTEBOOK_ZIP, "w", zipfile.ZIP_DEFLATED) as zf:
        for doc in _chapter_notebooks(app):
            src = Path(app.env.doc2path(doc))
            data = src.read_bytes()
            (out / "notebooks" / src.name).write_bytes(data)
            zf.writestr(f"mlnotes-notebooks/{src.name}", data)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(root)],
        check=True, cwd=root, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    if not (out / _wheel_name(root)).is_file():
        raise RuntimeError(f"the wheel {_wheel_name(root)} was not built into {out}")


# --- renamed chapters ------------------------------------------------------------------------
_REDIRECT = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Moved: {title}</title>
<link rel="canonical" href="{href}">
<meta http-equiv="refresh" content="0; url={href}">
</head><body><p>This chapter moved to <a href="{href}">{title}</a>.</p></body></html>
"""


def _write_redirects(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for old, new in (app.config.mlnotes_redirects or {}).items():
        target = Path(app.outdir) / f"{old}.html"
        href = os.path.relpath(f"{new}.html", os.path.dirname(old) or ".")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_REDIRECT.format(href=html.escape(href), title=html.escape(new)))


def setup(app):
    app.add_config_value("mlnotes_redirects", {}, "html")
    app.add_config_value("mlnotes_repository_url", "", "html")
    app.add_config_value("mlnotes_build_downloads", True, "html")
    app.add_config_value("mlnotes_widgets", "html-manager", "html")
    app.connect("config-inited", _repository_buttons)
    app.connect("config-inited", _widget_renderer)
    app.connect("html-page-context", _page_context, priority=900)
    app.connect("doctree-resolved", _insert_run_box)
    app.connect("doctree-resolved", _describe_images)
    app.connect("build-finished", _write_redirects)
    app.connect("build-finished", _write_downloads)
    app.connect("build-finished", _lighten_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
