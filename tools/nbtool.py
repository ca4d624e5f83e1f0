"""Keep committed notebooks clean: strip outputs, except those nbval checks.

    python tools/nbtool.py strip book/*.ipynb     # drop unchecked outputs (and execution counts)
    python tools/nbtool.py refresh book/x.ipynb   # execute, then keep only checked outputs
    python tools/nbtool.py check book/*.ipynb     # exit 1 if a notebook carries unchecked outputs
    python tools/nbtool.py lab-ready book/*.ipynb # guard cell + collapsed hidden cells (see below)

A cell's outputs are kept when it carries the cell tag ``nbval-check-output`` (nbval reads the
tag like its ``# NBVAL_CHECK_OUTPUT`` comment, and readers of the book see no marker): those
are the numbers nbval compares on every test run (with ``--nbval-lax``). Such cells also get
``keep_output: true`` metadata, which tells other notebook tools the same.

``lab-ready`` prepares notebooks for a student in JupyterLab (it is idempotent):

- a guard cell (tag ``mlnotes-guard``, hidden in the book by ``remove-cell``) right before
  the first code cell: without ``mlnotes_lib`` the notebook stops there with the way to
  install it, not with a bare ImportError;
- every cell tagged ``remove-cell`` (hidden checks, solution code, the guard) gets
  ``jupyter.source_hidden`` metadata, so JupyterLab shows it collapsed and the student
  meets prose and figures first.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

CHECK = "nbval-check-output"
GUARD = "mlnotes-guard"
GUARD_SOURCE = """\
# This chapter runs on the book's library, mlnotes_lib (see "How to run this chapter").
import importlib.util

if importlib.util.find_spec("mlnotes_lib") is None:
    raise ModuleNotFoundError(
        "mlnotes_lib is missing: pip install the wheel served with the book "
        "(<book site>/downloads/{wheel}), or run `pip install -e .` in a clone of the book"
    )"""


def is_checked(cell) -> bool:
    return cell.cell_type == "code" and CHECK in cell.get("metadata", {}).get("tags", [])


def unchecked_outputs(nb) -> list[int]:
    """Indices of code cells that carry outputs nbval does not check."""
    return [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and c.get("outputs") and not is_checked(c)
    ]


def strip(nb):
    """Drop the outputs (and run metadata) of every cell nbval does not check.

    Checked cells keep their outputs and execution count: nbval treats a cell with
    outputs but no execution count as an error ("unrun reference cell").
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if is_checked(cell):
            cell.metadata["keep_output"] = True
        else:
            cell.metadata.pop("keep_output", None)
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    return nb


def _wheel_name() -> str:
    init = (Path(__file__).resolve().parents[1] / "mlnotes_lib" / "__init__.py").read_text()
    version = init.split("__version__", 1)[1].split('"')[1]
    return f"mlnotes_lib-{version}-py3-none-any.whl"


def lab_ready(nb):
    """Add (or update) the guard cell and collapse every ``remove-cell`` cell in JupyterLab."""
    source = GUARD_SOURCE.format(wheel=_wheel_name())
    guards = [c for c in nb.cells if GUARD in c.get("metadata", {}).get("tags", [])]
    if guards:
        guards[0].source = source
    else:
        first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": [GUARD, "remove-cell"]})
        cell.pop("id", None)
        if nb.nbformat_minor >= 5:
            cell.id = "mlnotes-guard"
        nb.cells.insert(first, cell)
    for cell in nb.cells:
        if "remove-cell" in cell.get("metadata", {}).get("tags", []):
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
    return nb


def refresh(path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    nbformat.write(strip(nb), path)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in {"strip", "refresh", "check", "lab-ready"}:
        print(__doc__)
        return 2
    cmd, paths = argv[0], [Path(p) for p in argv[1:]]
    bad = 0
    for path in paths:
        if cmd == "refresh":
            refresh(path)
            print(f"refreshed {path}")
        elif cmd == "strip":
            nbformat.write(strip(nbformat.read(path, as_version=4)), path)
        elif cmd == "lab-ready":
            nbformat.write(lab_ready(nbformat.read(path, as_version=4)), path)
            print(f"lab-ready {path}")
        else:
            cells = unchecked_outputs(nbformat.read(path, as_version=4))
            if cells:
                bad += 1
                print(f"{path}: code cells {cells} carry outputs nbval does not check")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
