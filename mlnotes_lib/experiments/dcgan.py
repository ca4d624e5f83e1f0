"""The DCGAN chapter's runs: the training step and loop, checkpoints, and probes.

- :func:`train_step`: one DCGAN update, :func:`mlnotes_lib.experiments.gan.gan_step` with
  ``k = 1`` reusing the generated batch for the generator's step.
- :class:`DCGANConfig`, :func:`train_dcgan` -> :class:`DCGANResult`: the loop, with a
  progress bar, logs of both losses and ``D(x)``, ``D(G(z))``, sample grids, and
  checkpoints holding everything needed to continue (networks, optimisers, step, history
  and every random-number generator state), so that a resumed run equals an
  uninterrupted one.
- :func:`digit_classes`, :func:`linear_probe`, :func:`history_summary`: what a trained
  generator draws, what a trained discriminator knows, what a training history shows.
- :func:`memorisation_check`: nearest training digits of generated and held-out real digits.
- :class:`AblationConfig`, :func:`run_ablation`, :func:`ablation_sweep`: the architecture
  guidelines switched off one at a time (the networks, :data:`ABLATIONS`, are in
  :mod:`mlnotes_lib.dcgan`).

The networks are in :mod:`mlnotes_lib.dcgan`; nothing here draws.

See book/dcgan.ipynb.
"""

from __future__ import annotations

import base64
import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mlnotes_lib import _common
from mlnotes_lib.dcgan import (  # ABLATIONS, ablation_*: also importable from here
    ABLATIONS,
    Discriminator,
    Generator,
    ablation_networks,
    ablation_outcome,
    make_optimizers,
    mean_pairwise_distance,
    nearest_neighbours,
)
from mlnotes_lib.experiments.gan import ItemAccess, gan_step
from mlnotes_lib.gan import GENERATOR_LOSSES

__all__ = [
    "ABLATIONS",
    "AblationConfig",
    "DCGANConfig",
    "DCGANResult",
    "digit_classes",
    "history_summary",
    "latest_checkpoint",
    "linear_probe",
    "load_checkpoint",
    "memorisation_check",
    "ablation_networks",
    "ablation_outcome",
    "ablation_sweep",
    "ablation_results",
    "run_ablation",
    "train_dcgan",
    "train_step",
]


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

    :func:`mlnotes_lib.experiments.gan.gan_step` with the generated batch ``G(z)``
    computed once: detached for the discriminator's step, and again through the updated
    discriminator, whose parameters are frozen, for the generator's step.

    Parameters
    ----------
    real : Tensor, shape (B, nc, H, W)
        A batch of real images in [-1, 1].
    z : Tensor, shape (B, nz)
        Latent vectors for the generated batch.
    loss : {"minimax", "non_saturating", "maximum_likelihood"}
        The generator's loss, see :func:`mlnotes_lib.gan.generator_loss`.

    Returns
    -------
    dict
        ``d_loss``, ``g_loss``, ``d_real`` (mean D(x)) and ``d_fake`` (mean D(G(z))
        before the discriminator's step), as floats.

    See book/dcgan.ipynb.
    """
    logs = gan_step(G, D, opt_g, opt_d, real, z, loss=loss)
    return {key: value.item() for key, value in logs.items()}


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


@dataclass(frozen=True)
class DCGANConfig:
    """Settings of :func:`train_dcgan`, each default with its reason.

    See book/dcgan.ipynb.
    """

    steps: int = 2000  # enough for recognisable 32x32 digits (about 140 passes over 1,797)
    batch_size: int = 128  # the paper's minibatch size
    loss: str = "non_saturating"  # its gradient survives a confident D (see book/gan.ipynb)
    seed: int = 0  # one generator seeds batches, z and fixed_z: a run is reproducible
    checkpoint_dir: str | Path | None = None  # None: no files; long runs should set one
    checkpoint_every: int = 500  # a checkpoint of a 32x32 run is a few MB: not too many
    sample_every: int | None = None  # None: no sample grids (they cost a G pass each)
    channels_last: bool = True  # oneDNN / cuDNN convolutions prefer it; same numbers
    num_threads: int | None = None  # None: torch's default; 1 makes runs core-independent
    device: str | None = None  # None: CUDA when available, else the CPU

    def __post_init__(self):
        _common.check_int("steps", self.steps, minimum=0)
        _common.check_int("batch_size", self.batch_size, minimum=1)
        _common.check_int("checkpoint_every", self.checkpoint_every, minimum=1)
        if self.sample_every is not None:
            _common.check_int("sample_every", self.sample_every, minimum=1)
        if self.loss not in GENERATOR_LOSSES:
            raise ValueError(f"loss must be one of {GENERATOR_LOSSES}, got {self.loss!r}")


@dataclass
class DCGANResult(ItemAccess):
    """What :func:`train_dcgan` returns; ``result["d_loss"]`` also works, as the old dict did.

    ``step``, ``d_loss``, ``g_loss``, ``d_real``, ``d_fake``: one entry per step;
    ``sample_steps``: the steps of the sample grids; ``samples``: Tensor, shape
    (len(sample_steps), K, nc, H, W), on the CPU.

    See book/dcgan.ipynb.
    """

    step: list = field(default_factory=list)
    d_loss: list = field(default_factory=list)
    g_loss: list = field(default_factory=list)
    d_real: list = field(default_factory=list)
    d_fake: list = field(default_factory=list)
    sample_steps: list = field(default_factory=list)
    samples: Tensor = field(default_factory=lambda: torch.empty(0))

    def lists(self) -> dict[str, list]:
        """The logged lists (everything but ``samples``), as a checkpoint stores them."""
        return {k: list(getattr(self, k)) for k in self.keys() if k != "samples"}


def _check_data(G: Generator, data: Tensor) -> None:
    want = (G.nc, G.image_size, G.image_size)
    if not isinstance(data, Tensor) or data.dim() != 4 or tuple(data.shape[1:]) != want:
        shape = tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__
        raise ValueError(f"data must have shape (N, {', '.join(map(str, want))}), got {shape}")


class _Run:
    """The state of one training run: networks, optimisers, RNG, history, samples."""

    def __init__(self, G, D, data, cfg: DCGANConfig, fixed_z):
        self.cfg = cfg
        self.device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.G, self.D = G.to(self.device, memory_format=fmt), D.to(self.device, memory_format=fmt)
        self.data = data.to(self.device).contiguous(memory_format=fmt)
        self.opt_g, self.opt_d = make_optimizers(G, D)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        if fixed_z is None:
            fixed_z = torch.randn(64, G.nz, generator=torch.Generator().manual_seed(cfg.seed + 1))
        self.fixed_z = fixed_z.to(self.device)
        self.history = DCGANResult()
        self.samples: list[Tensor] = []
        self.start = 0

    def resume(self, resume_from) -> None:
        try:
            ckpt = load_checkpoint(resume_from, map_location=self.device)
        except ValueError as err:
            raise ValueError(f"resume_from: {err}") from None
        for name in ("G", "D", "opt_g", "opt_d"):
            getattr(self, name).load_state_dict(ckpt[name])
        _set_rng_state(self.gen, ckpt["rng"])
        self.start = int(ckpt["step"])
        logged = {k: list(v) for k, v in ckpt["history"].items() if k != "samples"}
        self.history = DCGANResult(**logged)
        self.samples = list(ckpt["history"]["samples"])

    def take_samples(self, step: int) -> None:
        self.G.eval()
        with torch.no_grad():
            self.samples.append(self.G(self.fixed_z).float().cpu())
        self.G.train()
        self.history.sample_steps.append(step)

    def save(self, step: int) -> None:
        path = Path(self.cfg.checkpoint_dir) / f"step_{step:06d}.pt"
        samples = torch.stack(self.samples) if self.samples else torch.empty(0)
        state = {
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "step": step, "history": {**self.history.lists(), "samples": samples},
            "rng": _rng_state(self.gen),
            "config": {"batch_size": self.cfg.batch_size, "loss": self.cfg.loss,
                       "seed": self.cfg.seed},
        }  # fmt: skip
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)  # never leave a half-written checkpoint behind

    def step(self, step: int) -> dict[str, float]:
        cfg, G = self.cfg, self.G
        idx = torch.randint(len(self.data), (cfg.batch_size,), generator=self.gen)
        z = torch.randn(cfg.batch_size, G.nz, generator=self.gen)
        logs = train_step(G, self.D, self.opt_g, self.opt_d, self.data[idx.to(self.device)],
                          z.to(self.device), loss=cfg.loss)  # fmt: skip
        self.history.step.append(step)
        for k in _LOGGED:
            getattr(self.history, k).append(logs[k])
        if cfg.sample_every is not None and step % cfg.sample_every == 0:
            self.take_samples(step)
        if cfg.checkpoint_dir is not None and (
            step % cfg.checkpoint_every == 0 or step == cfg.steps
        ):
            self.save(step)
        return logs


def train_dcgan(
    G: Generator,
    D: Discriminator,
    data: Tensor,
    steps: int | None = None,
    *,
    config: DCGANConfig | None = None,
    resume_from: str | Path | None = None,
    fixed_z: Tensor | None = None,
    progress: bool = True,
    **settings: Any,
) -> DCGANResult:
    """Train a DCGAN with Adam (lr 2e-4, beta1 0.5): :func:`train_step`, ``steps`` times.

    Each step draws ``batch_size`` real images uniformly at random from ``data`` and as
    many latent vectors z ~ N(0, I). All randomness comes from one ``torch.Generator``
    seeded with ``seed`` (on the CPU, so the draws do not depend on the device); its
    state and the global torch, CUDA, NumPy and Python random states are saved in every
    checkpoint, so that resuming reproduces an uninterrupted run bit for bit on the same
    device and thread count (on CUDA, only with deterministic kernels).

    Parameters
    ----------
    G, D : Generator, Discriminator
        The networks, trained in place; initialise them first (``G.apply(weights_init)``).
    data : Tensor, shape (N, nc, image_size, image_size)
        Real images in [-1, 1].
    steps : int, optional
        Total number of updates (overrides ``config.steps``); when resuming, the run
        continues up to this step.
    config : DCGANConfig, optional
        The settings; keyword arguments (``batch_size=``, ``seed=``, ``checkpoint_dir=``,
        ``sample_every=``, ``device=``, ``num_threads=``...) override its fields.
    resume_from : str or Path, optional
        A checkpoint file (or a directory: its latest checkpoint) to continue from.
    fixed_z : Tensor, shape (K, nz), optional
        Latent vectors for the sample grids; default 64 vectors drawn from ``seed + 1``.
    progress : bool
        Show a ``tqdm.auto`` progress bar with the latest losses.

    Returns
    -------
    DCGANResult

    Raises
    ------
    ValueError
        If a setting breaks its rule (see :class:`DCGANConfig`), ``data`` does not match
        the generator's output shape, or ``resume_from`` is not a checkpoint.

    See book/dcgan.ipynb.
    """
    cfg = dataclasses.replace(config or DCGANConfig(), **settings,
                              **({} if steps is None else {"steps": steps}))  # fmt: skip
    _check_data(G, data)
    run = _Run(G, D, data, cfg, fixed_z)
    if resume_from is not None:
        run.resume(resume_from)
    if cfg.checkpoint_dir is not None:
        Path(cfg.checkpoint_dir).mkdir(parents=True, exist_ok=True)
    G.train()
    D.train()
    if cfg.sample_every is not None and run.start == 0:
        run.take_samples(0)

    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.steps, initial=run.start, disable=not progress, desc="DCGAN", unit="step")
    with _common.num_threads(cfg.num_threads):
        for step in range(run.start + 1, cfg.steps + 1):
            logs = run.step(step)
            bar.set_postfix(d_loss=f"{logs['d_loss']:.3f}", g_loss=f"{logs['g_loss']:.3f}",
                            Dx=f"{logs['d_real']:.2f}", DGz=f"{logs['d_fake']:.2f}",
                            refresh=False)  # fmt: skip
            bar.update(1)
    bar.close()
    G.to(memory_format=torch.contiguous_format)
    D.to(memory_format=torch.contiguous_format)
    run.history.samples = torch.stack(run.samples) if run.samples else torch.empty(0)
    return run.history


# ----------------------------------------------------------------------------- probes
def digit_classes(
    images: Tensor, *, reference: tuple[Tensor, Tensor] | None = None
) -> tuple[Tensor, Tensor]:
    """Which digit each generated image shows, by a classifier of the real digits.

    A 5-nearest-neighbour classifier holds the 1,797 real 8×8 digits of
    :func:`mlnotes_lib.data.load_digits`; the images are shrunk to 8×8 (area averaging)
    and mapped from [-1, 1] to [0, 1] before it classifies them. With ``reference``, a
    pair (real images (N, 1, H, W) in [-1, 1], labels (N,)) such as
    :func:`mlnotes_lib.data.load_mnist`'s, it holds those instead, at full resolution.
    A rough check that a generator makes every digit, not a proper quality score.

    Parameters
    ----------
    images : Tensor, shape (B, 1, H, W)
        Generated digits in [-1, 1], ``H`` and ``W`` multiples of 8 (or those of
        ``reference``).

    Returns
    -------
    labels : Tensor, shape (B,), int64
    agreement : Tensor, shape (B,)
        The fraction of the 5 nearest real digits that carry that label.

    See book/dcgan.ipynb.
    """
    from sklearn.neighbors import KNeighborsClassifier

    from mlnotes_lib.data import load_digits

    if reference is not None:
        X, y = reference
        if images.dim() != 4 or tuple(images.shape[1:]) != tuple(X.shape[1:]):
            raise ValueError(f"images must have shape (B, {tuple(X.shape[1:])}) like reference")
        clf = KNeighborsClassifier(n_neighbors=5).fit(X.flatten(1).numpy(), y.numpy())
        proba = clf.predict_proba(images.detach().float().cpu().flatten(1).numpy())
        return torch.from_numpy(proba.argmax(1)), torch.from_numpy(proba.max(1))
    if images.dim() != 4 or images.shape[1] != 1 or images.shape[-1] % 8:
        raise ValueError(f"images must have shape (B, 1, 8k, 8k), got {tuple(images.shape)}")
    X, y = load_digits(flatten=True)  # (1797, 64) in [0, 1]
    clf = KNeighborsClassifier(n_neighbors=5).fit(X.numpy(), y.numpy())
    small = torch.nn.functional.adaptive_avg_pool2d(images.detach().float().cpu(), 8)
    feats = ((small.flatten(1) + 1) / 2).clamp(0, 1).numpy()  # (B, 64) in [0, 1]
    proba = clf.predict_proba(feats)
    return torch.from_numpy(proba.argmax(1)), torch.from_numpy(proba.max(1))


def linear_probe(
    features: Tensor,
    labels: Tensor,
    *,
    per_class: int,
    seeds: range | list[int] = range(5),
    ridge: float = 1.0,
) -> Tensor:
    """Accuracy of a linear classifier fitted on ``per_class`` labelled examples per class.

    For each seed, ``per_class`` examples of every class are drawn as the labelled set;
    the features are standardised with that set's statistics, and a ridge-regression
    classifier (least squares onto one-hot targets with an L2 penalty ``ridge`` per
    example, solved in closed form in float64, so it is exact and fast) is fitted on it.
    Its accuracy (argmax of the outputs) is measured on all the other examples.

    Parameters
    ----------
    features : Tensor, shape (N, F)
        E.g. :func:`mlnotes_lib.dcgan.discriminator_features`, or raw pixels.
    labels : Tensor, shape (N,), int
    per_class : int
        Labelled examples per class, >= 1.

    Returns
    -------
    Tensor, shape (len(seeds),)
        Test accuracies.

    See book/dcgan.ipynb.
    """
    per_class = _common.check_int("per_class", per_class, minimum=1)
    ridge = _common.check_positive("ridge", ridge)
    X = features.detach().double().cpu()
    y = labels.cpu()
    if X.dim() != 2 or len(X) != len(y):
        raise ValueError(f"features must have shape (N, F) with N = len(labels) = {len(y)}")
    classes = torch.unique(y)
    accs = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        train = np.concatenate(
            [rng.choice(np.flatnonzero(y.numpy() == c), per_class, replace=False) for c in classes]
        )
        test = torch.from_numpy(np.setdiff1d(np.arange(len(y)), train))
        train = torch.from_numpy(train)
        mu, sd = X[train].mean(0), X[train].std(0) + 1e-6
        A, B = (X[train] - mu) / sd, (X[test] - mu) / sd  # (n, F), (N - n, F)
        Y = (y[train, None] == classes).double()  # (n, C) one-hot
        # dual form: W = A^T (A A^T + ridge n I)^-1 Y, an n x n solve (n << F)
        K = A @ A.T + ridge * len(train) * torch.eye(len(train), dtype=torch.float64)
        W = A.T @ torch.linalg.solve(K, Y)  # (F, C)
        accs.append((classes[(B @ W).argmax(1)] == y[test]).double().mean().item())
    return torch.tensor(accs, dtype=torch.float64)


def history_summary(history, *, smooth: int = 25, threshold: float = 0.1) -> dict[str, Any]:
    """The phases of a DCGAN run, read off its history of ``D(G(z))`` and ``D(x)``.

    The curves are smoothed with a moving average over ``smooth`` steps. Returned:
    ``low_step`` and ``low_d_fake``, where smoothed ``D(G(z))`` is lowest (the
    discriminator's strongest moment); ``high_d_real``, smoothed ``D(x)`` at that step;
    ``breakout_step``, the first step after it at which smoothed ``D(G(z))`` is back
    above ``threshold`` (None if never); ``late_d_real``, ``late_d_fake``, their means over
    the last ``smooth`` steps.

    See book/dcgan.ipynb.
    """
    kernel = np.ones(smooth) / smooth
    fake = np.convolve(np.asarray(history["d_fake"], float), kernel, mode="valid")
    real = np.convolve(np.asarray(history["d_real"], float), kernel, mode="valid")
    steps = np.asarray(history["step"])[smooth - 1 :]  # the step each window ends at
    low = int(np.argmin(fake))
    above = np.flatnonzero(fake[low:] > threshold)
    return {
        "low_step": int(steps[low]),
        "low_d_fake": float(fake[low]),
        "high_d_real": float(real[low]),
        "breakout_step": int(steps[low + above[0]]) if above.size else None,
        "late_d_real": float(real[-1]),
        "late_d_fake": float(fake[-1]),
    }


def memorisation_check(
    G: Generator, train: Tensor, *, n: int = 1000, seed: int = 0, features=None
) -> dict[str, Tensor]:
    """Did ``G`` copy its training set? Nearest training images of samples and of real ones.

    ``n`` samples ``G(z)`` (``z`` from ``seed``) and ``n`` training images, each held out
    in turn (``nearest_neighbours(..., exclude=)``), are matched to their nearest training
    image; a copying generator's samples sit far closer than new real digits. ``features``
    (a function of an image batch) compares in that space instead of pixel space.

    Returns
    -------
    dict
        ``samples`` (n, nc, H, W); ``sample_dist``, ``sample_index`` (n,) for them;
        ``real_index`` (n,), which training images were held out; ``real_dist`` (n,).

    See book/dcgan.ipynb.
    """
    n = _common.check_int("n", n, minimum=1)
    gen = torch.Generator().manual_seed(seed)
    held = torch.randperm(len(train), generator=gen)[:n]
    z = torch.randn(n, G.nz, generator=gen)
    G.eval()
    with torch.no_grad():
        samples = G(z)
        embed = features or (lambda x: x)
        refs = embed(train)
        sample_dist, sample_index = nearest_neighbours(embed(samples), refs)
        real_dist, _ = nearest_neighbours(refs[held], refs, exclude=held)
    return {"samples": samples, "sample_dist": sample_dist, "sample_index": sample_index,
            "real_index": held, "real_dist": real_dist}  # fmt: skip


# --------------------------------------------------------------------------- ablations
@dataclass(frozen=True)
class AblationConfig:
    """One ablation run and the rules that name its outcome, each default with its reason.

    See book/dcgan.ipynb.
    """

    steps: int = 1000  # past D's early win, seed 0's DCGAN draws strokes; 15 runs ~15 CPU min
    batch_size: int = 32  # a quarter of the paper's: more steps for the same CPU time
    ngf: int = 16  # the chapter's small networks
    ndf: int = 16
    window: int = 200  # the last 200 steps decide: D(G(z)) swings 10x within 50 steps
    stall_d_fake: float = 0.02  # D rejects all: G stuck (trials ~0.004, a DCGAN ~0.05-0.1)
    collapse_diversity: float = 0.5  # spread < half the real digits' (trials 0.2-0.4 vs 0.8)
    n_samples: int = 64  # fixed z's for the diversity score and the sample grid


def run_ablation(
    variant: str, seed: int, data: Tensor, cfg: AblationConfig = AblationConfig(), *,
    progress=None,
) -> dict[str, Any]:  # fmt: skip
    """Train one ablation (``seed`` seeds the weights, batches and z) and name its outcome.

    One thread, on the CPU, so the run is reproducible on one machine. ``progress``:
    an optional callback ``(done, total)``, called when the run is done.

    Returns
    -------
    dict
        ``variant``, ``seed``, ``outcome``, ``late_d_real``, ``late_d_fake``, ``diversity``;
        ``d_real``, ``d_fake`` (means of 10 steps); ``samples`` (16, nc, H, W).

    See book/dcgan.ipynb.
    """
    torch.manual_seed(seed)
    G, D = ablation_networks(variant, ngf=cfg.ngf, ndf=cfg.ndf, nc=data.shape[1],
                             image_size=data.shape[-1])  # fmt: skip
    history = train_dcgan(G, D, data, steps=cfg.steps, batch_size=cfg.batch_size, seed=seed,
                          device="cpu", num_threads=1, progress=False)  # fmt: skip
    if progress is not None:
        progress(cfg.steps, cfg.steps)
    z = torch.randn(cfg.n_samples, G.nz, generator=torch.Generator().manual_seed(seed + 1))
    G.eval()
    with torch.no_grad(), _common.num_threads(1):
        samples = G(z)
    real = data[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))]
    diversity = mean_pairwise_distance(samples) / mean_pairwise_distance(real[: cfg.n_samples])
    late = {k: float(np.mean(history[k][-cfg.window :])) for k in ("d_real", "d_fake")}
    blocks = {k: np.asarray(history[k]).reshape(-1, 10).mean(1).round(4).tolist()
              for k in ("d_real", "d_fake")}  # fmt: skip
    return {"variant": variant, "seed": seed,
            "outcome": ablation_outcome(late["d_fake"], diversity, stall_d_fake=cfg.stall_d_fake,
                                        collapse_diversity=cfg.collapse_diversity),
            "late_d_real": late["d_real"], "late_d_fake": late["d_fake"],
            "diversity": diversity, **blocks, "samples": samples[:16]}  # fmt: skip


def _encode_images(x: Tensor) -> str:
    """Images in [-1, 1] as base64 of their 8-bit grey levels (for a small JSON file)."""
    levels = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return base64.b64encode(levels.numpy().tobytes()).decode("ascii")


def _decode_images(text: str, shape: list[int]) -> Tensor:
    levels = np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(shape)
    return torch.from_numpy(levels.astype(np.float32) / 127.5 - 1)


def ablation_sweep(
    data: Tensor, seeds=range(5), cfg: AblationConfig = AblationConfig(), *, progress=None
) -> dict[str, Any]:
    """:func:`run_ablation` for every variant of :data:`ABLATIONS` and seed: a JSON record.

    Returns ``config``, ``runs`` (without samples), ``counts`` (outcomes per variant) and
    ``samples`` (the first seed's 16 final samples per variant, 8-bit grey in base64).

    See book/dcgan.ipynb.
    """
    runs, samples = [], {}
    for variant in ABLATIONS:
        for seed in seeds:
            result = run_ablation(variant, seed, data, cfg)
            if variant not in samples:
                samples[variant] = _encode_images(result["samples"])
            runs.append({k: v for k, v in result.items() if k != "samples"})
            if progress is not None:
                progress(len(runs), len(ABLATIONS) * len(seeds))
    counts = {v: {o: sum(r["variant"] == v and r["outcome"] == o for r in runs)
                  for o in ("train", "stall", "collapse")} for v in ABLATIONS}  # fmt: skip
    return {"config": dataclasses.asdict(cfg), "runs": runs, "counts": counts,
            "samples": samples, "samples_shape": list(result["samples"].shape)}  # fmt: skip


def ablation_results(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per variant, what :func:`mlnotes_lib.plots.dcgan.ablation_figure` draws, from a record.

    See book/dcgan.ipynb.
    """
    out = {}
    for variant, text in record["samples"].items():
        runs = [r for r in record["runs"] if r["variant"] == variant]
        out[variant] = {"variant": variant, "runs": runs,
                        "samples": _decode_images(text, record["samples_shape"])}  # fmt: skip
    return out
