"""The batch-norm chapter's experiments on scikit-learn's digits.

- :func:`digits_split`: the standardized digits, split into training and test sets;
- :class:`~mlnotes_lib.batchnorm.MLP` (re-exported): the chapter's deep fully connected network;
- :class:`TrainConfig`, :func:`train_mlp`, :class:`TrainResult`: one SGD run of the chapter's
  :class:`~mlnotes_lib.batchnorm.MLP`, with optional landscape probes (Santurkar et al.,
  2018) and the percentiles of one unit's input (Ioffe & Szegedy, 2015, figure 1);
- :func:`seed_sweep`, :func:`final_loss`, :func:`median_jumps`: the same runs over seeds, and
  the two numbers the chapter compares them by;
- :func:`layer_activations`, :func:`minibatch_statistics`, :func:`running_stats_trace`,
  :func:`accuracy`, :func:`eval_mode_bug`: probes of a network and of the batch statistics;
- :class:`SmallBatchConfig`, :func:`small_batch_experiment`, :class:`SmallBatchResult`: batch,
  layer and group norm trained at batch sizes 2, 8 and 64, over seeds.

The names that existed before the split are also importable from :mod:`mlnotes_lib.batchnorm`,
where they used to live. See book/batchnorm.ipynb.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlnotes_lib._common import num_threads
from mlnotes_lib.batchnorm import MLP, BatchNorm
from mlnotes_lib.data import load_digits

__all__ = [
    "MLP",
    "SmallBatchConfig",
    "SmallBatchResult",
    "TrainConfig",
    "TrainResult",
    "accuracy",
    "digits_split",
    "eval_mode_bug",
    "final_loss",
    "landscape_summary",
    "layer_activations",
    "median_jumps",
    "minibatch_statistics",
    "running_stats_trace",
    "seed_sweep",
    "small_batch_experiment",
    "train_many",
    "train_mlp",
]

Data = tuple[Tensor, Tensor, Tensor, Tensor]


def digits_split(*, n_test: int = 397, seed: int = 0) -> Data:
    """scikit-learn's digits, flattened, split at random and standardized per pixel.

    Pixels are standardized with the training set's mean and standard deviation (pixels
    that are constant in the training set are only centred).

    Returns
    -------
    x_train : Tensor, shape (1797 - n_test, 64)
    y_train : Tensor, shape (1797 - n_test,)
    x_test : Tensor, shape (n_test, 64)
    y_test : Tensor, shape (n_test,)

    See book/batchnorm.ipynb.
    """
    x, y = load_digits(flatten=True)  # (1797, 64) in [0, 1]
    if not 0 < n_test < len(x):
        raise ValueError(f"n_test must be in [1, {len(x) - 1}], got {n_test}")
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    test, train = perm[:n_test], perm[n_test:]
    mean, std = x[train].mean(0), x[train].std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    x = (x - mean) / std
    return x[train], y[train], x[test], y[test]


# ---------------------------------------------------------------------------------------
# One training run
# ---------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """Settings of :func:`train_mlp`; each default with its reason."""

    depth: int = 8  # deep enough that the plain network's learning rate window is narrow
    width: int = 64  # the digits have 64 pixels; wider costs time and shows nothing new
    norm: str = "none"  # "none", "bn" or "bn+noise" (Santurkar et al.'s noisy batch norm)
    activation: str = "relu"  # the chapter's training runs use ReLU; tanh for saturation
    init_scale: float = 1.0  # 1 is He initialisation for ReLU
    lr: float = 0.1  # plain SGD: a rate where both networks train
    steps: int = 300  # a few epochs of the 1,400 training digits
    batch_size: int = 64  # large enough for stable batch statistics, small enough to be fast
    noise: float = 0.5  # strength of the "bn+noise" perturbation (log-scale and shift std)
    seed: int = 0  # seeds the weights, the noise and the order of the mini-batches
    probe_every: int = 0  # > 0: probe the landscape every this many steps (costly)
    probe_step_sizes: Sequence[float] = (0.25, 0.5, 1.0, 2.0)  # multiples of lr to look ahead
    track_unit: bool = False  # record percentiles of one unit's input (cheap)


@dataclass
class TrainResult:
    """What :func:`train_mlp` returns (arrays are NumPy, one entry per step or probe)."""

    losses: np.ndarray
    test_accuracy: float
    diverged_at: int | None
    model: MLP
    probe_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    landscape: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    grad_change: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    percentiles: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    settings: dict = field(default_factory=dict)

    @property
    def diverged(self) -> bool:
        """Whether the run was stopped because its loss became non-finite or huge."""
        return self.diverged_at is not None


def _probe(model: MLP, xb: Tensor, yb: Tensor, step_sizes: Sequence[float]):
    """Loss and gradient change along the gradient direction (Santurkar et al., 2018, Fig. 4).

    Works on a copy, so the model's weights and running statistics stay as they are.
    """
    probe = copy.deepcopy(model)
    params = list(probe.parameters())
    grads = torch.autograd.grad(F.cross_entropy(probe(xb), yb), params)
    start = [p.detach().clone() for p in params]
    losses, changes = [], []
    for eta in step_sizes:
        with torch.no_grad():
            for p, p0, g in zip(params, start, grads, strict=True):
                p.copy_(p0 - eta * g)
        loss_eta = F.cross_entropy(probe(xb), yb)
        grads_eta = torch.autograd.grad(loss_eta, params)
        losses.append(loss_eta.item())
        diff = torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(grads, grads_eta, strict=True)))
        changes.append(diff.item())
    return losses, changes


_QUANTILES = torch.tensor([0.15, 0.5, 0.85])


def _forward_tracking(model: MLP, x: Tensor) -> tuple[Tensor, Tensor]:
    """``model(x)`` and, on the way, unit 0's input to the last hidden nonlinearity."""
    for block in model.blocks[:-1]:
        x = block(x)
    z = model.blocks[-1][:-1](x)  # (N, width): everything in the block but the activation
    return model.head(model.blocks[-1][-1](z)), z[:, 0]


def _check_config(cfg: TrainConfig, n_train: int) -> None:
    if isinstance(cfg.steps, bool) or not isinstance(cfg.steps, int) or cfg.steps < 1:
        raise ValueError(f"steps must be a positive int, got {cfg.steps!r}")
    if not cfg.lr > 0:
        raise ValueError(f"lr must be positive, got {cfg.lr!r}")
    if not (isinstance(cfg.batch_size, int) and 2 <= cfg.batch_size <= n_train):
        raise ValueError(f"batch_size must be an int in [2, {n_train}], got {cfg.batch_size!r}")


def _batches(n: int, batch_size: int, steps: int, generator: torch.Generator):
    """Index tensors of ``steps`` mini-batches: epochs in random order, the rest dropped."""
    order, pos = torch.randperm(n, generator=generator), 0
    for _ in range(steps):
        if pos + batch_size > n:
            order, pos = torch.randperm(n, generator=generator), 0
        yield order[pos : pos + batch_size]
        pos += batch_size


def _make_mlp(cfg: TrainConfig, in_features: int) -> MLP:
    return MLP(
        cfg.depth,
        cfg.width,
        in_features=in_features,
        norm=cfg.norm,
        activation=cfg.activation,
        init_scale=cfg.init_scale,
        noise=cfg.noise,
        seed=cfg.seed,
    )


def _sgd_loop(model: MLP, cfg: TrainConfig, x: Tensor, y: Tensor, progress) -> dict:
    """The SGD steps of :func:`train_mlp`; returns what it recorded."""
    # foreach: one update for all parameters (the same arithmetic, far fewer small ops)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, foreach=True)
    rec = {"losses": np.full(cfg.steps, np.nan), "probe_steps": [], "landscape": []}
    rec.update(grad_change=[], percentiles=[], diverged_at=None)
    sizes = [cfg.lr * s for s in cfg.probe_step_sizes]
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    for step, idx in enumerate(_batches(len(x), cfg.batch_size, cfg.steps, gen)):
        xb, yb = x[idx], y[idx]
        if cfg.probe_every and step % cfg.probe_every == 0:
            ls, cs = _probe(model, xb, yb, sizes)
            rec["probe_steps"].append(step)
            rec["landscape"].append(ls)
            rec["grad_change"].append(cs)
        if cfg.track_unit:
            logits, z = _forward_tracking(model, xb)
            rec["percentiles"].append(torch.quantile(z.detach(), _QUANTILES).tolist())
        else:
            logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        value = loss.item()  # one read of the loss per step, no tensor op for the check
        if not math.isfinite(value) or value > 1e3:
            rec["diverged_at"] = step
            break
        rec["losses"][step] = value
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress(step + 1, cfg.steps)
    return rec


def train_mlp(
    config: TrainConfig | None = None,
    data: Data | None = None,
    *,
    progress: Callable[[float, float], None] | None = None,
    **overrides,
) -> TrainResult:
    """Train an :class:`~mlnotes_lib.batchnorm.MLP` on the digits with plain SGD.

    Runs on one CPU thread, so results do not depend on the machine's thread count. A run
    whose loss becomes non-finite (or exceeds 1e3) is stopped and marked as diverged; its
    remaining losses are NaN. The old keyword form ``train_mlp(depth=8, norm="bn", ...,
    data=data)`` still works: keywords override the fields of ``config``.

    Parameters
    ----------
    config : TrainConfig, optional
        The settings (default ``TrainConfig()``).
    data : tuple of Tensor, optional
        ``(x_train, y_train, x_test, y_test)``; default :func:`digits_split`.
    progress : callable, optional
        ``progress(done, total)`` after each step.
    **overrides
        Fields of :class:`TrainConfig` to replace.

    Returns
    -------
    TrainResult
        ``losses`` has shape (steps,), ``percentiles`` (steps, 3) when ``track_unit``,
        ``landscape`` and ``grad_change`` (probes, len(probe_step_sizes)).

    See book/batchnorm.ipynb.
    """
    unknown = set(overrides) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ValueError(f"overrides: unknown TrainConfig fields {sorted(unknown)}")
    cfg = dataclasses.replace(config or TrainConfig(), **overrides)
    x_train, y_train, x_test, y_test = data if data is not None else digits_split()
    _check_config(cfg, len(x_train))
    with num_threads(1):
        model = _make_mlp(cfg, x_train.shape[1])
        model.train()
        rec = _sgd_loop(model, cfg, x_train, y_train, progress)
        model.eval()
        with torch.no_grad():
            acc = (model(x_test).argmax(1) == y_test).float().mean().item()
    n_sizes = len(cfg.probe_step_sizes)
    n_probes = len(rec["probe_steps"])
    return TrainResult(
        losses=rec["losses"],
        test_accuracy=float("nan") if rec["diverged_at"] is not None else acc,
        diverged_at=rec["diverged_at"],
        model=model,
        probe_steps=np.asarray(rec["probe_steps"], dtype=int),
        landscape=np.asarray(rec["landscape"], dtype=float).reshape(n_probes, n_sizes),
        grad_change=np.asarray(rec["grad_change"], dtype=float).reshape(n_probes, n_sizes),
        percentiles=np.asarray(rec["percentiles"], dtype=float).reshape(-1, 3),
        settings=dataclasses.asdict(cfg),
    )


# ---------------------------------------------------------------------------------------
# Over seeds
# ---------------------------------------------------------------------------------------


def final_loss(result: TrainResult, last: int = 20) -> float:
    """Mean training loss over the last ``last`` steps; ``inf`` for a diverged run.

    See book/batchnorm.ipynb.
    """
    return float("inf") if result.diverged else float(np.mean(result.losses[-last:]))


def median_jumps(result: TrainResult) -> float:
    """Jumpiness of the tracked unit: std of the step-to-step change of its median input.

    ``result`` must come from a run with ``track_unit=True``. See book/batchnorm.ipynb.
    """
    if len(result.percentiles) < 2:
        raise ValueError("result must come from train_mlp(track_unit=True) with >= 2 steps")
    return float(np.diff(result.percentiles[:, 1]).std())


def landscape_summary(result: TrainResult) -> tuple[float, float]:
    """Mean loss range and mean largest gradient change over a run's landscape probes.

    The loss range of one probe is max - min of the loss over the step sizes, its gradient
    change the largest over the step sizes; both are averaged over the probes of a run made
    with ``probe_every > 0``. See book/batchnorm.ipynb.
    """
    if len(result.probe_steps) == 0:
        raise ValueError("result must come from train_mlp(probe_every=...) with a probe")
    spread = result.landscape.max(1) - result.landscape.min(1)
    return float(spread.mean()), float(result.grad_change.max(1).mean())


def seed_sweep(
    configs: dict[str, TrainConfig],
    seeds: Sequence[int],
    data: Data,
    *,
    cache: dict | None = None,
) -> dict[str, list[TrainResult]]:
    """Train every config for every seed; ``label -> [result per seed]``.

    ``cache`` (a dict) keeps runs between calls, keyed by the full config, so that
    experiments that share runs train them once. See book/batchnorm.ipynb.
    """
    cache = {} if cache is None else cache
    out: dict[str, list[TrainResult]] = {}
    for label, cfg in configs.items():
        runs = []
        for s in seeds:
            c = dataclasses.replace(cfg, seed=s)
            key = tuple(sorted(dataclasses.asdict(c).items()))
            if key not in cache:
                cache[key] = train_mlp(c, data)
            runs.append(cache[key])
        out[label] = runs
    return out


# ---------------------------------------------------------------------------------------
# Probes of a network and of the batch statistics
# ---------------------------------------------------------------------------------------


def layer_activations(model: MLP, x: Tensor) -> list[Tensor]:
    """The output of every hidden block (after the nonlinearity) of ``model`` for input ``x``.

    Runs without gradients in the model's current mode.

    Returns
    -------
    list of Tensor, each of shape (N, width), one per block

    See book/batchnorm.ipynb.
    """
    outs = []
    with torch.no_grad():
        for block in model.blocks:
            x = block(x)
            outs.append(x)
    return outs


def minibatch_statistics(
    values: Tensor, batch_size: int, *, n_batches: int = 2000, index: int = 0, seed: int = 0
) -> dict[str, Tensor]:
    """Mini-batch means and variances of one unit, and its normalized value for one sample.

    Batches are drawn without replacement from the population ``values`` (one value per
    sample), ``n_batches`` times.

    Returns
    -------
    dict with keys
        ``"mean"``, ``"var"``: Tensor, shape (n_batches,), the mini-batch mean and biased
        variance of random batches; ``"x_hat"``: Tensor, shape (n_batches,), the normalized
        value of ``values[index]`` in random batches that contain it (with eps = 1e-5).

    See book/batchnorm.ipynb.
    """
    values = torch.as_tensor(values, dtype=torch.float64).flatten()
    n = len(values)
    if not (isinstance(batch_size, int) and 2 <= batch_size <= n):
        raise ValueError(f"batch_size must be an int in [2, {n}], got {batch_size!r}")
    g = torch.Generator().manual_seed(seed)
    idx = torch.rand(n_batches, n, generator=g).topk(batch_size, dim=1).indices  # (B', bs)
    batches = values[idx]
    var, mean = torch.var_mean(batches, dim=1, unbiased=False)
    others = torch.cat([values[:index], values[index + 1 :]])
    idx = torch.rand(n_batches, n - 1, generator=g).topk(batch_size - 1, dim=1).indices
    with_i = torch.cat([values[index].expand(n_batches, 1), others[idx]], dim=1)
    var_i, mean_i = torch.var_mean(with_i, dim=1, unbiased=False)
    x_hat = (values[index] - mean_i) / torch.sqrt(var_i + 1e-5)
    return {"mean": mean, "var": var, "x_hat": x_hat}


def running_stats_trace(
    values: Tensor, *, batch_size: int, momentum: float, steps: int = 100, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Running mean and variance of a :class:`BatchNorm` fed random mini-batches of one unit.

    Parameters
    ----------
    values : Tensor, shape (n,)
        The population the mini-batches are drawn from (without replacement within a batch).

    Returns
    -------
    running_mean, running_var : ndarray, shape (steps + 1,)
        The buffers before the first batch (0 and 1) and after every batch.

    See book/batchnorm.ipynb.
    """
    values = torch.as_tensor(values, dtype=torch.float32).flatten()
    bn = BatchNorm(1, momentum=momentum)
    g = torch.Generator().manual_seed(seed)
    means, variances = [bn.running_mean.item()], [bn.running_var.item()]
    with torch.no_grad():
        for _ in range(steps):
            idx = torch.randperm(len(values), generator=g)[:batch_size]
            bn(values[idx, None])  # (batch_size, 1)
            means.append(bn.running_mean.item())
            variances.append(bn.running_var.item())
    return np.array(means), np.array(variances)


def accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    training: bool = False,
    batch_size: int | None = None,
) -> float:
    """Classification accuracy of ``model`` on ``(x, y)``, evaluated in batches, in order.

    With ``training=True`` the model runs in training mode, as in the classic bug: batch norm
    then normalizes with each batch's own statistics and overwrites its running statistics.
    The model's mode is restored afterwards; its running statistics are not.

    Parameters
    ----------
    x : Tensor, shape (N, ...)
    y : Tensor, shape (N,)
    batch_size : int, optional
        Samples per forward pass (default: all at once).

    See book/batchnorm.ipynb.
    """
    was_training = model.training
    model.train(training)
    bs = len(x) if batch_size is None else batch_size
    correct = 0
    try:
        with torch.no_grad():
            for i in range(0, len(x), bs):
                correct += (model(x[i : i + bs]).argmax(1) == y[i : i + bs]).sum().item()
    finally:
        model.train(was_training)
    return correct / len(x)


def eval_mode_bug(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, float]:
    """Accuracy of a trained batch-norm network evaluated five ways, four of them wrong.

    Evaluation mode; training mode with the whole set as one batch, with random batches of
    16, and with batches of 16 sorted by class (which also overwrites the running
    statistics); and evaluation mode after that. ``model`` itself is not changed.

    Parameters
    ----------
    x : Tensor, shape (N, features)
    y : Tensor, shape (N,)

    See book/batchnorm.ipynb.
    """
    by_label = torch.argsort(y, stable=True)  # sorted by class, as an unshuffled loader
    sorted_model = copy.deepcopy(model)
    out = {
        "eval mode": accuracy(copy.deepcopy(model), x, y, batch_size=16),
        f"train mode, one batch of {len(x)}": accuracy(copy.deepcopy(model), x, y, training=True),
        "train mode, random batches of 16": accuracy(
            copy.deepcopy(model), x, y, training=True, batch_size=16
        ),
        "train mode, batches of 16 sorted by class": accuracy(
            sorted_model, x[by_label], y[by_label], training=True, batch_size=16
        ),
    }
    # sorted_model's running statistics now mostly describe the last batches (8s and 9s)
    out["eval mode after that"] = accuracy(sorted_model, x, y)
    return out


def train_many(
    configs: dict[str, TrainConfig],
    data: Data,
    *,
    progress: Callable[[float, float], None] | None = None,
) -> dict[str, TrainResult]:
    """Train one network per config, ``label -> result``; ``progress`` counts all their steps.

    See book/batchnorm.ipynb.
    """
    total = sum(c.steps for c in configs.values())
    out, done = {}, 0
    for label, cfg in configs.items():

        def report(d, _t, done=done):
            if progress is not None:
                progress(done + d, total)

        out[label] = train_mlp(cfg, data, progress=report)
        done += cfg.steps
    return out


# ---------------------------------------------------------------------------------------
# Batch, layer and group norm at small batch sizes
# ---------------------------------------------------------------------------------------


@dataclass
class SmallBatchConfig:
    """Settings of :func:`small_batch_experiment`; each default with its reason."""

    norms: Sequence[str] = ("bn", "ln", "gn")  # batch, layer and group norm in the same MLP
    batch_sizes: Sequence[int] = (2, 8, 64)  # two samples per statistic, a few, plenty
    seeds: Sequence[int] = (0, 1, 2, 3, 4)  # five: enough to show the spread of each cell
    depth: int = 4  # deep enough for normalization to matter, cheap enough for 45 runs
    width: int = 32  # four groups of 8 units for group norm
    steps: int = 150  # the same for every batch size (so batch 2 sees the fewest images)
    lr: float = 0.1  # plain SGD at a rate where all three train at batch size 64


@dataclass
class SmallBatchResult:
    """What :func:`small_batch_experiment` returns, keyed by ``(norm, batch_size)``.

    ``accuracy[key]`` has shape (seeds,): test accuracy in evaluation mode; ``losses[key]``
    shape (seeds, steps): the training loss of every step.
    """

    accuracy: dict[tuple[str, int], np.ndarray]
    losses: dict[tuple[str, int], np.ndarray]
    config: SmallBatchConfig

    def spread(self, norm: str, batch_size: int) -> tuple[float, float]:
        """Lowest and highest test accuracy over the seeds."""
        a = self.accuracy[norm, batch_size]
        return float(a.min()), float(a.max())


def small_batch_experiment(
    config: SmallBatchConfig | None = None,
    data: Data | None = None,
    *,
    progress: Callable[[float, float], None] | None = None,
) -> SmallBatchResult:
    """Train the same MLP with each normalization at each batch size, for every seed.

    Every run has the same step budget and learning rate; only the normalization and the
    batch size change. Accuracy is measured in evaluation mode (batch norm then uses its
    running statistics), on the test split of ``data`` (default :func:`digits_split`).

    See book/batchnorm.ipynb.
    """
    cfg = config or SmallBatchConfig()
    data = data if data is not None else digits_split()
    base = TrainConfig(depth=cfg.depth, width=cfg.width, steps=cfg.steps, lr=cfg.lr)
    keys = [(n, b) for n in cfg.norms for b in cfg.batch_sizes]
    total, done = len(keys) * len(cfg.seeds), 0
    acc, losses = {}, {}
    for norm, bs in keys:
        runs = []
        for seed in cfg.seeds:
            runs.append(train_mlp(base, data, norm=norm, batch_size=bs, seed=seed))
            done += 1
            if progress is not None:
                progress(done, total)
        acc[norm, bs] = np.array([r.test_accuracy for r in runs])
        losses[norm, bs] = np.stack([r.losses for r in runs])
    return SmallBatchResult(accuracy=acc, losses=losses, config=cfg)
