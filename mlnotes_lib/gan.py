"""Generative adversarial networks: the losses, the optimal discriminator, Algorithm 1.

Scope: the original GAN game of Goodfellow et al. (2014) and the generator costs of
Goodfellow's NIPS 2016 tutorial, on toy problems that train in seconds on a CPU.

- :func:`discriminator_loss`, :func:`generator_loss`: the players' costs, computed from the
  discriminator's *probabilities* ``D(x)`` in [0, 1] (a sigmoid ends the discriminator).
  The DCGAN chapter uses the same two functions.
- :func:`optimal_discriminator`, :func:`js_divergence`, :func:`value_function`: the theory
  (``D* = p_data / (p_data + p_model)`` and ``V(G, D*) = -log 4 + 2 JSD``) on densities
  tabulated on a uniform 1-D grid.
- :func:`gaussian_mixture`, :func:`mixture_sampler`, :func:`toy_generator`,
  :func:`toy_discriminator`: a 1-D (or d-D) toy problem and two small MLPs.
- :func:`train_gan`: Algorithm 1 of Goodfellow et al. (2014), k discriminator steps per
  generator step, returning the loss history and optional snapshots for a replay.
- :func:`plot_snapshot`: one frame of a 1-D training run (data density, generated
  samples, discriminator).

See book/gan.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from torch import Tensor, nn

from mlnotes_lib import losses

__all__ = [
    "GENERATOR_LOSSES",
    "TOY_MEANS",
    "TOY_NZ",
    "TOY_STD",
    "discriminator_loss",
    "fit_discriminator",
    "gaussian_mixture",
    "generator_loss",
    "js_divergence",
    "mixture_sampler",
    "mode_coverage",
    "optimal_discriminator",
    "plot_snapshot",
    "plot_training_curves",
    "toy_discriminator",
    "toy_generator",
    "toy_grid",
    "train_gan",
    "train_toy_gan",
    "value_function",
]

#: The generator costs that :func:`generator_loss` knows.
GENERATOR_LOSSES = ("minimax", "non_saturating")


# ----------------------------------------------------------------------------- checks
def _check_probabilities(p: Tensor, name: str) -> None:
    if not isinstance(p, Tensor):
        raise ValueError(f"{name} must be a torch Tensor of probabilities")
    if p.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if not bool(((p >= 0) & (p <= 1)).all()):  # written so that NaN fails too
        raise ValueError(
            f"{name} must hold probabilities in [0, 1] (did the discriminator end with a sigmoid?)"
        )


def _check_density(p: Tensor, name: str) -> Tensor:
    p = torch.as_tensor(p)
    if not p.is_floating_point():
        p = p.to(torch.get_default_dtype())
    if p.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if not bool((p >= 0).all()) or not bool(torch.isfinite(p).all()):
        raise ValueError(f"{name} must hold finite, non-negative density values")
    return p


def _check_dx(dx: float) -> float:
    if not (isinstance(dx, int | float) and math.isfinite(dx) and dx > 0):
        raise ValueError(f"dx must be a positive grid spacing, got {dx!r}")
    return float(dx)


# ------------------------------------------------------------------------------ costs
def discriminator_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    r"""The discriminator's cost :math:`J^{(D)}`, from its probabilities.

    .. math::

        J^{(D)} = -\tfrac12 \mathbb{E}_{x \sim p_\text{data}} \log D(x)
                  -\tfrac12 \mathbb{E}_{z} \log\bigl(1 - D(G(z))\bigr),

    that is half the binary cross-entropy of the real batch against label 1 plus half
    that of the generated batch against label 0, computed with
    :func:`mlnotes_lib.losses.binary_cross_entropy`. As in ``F.binary_cross_entropy``
    each log is clamped at -100, so probabilities of exactly 0 or 1 give a finite loss
    and a finite gradient.

    Parameters
    ----------
    d_real : Tensor, any non-empty shape
        ``D(x)`` on a batch of real samples, values in [0, 1].
    d_fake : Tensor, any non-empty shape
        ``D(G(z))`` on a batch of generated samples, values in [0, 1].

    Returns
    -------
    Tensor, shape ()
        The cost; ``log 2`` (about 0.693) when ``D`` answers 1/2 everywhere.

    Raises
    ------
    ValueError
        If ``d_real`` or ``d_fake`` is empty or holds values outside [0, 1] (or NaN).

    See book/gan.ipynb.
    """
    _check_probabilities(d_real, "d_real")
    _check_probabilities(d_fake, "d_fake")
    real = losses.binary_cross_entropy(d_real, torch.ones_like(d_real))
    fake = losses.binary_cross_entropy(d_fake, torch.zeros_like(d_fake))
    return 0.5 * real + 0.5 * fake


def generator_loss(d_fake: Tensor, kind: str = "non_saturating") -> Tensor:
    r"""The generator's cost, to be minimised, from ``D(G(z))``.

    ``kind="minimax"`` is the zero-sum game's cost
    :math:`\mathbb{E}_z \log(1 - D(G(z)))`, the term of the value function that depends
    on the generator (minimising it maximises the discriminator's cost).
    ``kind="non_saturating"`` is the heuristic :math:`-\mathbb{E}_z \log D(G(z))`, the
    binary cross-entropy of the generated batch against the label "real": its gradient
    stays large when the discriminator confidently rejects the samples. Logs are clamped
    at -100 as in ``F.binary_cross_entropy``.

    Parameters
    ----------
    d_fake : Tensor, any non-empty shape
        ``D(G(z))`` on a batch of generated samples, values in [0, 1].
    kind : {"minimax", "non_saturating"}
        Which generator cost.

    Returns
    -------
    Tensor, shape ()
        The cost: at most 0 for ``"minimax"``, at least 0 for ``"non_saturating"``.

    Raises
    ------
    ValueError
        If ``kind`` is unknown, or ``d_fake`` is empty or holds values outside [0, 1].

    See book/gan.ipynb.
    """
    if kind not in GENERATOR_LOSSES:
        raise ValueError(f"kind must be one of {GENERATOR_LOSSES}, got {kind!r}")
    _check_probabilities(d_fake, "d_fake")
    if kind == "minimax":
        # E log(1 - D) = -BCE(D, 0)
        return -losses.binary_cross_entropy(d_fake, torch.zeros_like(d_fake))
    return losses.binary_cross_entropy(d_fake, torch.ones_like(d_fake))


# ---------------------------------------------------------------------------- theory
def optimal_discriminator(p_data: Tensor, p_model: Tensor) -> Tensor:
    """The best discriminator for a fixed generator: ``p_data / (p_data + p_model)``.

    Where both densities vanish every answer is equally good; we return 1/2 there.

    Parameters
    ----------
    p_data, p_model : Tensor, broadcastable shapes
        The data and model densities (or probabilities) at the same points, >= 0.

    Returns
    -------
    Tensor, the broadcast shape
        ``D*(x)`` in [0, 1].

    Raises
    ------
    ValueError
        If ``p_data`` or ``p_model`` is empty, negative or not finite.

    See book/gan.ipynb.
    """
    p_data = _check_density(p_data, "p_data")
    p_model = _check_density(p_model, "p_model")
    total = p_data + p_model
    both_zero = total == 0
    return torch.where(both_zero, 0.5, p_data / torch.where(both_zero, 1.0, total))


def _masses(p: Tensor, dx: float) -> Tensor:
    """Density values on a uniform grid -> probabilities of the grid cells (sum 1)."""
    mass = p * dx
    total = mass.sum(dim=-1, keepdim=True)
    if not bool((total > 0).all()):
        raise ValueError("a density is zero on the whole grid: widen the grid")
    return mass / total


def js_divergence(p_data: Tensor, p_model: Tensor, dx: float) -> Tensor:
    """Jensen-Shannon divergence of two 1-D densities tabulated on a uniform grid, in nats.

    ``JSD(p || q) = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2``. Each density
    is turned into the probabilities of the grid's cells (value times ``dx``,
    renormalised so that the mass cut off at the grid's ends does not bias the result)
    and the KL divergences come from :func:`mlnotes_lib.losses.kl_divergence`. It lies in
    [0, log 2] and is symmetric.

    Parameters
    ----------
    p_data, p_model : Tensor, shape (..., n)
        Density values at ``n`` equally spaced points (the same points for both).
    dx : float
        The grid spacing.

    Returns
    -------
    Tensor, shape (...)
        The divergence.

    Raises
    ------
    ValueError
        If a density is negative, not finite or zero on the whole grid, the shapes
        differ, or ``dx`` is not positive.

    See book/gan.ipynb.
    """
    p_data = _check_density(p_data, "p_data")
    p_model = _check_density(p_model, "p_model")
    if p_data.shape != p_model.shape:
        raise ValueError(
            f"p_model must have the shape of p_data: {tuple(p_model.shape)} != "
            f"{tuple(p_data.shape)}"
        )
    dx = _check_dx(dx)
    p, q = _masses(p_data, dx), _masses(p_model, dx)
    m = (p + q) / 2
    return 0.5 * losses.kl_divergence(p, m) + 0.5 * losses.kl_divergence(q, m)


def value_function(p_data: Tensor, p_model: Tensor, d: Tensor, dx: float) -> Tensor:
    r"""The game's value :math:`V(G, D)` for 1-D densities and a discriminator on a grid.

    .. math::

        V(G, D) = \int p_\text{data}(x) \log D(x) \, dx
                + \int p_\text{model}(x) \log\bigl(1 - D(x)\bigr) \, dx
                = -2 J^{(D)},

    as a sum over the grid's cells (each density renormalised as in
    :func:`js_divergence`), with each log clamped at -100 as in
    :func:`discriminator_loss` (so ``0 log 0 = 0``, and a ``D`` that rounds to 0 or 1
    where the other density is negligible stays finite). The second integral is the
    expectation over ``z`` of ``log(1 - D(G(z)))`` written over ``x = G(z)``.

    Parameters
    ----------
    p_data, p_model : Tensor, shape (..., n)
        Density values at ``n`` equally spaced points.
    d : Tensor, broadcastable to (..., n)
        The discriminator's probabilities at the same points, in [0, 1].
    dx : float
        The grid spacing.

    Returns
    -------
    Tensor, shape (...)
        ``V(G, D)``; at most 0, and ``-log 4 + 2 JSD`` for ``d = D*``.

    Raises
    ------
    ValueError
        If a density is invalid, ``d`` leaves [0, 1], or ``dx`` is not positive.

    See book/gan.ipynb.
    """
    p_data = _check_density(p_data, "p_data")
    p_model = _check_density(p_model, "p_model")
    _check_probabilities(torch.as_tensor(d), "d")
    dx = _check_dx(dx)
    p, q = _masses(p_data, dx), _masses(p_model, dx)
    d = torch.as_tensor(d, dtype=p.dtype)
    # Logs clamped at -100 as in the costs: where p_model / p_data is below machine
    # precision, D* rounds to 1 and log(1 - D*) would be -inf times a negligible mass.
    log_d = torch.log(d).clamp(min=losses.LOG_CLAMP)
    log_1md = torch.log1p(-d).clamp(min=losses.LOG_CLAMP)
    return (p * log_d + q * log_1md).sum(dim=-1)


# ----------------------------------------------------------------------- toy problem
def _mixture_params(means, stds, weights, dtype=None) -> tuple[Tensor, Tensor, Tensor]:
    means = torch.as_tensor(means, dtype=dtype or torch.get_default_dtype())
    if means.dim() == 1:
        means = means[:, None]  # (K, 1): K components in one dimension
    if means.dim() != 2 or means.shape[0] == 0:
        raise ValueError("means must have shape (K,) or (K, d) with K >= 1")
    k = means.shape[0]
    stds = torch.as_tensor(stds, dtype=means.dtype).expand(k).clone()
    if not bool((stds > 0).all()):
        raise ValueError("stds must be positive")
    if weights is None:
        weights = torch.full((k,), 1.0 / k, dtype=means.dtype)
    weights = torch.as_tensor(weights, dtype=means.dtype)
    if weights.shape != (k,) or not bool((weights >= 0).all()) or weights.sum() <= 0:
        raise ValueError("weights must be K non-negative numbers, not all zero")
    return means, stds, weights / weights.sum()


def gaussian_mixture(
    x: Tensor, means: Sequence[float], stds: float | Sequence[float], weights=None
) -> Tensor:
    """Density of a 1-D mixture of Gaussians at the points ``x``.

    Parameters
    ----------
    x : Tensor, any shape
        Where to evaluate the density.
    means : sequence of K floats
        The components' means.
    stds : float or sequence of K floats
        The components' standard deviations (one for all, or one each), > 0.
    weights : sequence of K floats, optional
        Mixture weights (normalised here); equal weights by default.

    Returns
    -------
    Tensor, the shape of ``x``
        The density, in the dtype of ``x`` (when floating).

    Raises
    ------
    ValueError
        If ``means`` is empty or not 1-D, ``stds`` is not positive or ``weights`` is invalid.

    See book/gan.ipynb.
    """
    x = torch.as_tensor(x)
    dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    means, stds, weights = _mixture_params(means, stds, weights, dtype)
    if means.shape[1] != 1:
        raise ValueError("means must be 1-D for gaussian_mixture: shape (K,)")
    x = x.to(dtype)[..., None]  # (..., 1) against (K,)
    z = (x - means[:, 0]) / stds
    pdf = torch.exp(-0.5 * z**2) / (stds * math.sqrt(2 * math.pi))
    return (pdf * weights).sum(dim=-1)


def mixture_sampler(means, stds: float | Sequence[float], weights=None) -> Callable[[int], Tensor]:
    """A sampler of a mixture of isotropic Gaussians: ``sample(m)`` has shape (m, d).

    Parameters
    ----------
    means : array-like, shape (K,) or (K, d)
        The components' means (shape (K,) for a 1-D mixture, so d = 1).
    stds : float or sequence of K floats
        The components' standard deviations, > 0.
    weights : sequence of K floats, optional
        Mixture weights; equal by default.

    Returns
    -------
    callable
        ``sample(m)`` draws ``m`` points with torch's global random generator and
        returns a Tensor of shape (m, d).

    Raises
    ------
    ValueError
        If ``means``, ``stds`` or ``weights`` is invalid.

    See book/gan.ipynb.
    """
    means, stds, weights = _mixture_params(means, stds, weights)

    def sample(m: int) -> Tensor:
        comp = torch.multinomial(weights, m, replacement=True)  # (m,)
        noise = torch.randn(m, means.shape[1], dtype=means.dtype)
        return means[comp] + stds[comp, None] * noise  # (m, d)

    return sample


def toy_generator(nz: int = 4, hidden: int = 32, out_features: int = 1) -> nn.Sequential:
    """A small MLP generator ``G(z)``: (B, nz) -> (B, out_features), unbounded outputs.

    Two hidden layers of ``hidden`` units with LeakyReLU(0.2) (no unit can die); a linear
    output.

    See book/gan.ipynb.
    """
    return nn.Sequential(
        nn.Linear(nz, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, out_features),
    )


def toy_discriminator(in_features: int = 1, hidden: int = 32) -> nn.Sequential:
    """A small MLP discriminator ``D(x)``: (B, in_features) -> (B,) probabilities.

    Two hidden layers of ``hidden`` units with LeakyReLU(0.2); a sigmoid output.

    See book/gan.ipynb.
    """
    return nn.Sequential(
        nn.Linear(in_features, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, 1),
        nn.Sigmoid(),
        nn.Flatten(0),  # (B, 1) -> (B,)
    )


# -------------------------------------------------------------------------- training
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
    """Train only the discriminator, against a fixed model distribution, with Adam.

    This is the inner loop of Algorithm 1 run to (near) convergence: it minimises
    :func:`discriminator_loss` on fresh minibatches of real samples (label 1) and of
    ``sample_model`` samples (label 0), so ``D`` approaches
    :func:`optimal_discriminator`.

    Parameters
    ----------
    D : nn.Module
        The discriminator: samples -> probabilities in [0, 1], one per sample.
    sample_data, sample_model : callable
        ``sample_data(m)``, ``sample_model(m)`` return ``m`` real and ``m`` model samples.
    steps : int
        Number of Adam updates, >= 0.
    batch_size : int
        Samples of each kind per update.
    lr : float
        Adam's learning rate.
    seed, num_threads : int, optional
        As in :func:`train_gan`.

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
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    old_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    history = []
    try:
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            device = next(D.parameters()).device
            opt = _optimizer_factory("adam", (0.5, 0.999), 0.0)(D.parameters(), lr)
            for _ in range(steps):
                x = sample_data(batch_size).to(device)
                with torch.no_grad():
                    fake = sample_model(batch_size).to(device)
                j_d = discriminator_loss(D(x).reshape(-1), D(fake).reshape(-1))
                opt.zero_grad(set_to_none=True)
                j_d.backward()
                opt.step()
                history.append(j_d.item())
    finally:
        torch.set_num_threads(old_threads)
    return history


def _grad_norm(module: nn.Module) -> float:
    sq = sum(float(p.grad.pow(2).sum()) for p in module.parameters() if p.grad is not None)
    return math.sqrt(sq)


def train_gan(
    G: nn.Module,
    D: nn.Module,
    sample_data: Callable[[int], Tensor],
    sample_z: Callable[[int], Tensor],
    steps: int,
    k: int = 1,
    *,
    loss: str = "non_saturating",
    batch_size: int = 64,
    lr: float = 1e-3,
    lr_d: float | None = None,
    betas: tuple[float, float] = (0.5, 0.999),
    optimizer: str = "adam",
    momentum: float = 0.9,
    snapshot_at: Sequence[int] = (),
    snapshot_z: Tensor | None = None,
    snapshot_x: Tensor | None = None,
    seed: int | None = None,
    num_threads: int | None = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Train a GAN with Algorithm 1 of Goodfellow et al. (2014).

    Each of the ``steps`` iterations makes ``k`` discriminator updates, each on a fresh
    minibatch of ``batch_size`` real samples and ``batch_size`` generated ones (the
    generator held fixed), descending :func:`discriminator_loss` (that is, ascending
    the value function); then one generator update on a fresh minibatch of noise,
    descending :func:`generator_loss` of the chosen ``loss``. ``loss="minimax"`` is the
    algorithm exactly as printed; ``"non_saturating"`` is the variant the paper
    recommends in practice. Both players use Adam (the paper allows any gradient-based
    rule; it used momentum).

    Parameters
    ----------
    G : nn.Module
        The generator: (m, ...) noise -> (m, ...) samples.
    D : nn.Module
        The discriminator: samples -> probabilities in [0, 1], one per sample (any
        shape with ``m`` elements, e.g. (m,) or (m, 1)).
    sample_data : callable
        ``sample_data(m)`` returns ``m`` real samples.
    sample_z : callable
        ``sample_z(m)`` returns ``m`` noise vectors.
    steps : int
        Number of iterations (generator updates), >= 0.
    k : int
        Discriminator updates per generator update, >= 1.
    loss : {"minimax", "non_saturating"}
        The generator's cost.
    batch_size : int
        The minibatch size ``m``.
    lr, lr_d : float
        Adam's learning rate for the generator and for the discriminator (``lr_d``
        defaults to ``lr``).
    betas : (float, float)
        Adam's betas, for both players.
    snapshot_at : sequence of int
        Iterations (0 = before training, ``steps`` = after it) at which to record
        ``G(snapshot_z)`` and, if given, ``D(snapshot_x)``, both in eval mode.
    snapshot_z : Tensor, optional
        Fixed noise for the snapshots; by default ``sample_z(512)`` drawn once.
    snapshot_x : Tensor, optional
        Points at which to record the discriminator in the snapshots.
    seed : int, optional
        Seed the run's sampling with ``torch.manual_seed(seed)`` inside a forked RNG (so
        the caller's random state is left untouched). The networks' initial weights are
        the caller's business.
    num_threads : int, optional
        Torch threads while training (restored afterwards); 1 makes runs reproducible
        across machines and is fastest for small networks. ``None`` leaves it alone.
    progress : callable, optional
        ``progress(done, total)`` is called about a hundred times during the run.

    Returns
    -------
    dict
        ``"d_loss"``, ``"g_loss"``: lists of ``steps`` floats (the discriminator's cost
        averaged over its ``k`` updates, the generator's cost); ``"d_real"``,
        ``"d_fake"``: mean ``D(x)`` and ``D(G(z))`` on the discriminator's minibatches;
        ``"g_grad_norm"``: the norm of the generator's gradient at each update;
        ``"snapshots"``: dict iteration -> Tensor of generated samples;
        ``"d_snapshots"``: dict iteration -> Tensor of ``D(snapshot_x)`` (empty without
        ``snapshot_x``).

    Raises
    ------
    ValueError
        If ``k`` < 1, ``steps`` < 0, ``batch_size`` < 1, ``loss`` is unknown, a learning
        rate is not positive, or a ``snapshot_at`` entry is outside [0, steps].

    See book/gan.ipynb.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be an integer >= 1 (discriminator steps), got {k!r}")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if loss not in GENERATOR_LOSSES:
        raise ValueError(f"loss must be one of {GENERATOR_LOSSES}, got {loss!r}")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    lr_d = lr if lr_d is None else lr_d
    if not (lr > 0 and lr_d > 0):
        raise ValueError(f"lr and lr_d must be positive, got lr={lr!r}, lr_d={lr_d!r}")
    snapshot_at = sorted(set(int(s) for s in snapshot_at))
    if snapshot_at and not (0 <= snapshot_at[0] and snapshot_at[-1] <= steps):
        raise ValueError(f"snapshot_at must hold iterations in [0, steps={steps}]")

    old_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            return _algorithm_1(
                G, D, sample_data, sample_z, steps, k, loss, batch_size,
                _optimizer_factory(optimizer, betas, momentum), lr, lr_d,
                snapshot_at, snapshot_z, snapshot_x, progress,
            )  # fmt: skip
    finally:
        torch.set_num_threads(old_threads)


def _optimizer_factory(name: str, betas, momentum) -> Callable:
    if name == "sgd":
        return lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=momentum)

    def adam(params, lr):
        params = list(params)
        # the fused kernel is 2-3 times faster for small networks on the CPU
        fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused or None)

    return adam


def _algorithm_1(
    G, D, sample_data, sample_z, steps, k, loss, m, make_optimizer, lr, lr_d,
    snapshot_at, snapshot_z, snapshot_x, progress,
) -> dict:  # fmt: skip
    device = next(D.parameters()).device
    d_params = [p for p in D.parameters() if p.requires_grad]  # the ones D's steps train
    opt_d = make_optimizer(d_params, lr_d)
    opt_g = make_optimizer(G.parameters(), lr)
    history: dict = {
        "d_loss": [], "g_loss": [], "d_real": [], "d_fake": [], "g_grad_norm": [],
        "snapshots": {}, "d_snapshots": {},
    }  # fmt: skip
    if snapshot_at and snapshot_z is None:
        snapshot_z = sample_z(512)
    wanted = set(snapshot_at)
    report_every = max(1, steps // 100)

    def snapshot(step: int) -> None:
        modes = (G.training, D.training)
        G.eval()
        D.eval()
        with torch.no_grad():
            history["snapshots"][step] = G(snapshot_z.to(device)).detach().cpu()
            if snapshot_x is not None:
                history["d_snapshots"][step] = D(snapshot_x.to(device)).reshape(-1).cpu()
        G.train(modes[0])
        D.train(modes[1])

    if 0 in wanted:
        snapshot(0)
    for step in range(1, steps + 1):
        # k steps of the discriminator, the generator held fixed
        d_loss = d_real = d_fake = 0.0
        for _ in range(k):
            x = sample_data(m).to(device)
            with torch.no_grad():
                fake = G(sample_z(m).to(device))
            p_real = D(x).reshape(-1)  # (m,)
            p_fake = D(fake).reshape(-1)  # (m,)
            j_d = discriminator_loss(p_real, p_fake)
            opt_d.zero_grad(set_to_none=True)
            j_d.backward()
            opt_d.step()
            d_loss += j_d.item() / k
            d_real += p_real.mean().item() / k
            d_fake += p_fake.mean().item() / k
        # one step of the generator on fresh noise; D's weights need no gradient here
        for p in d_params:
            p.requires_grad_(False)
        try:
            p_fake = D(G(sample_z(m).to(device))).reshape(-1)
            j_g = generator_loss(p_fake, loss)
            opt_g.zero_grad(set_to_none=True)
            j_g.backward()
            opt_g.step()
        finally:
            for p in d_params:
                p.requires_grad_(True)

        history["d_loss"].append(d_loss)
        history["g_loss"].append(j_g.item())
        history["d_real"].append(d_real)
        history["d_fake"].append(d_fake)
        history["g_grad_norm"].append(_grad_norm(G))
        if step in wanted:
            snapshot(step)
        if progress is not None and (step % report_every == 0 or step == steps):
            progress(step, steps)
    return history


# ------------------------------------------------------------------- the toy problem
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
) -> dict:
    """Train the chapter's toy GAN: :func:`toy_generator` against :func:`toy_discriminator`
    on the two-Gaussian mixture (``TOY_MEANS``, ``TOY_STD``), with :func:`train_gan`.

    The networks are initialised from ``seed`` and the run's sampling from ``seed + 1``,
    so a call is reproducible and leaves the caller's random state alone.

    Parameters
    ----------
    loss, k, lr, optimizer, progress
        As in :func:`train_gan` (batch size 128, 1 thread).
    steps : int
        Generator updates.
    seed : int
        The run's seed.
    snapshot_at : sequence of int, optional
        Iterations to snapshot; by default only the last one.

    Returns
    -------
    dict
        :func:`train_gan`'s history, plus ``"x"`` (the :func:`toy_grid`, shape (201,)),
        ``"p_data"`` (the data density on it), ``"G"`` and ``"D"`` (the trained networks)
        and ``"settings"`` (this call's arguments).

    Raises
    ------
    ValueError
        As :func:`train_gan`.

    See book/gan.ipynb.
    """
    settings = dict(loss=loss, k=k, lr=lr, steps=steps, optimizer=optimizer, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, D = toy_generator(TOY_NZ), toy_discriminator(1)
    x = toy_grid()
    history = train_gan(
        G,
        D,
        mixture_sampler(TOY_MEANS, TOY_STD),
        lambda m: torch.randn(m, TOY_NZ),
        steps,
        k,
        loss=loss,
        lr=lr,
        optimizer=optimizer,
        batch_size=128,
        snapshot_at=[steps] if snapshot_at is None else snapshot_at,
        snapshot_x=x[:, None],  # (201, 1)
        seed=seed + 1,
        progress=progress,
    )
    history.update(x=x, p_data=gaussian_mixture(x, TOY_MEANS, TOY_STD), G=G, D=D)
    history["settings"] = settings
    return history


def mode_coverage(samples: Tensor, means: Sequence[float] = TOY_MEANS, radius: float = 1.0):
    """Fraction of 1-D samples within ``radius`` of each mode, shape (K,).

    A generator that covers every mode of an equal mixture scores about 1/K each (a bit
    less: some samples fall between the modes); one that collapsed scores near 1 on one
    mode and 0 on the others.

    See book/gan.ipynb.
    """
    s = torch.as_tensor(samples).reshape(-1, 1)  # (m, 1)
    centres = torch.as_tensor(means, dtype=s.dtype)  # (K,)
    return ((s - centres).abs() < radius).to(s.dtype).mean(dim=0)


# -------------------------------------------------------------------------- plotting
def plot_snapshot(
    ax: Axes,
    x: Tensor,
    p_data: Tensor,
    samples: Tensor | None = None,
    d: Tensor | None = None,
    *,
    bins: int = 60,
    ylim: float | None = None,
) -> Axes:
    """Draw one moment of a 1-D GAN: the data density, a histogram of generated samples,
    and the discriminator's ``D(x)`` on a second y-axis.

    Parameters
    ----------
    ax : matplotlib Axes
        Where to draw.
    x : Tensor, shape (n,)
        Grid of points (sorted).
    p_data : Tensor, shape (n,)
        The data density on ``x``.
    samples : Tensor, shape (m,) or (m, 1), optional
        Generated samples, shown as a density histogram over the range of ``x``.
    d : Tensor, shape (n,), optional
        The discriminator's probabilities on ``x``.
    bins : int
        Histogram bins.
    ylim : float, optional
        Upper limit of the density axis.

    Returns
    -------
    Axes
        ``ax`` (the discriminator's twin axis is ``ax.d_axis`` when ``d`` is given).

    See book/gan.ipynb.
    """
    from mlnotes_lib.plotting import COLORS

    xs = np.asarray(x, dtype=float).reshape(-1)
    ax.plot(xs, np.asarray(p_data, dtype=float), color=COLORS["black"], lw=1.5, label="$p_{data}$")
    if samples is not None:
        s = np.asarray(samples, dtype=float).reshape(-1)
        ax.hist(
            s, bins=bins, range=(xs[0], xs[-1]), density=True, color=COLORS["green"], alpha=0.45,
            label="samples of $G$",
        )  # fmt: skip
    ax.set_xlim(xs[0], xs[-1])
    if ylim is not None:
        ax.set_ylim(0, ylim)
    ax.set_xlabel("$x$")
    ax.set_ylabel("density")
    handles, labels = ax.get_legend_handles_labels()
    if d is not None:
        ax2 = ax.twinx()
        ax2.plot(xs, np.asarray(d, dtype=float), color=COLORS["blue"], ls="--", label="$D(x)$")
        ax2.set_ylim(0, 1.02)
        ax2.set_ylabel("$D(x)$", color=COLORS["blue"])
        ax2.grid(False)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
        ax.d_axis = ax2
    # above the axes, where no curve can hide behind it
    ax.legend(
        handles, labels, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(labels),
        fontsize=7, frameon=False, borderaxespad=0.2,
    )  # fmt: skip
    return ax


def plot_training_curves(ax: Axes, history: dict, step: int | None = None) -> Axes:
    """Draw ``D(x)`` and ``D(G(z))`` over a :func:`train_gan` run, with the Nash value 1/2.

    With ``step`` the curves stop at that iteration (for a replay), on fixed axes.

    See book/gan.ipynb.
    """
    from mlnotes_lib.plotting import COLORS

    n = len(history["d_real"])
    end = n if step is None else step
    it = np.arange(1, end + 1)
    ax.plot(it, history["d_real"][:end], color=COLORS["black"], lw=1, label="$D(x)$, real")
    ax.plot(it, history["d_fake"][:end], color=COLORS["orange"], lw=1, label="$D(G(z))$, fake")
    ax.axhline(0.5, color=COLORS["sky"], ls=":", lw=1)
    ax.set_xlim(0, max(n, 1))
    ax.set_ylim(0, 1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean probability")
    ax.legend(
        loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, fontsize=7, frameon=False,
        borderaxespad=0.2,
    )  # fmt: skip
    return ax
