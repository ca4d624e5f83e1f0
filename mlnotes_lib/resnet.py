"""Residual blocks, plain blocks, and the experiments of the "Residual blocks" chapter.

A residual block computes ``relu(F(x) + shortcut(x))``, where the residual branch ``F`` is
conv-BN-ReLU-conv-BN and the shortcut is the identity, or a 1×1 convolution (with batch
norm) when the block changes the number of channels or the resolution. This is the
"basic block" of He et al., *Deep Residual Learning for Image Recognition* (2016), with
the projection shortcut of their option B. A plain block has the same layers and no
shortcut. MLP versions of both (``nn.Linear`` instead of 3×3 convolutions) make the
experiments over ten times cheaper per step, fast enough for a CPU.

The experiments reproduce the paper's figure 1 (a deeper plain network fits its training
data *worse*) and its fix (residual networks of the same depths do not, most clearly when
the last batch norm of every branch starts at zero, as in Goyal et al., 2017), and
measure gradient norms at initialisation. Batch norm is torch's own
``nn.BatchNorm1d``/``nn.BatchNorm2d``.

See book/resnet.ipynb.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from torch import Tensor, nn

__all__ = [
    "KINDS",
    "VARIANTS",
    "DepthCurves",
    "PlainBlock",
    "PlainMLPBlock",
    "ResidualBlock",
    "ResidualMLPBlock",
    "block_input_gradient_norms",
    "block_output_stds",
    "depth_experiment",
    "layer_gradient_norms",
    "make_network",
    "num_weight_layers",
    "plot_final_losses",
    "plot_gradient_norms",
    "plot_training_curves",
    "train_classifier",
    "training_loss",
]

#: The two network families of :func:`make_network`.
KINDS = ("mlp", "conv")

#: Named network variants of :func:`depth_experiment` and the keyword arguments of
#: :func:`make_network` each stands for.
VARIANTS = {
    "plain": {"residual": False},
    "residual": {"residual": True},
    "residual, zero-init": {"residual": True, "zero_init_residual": True},
}


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


# --------------------------------------------------------------------------- blocks
class _TwoLayerBlock(nn.Module):
    """The residual branch F shared by plain and residual blocks: W-BN-ReLU-W-BN."""

    def __init__(self, layer1: nn.Module, bn1: nn.Module, layer2: nn.Module, bn2: nn.Module):
        super().__init__()
        self.layer1, self.bn1, self.layer2, self.bn2 = layer1, bn1, layer2, bn2

    def branch(self, x: Tensor) -> Tensor:
        """The residual function ``F(x)``: the block's output before the shortcut and ReLU."""
        return self.bn2(self.layer2(F.relu(self.bn1(self.layer1(x)))))


class _ConvBranch(_TwoLayerBlock):
    """conv3x3-BN-ReLU-conv3x3-BN; the stride, if any, is in the first convolution."""

    def __init__(self, channels: int, out_channels: int | None = None, stride: int = 1) -> None:
        channels = _check_int("channels", channels, 1)
        out = channels if out_channels is None else _check_int("out_channels", out_channels, 1)
        stride = _check_int("stride", stride, 1)
        # No conv bias: the batch norm after each convolution subtracts it again.
        super().__init__(
            nn.Conv2d(channels, out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out),
            nn.Conv2d(out, out, 3, padding=1, bias=False),
            nn.BatchNorm2d(out),
        )
        self.in_channels, self.out_channels, self.stride = channels, out, stride


class PlainBlock(_ConvBranch):
    """Two 3×3 convolutions with batch norm and ReLU, without a shortcut.

    ``forward(x) = relu(F(x))`` with ``F = conv3x3 - BN - ReLU - conv3x3 - BN``: the same
    layers as :class:`ResidualBlock`, so the two differ only by the shortcut.

    Parameters
    ----------
    channels : int
        Input channels ``C``.
    out_channels : int, optional
        Output channels (default ``channels``).
    stride : int
        Stride of the first convolution (2 halves the resolution).

    Notes
    -----
    Input shape (N, C, H, W); output shape (N, out_channels, H', W') with
    ``H' = floor((H - 1) / stride) + 1`` (the same as the input when ``stride=1``).
    See book/resnet.ipynb.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.branch(x))


class ResidualBlock(_ConvBranch):
    """The basic residual block of He et al. (2016): ``relu(F(x) + shortcut(x))``.

    ``F = conv3x3 - BN - ReLU - conv3x3 - BN``. The shortcut is the identity when the
    block keeps the shape; when it changes the channels or the resolution the shortcut
    is a projection: a 1×1 convolution with the block's stride, followed by batch norm.

    Parameters
    ----------
    channels : int
        Input channels ``C``.
    out_channels : int, optional
        Output channels (default ``channels``).
    stride : int
        Stride of the first convolution and of the projection.

    Notes
    -----
    Input shape (N, C, H, W); output shape (N, out_channels, H', W') with
    ``H' = floor((H - 1) / stride) + 1``; with the defaults the output shape equals the
    input shape. See book/resnet.ipynb.
    """

    def __init__(self, channels: int, out_channels: int | None = None, stride: int = 1) -> None:
        super().__init__(channels, out_channels, stride)
        if self.out_channels == self.in_channels and self.stride == 1:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(self.in_channels, self.out_channels, 1, stride=self.stride, bias=False),
                nn.BatchNorm2d(self.out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.branch(x) + self.shortcut(x))


class _MLPBranch(_TwoLayerBlock):
    """Linear-BN-ReLU-Linear-BN at constant width."""

    def __init__(self, features: int) -> None:
        features = _check_int("features", features, 1)
        super().__init__(
            nn.Linear(features, features, bias=False),
            nn.BatchNorm1d(features),
            nn.Linear(features, features, bias=False),
            nn.BatchNorm1d(features),
        )
        self.features = features


class PlainMLPBlock(_MLPBranch):
    """The MLP version of :class:`PlainBlock`: ``relu(F(x))`` with F = Linear-BN-ReLU-Linear-BN.

    Input and output shape (N, features). See book/resnet.ipynb.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.branch(x))


class ResidualMLPBlock(_MLPBranch):
    """The MLP version of :class:`ResidualBlock`: ``relu(F(x) + x)``.

    Input and output shape (N, features). See book/resnet.ipynb.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.branch(x) + x)


# -------------------------------------------------------------------------- networks
def num_weight_layers(depth: int) -> int:
    """Weight layers of ``make_network(depth, ...)``: the stem, two per block, the head.

    He et al. count depth this way: their "56-layer" network has 27 blocks. See
    book/resnet.ipynb.
    """
    return 2 * _check_int("depth", depth, 1) + 2


def make_network(
    depth: int,
    residual: bool,
    *,
    kind: str = "mlp",
    width: int = 32,
    in_features: int | None = None,
    num_classes: int = 10,
    zero_init_residual: bool = False,
) -> nn.Sequential:
    """A stem, ``depth`` plain or residual blocks of constant width, and a linear head.

    Parameters
    ----------
    depth : int
        Number of blocks (each two weight layers); the network has
        ``2 * depth + 2`` weight layers in all (:func:`num_weight_layers`).
    residual : bool
        Residual blocks (with identity shortcuts) or plain blocks.
    kind : {"mlp", "conv"}
        ``"mlp"``: Linear-BN-ReLU stem, :class:`ResidualMLPBlock` / :class:`PlainMLPBlock`,
        linear head; input (N, in_features). ``"conv"``: 3×3 conv-BN-ReLU stem,
        :class:`ResidualBlock` / :class:`PlainBlock`, global average pooling and a linear
        head; input (N, in_features, H, W).
    width : int
        Features (mlp) or channels (conv) inside the blocks.
    in_features : int, optional
        Input features (mlp, default 64: a flattened 8×8 digit) or input channels
        (conv, default 1).
    num_classes : int
        Outputs of the head (logits).
    zero_init_residual : bool
        Start the last batch norm of every residual branch with weight γ = 0, so that every
        residual block starts as the identity (Goyal et al., 2017). Ignored for plain
        networks, where it would make every block output zero.

    Returns
    -------
    nn.Sequential
        Maps the input to logits of shape (N, num_classes).
    """
    depth = _check_int("depth", depth, 1)
    width = _check_int("width", width, 1)
    num_classes = _check_int("num_classes", num_classes, 1)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "mlp":
        n_in = _check_int("in_features", 64 if in_features is None else in_features, 1)
        block = ResidualMLPBlock if residual else PlainMLPBlock
        layers = [nn.Linear(n_in, width, bias=False), nn.BatchNorm1d(width), nn.ReLU()]
        layers += [block(width) for _ in range(depth)]  # (N, width) throughout
        layers += [nn.Linear(width, num_classes)]
    else:
        n_in = _check_int("in_features", 1 if in_features is None else in_features, 1)
        block = ResidualBlock if residual else PlainBlock
        layers = [nn.Conv2d(n_in, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)]
        layers += [nn.ReLU()]
        layers += [block(width) for _ in range(depth)]  # (N, width, H, W) throughout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)]
    net = nn.Sequential(*layers)
    if residual and zero_init_residual:
        for m in net:
            if isinstance(m, _TwoLayerBlock):
                nn.init.zeros_(m.bn2.weight)
    return net


def _blocks(model: nn.Module) -> list[_TwoLayerBlock]:
    return [m for m in model.modules() if isinstance(m, _TwoLayerBlock)]


def _weight_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]


# ------------------------------------------------------------------------- training
@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run on one CPU thread, so results do not depend on the machine's core count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)) if cosine else 1.0
    )
    losses = torch.empty(steps)
    model.train()
    with _one_thread():
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
        with _one_thread():
            return F.cross_entropy(model(x), y).item()
    finally:
        model.train()


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


def depth_experiment(
    x: Tensor,
    y: Tensor,
    depths: Sequence[int],
    *,
    variants: Sequence[str] = ("plain", "residual"),
    steps: int = 150,
    width: int = 16,
    batch_size: int = 128,
    lr: float = 0.1,
    seed: int = 0,
    kind: str = "mlp",
    progress: Callable[[int, int], None] | None = None,
) -> DepthCurves:
    """Train one network per (variant, depth) on ``(x, y)`` with the same budget and seed.

    The paper's figure 1 is ``depth_experiment(x, y, [3, 15], variants=["plain"])``: if
    deeper plain networks are harder to optimise, the 32-layer one ends with a higher
    training loss than the 8-layer one. Every network starts from
    ``torch.manual_seed(seed)`` and sees the same mini-batches; the global random state
    is restored afterwards.

    The defaults are the chapter's: 150 SGD steps (about 11 epochs of the 1,797 digits)
    with momentum 0.9, batch 128 and a cosine decay of the learning rate from 0.1, at
    width 16. They keep the whole experiment to seconds on one CPU thread, and with them
    the 32-layer plain network ends above the 8-layer one and the 32-layer zero-init
    residual network below it, for every seed we tried (0 to 9).

    Parameters
    ----------
    x : Tensor, shape (N, D) for ``kind="mlp"`` or (N, C, H, W) for ``kind="conv"``
        Inputs.
    y : Tensor, shape (N,)
        Class labels.
    depths : sequence of int
        Numbers of blocks (see :func:`make_network`).
    variants : sequence of str
        Keys of ``VARIANTS``: ``"plain"``, ``"residual"``, ``"residual, zero-init"``.
    progress : callable, optional
        ``progress(done, total)`` counts finished networks.

    Returns
    -------
    DepthCurves
    """
    depths = [_check_int("depths", d, 1) for d in depths]
    if not depths:
        raise ValueError("depths must hold at least one depth")
    if isinstance(variants, str) or not variants:
        raise ValueError("variants must be a non-empty sequence of variant names")
    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"variants: unknown variant {v!r}; choose from {list(VARIANTS)}")
    _check_data(x, y)
    settings = dict(steps=steps, width=width, batch_size=batch_size, lr=lr, seed=seed, kind=kind)
    out = DepthCurves(settings=settings)
    total, done = len(variants) * len(depths), 0
    with torch.random.fork_rng(devices=[]):
        for v in variants:
            for d in depths:
                torch.manual_seed(seed)
                net = make_network(d, kind=kind, width=width, in_features=x.shape[1], **VARIANTS[v])
                out.curves[v, d] = train_classifier(
                    net, x, y, steps=steps, batch_size=batch_size, lr=lr, seed=seed
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
    with _one_thread():
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
        with _one_thread():
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
        with _one_thread():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return torch.stack(stds)


# -------------------------------------------------------------------------- drawing
_STYLE = {
    "plain": {"color": "#D55E00", "marker": "o"},
    "residual": {"color": "#0072B2", "marker": "s"},
    "residual, zero-init": {"color": "#009E73", "marker": "^"},
}


def plot_gradient_norms(
    ax: Axes, norms: dict[str, Tensor], *, xlabel: str = "layer", ylabel: str = ""
) -> Axes:
    """Gradient norms (log scale) against the layer index, one line per network.

    ``norms`` maps a variant name (a key of ``VARIANTS``) or any label to a tensor of shape
    (L,), e.g. from :func:`layer_gradient_norms` or :func:`block_input_gradient_norms`.
    Entries that are exactly zero are left out (log scale).
    """
    for label, g in norms.items():
        g = torch.as_tensor(g).detach().double().cpu().numpy()
        idx = np.flatnonzero(g > 0)
        ax.semilogy(idx + 1, g[idx], markersize=3, label=label, **_STYLE.get(label, {}))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def plot_training_curves(
    ax: Axes,
    result: DepthCurves,
    keys: Sequence[tuple[str, int]],
    *,
    label: str = "{variant}-{layers}",
    smooth: int = 14,
    logy: bool = True,
) -> Axes:
    """Mini-batch training loss (moving average over ``smooth`` steps) of the given runs.

    ``keys`` are (variant, depth) pairs of ``result``. Curves of one variant share a
    colour; the deepest network of a variant is drawn solid, shallower ones dashed.
    ``label`` formats each legend entry from ``variant`` and ``layers`` (the number of
    weight layers, as the paper counts them: "plain-32").
    """
    deepest = {v: max(d for w, d in keys if w == v) for v, _ in keys}
    for key in keys:
        v, d = key
        ys = result.curves[key].numpy()
        if smooth > 1 and len(ys) >= smooth:
            ys = np.convolve(ys, np.ones(smooth) / smooth, mode="valid")
        xs = np.arange(len(ys)) + (smooth if smooth > 1 else 1)
        style = {"color": _STYLE.get(v, {}).get("color")}
        style["linestyle"] = "-" if d == deepest[v] else "--"
        ax.plot(xs, ys, label=label.format(variant=v, layers=num_weight_layers(d)), **style)
    ax.set_xlabel("SGD step")
    ax.set_ylabel("training loss")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return ax


def plot_final_losses(ax: Axes, result: DepthCurves, *, highlight: int | None = None) -> Axes:
    """Final training loss against the number of weight layers, one line per variant.

    ``highlight`` (a depth in blocks) draws a vertical line at that network.
    """
    depths = result.depths
    layers = [num_weight_layers(d) for d in depths]
    for v in result.variants:
        ys = [result.final[v, d] for d in depths]
        ax.semilogy(layers, ys, label=v, markersize=4, **_STYLE.get(v, {}))
    if highlight is not None:
        ax.axvline(num_weight_layers(highlight), color="0.5", linewidth=1, linestyle=":")
    ax.set_xticks(layers)
    ax.set_xlabel("weight layers")
    ax.set_ylabel("final training loss")
    ax.legend()
    return ax
