"""Static checks of the committed notebooks (nbval runs them: `pytest --nbval-lax book`).

Each notebook is in the table of contents, seeded, carries only the outputs nbval checks,
checks some numbers (cells tagged ``nbval-check-output``, with committed outputs) and
asserts others in hidden cells, glues the numbers of its prose from code, and ends with
exercises whose solutions are behind a toggle.
"""

from __future__ import annotations

import re
import sys

import nbformat
import pytest

from conftest import ROOT, chapter_notebooks, toc_files

sys.path.insert(0, str(ROOT / "tools"))
from nbtool import CHECK, is_checked, unchecked_outputs

NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def _read(path):
    return nbformat.read(path, as_version=4)


def test_every_notebook_is_in_the_table_of_contents():
    listed = set(toc_files())
    assert NOTEBOOKS, "no notebooks in book/"
    for path in NOTEBOOKS:
        assert f"book/{path.stem}" in listed, f"{path.name} is not in _toc.yml"


def test_chapters_follow_the_notes_order():
    order = ["rl", "mle", "losses", "gan", "dcgan", "batchnorm", "resnet", "conv"]
    present = [c.removeprefix("book/") for c in chapter_notebooks()]
    assert present == [c for c in order if c in present]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
class TestNotebook:
    def test_carries_only_checked_outputs(self, path):
        nb = _read(path)
        assert unchecked_outputs(nb) == [], "run `python tools/nbtool.py strip` on it"
        assert "widgets" not in nb.metadata, "saved widget state belongs to the build"
        for cell in nb.cells:
            if cell.cell_type == "code" and not is_checked(cell):
                assert cell.execution_count is None

    def test_shows_readers_no_nbval_markers(self, path):
        # nbval reads cell tags; comment markers would be printed in the book's code cells.
        for cell in _read(path).cells:
            if cell.cell_type == "code":
                assert "NBVAL_" not in cell.source, cell.source[:80]

    def test_checks_numbers_with_nbval(self, path):
        checked = [c for c in _read(path).cells if is_checked(c)]
        assert len(checked) >= 2, f"check the chapter's key numbers with cells tagged {CHECK}"
        for cell in checked:
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
        # The guard cell (tools/nbtool.py lab-ready) that says how to install mlnotes_lib
        # comes before the first cell a reader sees.
        cells = [
            c.source
            for c in _read(path).cells
            if c.cell_type == "code" and "mlnotes-guard" not in c.metadata.get("tags", [])
        ]
        assert "torch.manual_seed(" in cells[0] and "use_book_style()" in cells[0]
        # An RNG the first cell creates must be used: no boilerplate kept for a test's sake.
        for name in re.findall(r"^(\w+)\s*=\s*np\.random\.default_rng", cells[0], flags=re.M):
            after = cells[0].split(name, 1)[1].partition("\n")[2]
            later = "\n".join([after, *cells[1:]])
            assert re.search(rf"\b{name}\b", later), f"{name} is created but never used"

    def test_code_cells_are_short(self, path):
        # Reading code: prose, short calls, one-line widget calls. Exercise stubs and
        # solutions (cells whose text names an exercise or a solution) may run longer.
        for cell in _read(path).cells:
            if cell.cell_type != "code":
                continue
            code = [
                ln
                for ln in cell.source.splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")
            ]
            exercise = re.search(r"(?i)exercise|solution|TODO", cell.source)
            if not exercise:
                assert len(code) <= 15, f"{len(code)} lines of code: {cell.source[:120]!r}"

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


# --- numbers in the prose ----------------------------------------------------------------
# A number with three or more significant digits in a markdown cell came from a computation,
# so it must be glued ({glue:text}`name:fmt`) from the code that computed it, unless it is an
# exact constant or a figure cited from a paper, listed with its reason in this file:
ALLOWED_NUMBERS = ROOT / "tests" / "prose_numbers_allowed.txt"
_NUMBER = re.compile(
    r"(?<![\w.,])(?:\d*\.\d+(?:[eE][-+]?\d+)?|\d{1,3}(?:,\d{3})+|\d+)(?![\w,]|\.\d)"
)
_YEAR = re.compile(r"(?:19|20)\d\d")  # years of papers are not computed numbers
_NOT_PROSE = [
    re.compile(r"```.*?```", re.S),  # code fences
    re.compile(r"`[^`\n]*`"),  # inline code, and the targets of {glue}, {cite}, {doc} roles
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"https?://\S+"),
]


def allowed_numbers() -> dict[str, set[str]]:
    """``{chapter: {number, ...}}`` from the allow-list (``*`` applies to every chapter)."""
    allowed: dict[str, set[str]] = {}
    for line in ALLOWED_NUMBERS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            chapter, number = line.split()
            allowed.setdefault(chapter, set()).add(number)
    return allowed


def significant_digits(number: str) -> int:
    """Significant digits of a decimal as written (``0.00123``: 3, ``1,419``: 4, ``1000``: 1)."""
    mantissa = re.split(r"[eE]", number)[0].replace(",", "")
    if "." not in mantissa:
        mantissa = mantissa.rstrip("0")
    return len(mantissa.replace(".", "").lstrip("0"))


def prose_numbers(markdown: str) -> list[str]:
    """The decimals with >= 3 significant digits that a reader sees in ``markdown``."""
    for pattern in _NOT_PROSE:
        markdown = pattern.sub(" ", markdown)
    return [
        n
        for n in _NUMBER.findall(markdown)
        if significant_digits(n) >= 3 and not _YEAR.fullmatch(n)
    ]


def test_prose_number_finder_sees_what_a_reader_sees():
    text = (
        "loss 0.7442 and $-\\log 4 \\approx -1.386$, glued {glue:text}`x:.3f`, `0.123`, 0.5,"
        " near −1419 with 12,658,435 weights after 1000 steps (Goodfellow, 2016)."
    )
    assert prose_numbers(text) == ["0.7442", "1.386", "1419", "12,658,435"]
    assert significant_digits("0.00123") == 3 and significant_digits("1.78e+05") == 3
    assert significant_digits("1,419") == 4 and significant_digits("1000") == 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_prose_numbers_are_glued_or_exact_constants(path):
    allowed = allowed_numbers()
    ok = allowed.get("*", set()) | allowed.get(path.stem, set())
    md = "\n".join(c.source for c in _read(path).cells if c.cell_type == "markdown")
    loose = sorted(set(prose_numbers(md)) - ok)
    assert not loose, (
        f"{path.name}: numbers in the prose that are neither glued nor exact constants: {loose}"
        f" (glue them from the code, or list an exact constant in {ALLOWED_NUMBERS.name})"
    )
