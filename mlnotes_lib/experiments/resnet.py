"""The residual-block chapter's experiments: training by depth and gradients at initialisation.

- :func:`train_classifier`, :func:`training_loss`: SGD on cross-entropy and the fit to the
  training data;
- :class:`DepthConfig`, :func:`depth_experiment`, :class:`DepthCurves`: the paper's figure 1
  (plain and residual networks of several depths, one budget);
- :func:`layer_gradient_norms`, :func:`block_input_gradient_norms`, :func:`block_output_stds`,
  :func:`init_gradients`: what a network does at initialisation;
- :func:`power_law_exponent`, :func:`growth_per_block`: the fits the chapter quotes;
- :func:`load_long_run`: the long-budget run that ``tools/resnet_long_run.py`` precomputes.

The names that existed before the split are also importable from :mod:`mlnotes_lib.resnet`.
See book/resnet.ipynb.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlnotes_lib._common import num_threads
from mlnotes_lib.resnet import VARIANTS, _blocks, _check_int, _weight_layers, make_network

__all__ = [
    "DepthConfig",
    "DepthCurves",
    "block_input_gradient_norms",
    "block_output_stds",
    "depth_experiment",
    "growth_per_block",
    "init_gradients",
    "load_long_run",
    "layer_gradient_norms",
    "power_law_exponent",
    "train_classifier",
    "training_loss",
]


def _check_data(x: Tensor, y: Tensor) -> None:
    if not isinstance(x, Tensor) or x.ndim < 2:
        raise ValueError(f"x must be a tensor of shape (N, ...), got {getattr(x, 'shape', x)}")
    if not isinstance(y, Tensor) or y.shape != x.shape[:1]:
        raise ValueError(f"y must be a tensor of shape (N,) = ({x.shape[0]},) of class labels")


def train_classifier(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    steps: int,
    batch_size: int = 128,
    lr: float = 0.1,
    momentum: float = 0.9,
    cosine: bool = True,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Tensor:
    """Train ``model`` in place with mini-batch SGD on cross-entropy; return each step's loss.

    Every epoch visits the data in a new random order (from ``seed``) and drops the last
    incomplete batch. Runs on one thread, so the losses do not depend on the core count.

    Parameters
    ----------
    model : nn.Module
        Maps ``x[idx]`` to logits of shape (B, num_classes).
    x : Tensor, shape (N, ...)
        Inputs.
    y : Tensor, shape (N,)
        Class labels (int64).
    steps : int
        Number of SGD steps (the budget).
    batch_size, lr, momentum : int, float, float
        Mini-batch size (at least 2, for batch norm), learning rate, SGD momentum.
    cosine : bool
        Decay the learning rate from ``lr`` to 0 along a half cosine over the ``steps``
        (as He et al. decay theirs in steps), so the final loss is not dominated by the
        noise of the last updates.
    seed : int
        Seeds the order of the mini-batches (not the weights: seed torch before building
        the model).
    progress : callable, optional
        ``progress(done, steps)`` after every step.

    Returns
    -------
    Tensor, shape (steps,)
        The mini-batch training loss of each step (before its update).
    """
    _check_data(x, y)
    steps = _check_int("steps", steps, 1)
    batch_size = _check_int("batch_size", batch_size, 2)  # BN needs two samples
    if batch_size > len(x):
        raise ValueError(f"batch_size must be <= the {len(x)} samples, got {batch_size}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    gen = torch.Generator().manual_seed(seed)
    # foreach: one update for all parameters (the same arithmetic, far fewer small ops)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, foreach=True)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)) if cosine else 1.0
    )
    losses = torch.empty(steps)
    model.train()
    with num_threads(1):
        step = 0
        while step < steps:
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x) - batch_size + 1, batch_size):
                idx = order[start : start + batch_size]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses[step] = loss.detach()
                step += 1
                if progress is not None:
                    progress(step, steps)
                if step == steps:
                    break
    return losses


@torch.no_grad()
def training_loss(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Mean cross-entropy of ``model`` in eval mode on the whole training set ``(x, y)``.

    This is the quantity the paper's figure 1 plots (as an error rate): how well the
    network fits the data it was trained on. The model is put back into training mode.
    See book/resnet.ipynb.
    """
    _check_data(x, y)
    model.eval()
    try:
        with num_threads(1):
            return F.cross_entropy(model(x), y).item()
    finally:
        model.train()


@dataclass
class DepthConfig:
    """Settings of :func:`depth_experiment`; each default with its reason."""

    depths: Sequence[int] = (3, 15)  # blocks: the 8- and 32-layer pair of the chapter
    variants: Sequence[str] = ("plain", "residual")  # keys of resnet.VARIANTS
    steps: int = 150  # about 11 epochs of the 1,797 digits: seconds on one CPU thread
    width: int = 16  # features per layer: enough to fit the digits, cheap at depth 32
    batch_size: int = 128  # batch statistics of 128 samples are stable
    lr: float = 0.1  # the paper's starting rate, decayed along a cosine
    seed: int = 0  # the same weights seed and mini-batch order for every network
    kind: str = "mlp"  # the MLP blocks train over ten times faster than the conv blocks


@dataclass
class DepthCurves:
    """What :func:`depth_experiment` returns.

    ``curves[variant, depth]`` is the tensor of per-step mini-batch losses, shape
    (steps,); ``final[variant, depth]`` the training loss on the whole set after training
    (:func:`training_loss`); ``settings`` the training settings used.
    """

    curves: dict[tuple[str, int], Tensor] = field(default_factory=dict)
    final: dict[tuple[str, int], float] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    @property
    def depths(self) -> list[int]:
        """The depths (numbers of blocks) trained, in increasing order."""
        return sorted({d for _, d in self.curves})

    @property
    def variants(self) -> list[str]:
        """The variants trained, in the order given."""
        return list(dict.fromkeys(v for v, _ in self.curves))


def _check_experiment(cfg: DepthConfig) -> None:
    if isinstance(cfg.depths, int) or not cfg.depths:
        raise ValueError("depths must hold at least one depth")
    for d in cfg.depths:
        _check_int("depths", d, 1)
    if isinstance(cfg.variants, str) or not cfg.variants:
        raise ValueError("variants must be a non-empty sequence of variant names")
    for v in cfg.variants:
        if v not in VARIANTS:
            raise ValueError(f"variants: unknown variant {v!r}; choose from {list(VARIANTS)}")


def depth_experiment(
    x: Tensor,
    y: Tensor,
    depths: Sequence[int] | None = None,
    *,
    config: DepthConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    **overrides,
) -> DepthCurves:
    """Train one network per (variant, depth) on ``(x, y)`` with the same budget and seed.

    The paper's figure 1 is ``depth_experiment(x, y, [3, 15], variants=["plain"])``: if
    deeper plain networks are harder to optimise, the 32-layer one ends with a higher
    training loss than the 8-layer one. Every network starts from
    ``torch.manual_seed(seed)`` and sees the same mini-batches; the global random state
    is restored afterwards. ``depths`` and keyword arguments override the fields of
    ``config`` (the old call ``depth_experiment(x, y, depths, steps=..., ...)`` works).

    Parameters
    ----------
    x : Tensor, shape (N, D) for ``kind="mlp"`` or (N, C, H, W) for ``kind="conv"``
        Inputs.
    y : Tensor, shape (N,)
        Class labels.
    depths : sequence of int, optional
        Numbers of blocks (see :func:`~mlnotes_lib.resnet.make_network`).
    config : DepthConfig, optional
        The settings (default ``DepthConfig()``).
    progress : callable, optional
        ``progress(done, total)`` counts finished networks.

    Returns
    -------
    DepthCurves

    See book/resnet.ipynb.
    """
    unknown = set(overrides) - {f.name for f in dataclasses.fields(DepthConfig)}
    if unknown:
        raise ValueError(f"overrides: unknown DepthConfig fields {sorted(unknown)}")
    if depths is not None:
        overrides["depths"] = depths
    cfg = dataclasses.replace(config or DepthConfig(), **overrides)
    _check_experiment(cfg)
    _check_data(x, y)
    out = DepthCurves(settings=dataclasses.asdict(cfg))
    total, done = len(cfg.variants) * len(cfg.depths), 0
    with torch.random.fork_rng(devices=[]):
        for v in cfg.variants:
            for d in cfg.depths:
                torch.manual_seed(cfg.seed)
                net = make_network(
                    d, kind=cfg.kind, width=cfg.width, in_features=x.shape[1], **VARIANTS[v]
                )
                out.curves[v, d] = train_classifier(
                    net, x, y, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed
                )
                out.final[v, d] = training_loss(net, x, y)
                done += 1
                if progress is not None:
                    progress(done, total)
    return out


# ----------------------------------------------------------------- at initialisation
def layer_gradient_norms(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Norm of the loss gradient for every weight layer, from the input to the output.

    One forward and backward pass of the cross-entropy on the batch ``(x, y)`` in
    training mode (batch norm uses the batch statistics); the gradients stay in
    ``.grad``.

    Returns
    -------
    Tensor, shape (L,)
        ``||dL/dW_l||`` (Frobenius norm) for the ``L`` ``nn.Linear``/``nn.Conv2d`` layers of
        ``model`` in the order they were registered (input to output for
        :func:`make_network`'s networks).
    """
    _check_data(x, y)
    layers = _weight_layers(model)
    if not layers:
        raise ValueError("model must contain nn.Linear or nn.Conv2d layers")
    model.train()
    model.zero_grad(set_to_none=True)
    with num_threads(1):
        F.cross_entropy(model(x), y).backward()
    return torch.stack([m.weight.grad.norm() for m in layers])


def block_input_gradient_norms(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Norm of the loss gradient with respect to the input of every block.

    With ``x_l`` the input of block ``l`` (``l = 0 .. depth-1``, input to output), returns
    ``||dL/dx_l||`` over the whole batch, in training mode. When every residual block is
    exactly the identity (zero-initialised, on the nonnegative outputs of a ReLU) all
    entries are equal: the gradient reaches the first block unchanged.

    Returns
    -------
    Tensor, shape (depth,)
    """
    _check_data(x, y)
    blocks = _blocks(model)
    if not blocks:
        raise ValueError("model must contain plain or residual blocks")
    inputs: list[Tensor] = []

    def keep(module, args):
        args[0].retain_grad()
        inputs.append(args[0])

    handles = [b.register_forward_pre_hook(keep) for b in blocks]
    model.train()
    model.zero_grad(set_to_none=True)
    try:
        with num_threads(1):
            F.cross_entropy(model(x), y).backward()
    finally:
        for h in handles:
            h.remove()
    return torch.stack([a.grad.norm() for a in inputs])


@torch.no_grad()
def block_output_stds(model: nn.Module, x: Tensor) -> Tensor:
    """Standard deviation of every block's output on the batch ``x`` (training mode).

    Returns
    -------
    Tensor, shape (depth,)
        One value per plain or residual block, input to output.
    """
    blocks = _blocks(model)
    if not blocks:
        raise ValueError("model must contain plain or residual blocks")
    stds: list[Tensor] = []
    handles = [b.register_forward_hook(lambda m, i, o: stds.append(o.std())) for b in blocks]
    model.train()
    try:
        with num_threads(1):
            model(x)
    finally:
        for h in handles:
            h.remove()
    return torch.stack(stds)


def init_gradients(
    depth: int,
    x: Tensor,
    y: Tensor,
    *,
    variants: Sequence[str] = tuple(VARIANTS),
    kind: str = "mlp",
    width: int = 16,
    seed: int = 0,
) -> dict[str, tuple[Tensor, Tensor]]:
    """Weight and block-input gradient norms at initialisation, one network per variant.

    Returns ``variant -> (layer_gradient_norms, block_input_gradient_norms)``, shapes
    (2 * depth + 2,) and (depth,); every network starts from ``torch.manual_seed(seed)``
    (the global random state is restored). See book/resnet.ipynb.
    """
    out = {}
    with torch.random.fork_rng(devices=[]):
        for v in variants:
            torch.manual_seed(seed)
            net = make_network(depth, kind=kind, width=width, in_features=x.shape[1], **VARIANTS[v])
            out[v] = (layer_gradient_norms(net, x, y), block_input_gradient_norms(net, x, y))
    return out


def power_law_exponent(depths: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of log(value) against log(depth): ``value ~ depth ** slope``.

    See book/resnet.ipynb.
    """
    d, v = np.log(np.asarray(depths, float)), np.log(np.asarray(values, float))
    if len(d) < 2:
        raise ValueError("depths must hold at least two depths")
    return float(np.polyfit(d, v, 1)[0])


def growth_per_block(depths: Sequence[float], values: Sequence[float]) -> float:
    """Factor per block of an exponential fit, ``value ~ factor ** depth`` (least squares in log).

    See book/resnet.ipynb.
    """
    d, v = np.asarray(depths, float), np.log(np.asarray(values, float))
    if len(d) < 2:
        raise ValueError("depths must hold at least two depths")
    return float(math.exp(np.polyfit(d, v, 1)[0]))


#: The long-budget run that ``tools/resnet_long_run.py`` writes.
LONG_RUN = Path(__file__).resolve().parents[1] / "assets" / "resnet_long_run.json"


def load_long_run(path: Path | str = LONG_RUN) -> dict:
    """The precomputed long-budget degradation run, as written by ``tools/resnet_long_run.py``.

    Returns
    -------
    dict
        ``"settings"`` (the :class:`DepthConfig` fields, ``"seeds"``, ``"curve_every"``) and
        ``"runs"``: one dict per network with ``"variant"``, ``"blocks"``, ``"seed"``,
        ``"final_training_loss"`` and ``"curve"`` (the mini-batch loss averaged over each
        ``curve_every`` steps). See book/resnet.ipynb.
    """
    import json

    return json.loads(Path(path).read_text())
