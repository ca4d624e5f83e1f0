"""The library's layers: the math knows no screen, and modules stay readable.

``mlnotes_lib/<topic>.py`` holds kernels, modules and closed forms and imports neither
matplotlib nor ipywidgets, even lazily: each is imported and used in a fresh interpreter in
which those packages cannot be imported. Experiments live in ``experiments/<topic>.py`` and
drawing in ``plots/<topic>.py``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from conftest import ROOT

LIB = ROOT / "mlnotes_lib"

# One call per kernel module: the call must run without a plotting stack.
KERNEL_CALLS = {
    "conv": "m.conv_output_size(32, 3, padding=1, stride=2)",
    "rl": "m.discounted_return([1.0, 1.0], 0.5)",
    "mle": "m.gaussian_log_likelihood(torch.zeros(3), 0.0, 1.0)",
    "losses": "m.entropy(torch.tensor([0.5, 0.5]))",
    "gan": "m.generator_loss(torch.full((4,), 0.5), kind='non_saturating')",
    "dcgan": "m.Generator(nz=8, ngf=8, nc=1, image_size=32)(torch.zeros(2, 8, 1, 1))",
    "batchnorm": "m.batch_norm(torch.randn(4, 3), training=True)",
    "resnet": "m.ResidualBlock(4)(torch.zeros(2, 4, 8, 8))",
    "normalization": "m.group_norm(torch.randn(2, 4, 3, 3), 2)",
}

_BLOCKER = """
import sys
class _NoScreen:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('matplotlib', 'ipywidgets'):
            raise ImportError(f'{name} is blocked: the math must not need a screen')
        return None
sys.meta_path.insert(0, _NoScreen())
"""

# All kernel modules in one fresh interpreter (one torch import instead of one per module):
# each is imported and called in turn, and after each no drawing package may be loaded.
_ALL_KERNELS = (
    _BLOCKER
    + """
import importlib, json, torch, traceback
calls, out = json.loads(sys.argv[1]), {}
for topic, call in calls.items():
    try:
        m = importlib.import_module('mlnotes_lib.' + topic)
        exec(call, {'m': m, 'torch': torch})
        loaded = [k for k in sys.modules if k.split('.')[0] in ('matplotlib', 'ipywidgets')]
        out[topic] = f'loaded {loaded}' if loaded else 'ok'
    except Exception:
        out[topic] = traceback.format_exc(limit=3)
print(json.dumps(out))
"""
)


@pytest.fixture(scope="module")
def kernel_runs() -> dict[str, str]:
    proc = subprocess.run(
        [sys.executable, "-c", _ALL_KERNELS, json.dumps(KERNEL_CALLS)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-1500:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("topic", sorted(KERNEL_CALLS))
def test_kernel_module_imports_and_runs_without_matplotlib_or_ipywidgets(topic, kernel_runs):
    assert kernel_runs[topic] == "ok", kernel_runs[topic]


def test_the_import_blocker_blocks():
    code = _BLOCKER + "import mlnotes_lib.plots\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "blocked" in proc.stderr


@pytest.mark.parametrize("topic", sorted(KERNEL_CALLS))
def test_kernel_module_source_names_no_drawing_package(topic):
    tree = ast.parse((LIB / f"{topic}.py").read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
            if node.level and node.module in (None, "plots", "plotting", "widgets"):
                names += ["matplotlib"]
        assert not any(n.split(".")[0] in ("matplotlib", "ipywidgets") for n in names), (
            f"{topic}.py line {node.lineno} imports a drawing package"
        )


def _library_modules():
    return sorted(p for p in LIB.rglob("*.py"))


MAX_MODULE_LINES = 650  # "about 600": a module a reader can hold in their head
MAX_FUNCTION_LINES = 60  # lines of code, without the docstring


@pytest.mark.parametrize("path", _library_modules(), ids=lambda p: str(p.relative_to(LIB)))
def test_modules_and_functions_stay_short(path):
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring is reading text, not code
            if not body:
                continue
            lines = {
                n.lineno
                for stmt in body
                for n in ast.walk(stmt)
                if hasattr(n, "lineno") and not isinstance(n, ast.Constant)
            }
            assert len(lines) <= MAX_FUNCTION_LINES, f"{node.name} has {len(lines)} lines of code"
