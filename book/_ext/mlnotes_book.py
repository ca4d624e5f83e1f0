"""Small Sphinx tweaks for the mlnotes book.

Jupyter Book 1 always loads sphinx-thebe, which puts a script naming a CDN on every page
and declares ``THEBE_JS_URL`` twice (a JavaScript error). The book has no live-kernel
launch buttons (the widgets work without a kernel), so drop thebe's scripts.

A chapter that was renamed keeps its old URL: ``mlnotes_redirects`` in the Sphinx config
maps old page names to new ones, and each old name gets a small page that forwards there.
"""

from __future__ import annotations

import html
import os
from pathlib import Path


def _is_thebe(js) -> bool:
    name = str(getattr(js, "filename", js) or "")
    body = str(getattr(js, "attributes", {}).get("body", ""))
    return "thebe" in name or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree):
    if "script_files" in context:
        context["script_files"] = [js for js in context["script_files"] if not _is_thebe(js)]


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
    app.connect("html-page-context", _drop_thebe, priority=900)
    app.connect("build-finished", _write_redirects)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
