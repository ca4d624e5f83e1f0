"""Seed sweeps of the batch-norm chapter's training claims, under two CPU kernel settings.

Every claim the chapter makes about training (batch norm against none, the injected noise,
the learning-rate window, the smoother landscape, the evaluation-mode bug, batch, layer and
group norm at small batch sizes) is checked here
over five seeds, each setting in a fresh interpreter (``conftest.run_under_cpu``). The runs
are the chapter's own (8 hidden layers of 64 units, 150 steps of SGD); only the runs that
decide a claim are repeated. The
chapter's hidden asserts use margins that this sweep showed to be safe.
"""

from __future__ import annotations

from conftest import sweep_fixture

SEEDS = range(5)

SWEEP = """
import json, dataclasses
from mlnotes_lib.experiments import batchnorm as xbn

data = xbn.digits_split()
base = xbn.TrainConfig(steps=150, track_unit=True)  # the chapter's network and budget
out = {}
for seed in %(seeds)r:
    def run(**kw):
        return xbn.train_mlp(dataclasses.replace(base, seed=seed, **kw), data)
    bn, noisy = run(norm="bn", lr=0.3), run(norm="bn+noise", lr=0.3, noise=0.3)
    probe = {  # the chapter's landscape probes: 5 along the 150 steps
        n: run(norm=n, lr=0.1, probe_every=30, probe_step_sizes=(0.5, 1.0, 2.0, 4.0))
        for n in ("none", "bn")
    }
    out[seed] = {
        "final": {
            "bn 0.3": xbn.final_loss(bn),
            "noise 0.3": xbn.final_loss(noisy),
            "bn 3": xbn.final_loss(run(norm="bn", lr=3.0, track_unit=False)),
            "none 3": xbn.final_loss(run(norm="none", lr=3.0, track_unit=False)),
        },
        "jumps": {"bn": xbn.median_jumps(bn), "noise": xbn.median_jumps(noisy)},
        "landscape": {n: xbn.landscape_summary(r) for n, r in probe.items()},
        "bug": xbn.eval_mode_bug(bn.model, data[2], data[3]),
    }
# The chapter's small-batch experiment, at the two batch sizes its claims compare
small = xbn.small_batch_experiment(
    xbn.SmallBatchConfig(batch_sizes=(2, 64), seeds=tuple(%(seeds)r)), data
)
out["small"] = {
    f"{n} {b}": {"acc": a.tolist(), "loss": small.losses[n, b][:, -20:].mean(1).tolist()}
    for (n, b), a in small.accuracy.items()
}
print(json.dumps(out))
"""


sweep = sweep_fixture(SWEEP % {"seeds": list(SEEDS)})


def _seeds(sweep):
    return [s for k, s in sweep.items() if k != "small"]


def test_batch_norm_never_diverges_and_the_plain_network_diverges_at_lr_3(sweep):
    for s in _seeds(sweep):
        f = s["final"]
        assert f["bn 0.3"] < 0.2 and f["bn 3"] < 0.5  # trains at every large rate
        assert f["none 3"] == float("inf")  # the plain network diverged


def test_injected_noise_makes_inputs_jump_and_costs_speed_but_not_stability(sweep):
    for s in _seeds(sweep):
        assert s["jumps"]["noise"] > 2 * s["jumps"]["bn"]
        assert s["final"]["bn 0.3"] < s["final"]["noise 0.3"] < 0.45


def test_batch_norm_smooths_the_landscape_along_training(sweep):
    for s in _seeds(sweep):
        (range_bn, change_bn), (range_none, change_none) = (
            s["landscape"]["bn"],
            s["landscape"]["none"],
        )
        # Over seeds 0-19 under AVX-512, AVX2 and the baseline kernels the largest ratios were
        # 0.31 (loss range: seed 2 gives 0.13 under AVX2 and 0.31 under AVX-512) and 0.41.
        assert range_bn < 0.5 * range_none
        assert change_bn < 0.6 * change_none


def test_evaluating_in_training_mode_on_sorted_batches_breaks_the_network(sweep):
    for s in _seeds(sweep):
        acc = s["bug"]
        assert acc["eval mode"] > 0.85
        assert abs(acc["train mode, one batch of 397"] - acc["eval mode"]) < 0.06
        assert acc["train mode, batches of 16 sorted by class"] < 0.5


def test_batch_norm_fails_at_batch_size_2_where_layer_and_group_norm_still_train(sweep):
    small = sweep["small"]
    assert len(small["bn 2"]["acc"]) == len(SEEDS)
    assert max(small["bn 2"]["acc"]) < 0.35  # about chance (0.1) in every seed
    assert min(small["bn 2"]["loss"]) > 2.0  # it does not even fit its training batches
    for norm in ("ln", "gn"):
        assert min(small[f"{norm} 2"]["acc"]) > 0.45
    for norm in ("bn", "ln", "gn"):
        assert min(small[f"{norm} 64"]["acc"]) > 0.8
