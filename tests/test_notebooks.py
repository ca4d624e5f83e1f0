"""Static checks of the committed notebooks (nbval runs them: `pytest --nbval-lax book`).

Each notebook is in the table of contents, seeded, carries only the outputs nbval checks,
checks some numbers (NBVAL_CHECK_OUTPUT cells with committed outputs) and asserts others in
hidden cells, and ends with exercises whose solutions are behind a toggle.
"""

from __future__ import annotations

import re
import sys

import nbformat
import pytest

from conftest import ROOT, chapter_notebooks, toc_files

sys.path.insert(0, str(ROOT / "tools"))
from nbtool import CHECK, unchecked_outputs

NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def _read(path):
    return nbformat.read(path, as_version=4)


def test_every_notebook_is_in_the_table_of_contents():
    listed = set(toc_files())
    assert NOTEBOOKS, "no notebooks in book/"
    for path in NOTEBOOKS:
        assert f"book/{path.stem}" in listed, f"{path.name} is not in _toc.yml"


def test_chapters_follow_the_notes_order():
    order = ["rl", "mle", "entropy", "gan", "dcgan", "batchnorm", "resnet", "padding"]
    present = [c.removeprefix("book/") for c in chapter_notebooks()]
    assert present == [c for c in order if c in present]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
class TestNotebook:
    def test_carries_only_checked_outputs(self, path):
        nb = _read(path)
        assert unchecked_outputs(nb) == [], "run `python tools/nbtool.py strip` on it"
        assert "widgets" not in nb.metadata, "saved widget state belongs to the build"
        for cell in nb.cells:
            if cell.cell_type == "code" and CHECK not in cell.source:
                assert cell.execution_count is None

    def test_checks_numbers_with_nbval(self, path):
        checked = [c for c in _read(path).cells if c.cell_type == "code" and CHECK in c.source]
        assert len(checked) >= 2, "check the chapter's key numbers with NBVAL_CHECK_OUTPUT cells"
        for cell in checked:
            assert cell.source.lstrip().startswith(f"# {CHECK}")
            text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            text += "".join(
                o.get("data", {}).get("text/plain", "") for o in cell.outputs if "data" in o
            )
            assert text.strip(), "a checked cell must have its expected output committed"

    def test_asserts_in_hidden_cells(self, path):
        hidden = [
            c
            for c in _read(path).cells
            if c.cell_type == "code" and "remove-cell" in c.metadata.get("tags", [])
        ]
        assert any(re.search(r"\bassert\b|assert_close", c.source) for c in hidden)

    def test_is_seeded_first(self, path):
        first = next(c for c in _read(path).cells if c.cell_type == "code")
        assert "manual_seed" in first.source or "default_rng" in first.source
        assert "use_book_style()" in first.source

    def test_has_one_title_and_exercises_with_hidden_solutions(self, path):
        md = "\n".join(c.source for c in _read(path).cells if c.cell_type == "markdown")
        titles = re.findall(r"^# ", md, flags=re.M)
        assert len(titles) == 1
        assert re.search(r"^## Exercises", md, flags=re.M)
        solutions = md.count(":class: dropdown")
        assert 2 <= solutions <= 6, f"{solutions} hidden solutions"

    def test_cites_the_bibliography(self, path):
        md = "\n".join(c.source for c in _read(path).cells if c.cell_type == "markdown")
        keys = re.findall(r"\{cite[:a-z]*\}`([^`]+)`", md)
        assert keys, "cite the sources through the bibliography"
        bib = (ROOT / "references.bib").read_text()
        for key in ",".join(keys).split(","):
            assert re.search(r"@\w+\{" + re.escape(key.strip()) + ",", bib), key

    def test_uses_the_python3_kernel(self, path):
        assert _read(path).metadata["kernelspec"]["name"] == "python3"
