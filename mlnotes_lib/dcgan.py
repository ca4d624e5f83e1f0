"""Deep convolutional GANs (DCGAN): the networks, their initialisation, and their anatomy.

Scope: the architecture of Radford, Metz & Chintala, *Unsupervised representation
learning with deep convolutional generative adversarial networks* (ICLR 2016), for
square images whose side is a power of two, trained with the losses of
:mod:`mlnotes_lib.gan`. Both networks are ``nn.Sequential`` stacks of named modules in the
order they run, so each of the paper's architecture guidelines can be checked by looking
at the modules (see :func:`guideline_report`) instead of reading a ``forward`` method.

Widths follow PyTorch's DCGAN example: the generator's 4×4 block has ``ngf * 2**(n-1)``
channels for ``n = log2(image_size) - 2`` upsampling blocks, halving at every block, so
``Generator(ngf=64)`` is the example's network and ``Generator(ngf=128)`` the 1024-channel
generator drawn in the paper's Figure 1. Unlike the example, the convolutions that no batch
norm follows (G's output layer, D's first and last) keep their bias, so our networks have
``nc`` (G) and ``ndf + 1`` (D) more parameters than the example's.

This module is the math: torch only. Training, checkpoints and probes (``train_step``,
``train_dcgan``, ``load_checkpoint``, ``digit_classes``...) are in
:mod:`mlnotes_lib.experiments.dcgan` and still import from here; the figures are in
:mod:`mlnotes_lib.plots.dcgan`.

See book/dcgan.ipynb.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlnotes_lib._common import forward_moved
from mlnotes_lib.conv import conv_output_size, conv_transpose_output_size

__all__ = [
    "ABLATIONS",
    "Discriminator",
    "Generator",
    "ablation_networks",
    "ablation_outcome",
    "discriminator_features",
    "guideline_report",
    "interpolate_latents",
    "layer_shapes",
    "make_optimizers",
    "mean_pairwise_distance",
    "nearest_neighbours",
    "shape_table",
    "weights_init",
]

# Names that moved to the experiments layer; ``dcgan.<name>`` still finds them there.
_MOVED = {
    "DCGANConfig", "DCGANResult", "digit_classes", "latest_checkpoint", "linear_probe",
    "load_checkpoint", "train_dcgan", "train_step",
}  # fmt: skip


# Names that moved to experiments/dcgan.py still import from here.
__getattr__ = forward_moved(__name__, "mlnotes_lib.experiments.dcgan", _MOVED)


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _n_blocks(image_size: Any) -> int:
    """Number of upsampling (or downsampling) blocks between 4×4 and ``image_size``."""
    ok = (
        not isinstance(image_size, bool)
        and isinstance(image_size, int | np.integer)
        and image_size >= 16
        and image_size & (image_size - 1) == 0
    )
    if not ok:
        raise ValueError(f"image_size must be a power of two >= 16, got {image_size!r}")
    return int(math.log2(image_size)) - 2


class Generator(nn.Sequential):
    """The DCGAN generator: a latent vector ``z`` to an image in [-1, 1].

    A transposed convolution with a 4×4 kernel projects ``z`` (seen as a 1×1 image
    with ``nz`` channels) to a 4×4 map; each further transposed convolution (kernel 4,
    stride 2, padding 1) doubles the side, halving the channels, until ``image_size``.
    Every hidden block is transposed convolution, batch norm, ReLU; the output block is
    a transposed convolution and Tanh, without batch norm. There is no pooling and no
    fully connected layer.

    Parameters
    ----------
    nz : int
        Size of the latent vector.
    ngf : int
        Width: the last hidden block has ``ngf`` channels, the 4×4 block
        ``ngf * 2**(n - 1)`` where ``n = log2(image_size) - 2``.
    nc : int
        Channels of the image (3 for colour, 1 for grey).
    image_size : int
        Side of the square output image, a power of two >= 16.

    Notes
    -----
    Input ``z`` of shape (B, nz) or (B, nz, 1, 1); output of shape
    (B, nc, image_size, image_size). Convolutions followed by batch norm have no bias
    (the norm's mean subtraction would cancel it).

    See book/dcgan.ipynb.
    """

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3, image_size: int = 64):
        nz = _check_positive_int("nz", nz)
        ngf = _check_positive_int("ngf", ngf)
        nc = _check_positive_int("nc", nc)
        n = _n_blocks(image_size)
        ch = ngf * 2 ** (n - 1)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        # project and reshape: (B, nz, 1, 1) -> (B, ch, 4, 4)
        layers["project"] = nn.ConvTranspose2d(nz, ch, 4, 1, 0, bias=False)
        layers["bn0"] = nn.BatchNorm2d(ch)
        layers["relu0"] = nn.ReLU(inplace=True)
        for i in range(1, n):
            # (B, ch, s, s) -> (B, ch/2, 2s, 2s)
            layers[f"up{i}"] = nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False)
            layers[f"bn{i}"] = nn.BatchNorm2d(ch // 2)
            layers[f"relu{i}"] = nn.ReLU(inplace=True)
            ch //= 2
        # (B, ngf, image_size/2, image_size/2) -> (B, nc, image_size, image_size)
        layers["out"] = nn.ConvTranspose2d(ch, nc, 4, 2, 1)
        layers["tanh"] = nn.Tanh()
        super().__init__(layers)
        self.nz, self.ngf, self.nc, self.image_size = nz, ngf, nc, int(image_size)

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() == 2 and z.shape[1] == self.nz:
            z = z[:, :, None, None]  # (B, nz, 1, 1)
        elif z.dim() != 4 or z.shape[1:] != (self.nz, 1, 1):
            raise ValueError(
                f"z must have shape (B, {self.nz}) or (B, {self.nz}, 1, 1), got {tuple(z.shape)}"
            )
        return super().forward(z)


class Discriminator(nn.Sequential):
    """The DCGAN discriminator: an image to the probability that it is real.

    The mirror image of :class:`Generator`: strided convolutions (kernel 4, stride 2,
    padding 1) halve the side and double the channels down to 4×4, then a 4×4
    convolution without padding gives one number per image and a Sigmoid turns it
    into a probability. Every hidden block is convolution, batch norm, LeakyReLU(0.2),
    except the first, which has no batch norm. No pooling, no fully connected layer.

    Parameters
    ----------
    nc : int
        Channels of the input image.
    ndf : int
        Width: the first block has ``ndf`` channels, the 4×4 block ``ndf * 2**(n - 1)``.
    image_size : int
        Side of the square input image, a power of two >= 16.

    Notes
    -----
    Input of shape (B, nc, image_size, image_size); output of shape (B,), probabilities
    ``D(x)`` in [0, 1], as the losses of :mod:`mlnotes_lib.gan` expect.

    See book/dcgan.ipynb.
    """

    def __init__(self, nc: int = 3, ndf: int = 64, image_size: int = 64):
        nc = _check_positive_int("nc", nc)
        ndf = _check_positive_int("ndf", ndf)
        n = _n_blocks(image_size)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        # (B, nc, S, S) -> (B, ndf, S/2, S/2); no batch norm on the input layer
        layers["conv0"] = nn.Conv2d(nc, ndf, 4, 2, 1)
        layers["lrelu0"] = nn.LeakyReLU(0.2, inplace=True)
        ch = ndf
        for i in range(1, n):
            # (B, ch, s, s) -> (B, 2ch, s/2, s/2)
            layers[f"conv{i}"] = nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False)
            layers[f"bn{i}"] = nn.BatchNorm2d(ch * 2)
            layers[f"lrelu{i}"] = nn.LeakyReLU(0.2, inplace=True)
            ch *= 2
        # (B, ch, 4, 4) -> (B, 1, 1, 1) -> (B,)
        layers["classify"] = nn.Conv2d(ch, 1, 4, 1, 0)
        layers["sigmoid"] = nn.Sigmoid()
        layers["flatten"] = nn.Flatten(0)
        super().__init__(layers)
        self.nc, self.ndf, self.image_size = nc, ndf, int(image_size)


def weights_init(module: nn.Module) -> None:
    """DCGAN initialisation of one module, for ``model.apply(weights_init)``.

    (Transposed) convolution weights are drawn from N(0, 0.02²) and their biases set
    to 0; batch-norm scales are drawn from N(1, 0.02²) and their shifts set to 0, as in
    Radford et al. (2016). Other modules are left alone.

    See book/dcgan.ipynb.
    """
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def make_optimizers(
    G: nn.Module, D: nn.Module, *, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999)
) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for each network with the paper's settings: lr 2e-4, beta1 = 0.5.

    Returns
    -------
    (opt_g, opt_d) : tuple of torch.optim.Adam
        The generator's optimiser, then the discriminator's.

    See book/dcgan.ipynb.
    """
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas}")
    return (
        torch.optim.Adam(G.parameters(), lr=lr, betas=betas),
        torch.optim.Adam(D.parameters(), lr=lr, betas=betas),
    )


# --------------------------------------------------------------------------- inspection


def layer_shapes(model: nn.Sequential, x: Tensor) -> list[tuple[str, str, tuple[int, ...]]]:
    """Run ``x`` through ``model`` one module at a time and record each output's shape.

    Returns
    -------
    list of (name, module class name, output shape)
        One row per module, in the order they run; the shapes include the batch size.

    See book/dcgan.ipynb.
    """
    rows = []
    with torch.no_grad():
        if isinstance(model, Generator) and x.dim() == 2:
            x = x[:, :, None, None]
        for name, module in model.named_children():
            x = module(x)
            rows.append((name, type(module).__name__, tuple(x.shape)))
    return rows


def _describe(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        k, s, p = module.kernel_size[0], module.stride[0], module.padding[0]
        channels = f"{module.in_channels}→{module.out_channels}"
        return f"{type(module).__name__}({channels}, F={k}, S={s}, P={p})"
    return type(module).__name__


def shape_table(model: nn.Sequential, x: Tensor) -> list[dict[str, Any]]:
    """The side of the feature map after each (transposed) convolution: formula vs module.

    For a ``ConvTranspose2d`` the side is predicted with
    :func:`mlnotes_lib.conv.conv_transpose_output_size` (``O = S(W - 1) + F - 2P``), for a
    ``Conv2d`` with :func:`mlnotes_lib.conv.conv_output_size`
    (``O = floor((W - F + 2P) / S) + 1``); ``shape`` is what the module really returns.

    Parameters
    ----------
    model : Generator or Discriminator
        Any ``nn.Sequential`` of square convolutions, batch norms and activations.
    x : Tensor, shape (B, C, H, H), or (B, nz) for a generator
        An input batch; tensors on the ``meta`` device give the shapes without compute.

    Returns
    -------
    list of dict
        One row per convolution, with keys ``layer`` (module name), ``module`` (a short
        description), ``formula`` (the formula with numbers filled in), ``predicted``
        (int) and ``shape`` (the tuple (B, C, H, W) the block returns after its batch
        norm and activation).

    See book/dcgan.ipynb.
    """
    rows: list[dict[str, Any]] = []
    w = x.shape[-1] if x.dim() == 4 else 1
    with torch.no_grad():
        if x.dim() == 2:
            x = x[:, :, None, None]  # (B, nz, 1, 1)
        for name, module in model.named_children():
            x = module(x)
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
                f, s, p = module.kernel_size[0], module.stride[0], module.padding[0]
                if isinstance(module, nn.ConvTranspose2d):
                    out = conv_transpose_output_size(w, f, p, s)
                    formula = f"{s}·({w}−1) + {f} − 2·{p} = {out}"
                else:
                    out = conv_output_size(w, f, p, s)
                    formula = f"⌊({w} − {f} + 2·{p})/{s}⌋ + 1 = {out}"
                rows.append(
                    {
                        "layer": name,
                        "module": _describe(module),
                        "formula": formula,
                        "predicted": out,
                    }
                )
                w = out
            if rows and x.dim() == 4:
                rows[-1]["shape"] = tuple(x.shape)
    return rows


def guideline_report(G: nn.Sequential, D: nn.Sequential) -> dict[str, bool]:
    """Check each DCGAN architecture guideline by inspecting the modules of G and D.

    Returns
    -------
    dict of str to bool
        One entry per guideline (Radford et al., 2016, Section 3), True when it holds.

    See book/dcgan.ipynb.
    """
    g, d = list(G.children()), list(D.children())

    def convs(mods):
        return [m for m in mods if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]

    def followed_by_bn(mods, i):
        return i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d)

    pool = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
    g_conv_idx = [i for i, m in enumerate(g) if isinstance(m, nn.ConvTranspose2d)]
    d_conv_idx = [i for i, m in enumerate(d) if isinstance(m, nn.Conv2d)]
    g_acts = [m for m in g if isinstance(m, nn.ReLU | nn.LeakyReLU | nn.Tanh | nn.Sigmoid)]
    d_acts = [m for m in d if isinstance(m, nn.ReLU | nn.LeakyReLU | nn.Tanh | nn.Sigmoid)]
    return {
        "no pooling layers": not any(isinstance(m, pool) for m in g + d),
        "D downsamples with strided convolutions": all(m.stride == (2, 2) for m in convs(d)[:-1]),
        "G upsamples with transposed convolutions": all(
            isinstance(m, nn.ConvTranspose2d) for m in convs(g)
        )
        and all(m.stride == (2, 2) for m in convs(g)[1:]),
        "batch norm after every hidden convolution": all(
            followed_by_bn(g, i) for i in g_conv_idx[:-1]
        )
        and all(followed_by_bn(d, i) for i in d_conv_idx[1:-1]),
        "no batch norm at G's output or D's input": not followed_by_bn(g, g_conv_idx[-1])
        and not followed_by_bn(d, d_conv_idx[0]),
        "no fully connected layers": not any(isinstance(m, nn.Linear) for m in g + d),
        "ReLU in G, Tanh at its output": all(isinstance(m, nn.ReLU) for m in g_acts[:-1])
        and isinstance(g_acts[-1], nn.Tanh),
        "LeakyReLU(0.2) in D, Sigmoid at its output": all(
            isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in d_acts[:-1]
        )
        and isinstance(d_acts[-1], nn.Sigmoid),
    }


def interpolate_latents(z0: Tensor, z1: Tensor, t: float) -> Tensor:
    """The point ``(1 - t) z0 + t z1`` on the straight line between two latent vectors.

    ``z0``, ``z1`` of the same shape, e.g. (B, nz); ``t`` in [0, 1].

    See book/dcgan.ipynb.
    """
    if z0.shape != z1.shape:
        raise ValueError(f"z1 must have the shape of z0, {tuple(z0.shape)}, got {tuple(z1.shape)}")
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must be in [0, 1], got {t}")
    return torch.lerp(z0, z1, t)


def discriminator_features(D: nn.Sequential, x: Tensor, *, grid: int = 4) -> Tensor:
    """The features a DCGAN discriminator computes, pooled and concatenated, per image.

    After every hidden block (each LeakyReLU: the convolution, batch norm and activation
    before the classifying convolution), the feature map is max-pooled to a
    ``grid``×``grid`` spatial grid and flattened, as Radford et al. (2016) did for their
    CIFAR-10 probe; the blocks' features are concatenated. Run it in eval mode and under
    ``torch.no_grad()`` for a frozen feature extractor.

    Parameters
    ----------
    D : Discriminator
    x : Tensor, shape (B, nc, image_size, image_size)

    Returns
    -------
    Tensor, shape (B, F)
        ``F = grid² · (ndf + 2 ndf + ... )``, one term per hidden block.

    Raises
    ------
    ValueError
        If ``x`` does not have D's input shape.

    See book/dcgan.ipynb.
    """
    want = (D.nc, D.image_size, D.image_size)
    if not isinstance(x, Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != want:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must have shape (B, {', '.join(map(str, want))}), got {shape}")
    feats = []
    for module in D.children():
        if isinstance(module, nn.LeakyReLU):
            x = module(x)
            feats.append(F.adaptive_max_pool2d(x, grid).flatten(1))  # (B, C * grid²)
        else:
            x = module(x)
        if isinstance(module, nn.Conv2d) and module.out_channels == 1:
            break  # the classifier: everything before it was hidden
    return torch.cat(feats, dim=1)


def nearest_neighbours(
    queries: Tensor, references: Tensor, *, exclude: Tensor | None = None, chunk: int = 512
) -> tuple[Tensor, Tensor]:
    """The Euclidean distance from each query to its nearest reference, and which one it is.

    Parameters
    ----------
    queries : Tensor, shape (Q, ...)
        E.g. generated images (Q, 1, 32, 32), or features (Q, F); flattened per row.
    references : Tensor, shape (R, ...)
        E.g. the training images, with the same trailing size as ``queries``.
    exclude : Tensor, shape (Q,), int, optional
        A reference index per query that must not count (``-1``: none). With
        ``queries = references[idx]`` and ``exclude = idx`` every query is held out of the
        references: its distance is the one a new digit from the same data would have.
    chunk : int
        Queries per block of the distance matrix (memory ``chunk * R`` floats).

    Returns
    -------
    distances : Tensor, shape (Q,), float64
    indices : Tensor, shape (Q,), int64
        Index into ``references`` of each query's nearest neighbour.

    See book/dcgan.ipynb.
    """
    q = queries.detach().flatten(1).double()
    r = references.detach().flatten(1).double()
    if q.shape[1] != r.shape[1] or len(r) < 2:
        raise ValueError(
            f"references must be >= 2 rows of the queries' size {q.shape[1]}, got {tuple(r.shape)}"
        )
    if exclude is not None and tuple(exclude.shape) != (len(q),):
        raise ValueError(f"exclude must have shape ({len(q)},), got {tuple(exclude.shape)}")
    chunk = _check_positive_int("chunk", chunk)
    dists, idx = [], []
    r_sq = r.square().sum(1)  # (R,)
    for start in range(0, len(q), chunk):
        block = q[start : start + chunk]  # (c, D)
        # |q - r|^2 = |q|^2 - 2 q.r + |r|^2, clamped at 0 against rounding
        d2 = (block.square().sum(1, keepdim=True) - 2 * block @ r.T + r_sq).clamp_min(0)
        if exclude is not None:
            ex = exclude[start : start + chunk].long()
            rows = torch.nonzero(ex >= 0).flatten()
            d2[rows, ex[rows]] = math.inf
        best = d2.min(1)
        dists.append(best.values.sqrt())
        idx.append(best.indices)
    return torch.cat(dists), torch.cat(idx)


def mean_pairwise_distance(x: Tensor) -> float:
    """The mean Euclidean distance between two different rows of ``x`` (B, ...), B >= 2.

    A diversity score for a batch of samples: a generator that has collapsed onto one
    output scores near 0. Compare it with the same score of as many real images.

    See book/dcgan.ipynb.
    """
    flat = x.detach().flatten(1).double()
    if len(flat) < 2:
        raise ValueError(f"x must hold at least 2 rows, got {len(flat)}")
    d = torch.cdist(flat, flat)  # (B, B), zero diagonal
    return (d.sum() / (len(flat) * (len(flat) - 1))).item()


#: The networks of the guideline ablations: the DCGAN, and one guideline switched off.
ABLATIONS = ("DCGAN", "no batch norm in G", "max pooling in D")


def ablation_networks(
    variant: str, *, ngf: int = 16, ndf: int = 16, nc: int = 1, image_size: int = 32
) -> tuple[Generator, nn.Sequential]:
    """G and D of one of :data:`ABLATIONS`, initialised with ``weights_init``.

    ``"no batch norm in G"`` replaces G's batch norms by identities; ``"max pooling in
    D"`` replaces each of D's strided 4×4 convolutions by a 3×3 stride-1 convolution and
    puts a 2×2 max pooling after its activation, the downsampling of the classifiers the
    paper moved away from.

    See book/dcgan.ipynb.
    """
    if variant not in ABLATIONS:
        raise ValueError(f"variant must be one of {ABLATIONS}, got {variant!r}")
    G = Generator(nz=100, ngf=ngf, nc=nc, image_size=image_size)
    D = Discriminator(nc=nc, ndf=ndf, image_size=image_size)
    if variant == "no batch norm in G":
        for name, module in list(G.named_children()):
            if isinstance(module, nn.BatchNorm2d):
                setattr(G, name, nn.Identity())
    elif variant == "max pooling in D":
        layers, pool = {}, None
        for name, m in D.named_children():
            if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
                m = nn.Conv2d(m.in_channels, m.out_channels, 3, 1, 1, bias=m.bias is not None)
                pool = name.replace("conv", "pool")
            layers[name] = m
            if pool and isinstance(m, nn.LeakyReLU):  # conv, (batch norm), LeakyReLU, pool
                layers[pool], pool = nn.MaxPool2d(2), None
        pooled = nn.Sequential(OrderedDict(layers))
        pooled.nc, pooled.ndf, pooled.image_size = D.nc, D.ndf, D.image_size
        D = pooled
    return G.apply(weights_init), D.apply(weights_init)


def ablation_outcome(
    late_d_fake: float, diversity: float, *, stall_d_fake: float = 0.02,
    collapse_diversity: float = 0.5,
) -> str:  # fmt: skip
    """``"collapse"``, ``"stall"`` or ``"train"``: the outcome of a run, by two rules.

    ``diversity`` is the mean pairwise distance of the final samples over that of as many
    real images: below ``collapse_diversity`` the run collapsed. Otherwise a mean
    ``D(G(z))`` over the run's last steps, ``late_d_fake``, below ``stall_d_fake`` is a
    stall (D rejects every sample); anything else trains.

    See book/dcgan.ipynb.
    """
    if diversity < collapse_diversity:
        return "collapse"
    return "stall" if late_d_fake < stall_d_fake else "train"
