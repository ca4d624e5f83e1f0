"""Generative adversarial networks: the players' costs, the theory, toy networks, one step.

Scope: the original GAN game of Goodfellow et al. (2014) and the generator costs of
Goodfellow's NIPS 2016 tutorial, on toy problems that train in seconds on a CPU. This
module is the math: torch only, no drawing. The chapter's runs (Algorithm 1's loop, the
toy problem, seed sweeps) are in :mod:`mlnotes_lib.experiments.gan`, the figures in
:mod:`mlnotes_lib.plots.gan`.

- :func:`discriminator_loss`, :func:`generator_loss`: the players' costs, computed from the
  discriminator's *probabilities* ``D(x)`` in [0, 1] (a sigmoid ends the discriminator).
  The DCGAN chapter uses the same two functions.
- :func:`optimal_discriminator`, :func:`js_divergence`, :func:`value_function`,
  :func:`nonsaturating_divergence`: the theory (``D* = p_data / (p_data + p_model)``,
  ``V(D*, G) = -log 4 + 2 JSD``) on tabulated densities.
- :func:`bilinear_game`: gradient play on ``V(x, y) = x y``, the tutorial's example of a
  game that gradient steps do not solve.
- :func:`gaussian_mixture`, :func:`mixture_sampler`, :func:`toy_generator`,
  :func:`toy_discriminator`, :func:`ensemble`: a 1-D toy problem and small MLPs, and
  several independent copies of a network trained as one.

The trainers that used to live here (``train_gan``, ``train_toy_gan``, ``fit_discriminator``,
``mode_coverage``, ``TOY_MEANS``...) and the one GAN step both trainers use
(``gan_step``) are in :mod:`mlnotes_lib.experiments.gan`, and still import from here.

See book/gan.ipynb.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from mlnotes_lib import _common, losses
from mlnotes_lib._common import forward_moved

__all__ = [
    "GENERATOR_LOSSES",
    "UPDATE_RULES",
    "EnsembleLinear",
    "bilinear_flow",
    "bilinear_game",
    "discriminator_loss",
    "ensemble",
    "gaussian_mixture",
    "generator_loss",
    "js_divergence",
    "mixture_sampler",
    "nonsaturating_divergence",
    "optimal_discriminator",
    "toy_discriminator",
    "toy_generator",
    "value_function",
]

#: The generator costs that :func:`generator_loss` knows.
GENERATOR_LOSSES = ("minimax", "non_saturating", "maximum_likelihood")
#: The update rules of :func:`bilinear_game`.
UPDATE_RULES = ("simultaneous", "alternating")

# Names that moved to the experiments layer; ``gan.<name>`` still finds them there.
_MOVED = {
    "TOY_MEANS", "TOY_NZ", "TOY_STD", "GANConfig", "GANResult", "fit_discriminator",
    "mode_coverage", "modes_covered", "toy_grid", "train_gan", "train_toy_gan",
    "train_toy_gans", "ToySweep", "gan_step", "frozen", "_grad_norm",
}  # fmt: skip


# Names that moved to experiments/gan.py still import from here.
__getattr__ = forward_moved(__name__, "mlnotes_lib.experiments.gan", _MOVED)


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
    at -100 as in ``F.binary_cross_entropy``. ``kind="maximum_likelihood"`` is the
    tutorial's :math:`-\mathbb{E}_z \exp(\sigma^{-1}(D(G(z)))) = -\mathbb{E}_z D/(1 - D)`,
    whose expected gradient is that of maximum likelihood when ``D`` is optimal; it is
    ``-inf`` where ``D(G(z)) = 1``. The tutorial's factor 1/2 is left out of all three
    (it changes no direction).

    Parameters
    ----------
    d_fake : Tensor, any non-empty shape
        ``D(G(z))`` on a batch of generated samples, values in [0, 1].
    kind : {"minimax", "non_saturating", "maximum_likelihood"}
        Which generator cost.

    Returns
    -------
    Tensor, shape ()
        The cost: at most 0 for ``"minimax"`` and ``"maximum_likelihood"``, at least 0
        for ``"non_saturating"``.

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
    if kind == "maximum_likelihood":
        # exp(logit(D)) = D / (1 - D): the density ratio p_data / p_model at the optimal D
        return -(d_fake / (1 - d_fake)).mean()
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
    r"""The game's value :math:`V(D, G)` for 1-D densities and a discriminator on a grid.

    .. math::

        V(D, G) = \int p_\text{data}(x) \log D(x) \, dx
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
        ``V(D, G)``; at most 0, and ``-log 4 + 2 JSD`` for ``d = D*``.

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


def _check_probability_vector(p: Tensor, name: str) -> Tensor:
    p = torch.as_tensor(p)
    if not p.is_floating_point():
        p = p.to(torch.get_default_dtype())
    if p.dim() == 0 or p.numel() == 0:
        raise ValueError(f"{name} must not be empty: give probabilities, shape (..., n)")
    if not bool(((p >= 0) & (p <= 1)).all()):
        raise ValueError(f"{name} must hold probabilities in [0, 1]")
    err = (p.sum(dim=-1) - 1).abs().max().item()
    if not err <= max(1e-6, math.sqrt(torch.finfo(p.dtype).eps)):
        raise ValueError(f"{name} must sum to 1 over its last dimension (off by {err:.3g})")
    return p


def nonsaturating_divergence(p_data: Tensor, p_model: Tensor) -> Tensor:
    r"""What the non-saturating generator's gradient descends at the optimal discriminator.

    .. math::

        D_\text{KL}(p_\text{model} \,\|\, p_\text{data})
        - 2\,\mathrm{JSD}(p_\text{data} \,\|\, p_\text{model}),

    on discrete distributions. Arjovsky & Bottou (2017, Theorem 2.5) show that with
    ``D = D*`` held fixed, the expected gradient of :math:`-\mathbb{E}_z \log D(G(z))`
    is the gradient of this quantity; its *value* is not the non-saturating cost (that
    is :math:`\mathbb{E}_{p_\text{model}} \log(1 + p_\text{model}/p_\text{data})`, which
    differs by terms whose gradient vanishes). It is ``inf`` where ``p_model`` puts mass
    on an outcome of probability zero under ``p_data``.

    Parameters
    ----------
    p_data, p_model : Tensor, shape (..., n)
        Probabilities of ``n`` outcomes, each in [0, 1], summing to 1 on the last
        dimension.

    Returns
    -------
    Tensor, shape (...)
        The divergence in nats; 0 when the distributions agree.

    Raises
    ------
    ValueError
        If a probability leaves [0, 1], a distribution does not sum to 1, or the shapes
        differ.

    See book/gan.ipynb.
    """
    p_data = _check_probability_vector(p_data, "p_data")
    p_model = _check_probability_vector(p_model, "p_model")
    jsd = js_divergence(p_data, p_model, 1.0)  # probabilities: a density on cells of width 1
    return losses.kl_divergence(p_model, p_data) - 2 * jsd


# ------------------------------------------------------------------ the bilinear game
def bilinear_game(
    x0: float, y0: float, lr: float, steps: int, update: str = "simultaneous"
) -> Tensor:
    r"""Gradient play on :math:`V(x, y) = xy`: ``x`` descends, ``y`` ascends.

    The only equilibrium is (0, 0). ``"simultaneous"`` steps both players from the same
    point, :math:`x' = x - \eta y,\ y' = y + \eta x`, which multiplies the distance from
    the equilibrium by :math:`\sqrt{1 + \eta^2}` every step: an outward spiral.
    ``"alternating"`` lets ``y`` answer the updated ``x``, :math:`y' = y + \eta x'`, a map
    of determinant 1 that keeps the points on a closed orbit (for :math:`\eta < 2`).
    Neither converges; the continuous-time flow (:func:`bilinear_flow`) circles.

    Parameters
    ----------
    x0, y0 : float
        The starting point.
    lr : float
        The step size :math:`\eta` > 0.
    steps : int
        Number of steps, >= 0.
    update : {"simultaneous", "alternating"}
        The update rule.

    Returns
    -------
    Tensor, shape (steps + 1, 2), float64
        The points :math:`(x_t, y_t)`, starting with ``(x0, y0)``.

    Raises
    ------
    ValueError
        If ``update`` is unknown, ``lr`` <= 0 or ``steps`` < 0.

    See book/gan.ipynb.
    """
    if update not in UPDATE_RULES:
        raise ValueError(f"update must be one of {UPDATE_RULES}, got {update!r}")
    lr = _common.check_positive("lr", lr)
    steps = _common.check_int("steps", steps, minimum=0)
    x, y = float(x0), float(y0)
    path = [(x, y)]
    for _ in range(steps):
        if update == "simultaneous":
            x, y = x - lr * y, y + lr * x  # both gradients taken at the old point
        else:
            x = x - lr * y
            y = y + lr * x  # y answers the new x
        path.append((x, y))
    return torch.tensor(path, dtype=torch.float64)


def bilinear_flow(x0: float, y0: float, t: Tensor) -> Tensor:
    r"""The continuous-time gradient flow of :math:`V(x, y) = xy` from ``(x0, y0)``.

    :math:`\dot x = -y,\ \dot y = x` is a rotation: :math:`x(t) = x_0\cos t - y_0\sin t`,
    :math:`y(t) = x_0\sin t + y_0\cos t`, a circle around the equilibrium.

    Parameters
    ----------
    t : Tensor, shape (T,)
        Times.

    Returns
    -------
    Tensor, shape (T, 2), float64

    See book/gan.ipynb.
    """
    t = torch.as_tensor(t, dtype=torch.float64)
    c, s = torch.cos(t), torch.sin(t)
    return torch.stack([x0 * c - y0 * s, x0 * s + y0 * c], dim=-1)


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


class EnsembleLinear(nn.Module):
    """``S`` independent linear layers applied at once: (S, m, in) -> (S, m, out).

    Member ``s`` computes ``x[s] @ weight[s].T + bias[s]``, exactly what an ``nn.Linear``
    with those weights computes, in one batched matrix product: small networks train
    many seeds in about the time of one.

    See book/gan.ipynb.
    """

    def __init__(self, weight: Tensor, bias: Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight)  # (S, out, in)
        self.bias = nn.Parameter(bias)  # (S, out)

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias[:, None, :], x, self.weight.transpose(1, 2))


def ensemble(nets: Sequence[nn.Sequential]) -> nn.Sequential:
    """``S`` networks of the same architecture as one network over a leading member axis.

    Each ``nn.Linear`` becomes an :class:`EnsembleLinear` holding the members' weights
    (copied), activations are kept, and a final ``nn.Flatten(0)`` becomes
    ``nn.Flatten(1)``: the ensemble maps (S, m, in) to (S, m, out), or to (S, m)
    probabilities for :func:`toy_discriminator`. Member ``s`` starts as ``nets[s]``.

    Raises
    ------
    ValueError
        If ``nets`` is empty or the networks differ in architecture.

    See book/gan.ipynb.
    """
    if not nets:
        raise ValueError("nets must hold at least one network")
    if len({len(n) for n in nets}) != 1:
        raise ValueError("nets must share one architecture (they differ in length)")
    layers = []
    for mods in zip(*[list(n) for n in nets], strict=True):
        first = mods[0]
        if any(type(m) is not type(first) for m in mods):
            raise ValueError("nets must share one architecture")
        if isinstance(first, nn.Linear):
            weight = torch.stack([m.weight.detach() for m in mods]).clone()
            layers.append(EnsembleLinear(weight, torch.stack([m.bias.detach() for m in mods])))
        elif isinstance(first, nn.Flatten):
            layers.append(nn.Flatten(1))  # (S, m, 1) -> (S, m)
        else:
            layers.append(copy.deepcopy(first))  # activations hold no parameters
    return nn.Sequential(*layers)
