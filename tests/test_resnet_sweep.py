"""Seed sweeps of the residual-block chapter's training claims, under two CPU kernel settings.

The chapter's figure 1 (the deeper plain network fits its training data worse, the deeper
zero-init residual network does not) and its gradient measurements at initialisation (plain
networks' gradients explode towards the input, residual ones' grow like a power of the depth,
zero-init ones' not at all) are checked for five seeds, each setting in a fresh interpreter
(``conftest.run_under_cpu``), at the chapter's own settings. The chapter's hidden asserts use
margins that this sweep showed to be safe.
"""

from __future__ import annotations

from conftest import sweep_fixture

SEEDS = range(5)

SWEEP = """
import json
from mlnotes_lib.data import load_digits
from mlnotes_lib.experiments import resnet as xr

X, y = load_digits(flatten=True)
cfg = xr.DepthConfig(depths=(3, 15), variants=("plain", "residual", "residual, zero-init"))
depths = [4, 8, 16, 32]
out = {}
for seed in %(seeds)r:
    r = xr.depth_experiment(X, y, config=cfg, seed=seed)
    ratios = {}
    for d in depths:
        g = xr.init_gradients(d, X[:256], y[:256], seed=seed)
        ratios[d] = {v: float(a[0] / a[-1]) for v, (w, a) in g.items()}
    out[seed] = {
        "final": {f"{v} {d}": loss for (v, d), loss in r.final.items()},
        "ratio": ratios,
        "exponent": {
            v: xr.power_law_exponent(depths, [ratios[d][v] for d in depths])
            for v in ("residual", "pre-activation")
        },
        "factor": xr.growth_per_block(depths, [ratios[d]["plain"] for d in depths]),
    }
print(json.dumps(out))
"""


sweep = sweep_fixture(SWEEP % {"seeds": list(SEEDS)})


def test_deeper_plain_network_fits_worse_deeper_zero_init_residual_network_does_not(sweep):
    for s in sweep.values():
        f = s["final"]
        assert f["plain 15"] > f["plain 3"] + 1.0  # degradation
        assert f["residual, zero-init 15"] < f["residual, zero-init 3"]
        assert f["residual 15"] < f["plain 15"] / 5


def test_paper_initialised_residual_network_trails_at_depth_in_the_short_budget(sweep):
    for s in sweep.values():
        assert s["final"]["residual 15"] > s["final"]["residual 3"]


def test_plain_gradients_explode_residual_ones_grow_like_a_power_of_depth(sweep):
    for s in sweep.values():
        r32 = s["ratio"]["32"]
        assert r32["plain"] > 1e4
        assert r32["residual"] < 300 and r32["pre-activation"] < 300
        assert abs(r32["residual, zero-init"] - 1) < 1e-6
        assert 1.0 < s["exponent"]["residual"] < 2.0
        assert s["factor"] > 1.3
