"""Deep convolutional GANs (DCGAN): the networks, their initialisation, and training.

Scope: the architecture of Radford, Metz & Chintala, *Unsupervised representation
learning with deep convolutional generative adversarial networks* (ICLR 2016), for
square images whose side is a power of two, trained with the losses of
:mod:`mlnotes_lib.gan`. Both networks are ``nn.Sequential`` stacks of named modules in the
order they run, so each of the paper's architecture guidelines can be checked by looking
at the modules (see :func:`guideline_report`) instead of reading a ``forward`` method.

Widths follow PyTorch's DCGAN example: the generator's 4×4 block has ``ngf * 2**(n-1)``
channels for ``n = log2(image_size) - 2`` upsampling blocks, halving at every block, so
``Generator(ngf=64)`` is the example's network and ``Generator(ngf=128)`` the 1024-channel
generator drawn in the paper's Figure 1.

Training (:func:`train_dcgan`) logs the losses and ``D(x)``, ``D(G(z))``, shows a
progress bar, saves checkpoints holding everything needed to continue (networks,
optimisers, step, history and every random-number generator state) and resumes from one
with results identical to an uninterrupted run.

See book/dcgan.ipynb.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from torch import Tensor, nn

from mlnotes_lib.conv import conv_output_size, conv_transpose_output_size
from mlnotes_lib.gan import GENERATOR_LOSSES, discriminator_loss, generator_loss

__all__ = [
    "Discriminator",
    "Generator",
    "digit_classes",
    "guideline_report",
    "interpolate_latents",
    "latest_checkpoint",
    "layer_shapes",
    "load_checkpoint",
    "make_optimizers",
    "plot_progress",
    "plot_shape_table",
    "shape_table",
    "train_dcgan",
    "train_step",
    "weights_init",
]


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


def plot_shape_table(
    ax: Axes, rows: list[tuple[str, ...]], *, header: tuple[str, ...], title: str | None = None
) -> Axes:
    """Draw a table of strings (e.g. the layer-by-layer shapes) on ``ax``.

    Parameters
    ----------
    rows : list of tuples of str
        The table body, one tuple per row, as many entries as ``header``.
    header : tuple of str
        Column titles.

    See book/dcgan.ipynb.
    """
    if any(len(r) != len(header) for r in rows):
        raise ValueError("rows must each have as many entries as header")
    ax.set_axis_off()
    table = ax.table(
        cellText=[list(r) for r in rows],
        colLabels=list(header),
        loc="upper center",
        cellLoc="left",
        colLoc="left",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1.0, 1.25)
    for (r, _), cell in table.get_celld().items():
        cell.set_edgecolor("#bbbbbb")
        if r == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#eeeeee")
    table.auto_set_column_width(list(range(len(header))))
    if title:
        ax.set_title(title)
    return ax


def plot_progress(
    ax_images: Axes, ax_curves: Axes, history: Mapping[str, Any], index: int, *, n: int = 32
) -> tuple[Axes, Axes]:
    """Draw the ``index``-th sample grid of a training history and the curves up to it.

    ``history`` as returned by :func:`train_dcgan` with ``sample_every``; the left axes
    get ``n`` samples, the right axes ``D(x)`` and ``D(G(z))`` (smoothed over 10 steps)
    over the whole run with a line at the grid's step.

    See book/dcgan.ipynb.
    """
    from mlnotes_lib.plotting import COLORS, plot_image_grid

    if not 0 <= index < len(history["sample_steps"]):
        raise ValueError(f"index must be in [0, {len(history['sample_steps'])}), got {index}")
    step = history["sample_steps"][index]
    plot_image_grid(ax_images, history["samples"][index][:n], nrow=8)
    ax_images.set_title(f"G(fixed z) after {step} steps")
    k = 10
    for key, label, color in [("d_real", "D(x)", "blue"), ("d_fake", "D(G(z))", "orange")]:
        ys = np.convolve(np.asarray(history[key], dtype=float), np.ones(k) / k, mode="valid")
        ax_curves.plot(np.arange(k, len(ys) + k), ys, label=label, color=COLORS[color])
    ax_curves.axvline(step, color=COLORS["black"], lw=1, ls="--")
    ax_curves.set_ylim(0, 1)
    ax_curves.set_xlabel("step")
    ax_curves.set_ylabel("mean probability")
    ax_curves.legend(loc="center right")
    return ax_images, ax_curves


def digit_classes(images: Tensor) -> tuple[Tensor, Tensor]:
    """Which digit each generated image shows, by a classifier of the real digits.

    A 5-nearest-neighbour classifier holds scikit-learn's 1,797 real 8×8 digits; the
    images are shrunk to 8×8 (area averaging) and mapped from [-1, 1] to the digits'
    grey levels before it classifies them. A rough check that a generator makes every
    digit, not a proper quality score.

    Parameters
    ----------
    images : Tensor, shape (B, 1, H, W)
        Generated digits in [-1, 1], ``H`` and ``W`` multiples of 8.

    Returns
    -------
    labels : Tensor, shape (B,), int64
    agreement : Tensor, shape (B,)
        The fraction of the 5 nearest real digits that carry that label.

    See book/dcgan.ipynb.
    """
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.neighbors import KNeighborsClassifier

    if images.dim() != 4 or images.shape[1] != 1 or images.shape[-1] % 8:
        raise ValueError(f"images must have shape (B, 1, 8k, 8k), got {tuple(images.shape)}")
    bunch = _sk_load_digits()
    clf = KNeighborsClassifier(n_neighbors=5).fit(bunch.data / 16.0, bunch.target)
    small = torch.nn.functional.adaptive_avg_pool2d(images.detach().float().cpu(), 8)
    feats = ((small.flatten(1) + 1) / 2).clamp(0, 1).numpy()  # (B, 64) in [0, 1]
    proba = clf.predict_proba(feats)
    return torch.from_numpy(proba.argmax(1)), torch.from_numpy(proba.max(1))


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


# ------------------------------------------------------------------------------ training


@contextmanager
def _frozen(module: nn.Module):
    """Turn off gradients for ``module``'s parameters (inputs still get theirs)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


def train_step(
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: Tensor,
    z: Tensor,
    *,
    loss: str = "non_saturating",
) -> dict[str, float]:
    """One DCGAN update: a discriminator step, then a generator step (Algorithm 1, k = 1).

    The generated batch ``G(z)`` is computed once: detached for the discriminator's
    step, and again through the updated discriminator for the generator's step. While
    the generator learns, the discriminator's parameters are frozen, so backpropagation
    computes only the gradient with respect to the images (a third less work in D).

    Parameters
    ----------
    real : Tensor, shape (B, nc, H, W)
        A batch of real images in [-1, 1].
    z : Tensor, shape (B, nz)
        Latent vectors for the generated batch.
    loss : {"minimax", "non_saturating"}
        The generator's loss, see :func:`mlnotes_lib.gan.generator_loss`.

    Returns
    -------
    dict
        ``d_loss``, ``g_loss``, ``d_real`` (mean D(x)) and ``d_fake`` (mean D(G(z))
        before the discriminator's step), as floats.

    See book/dcgan.ipynb.
    """
    fake = G(z)  # (B, nc, H, W)
    # discriminator: maximise log D(x) + log(1 - D(G(z)))
    d_real = D(real)
    d_fake = D(fake.detach())
    d_loss = discriminator_loss(d_real, d_fake)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    # generator: through the updated discriminator, whose weights stay fixed here
    with _frozen(D):
        g_loss = generator_loss(D(fake), kind=loss)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
    opt_g.step()
    return {
        "d_loss": d_loss.item(),
        "g_loss": g_loss.item(),
        "d_real": d_real.detach().mean().item(),
        "d_fake": d_fake.detach().mean().item(),
    }


_LOGGED = ("d_loss", "g_loss", "d_real", "d_fake")


def _rng_state(gen: torch.Generator) -> dict[str, Any]:
    np_state = np.random.get_state()  # noqa: NPY002 - the legacy global state is what we save
    state = {
        "data": gen.get_state(),
        "torch": torch.get_rng_state(),
        # numpy's state as plain types so the file loads with weights_only=True
        "numpy": (
            np_state[0],
            torch.from_numpy(np_state[1].astype(np.int64)),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(gen: torch.Generator, state: Mapping[str, Any]) -> None:
    gen.set_state(state["data"])
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def latest_checkpoint(checkpoint_dir: str | Path) -> Path | None:
    """The checkpoint with the highest step in ``checkpoint_dir`` (None if there is none).

    See book/dcgan.ipynb.
    """
    files = sorted(Path(checkpoint_dir).glob("step_*.pt"))
    return files[-1] if files else None


def load_checkpoint(path: str | Path, *, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`train_dcgan` (safely, ``weights_only=True``).

    ``path`` is a checkpoint file, or a directory whose latest checkpoint is loaded.

    See book/dcgan.ipynb.
    """
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise ValueError(f"path: no step_*.pt checkpoint in {path}")
        path = found
    if not path.is_file():
        raise ValueError(f"path: no checkpoint file {path}")
    return torch.load(path, map_location=map_location, weights_only=True)


@contextmanager
def _num_threads(n: int | None):
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def train_dcgan(
    G: Generator,
    D: Discriminator,
    data: Tensor,
    steps: int,
    *,
    batch_size: int = 128,
    loss: str = "non_saturating",
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 500,
    resume_from: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    sample_every: int | None = None,
    fixed_z: Tensor | None = None,
    channels_last: bool = True,
    num_threads: int | None = None,
) -> dict[str, Any]:
    """Train a DCGAN for ``steps`` updates with Adam (lr 2e-4, beta1 0.5).

    Each step draws ``batch_size`` real images uniformly at random from ``data`` and as
    many latent vectors z ~ N(0, I), then calls :func:`train_step`. All randomness comes
    from one ``torch.Generator`` seeded with ``seed`` (on the CPU, so the draws do not
    depend on the device); its state and the global torch, CUDA, NumPy and Python
    random states are saved in every checkpoint, so that resuming reproduces an
    uninterrupted run bit for bit on the same device and thread count (on CUDA, only
    with deterministic kernels: ``torch.use_deterministic_algorithms(True)``).

    Parameters
    ----------
    G, D : Generator, Discriminator
        The networks, trained in place; initialise them first (``G.apply(weights_init)``).
    data : Tensor, shape (N, nc, image_size, image_size)
        Real images in [-1, 1].
    steps : int
        Total number of updates; when resuming, the run continues up to this step.
    batch_size : int
        Images per minibatch (128 in the paper).
    loss : {"minimax", "non_saturating"}
        The generator's loss.
    seed : int
        Seed of the run's random-number generator (batches, z, ``fixed_z``).
    checkpoint_dir : str or Path, optional
        Where to write ``step_XXXXXX.pt`` every ``checkpoint_every`` steps and at the end.
    resume_from : str or Path, optional
        A checkpoint file (or a directory: its latest checkpoint) to continue from. The
        networks and optimisers are loaded from it, replacing their current state.
    device : str or torch.device, optional
        Default: CUDA when available, else the CPU. ``G`` and ``D`` are moved there.
    progress : bool
        Show a ``tqdm.auto`` progress bar with the latest losses.
    sample_every : int, optional
        At step 0 and every ``sample_every`` steps, store ``G(fixed_z)``, computed in
        eval mode, in the history.
    fixed_z : Tensor, shape (K, nz), optional
        Latent vectors for the samples; default 64 vectors drawn from ``seed``.
    channels_last : bool
        Keep activations in channels-last memory order, which is faster for these
        convolutions on CPUs and on tensor-core GPUs; the results are the same up to
        rounding.
    num_threads : int, optional
        Use this many CPU threads while training (restored afterwards).

    Returns
    -------
    dict
        ``step``, ``d_loss``, ``g_loss``, ``d_real``, ``d_fake`` (lists, one entry per
        step), ``sample_steps`` (list of int) and ``samples`` (Tensor, shape
        (len(sample_steps), K, nc, H, W), on the CPU).

    Raises
    ------
    ValueError
        If ``steps`` < 0, ``batch_size``, ``checkpoint_every`` or ``sample_every`` < 1,
        ``loss`` is unknown, ``data`` does not match the generator's output shape, or
        ``resume_from`` is not a checkpoint.

    See book/dcgan.ipynb.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    batch_size = _check_positive_int("batch_size", batch_size)
    checkpoint_every = _check_positive_int("checkpoint_every", checkpoint_every)
    if sample_every is not None:
        sample_every = _check_positive_int("sample_every", sample_every)
    if loss not in GENERATOR_LOSSES:
        raise ValueError(f"loss must be one of {GENERATOR_LOSSES}, got {loss!r}")
    want = (G.nc, G.image_size, G.image_size)
    if not isinstance(data, Tensor) or data.dim() != 4 or tuple(data.shape[1:]) != want:
        shape = tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__
        raise ValueError(f"data must have shape (N, {', '.join(map(str, want))}), got {shape}")

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    G.to(device, memory_format=fmt)
    D.to(device, memory_format=fmt)
    data = data.to(device).contiguous(memory_format=fmt)
    opt_g, opt_d = make_optimizers(G, D)
    gen = torch.Generator().manual_seed(seed)
    if fixed_z is None:
        fixed_z = torch.randn(64, G.nz, generator=torch.Generator().manual_seed(seed + 1))
    fixed_z = fixed_z.to(device)

    history: dict[str, Any] = {k: [] for k in ("step", *_LOGGED, "sample_steps")}
    samples: list[Tensor] = []
    start = 0
    if resume_from is not None:
        try:
            ckpt = load_checkpoint(resume_from, map_location=device)
        except ValueError as err:
            raise ValueError(f"resume_from: {err}") from None
        G.load_state_dict(ckpt["G"])
        D.load_state_dict(ckpt["D"])
        opt_g.load_state_dict(ckpt["opt_g"])
        opt_d.load_state_dict(ckpt["opt_d"])
        _set_rng_state(gen, ckpt["rng"])
        start = int(ckpt["step"])
        history = {k: list(v) for k, v in ckpt["history"].items() if k != "samples"}
        samples = list(ckpt["history"]["samples"])

    def take_samples(step: int) -> None:
        G.eval()
        with torch.no_grad():
            samples.append(G(fixed_z).float().cpu())
        G.train()
        history["sample_steps"].append(step)

    def save(step: int) -> None:
        path = Path(checkpoint_dir) / f"step_{step:06d}.pt"
        hist = {**history, "samples": torch.stack(samples) if samples else torch.empty(0)}
        state = {
            "G": G.state_dict(),
            "D": D.state_dict(),
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
            "step": step,
            "history": hist,
            "rng": _rng_state(gen),
            "config": {"batch_size": batch_size, "loss": loss, "seed": seed},
        }
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)  # never leave a half-written checkpoint behind

    if checkpoint_dir is not None:
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
    G.train()
    D.train()
    if sample_every is not None and start == 0:
        take_samples(0)

    from tqdm.auto import tqdm

    bar = tqdm(total=steps, initial=start, disable=not progress, desc="DCGAN", unit="step")
    with _num_threads(num_threads):
        for step in range(start + 1, steps + 1):
            idx = torch.randint(len(data), (batch_size,), generator=gen)
            z = torch.randn(batch_size, G.nz, generator=gen)
            logs = train_step(G, D, opt_g, opt_d, data[idx.to(device)], z.to(device), loss=loss)
            history["step"].append(step)
            for k in _LOGGED:
                history[k].append(logs[k])
            if sample_every is not None and step % sample_every == 0:
                take_samples(step)
            if checkpoint_dir is not None and (step % checkpoint_every == 0 or step == steps):
                save(step)
            bar.set_postfix(
                d_loss=f"{logs['d_loss']:.3f}",
                g_loss=f"{logs['g_loss']:.3f}",
                Dx=f"{logs['d_real']:.2f}",
                DGz=f"{logs['d_fake']:.2f}",
                refresh=False,
            )
            bar.update(1)
    bar.close()
    G.to(memory_format=torch.contiguous_format)
    D.to(memory_format=torch.contiguous_format)
    history["samples"] = torch.stack(samples) if samples else torch.empty(0)
    return history
