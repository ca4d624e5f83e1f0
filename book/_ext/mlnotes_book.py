"""Small Sphinx tweaks for the mlnotes book.

Jupyter Book 1 always loads sphinx-thebe, which puts a script naming a CDN on every page
and declares ``THEBE_JS_URL`` twice (a JavaScript error). The book has no live-kernel
launch buttons (the widgets work without a kernel), so drop thebe's scripts.
"""

from __future__ import annotations


def _is_thebe(js) -> bool:
    name = str(getattr(js, "filename", js) or "")
    body = str(getattr(js, "attributes", {}).get("body", ""))
    return "thebe" in name or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree):
    if "script_files" in context:
        context["script_files"] = [js for js in context["script_files"] if not _is_thebe(js)]


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
