"""Residual blocks, plain blocks, and the networks of the "Residual blocks" chapter.

A residual block computes ``relu(F(x) + shortcut(x))``, where the residual branch ``F`` is
conv-BN-ReLU-conv-BN and the shortcut is the identity, or a 1×1 convolution (with batch
norm) when the block changes the number of channels or the resolution. This is the
"basic block" of He et al., *Deep Residual Learning for Image Recognition* (2016), with
the projection shortcut of their option B. A plain block has the same layers and no
shortcut. Also here: the pre-activation block of He et al., *Identity Mappings in Deep
Residual Networks* (2016), ``x + F(x)`` with F = BN-ReLU-conv-BN-ReLU-conv; the bottleneck
block (1×1, 3×3, 1×1 convolutions); and MLP versions of the blocks (``nn.Linear`` instead of
3×3 convolutions), which make the experiments over ten times cheaper per step, fast enough
for a CPU. Batch norm is torch's own ``nn.BatchNorm1d``/``nn.BatchNorm2d``.

The experiments (training by depth, gradient norms at initialisation) are in
:mod:`mlnotes_lib.experiments.resnet` and the drawing in :mod:`mlnotes_lib.plots.resnet`;
the experiment names that used to live here are still importable from this module.

See book/resnet.ipynb.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from mlnotes_lib._common import check_int, forward_moved

__all__ = [
    "KINDS",
    "VARIANTS",
    "BottleneckBlock",
    "PlainBlock",
    "PlainMLPBlock",
    "PreActMLPBlock",
    "PreActResidualBlock",
    "ResidualBlock",
    "ResidualMLPBlock",
    "make_network",
    "num_weight_layers",
]

#: The two network families of :func:`make_network`.
KINDS = ("mlp", "conv")

#: Named network variants of the experiments and the keyword arguments of
#: :func:`make_network` each stands for.
VARIANTS = {
    "plain": {"residual": False},
    "residual": {"residual": True},
    "residual, zero-init": {"residual": True, "zero_init_residual": True},
    "pre-activation": {"residual": True, "preact": True},
}

#: Names that moved to :mod:`mlnotes_lib.experiments.resnet`; still importable from here.
_MOVED_TO_EXPERIMENTS = frozenset(
    {
        "DepthConfig",
        "DepthCurves",
        "block_input_gradient_norms",
        "block_output_stds",
        "depth_experiment",
        "layer_gradient_norms",
        "train_classifier",
        "training_loss",
    }
)


# Names that moved to experiments/resnet.py still import from here.
__getattr__ = forward_moved(__name__, "mlnotes_lib.experiments.resnet", _MOVED_TO_EXPERIMENTS)


def _check_int(name: str, value, low: int) -> int:
    return check_int(name, value, minimum=low)


class _Block(nn.Module):
    """Marker base of every block type, so that probes can find the blocks of a network."""


# --------------------------------------------------------------------------- blocks
class _TwoLayerBlock(_Block):
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


class PreActResidualBlock(_Block):
    """The pre-activation residual block of He et al. (2016, "Identity Mappings").

    ``x + F(x)`` with ``F = BN - ReLU - conv3x3 - BN - ReLU - conv3x3``: batch norm and
    ReLU move into the branch, so nothing follows the addition and the shortcut carries
    ``x`` to the next block unchanged. The modules are registered in the order they run.

    Parameters
    ----------
    channels : int
        Channels ``C`` of the input and the output, at least 1.

    Notes
    -----
    Input shape (N, C, H, W); output shape (N, C, H, W). See book/resnet.ipynb.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        channels = _check_int("channels", channels, 1)
        self.bn1, self.relu1 = nn.BatchNorm2d(channels), nn.ReLU()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2, self.relu2 = nn.BatchNorm2d(channels), nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.channels = channels

    def branch(self, x: Tensor) -> Tensor:
        """The residual function ``F(x)``."""
        return self.conv2(self.relu2(self.bn2(self.conv1(self.relu1(self.bn1(x))))))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.branch(x)


class PreActMLPBlock(_Block):
    """The MLP version of :class:`PreActResidualBlock`: ``x + F(x)``, F = BN-ReLU-Linear twice.

    Input and output shape (N, features). See book/resnet.ipynb.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        features = _check_int("features", features, 1)
        self.bn1, self.relu1 = nn.BatchNorm1d(features), nn.ReLU()
        self.layer1 = nn.Linear(features, features, bias=False)
        self.bn2, self.relu2 = nn.BatchNorm1d(features), nn.ReLU()
        self.layer2 = nn.Linear(features, features, bias=False)
        self.features = features

    def branch(self, x: Tensor) -> Tensor:
        """The residual function ``F(x)``."""
        return self.layer2(self.relu2(self.bn2(self.layer1(self.relu1(self.bn1(x))))))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.branch(x)


class BottleneckBlock(_Block):
    """The bottleneck residual block of He et al. (2016): 1×1, 3×3 and 1×1 convolutions.

    ``relu(F(x) + x)`` with ``F = conv1x1 (C -> B) - BN - ReLU - conv3x3 (B -> B) - BN -
    ReLU - conv1x1 (B -> C) - BN``: the 1×1 convolutions shrink the channels to the
    bottleneck width B for the expensive 3×3 convolution and restore them. The modules
    are registered in the order they run.

    Parameters
    ----------
    channels : int
        Channels ``C`` of the input and the output, at least 1.
    bottleneck_channels : int
        Channels ``B`` of the 3×3 convolution, at least 1 (the paper uses C / 4).

    Notes
    -----
    Input shape (N, C, H, W); output shape (N, C, H, W). See book/resnet.ipynb.
    """

    def __init__(self, channels: int, bottleneck_channels: int) -> None:
        super().__init__()
        c = _check_int("channels", channels, 1)
        b = _check_int("bottleneck_channels", bottleneck_channels, 1)
        self.conv1, self.bn1, self.relu1 = (
            nn.Conv2d(c, b, 1, bias=False),
            nn.BatchNorm2d(b),
            nn.ReLU(),
        )
        self.conv2 = nn.Conv2d(b, b, 3, padding=1, bias=False)
        self.bn2, self.relu2 = nn.BatchNorm2d(b), nn.ReLU()
        self.conv3, self.bn3 = nn.Conv2d(b, c, 1, bias=False), nn.BatchNorm2d(c)
        self.relu3 = nn.ReLU()
        self.channels, self.bottleneck_channels = c, b

    def branch(self, x: Tensor) -> Tensor:
        """The residual function ``F(x)``."""
        h = self.relu1(self.bn1(self.conv1(x)))  # (N, B, H, W)
        h = self.relu2(self.bn2(self.conv2(h)))  # (N, B, H, W)
        return self.bn3(self.conv3(h))  # (N, C, H, W)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu3(self.branch(x) + x)


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
    preact: bool = False,
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
    preact : bool
        Pre-activation residual blocks (:class:`PreActMLPBlock` / :class:`PreActResidualBlock`):
        the stem is a bare weight layer, and a batch norm and ReLU follow the last block, as
        in He et al.'s "Identity Mappings" networks. Needs ``residual``.

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
    if preact and not residual:
        raise ValueError("preact needs residual=True: a pre-activation block has a shortcut")
    mlp = kind == "mlp"
    default_in = 64 if mlp else 1  # a flattened 8x8 digit, or one grey channel
    n_in = _check_int("in_features", default_in if in_features is None else in_features, 1)
    norm = nn.BatchNorm1d if mlp else nn.BatchNorm2d
    if preact:
        block = PreActMLPBlock if mlp else PreActResidualBlock
    elif mlp:
        block = ResidualMLPBlock if residual else PlainMLPBlock
    else:
        block = ResidualBlock if residual else PlainBlock
    stem = (
        nn.Linear(n_in, width, bias=False)
        if mlp
        else nn.Conv2d(n_in, width, 3, padding=1, bias=False)
    )
    layers = [stem] if preact else [stem, norm(width), nn.ReLU()]
    layers += [block(width) for _ in range(depth)]  # (N, width) or (N, width, H, W) throughout
    if preact:  # the blocks end in a convolution: normalize and activate before the head
        layers += [norm(width), nn.ReLU()]
    if not mlp:
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # (N, width)
    net = nn.Sequential(*layers, nn.Linear(width, num_classes))
    if residual and zero_init_residual:
        for m in net:
            if isinstance(m, _TwoLayerBlock):
                nn.init.zeros_(m.bn2.weight)
    return net


def _blocks(model: nn.Module) -> list[_Block]:
    return [m for m in model.modules() if isinstance(m, _Block)]


def _weight_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
