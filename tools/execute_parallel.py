"""Execute the book's notebooks in parallel into the build's execution cache.

    python tools/execute_parallel.py

`jupyter-book build` executes notebooks one after another, and most chapters use one core
(their training runs on one thread). This fills the same jupyter-cache that the build reads
(`execute.cache` in `_config.yml`) with one notebook per core at a time, each run in its own
folder as the build runs it, so the build that follows only renders. Notebooks already cached
with the same code are skipped. A failing notebook is reported and left to the build, which
then fails on it with the full traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_notebooks() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for p in toc.get("parts", []) for c in p["chapters"]]
    return [str(ROOT / f"{f}.ipynb") for f in files if (ROOT / f"{f}.ipynb").exists()]


def main() -> int:
    from jupyter_cache import get_cache
    from jupyter_cache.executors import load_executor

    config = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]
    cache = get_cache(str(ROOT / config["cache"]))
    notebooks = toc_notebooks()
    for nb in notebooks:
        cache.add_nb_to_project(nb)
    executor = load_executor("local-parallel", cache=cache)  # a pool of one process per core
    result = executor.run_and_cache(
        filter_uris=notebooks, timeout=config["timeout"], allow_errors=config["allow_errors"]
    )
    for uri in result.errored + result.excepted:
        print(f"execute_parallel: {Path(uri).name} failed; the build will say why", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
