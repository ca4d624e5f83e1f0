"""`make test` checks every chapter under two CPU kernel sets (issue 9).

The book build executes the notebooks with this machine's native kernels; the nbval pass of
`make test` runs them in the ``mlnotes-baseline`` kernel, whose kernelspec (written by the
Makefile) sets the baseline CPU settings of ``conftest.CPU_SETTINGS``. These tests prove that
the kernel nbval uses really computes on other kernels than the build.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import CPU_SETTINGS, ROOT

KERNEL = "mlnotes-baseline"
PROBE = (
    "import json, os, torch; print(json.dumps({'capability': torch.backends.cpu."
    "get_cpu_capability(), 'threads': torch.get_num_threads(), 'env': {k: os.environ.get(k)"
    " for k in %r}}))"
)


def _makefile_baseline() -> dict[str, str]:
    text = (ROOT / "Makefile").read_text()
    line = re.search(r"^BASELINE_CPU := (.+)$", text, re.MULTILINE)
    assert line, "the Makefile defines no BASELINE_CPU"
    return dict(pair.split("=", 1) for pair in line.group(1).split())


def test_the_makefile_and_the_sweeps_use_the_same_baseline_settings():
    assert _makefile_baseline() == CPU_SETTINGS["baseline"]


def test_the_nbval_kernel_runs_on_the_baseline_cpu_kernels():
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    from jupyter_client.manager import start_new_kernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        pytest.fail(f"no {KERNEL!r} kernelspec: `make test` writes it (Makefile BASELINE_KERNEL)")
    assert spec.env == CPU_SETTINGS["baseline"]
    km, kc = start_new_kernel(kernel_name=KERNEL)
    try:
        out: list[str] = []
        kc.execute_interactive(
            PROBE % (sorted(CPU_SETTINGS["baseline"]),),
            output_hook=lambda m: out.append(m["content"].get("text", "")),
            timeout=120,
        )
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    seen = json.loads("".join(out).strip().splitlines()[-1])
    assert seen["env"] == CPU_SETTINGS["baseline"]
    assert seen["capability"] == "DEFAULT", "torch still picked vectorised ATen kernels"
    assert seen["threads"] == 1
