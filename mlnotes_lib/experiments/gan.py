"""The GAN chapter's runs: one step of Algorithm 1, its training loop, the toy problem, sweeps.

- :func:`gan_step`: one iteration of Algorithm 1 of Goodfellow et al. (2014), ``k``
  discriminator steps then one generator step, the discriminator frozen (by
  :func:`frozen`) while the generator learns. The toy GAN here and the DCGAN
  (:mod:`mlnotes_lib.experiments.dcgan`) both train with it.
- :class:`GANConfig`, :func:`train_gan` -> :class:`GANResult`: the loop around it.
- :func:`train_toy_gan`, :func:`train_toy_gans`: the chapter's toy problem (two Gaussians in
  one dimension), one seed, or many seeds trained at once as an ensemble, with the modes
  each run covers (:func:`mode_coverage`, :func:`modes_covered`).

The math (costs, theory, networks) is in :mod:`mlnotes_lib.gan`; nothing here draws.

See book/gan.ipynb.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from mlnotes_lib import _common, losses
from mlnotes_lib.gan import (
    GENERATOR_LOSSES,
    discriminator_loss,
    ensemble,
    gaussian_mixture,
    generator_loss,
    js_divergence,
    mixture_sampler,
    toy_discriminator,
    toy_generator,
)

__all__ = [
    "TOY_MEANS",
    "TOY_NZ",
    "TOY_STD",
    "GANConfig",
    "GANResult",
    "ToySweep",
    "best_gaussians",
    "fit_discriminator",
    "frozen",
    "gan_step",
    "mode_coverage",
    "modes_covered",
    "saturation_probe",
    "toy_grid",
    "train_gan",
    "train_toy_gan",
    "train_toy_gans",
]

#: The chapter's toy data: an equal mixture of two 1-D Gaussians at -2 and +2 ...
TOY_MEANS = (-2.0, 2.0)
#: ... each with standard deviation 0.4.
TOY_STD = 0.4
#: The toy generator's noise dimension (z ~ N(0, I)).
TOY_NZ = 4


def toy_grid(n: int = 201) -> Tensor:
    """The 1-D grid, shape (n,), on which the chapter draws densities and ``D(x)``: [-5, 5].

    See book/gan.ipynb.
    """
    return torch.linspace(-5.0, 5.0, n)


# ------------------------------------------------------------------------ one GAN step
@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Turn off gradients for ``module``'s parameters; restore each one's flag afterwards.

    Inputs still get their gradients, which is all the generator needs from ``D``.

    See book/gan.ipynb.
    """
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


def _probs(D: nn.Module, x: Tensor, members: int | None) -> Tensor:
    p = D(x)
    return p.reshape(members, -1) if members else p.reshape(-1)  # (S, m) or (m,)


def gan_step(
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: Tensor | Sequence[Tensor],
    z: Tensor | Sequence[Tensor],
    *,
    loss: str = "non_saturating",
    z_g: Tensor | None = None,
    members: int | None = None,
) -> dict[str, Tensor]:
    """One iteration of Algorithm 1: ``k`` discriminator steps, then one generator step.

    Discriminator step ``i`` descends :func:`~mlnotes_lib.gan.discriminator_loss` on the
    real batch ``real[i]`` and the generated batch ``G(z[i])``, detached so that the step
    cannot move ``G``. The generator step descends
    :func:`~mlnotes_lib.gan.generator_loss` of ``kind=loss`` through the *updated*
    discriminator, whose parameters are frozen (:func:`frozen`): backpropagation computes
    only the gradient with respect to the samples. Its batch is ``G(z_g)`` on fresh noise
    (the paper), or, with ``z_g=None``, the last discriminator batch ``G(z[-1])`` again,
    which saves one pass of ``G`` (the DCGAN example).

    Parameters
    ----------
    real, z : Tensor or sequence of k Tensors
        The real batches and noise batches of the ``k`` discriminator steps.
    loss : {"minimax", "non_saturating", "maximum_likelihood"}
        The generator's cost.
    z_g : Tensor, optional
        Noise for the generator step.
    members : int, optional
        For an :func:`~mlnotes_lib.gan.ensemble` of ``S`` independent games, ``S``: the
        discriminator's output is read as (S, m) and each member's cost is its own mean,
        summed over members so that every member gets exactly its own gradient.

    Returns
    -------
    dict of str to Tensor
        ``d_loss`` (mean over the k steps) and ``g_loss``, shape (); ``d_real`` and
        ``d_fake``, the mean ``D(x)`` and ``D(G(z))`` of the discriminator steps, shape ()
        or (S,). The generator's gradients stay in its ``.grad``.

    See book/gan.ipynb.
    """
    reals = [real] if isinstance(real, Tensor) else list(real)
    zs = [z] if isinstance(z, Tensor) else list(z)
    scale = members or 1
    logs = {"d_loss": 0.0, "d_real": 0.0, "d_fake": 0.0}
    for i, (x, zi) in enumerate(zip(reals, zs, strict=True)):
        keep = z_g is None and i == len(zs) - 1  # this G(z) is reused by the generator step
        with torch.set_grad_enabled(keep):
            fake = G(zi)
        p_real, p_fake = _probs(D, x, members), _probs(D, fake.detach(), members)
        j_d = discriminator_loss(p_real, p_fake) * scale
        opt_d.zero_grad(set_to_none=True)
        j_d.backward()
        opt_d.step()
        logs["d_loss"] += j_d.detach() / (scale * len(zs))
        logs["d_real"] += p_real.detach().mean(-1) / len(zs)
        logs["d_fake"] += p_fake.detach().mean(-1) / len(zs)
    if z_g is not None:
        fake = G(z_g)
    with frozen(D):
        j_g = generator_loss(_probs(D, fake, members), loss) * scale
        opt_g.zero_grad(set_to_none=True)
        j_g.backward()
    opt_g.step()
    return {**logs, "g_loss": j_g.detach() / scale}


# --------------------------------------------------------------------------- the loop
@dataclass(frozen=True)
class GANConfig:
    """Settings of :func:`train_gan`, each default with its reason.

    See book/gan.ipynb.
    """

    steps: int = 300  # generator updates: the toy GAN settles (or collapses) within 300
    k: int = 1  # discriminator steps per generator step: the paper's choice, the cheapest
    loss: str = "non_saturating"  # the cost the paper recommends in practice
    batch_size: int = 64  # the minibatch size m; earlier versions' default, kept
    lr: float = 1e-3  # Adam's rate for G: stable for small MLPs
    lr_d: float | None = None  # D's rate; None = lr (one rate for both, as in the paper)
    betas: tuple[float, float] = (0.5, 0.999)  # beta1 = 0.5 damps oscillation (DCGAN paper)
    optimizer: str = "adam"  # "adam", or "sgd" with momentum; the paper allows any rule
    momentum: float = 0.9  # SGD's momentum: the usual value (the paper reports none)
    snapshot_at: tuple[int, ...] = ()  # iterations whose samples to keep; none by default
    seed: int | None = None  # seeds the run's sampling (forked RNG); None: caller's RNG
    num_threads: int | None = 1  # small tensors: 1 thread is fastest and core-independent

    def __post_init__(self):
        _common.check_int("steps", self.steps, minimum=0)
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be an integer >= 1 (discriminator steps), got {self.k!r}")
        _common.check_int("batch_size", self.batch_size, minimum=1)
        if self.loss not in GENERATOR_LOSSES:
            raise ValueError(f"loss must be one of {GENERATOR_LOSSES}, got {self.loss!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        _common.check_positive("lr", self.lr)
        if self.lr_d is not None:
            _common.check_positive("lr_d", self.lr_d)
        snaps = tuple(sorted({int(s) for s in self.snapshot_at}))
        if snaps and not (0 <= snaps[0] and snaps[-1] <= self.steps):
            raise ValueError(f"snapshot_at must hold iterations in [0, steps={self.steps}]")
        object.__setattr__(self, "snapshot_at", snaps)


class ItemAccess:
    """``result["name"]`` for a result dataclass, as the dicts of earlier versions allowed."""

    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]

    def __getitem__(self, key: str):
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __iter__(self):
        return iter(self.keys())


@dataclass
class GANResult(ItemAccess):
    """What :func:`train_gan` returns; ``result["d_loss"]`` also works, as the old dict did.

    ``d_loss``, ``g_loss``: one float per iteration; ``d_real``, ``d_fake``: mean ``D(x)``
    and ``D(G(z))`` on the discriminator's minibatches, one float per iteration (for an
    ensemble a Tensor (steps, S)); ``g_grad_norm``: the generator's gradient norm;
    ``snapshots``, ``d_snapshots``: iteration -> ``G(snapshot_z)``, ``D(snapshot_x)``.
    ``x``, ``p_data``, ``G``, ``D``, ``settings`` are filled in by the toy trainers.

    See book/gan.ipynb.
    """

    d_loss: list = field(default_factory=list)
    g_loss: list = field(default_factory=list)
    d_real: Any = field(default_factory=list)
    d_fake: Any = field(default_factory=list)
    g_grad_norm: list = field(default_factory=list)
    snapshots: dict = field(default_factory=dict)
    d_snapshots: dict = field(default_factory=dict)
    x: Tensor | None = None
    p_data: Tensor | None = None
    G: nn.Module | None = None
    D: nn.Module | None = None
    settings: dict | None = None

    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]

    def member(self, s: int) -> GANResult:
        """Member ``s`` of an ensemble run, as the result of a single run."""
        return dataclasses.replace(
            self,
            d_real=self.d_real[:, s].tolist(),
            d_fake=self.d_fake[:, s].tolist(),
            snapshots={t: v[s] for t, v in self.snapshots.items()},
            d_snapshots={t: v[s] for t, v in self.d_snapshots.items()},
        )


def _grad_norm(module: nn.Module) -> float:
    sq = sum(float(p.grad.pow(2).sum()) for p in module.parameters() if p.grad is not None)
    return math.sqrt(sq)


def _make_optimizer(cfg: GANConfig, params, lr: float) -> torch.optim.Optimizer:
    params = list(params)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum)
    # the fused kernel is 2-3 times faster for small networks on the CPU
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.Adam(params, lr=lr, betas=cfg.betas, fused=fused or None)


def train_gan(
    G: nn.Module,
    D: nn.Module,
    sample_data: Callable[[int], Tensor],
    sample_z: Callable[[int], Tensor],
    steps: int | None = None,
    k: int | None = None,
    *,
    config: GANConfig | None = None,
    snapshot_z: Tensor | None = None,
    snapshot_x: Tensor | None = None,
    members: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    **settings: Any,
) -> GANResult:
    """Train a GAN with Algorithm 1 of Goodfellow et al. (2014): :func:`gan_step` repeated.

    Every iteration makes ``k`` discriminator updates, each on fresh minibatches of
    ``batch_size`` real and generated samples, then one generator update on fresh noise.
    ``loss="minimax"`` is the algorithm as printed; ``"non_saturating"`` the variant the
    paper recommends in practice.

    Parameters
    ----------
    G, D : nn.Module
        The generator, (m, ...) noise -> (m, ...) samples, and the discriminator, samples
        -> probabilities in [0, 1], one per sample.
    sample_data, sample_z : callable
        ``sample_data(m)``, ``sample_z(m)`` return ``m`` real samples and ``m`` noise
        vectors (for an ensemble of ``S`` members, shape (S, m, ...)).
    steps, k : int, optional
        Iterations and discriminator steps per iteration; they override ``config``.
    config : GANConfig, optional
        All settings (see :class:`GANConfig`); further keyword arguments (``loss=``,
        ``lr=``, ``batch_size=``...) override its fields, as in earlier versions.
    snapshot_z, snapshot_x : Tensor, optional
        Fixed noise (default: ``sample_z(512)`` drawn once) and points at which to record
        ``G`` and ``D`` at ``config.snapshot_at``, in eval mode.
    members : int, optional
        Train an :func:`~mlnotes_lib.gan.ensemble` of this many independent games.
    progress : callable, optional
        ``progress(done, total)``, called about a hundred times.

    Returns
    -------
    GANResult

    Raises
    ------
    ValueError
        If a setting breaks its rule (see :class:`GANConfig`).

    See book/gan.ipynb.
    """
    overrides = {**settings, **({} if steps is None else {"steps": steps})}
    overrides.update({} if k is None else {"k": k})
    cfg = dataclasses.replace(config or GANConfig(), **overrides)
    with _common.num_threads(cfg.num_threads):
        with torch.random.fork_rng(devices=[], enabled=cfg.seed is not None):
            if cfg.seed is not None:
                torch.manual_seed(cfg.seed)
            return _algorithm_1(G, D, sample_data, sample_z, cfg, snapshot_z, snapshot_x,
                                members, progress)  # fmt: skip


def _algorithm_1(G, D, sample_data, sample_z, cfg, snapshot_z, snapshot_x, members, progress):
    device = next(D.parameters()).device
    opt_d = _make_optimizer(cfg, [p for p in D.parameters() if p.requires_grad],
                            cfg.lr if cfg.lr_d is None else cfg.lr_d)  # fmt: skip
    opt_g = _make_optimizer(cfg, G.parameters(), cfg.lr)
    result = GANResult()
    if cfg.snapshot_at and snapshot_z is None:
        snapshot_z = sample_z(512)
    report_every = max(1, cfg.steps // 100)

    def snapshot(step: int) -> None:
        modes = (G.training, D.training)
        G.eval(), D.eval()
        with torch.no_grad():
            result.snapshots[step] = G(snapshot_z.to(device)).detach().cpu()
            if snapshot_x is not None:
                d = D(snapshot_x.to(device)).cpu()
                result.d_snapshots[step] = d.reshape(members, -1) if members else d.reshape(-1)
        G.train(modes[0]), D.train(modes[1])

    if 0 in cfg.snapshot_at:
        snapshot(0)
    m = cfg.batch_size
    for step in range(1, cfg.steps + 1):
        real = [sample_data(m).to(device) for _ in range(cfg.k)]
        z = [sample_z(m).to(device) for _ in range(cfg.k)]
        logs = gan_step(G, D, opt_g, opt_d, real, z, loss=cfg.loss,
                        z_g=sample_z(m).to(device), members=members)  # fmt: skip
        result.d_loss.append(logs["d_loss"].item())
        result.g_loss.append(logs["g_loss"].item())
        result.d_real.append(logs["d_real"].cpu() if members else logs["d_real"].item())
        result.d_fake.append(logs["d_fake"].cpu() if members else logs["d_fake"].item())
        result.g_grad_norm.append(_grad_norm(G))
        if step in cfg.snapshot_at:
            snapshot(step)
        if progress is not None and (step % report_every == 0 or step == cfg.steps):
            progress(step, cfg.steps)
    if members:
        empty = torch.empty(0, members)
        result.d_real = torch.stack(result.d_real) if result.d_real else empty
        result.d_fake = torch.stack(result.d_fake) if result.d_fake else empty
    return result


def fit_discriminator(
    D: nn.Module,
    sample_data: Callable[[int], Tensor],
    sample_model: Callable[[int], Tensor],
    steps: int,
    *,
    batch_size: int = 128,
    lr: float = 1e-2,
    seed: int | None = None,
    num_threads: int | None = 1,
) -> list[float]:
    """Train only the discriminator against a fixed model distribution, with Adam.

    The inner loop of Algorithm 1 run to (near) convergence: it descends
    :func:`~mlnotes_lib.gan.discriminator_loss` on fresh minibatches of real samples
    (label 1) and of ``sample_model`` samples (label 0), so ``D`` approaches
    :func:`~mlnotes_lib.gan.optimal_discriminator`.

    Returns
    -------
    list of float
        The discriminator's cost at each update.

    Raises
    ------
    ValueError
        If ``steps`` < 0, ``batch_size`` < 1 or ``lr`` is not positive.

    See book/gan.ipynb.
    """
    cfg = GANConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    history = []
    with (
        _common.num_threads(num_threads),
        torch.random.fork_rng(devices=[], enabled=seed is not None),
    ):
        if seed is not None:
            torch.manual_seed(seed)
        device = next(D.parameters()).device
        opt = _make_optimizer(cfg, D.parameters(), lr)
        for _ in range(steps):
            x = sample_data(batch_size).to(device)
            with torch.no_grad():
                fake = sample_model(batch_size).to(device)
            j_d = discriminator_loss(D(x).reshape(-1), D(fake).reshape(-1))
            opt.zero_grad(set_to_none=True)
            j_d.backward()
            opt.step()
            history.append(j_d.item())
    return history


# ------------------------------------------------------------------- the toy problem
def mode_coverage(samples: Tensor, means: Sequence[float] = TOY_MEANS, radius: float = 1.0):
    """Fraction of 1-D samples within ``radius`` of each mode.

    ``samples`` of shape (m,) or (m, 1) give shape (K,); an ensemble's (S, m, 1) gives
    (S, K). A generator that covers every mode of an equal mixture scores about 1/K each
    (a bit less: some samples fall between the modes); one that collapsed scores near 1
    on one mode and 0 on the others; one that diverged scores 0 everywhere.

    See book/gan.ipynb.
    """
    s = torch.as_tensor(samples)
    if s.dim() >= 2 and s.shape[-1] == 1:
        s = s[..., 0]  # (..., m)
    centres = torch.as_tensor(means, dtype=s.dtype)  # (K,)
    return ((s[..., None] - centres).abs() < radius).to(s.dtype).mean(dim=-2)


def modes_covered(coverage: Tensor, threshold: float = 0.1) -> Tensor:
    """How many modes hold at least ``threshold`` of the samples: (..., K) -> (...) ints.

    With two equal modes a fair share is about 0.5, so 0.1 counts a mode as covered when
    it gets at least a fifth of its share.

    See book/gan.ipynb.
    """
    threshold = _common.check_unit_interval("threshold", threshold)
    return (torch.as_tensor(coverage) >= threshold).sum(dim=-1)


def _toy_settings(loss, k, lr, steps, optimizer, snapshot_at) -> GANConfig:
    # the chapter's toy run: minibatches of 128, Adam at 2e-3 (stable for these MLPs)
    return GANConfig(steps=steps, k=k, loss=loss, batch_size=128, lr=lr, optimizer=optimizer,
                     snapshot_at=(steps, *(snapshot_at or ())))  # fmt: skip


def train_toy_gan(
    *,
    loss: str = "non_saturating",
    k: int = 1,
    lr: float = 2e-3,
    steps: int = 300,
    optimizer: str = "adam",
    seed: int = 0,
    snapshot_at: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GANResult:
    """Train the chapter's toy GAN once: :func:`~mlnotes_lib.gan.toy_generator` against
    :func:`~mlnotes_lib.gan.toy_discriminator` on the two-Gaussian mixture.

    The networks are initialised from ``seed`` and the run's sampling from ``seed + 1``,
    so a call is reproducible and leaves the caller's random state alone. Batch size 128;
    ``snapshot_at`` defaults to the last iteration.

    Returns
    -------
    GANResult
        With ``x`` (:func:`toy_grid`), ``p_data`` on it, the trained ``G`` and ``D`` and
        ``settings`` (this call's arguments).

    See book/gan.ipynb.
    """
    settings = dict(loss=loss, k=k, lr=lr, steps=steps, optimizer=optimizer, seed=seed)
    cfg = dataclasses.replace(_toy_settings(loss, k, lr, steps, optimizer, snapshot_at),
                              seed=seed + 1)  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, D = toy_generator(TOY_NZ), toy_discriminator(1)
    x = toy_grid()
    result = train_gan(G, D, mixture_sampler(TOY_MEANS, TOY_STD), lambda m: torch.randn(m, TOY_NZ),
                       config=cfg, snapshot_x=x[:, None], progress=progress)  # fmt: skip
    return dataclasses.replace(result, x=x, p_data=gaussian_mixture(x, TOY_MEANS, TOY_STD), G=G,
                               D=D, settings=settings)  # fmt: skip


@dataclass
class ToySweep:
    """What :func:`train_toy_gans` returns: one ensemble run per (loss, k) setting.

    ``runs[loss, k]`` is the :class:`GANResult` of the ensemble (``.member(i)`` is seed
    ``seeds[i]``); ``coverage[loss, k]`` (S, 2) the fraction of final samples near each
    mode; ``modes[loss, k]`` (S,) how many modes each seed covers.

    See book/gan.ipynb.
    """

    seeds: list[int]
    runs: dict
    coverage: dict
    modes: dict

    def count(self, loss: str, k: int, n_modes: int) -> int:
        """How many seeds of a setting cover exactly ``n_modes`` modes."""
        return int((self.modes[loss, k] == n_modes).sum())


def train_toy_gans(
    seeds: Sequence[int],
    *,
    losses: Sequence[str] = ("minimax", "non_saturating"),
    ks: Sequence[int] = (1, 5),
    lr: float = 2e-3,
    steps: int = 300,
    optimizer: str = "adam",
    snapshot_at: Sequence[int] | None = None,
) -> ToySweep:
    """The toy GAN for every seed and every (loss, k): many seeds trained as one ensemble.

    For each setting the networks of all ``seeds`` (initialised as :func:`train_toy_gan`
    initialises them) form one :func:`~mlnotes_lib.gan.ensemble`, trained by
    :func:`train_gan` with ``members=len(seeds)``: each member is an independent game with
    its own samples, in about the time of one run. The sampling is seeded by the first
    seed and the setting, so the sweep is reproducible.

    See book/gan.ipynb.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    S, x = len(seeds), toy_grid()
    sampler = mixture_sampler(TOY_MEANS, TOY_STD)
    runs, coverage, modes = {}, {}, {}
    for i, (loss, k) in enumerate((loss, k) for loss in losses for k in ks):
        nets = []
        with torch.random.fork_rng(devices=[]):
            for s in seeds:
                torch.manual_seed(s)
                nets.append((toy_generator(TOY_NZ), toy_discriminator(1)))
        G, D = ensemble([g for g, _ in nets]), ensemble([d for _, d in nets])
        cfg = dataclasses.replace(_toy_settings(loss, k, lr, steps, optimizer, snapshot_at),
                                  seed=1000 * (i + 1) + seeds[0])  # fmt: skip
        run = train_gan(G, D, lambda m: sampler(S * m).view(S, m, 1),
                        lambda m: torch.randn(S, m, TOY_NZ), config=cfg,
                        snapshot_x=x[None, :, None].expand(S, -1, 1), members=S)  # fmt: skip
        runs[loss, k] = dataclasses.replace(
            run, x=x, p_data=gaussian_mixture(x, TOY_MEANS, TOY_STD),
            settings=dict(loss=loss, k=k, lr=lr, steps=steps, optimizer=optimizer, seeds=seeds),
        )  # fmt: skip
        coverage[loss, k] = mode_coverage(run.snapshots[steps])
        modes[loss, k] = modes_covered(coverage[loss, k])
    return ToySweep(seeds, runs, coverage, modes)


# ------------------------------------------------------------- curves for the figures
def _gaussians_on_grid(x: Tensor, means: Tensor, stds: Tensor) -> Tensor:
    """Gaussian densities on the grid ``x``, renormalised there: (...,) params -> (..., n)."""
    q = torch.exp(-0.5 * ((x - means[..., None]) / stds[..., None]) ** 2)
    return q / (q.sum(-1, keepdim=True) * (x[1] - x[0]))


def best_gaussians(x: Tensor, p_data: Tensor, means: Tensor, stds: Tensor) -> dict:
    """The single Gaussian that minimises each divergence to ``p_data``, over a grid.

    Returns ``{name: (mean, std)}`` for the forward KL (maximum likelihood), the reverse
    KL and the JSD, each searched over every pair of ``means`` x ``stds``, the divergences
    computed on the cells of the uniform grid ``x``.

    See book/gan.ipynb.
    """
    dx = float(x[1] - x[0])
    M, S = torch.meshgrid(means, stds, indexing="ij")
    q = _gaussians_on_grid(x, M, S)  # (len(means), len(stds), n)
    P = (p_data / (p_data.sum() * dx)).expand_as(q) * dx  # probabilities of the cells
    divergences = {
        "KL(p_data || p_model)": losses.kl_divergence(P, q * dx),
        "KL(p_model || p_data)": losses.kl_divergence(q * dx, P),
        "JSD(p_data || p_model)": js_divergence(p_data.expand_as(q), q, dx),
    }
    best = {}
    for name, d in divergences.items():
        i = torch.argmin(d)  # over the flattened (mean, std) grid
        best[name] = (M.flatten()[i].item(), S.flatten()[i].item())
    return best


def saturation_probe(seed: int = 0, *, d_steps: int = 150, n: int = 2000) -> dict[str, float]:
    """The generator's gradient norm under each cost against a discriminator with a head start.

    A fresh :func:`~mlnotes_lib.gan.toy_generator` (initialised from ``seed``) and a
    discriminator trained by :func:`fit_discriminator` for ``d_steps`` steps to reject its
    samples; then the norm of the generator's gradient of each cost on ``n`` samples.
    Returns ``{kind: norm, ..., "d_fake": mean D(G(z))}``.

    See book/gan.ipynb.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, D = toy_generator(TOY_NZ), toy_discriminator(1)
        sample_model = lambda m: G(torch.randn(m, TOY_NZ))  # noqa: E731
        fit_discriminator(D, mixture_sampler(TOY_MEANS, TOY_STD), sample_model, d_steps,
                          lr=1e-2, seed=seed + 2)  # fmt: skip
        z = torch.randn(n, TOY_NZ)
    out = {}
    for kind in GENERATOR_LOSSES:
        G.zero_grad()
        generator_loss(D(G(z)), kind).backward()
        out[kind] = _grad_norm(G)
    with torch.no_grad():
        out["d_fake"] = D(G(z)).mean().item()
    return out
