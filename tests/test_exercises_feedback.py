"""Exercise feedback is one line, never a tensor dump (issue 14).

Every checker of every chapter is run on the notebooks' own untouched exercise stubs, on a
stub that raises ``NotImplementedError`` ("not written yet"), and on generic wrong answers
(the first input handed back, a constant). Each must answer in one short line; a wrong
answer says which case differs and how (its shape or first differing value, rounded).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re

import pytest

import mlnotes_lib.exercises as engine
from conftest import ROOT, chapter_notebooks

# A tensor's repr, a numpy array's, or a run of numbers: what a dump looks like.
DUMP = re.compile(r"tensor\(\[\[|array\(\[|dtype=|(?:-?\d+\.\d+,\s*){6,}")
# A mistake's hint is a sentence or three; anything longer is not "one line of feedback".
MAX_CHARS = 400


def feedback_problems(text: str) -> list[str]:
    problems = []
    if "\n" in text:
        problems.append(f"{text.count(chr(10)) + 1} lines")
    if DUMP.search(text):
        problems.append("a tensor dump")
    if len(text) > MAX_CHARS:
        problems.append(f"{len(text)} characters")
    return problems


def test_the_dump_detector_fires_on_the_old_feedback():
    import torch

    x = torch.arange(24.0).reshape(8, 3) / 7
    old = f"✘ batch_norm_forward: 3 of 3 cases differ, e.g. batch_norm_forward({x!r}) = {x!r}"
    assert [p.split()[-1] for p in feedback_problems(old)] == ["lines", "dump", "characters"]
    assert not feedback_problems(
        "✘ f: 1 of 2 cases differ; case 1 (3, 4): you return 0, expected 7."
    )


def _function_checkers() -> list[tuple[str, object]]:
    """(module.name, checker) for every checker that takes the reader's function."""
    found = []
    for info in pkgutil.iter_modules(engine.__path__):
        module = importlib.import_module(f"{engine.__name__}.{info.name}")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if name.startswith("check_") and list(inspect.signature(obj).parameters) == ["fn"]:
                found.append((f"{info.name}.{name}", obj))
    return found


CHECKERS = _function_checkers()


def test_every_chapter_has_function_checkers():
    chapters = {key.split(".")[0] for key, _ in CHECKERS}
    assert chapters == {p.rsplit("/", 1)[-1] for p in chapter_notebooks()}


def _not_written(*_args):
    raise NotImplementedError("your code here")


@pytest.mark.parametrize("key, checker", CHECKERS, ids=[k for k, _ in CHECKERS])
def test_a_stub_and_wrong_answers_get_one_line(key, checker):
    result = repr(checker(_not_written))
    assert result.startswith("✘ not written yet: replace `raise NotImplementedError`"), result
    assert not feedback_problems(result), (key, result)
    for wrong in (lambda *a: a[0], lambda *a: 0, lambda *a: None):
        result = checker(wrong)
        assert not result.passed and not feedback_problems(repr(result)), (key, repr(result))
        if result.mistake is None:  # no typical mistake named: the first differing case is
            assert re.search(r"case \d+", result.message), (key, result.message)


def _notebook_stubs() -> list[tuple[str, str, str]]:
    """(chapter, setup, call): each visible cell that ends by calling a checker."""
    stubs = []
    for chapter in chapter_notebooks():
        nb = json.loads((ROOT / f"{chapter}.ipynb").read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        imports = []
        for cell in code:
            src = "\n".join(
                line for line in "".join(cell["source"]).splitlines() if not line.startswith("%")
            )
            imports += [
                ast.unparse(n)
                for n in ast.parse(src).body
                if isinstance(n, ast.Import | ast.ImportFrom)
            ]
        for cell in code:
            if "remove-cell" in cell["metadata"].get("tags", []):
                continue
            lines = "".join(cell["source"]).rstrip().splitlines()
            if lines and re.match(r"(\w+\.)?check_\w+\(\w+\)$", lines[-1]):
                setup = "\n".join([*imports, *lines[:-1]])
                stubs.append((chapter.rsplit("/", 1)[-1], setup, lines[-1]))
    return stubs


STUBS = _notebook_stubs()


def test_the_notebooks_have_stubs_to_check():
    assert len(STUBS) >= 8, STUBS


@pytest.mark.parametrize("chapter, setup, call", STUBS, ids=[f"{c}-{call}" for c, _, call in STUBS])
def test_an_untouched_notebook_stub_gets_one_line(chapter, setup, call):
    namespace: dict = {}
    exec(setup, namespace)  # the chapter's imports and the stub, as a reader has them
    result = eval(call, namespace)
    assert isinstance(result, engine.CheckResult) and not result.passed, (chapter, call)
    assert not feedback_problems(repr(result)), (chapter, repr(result))
