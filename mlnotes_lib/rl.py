"""Reinforcement learning, key concepts: policies, returns, tabular MDPs and value functions.

Everything the chapter "Reinforcement learning: key concepts and terminology" computes:

- stochastic policies: the categorical policy (:func:`categorical_sample`,
  :func:`categorical_log_prob`) and the diagonal Gaussian policy (:func:`diag_gaussian_sample`,
  :func:`diag_gaussian_log_prob`), written from their formulas, plus small torch networks
  that use them (:class:`CategoricalPolicy`, :class:`DiagGaussianPolicy`);
- returns: :func:`discounted_return`, :func:`rewards_to_go`;
- the agent-environment loop on a Gymnasium environment: :func:`rollout`;
- tabular MDPs read from Gymnasium's toy-text environments (:func:`tabular_mdp`), the
  probability of a trajectory (:func:`trajectory_log_prob`), and exact value functions:
  :func:`policy_evaluation`, :func:`finite_horizon_evaluation`, :func:`value_iteration`,
  :func:`greedy_policy`;
- ``plot_*`` helpers that draw grid worlds, categorical and Gaussian policies on an Axes.

Tabular quantities are float64 tensors: ``P`` (S, A, S) with ``P[s, a, s']`` the probability
of moving to ``s'``, ``R`` (S, A) the expected immediate reward, ``pi`` (S, A) a policy's
action probabilities, ``rho0`` (S,) the start-state distribution. Terminal states follow
Gymnasium's convention: once an episode has terminated, nothing more happens, which the
tabular model expresses by making each terminal state absorbing with zero reward.

References: OpenAI Spinning Up, "Introduction to RL" (Achiam, 2018); Sutton and Barto,
*Reinforcement Learning: An Introduction* (2018); Gymnasium (Towers et al., 2024).
See book/rl.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch, Rectangle
from torch import Tensor, nn

__all__ = [
    "FROZEN_LAKE_MOVES",
    "CategoricalPolicy",
    "DiagGaussianPolicy",
    "Trajectory",
    "categorical_log_prob",
    "categorical_sample",
    "diag_gaussian_log_prob",
    "diag_gaussian_sample",
    "discounted_return",
    "finite_horizon_evaluation",
    "greedy_policy",
    "plot_agent_environment_loop",
    "plot_categorical",
    "plot_diag_gaussian",
    "plot_gridworld",
    "plot_running_return",
    "policy_evaluation",
    "rewards_to_go",
    "rollout",
    "rollouts",
    "tabular_mdp",
    "trajectory_log_prob",
    "value_iteration",
]

#: FrozenLake's actions as (column, row) steps on the map: 0 left, 1 down, 2 right, 3 up.
FROZEN_LAKE_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))

_ROW_ATOL = 1e-6  # how far a row of P or pi may sum from 1


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------


def _check_gamma(gamma: float, *, allow_one: bool) -> float:
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise ValueError(f"gamma must be a number in [0, 1], got {gamma!r}") from None
    if allow_one:
        if not 0.0 <= g <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    elif not 0.0 <= g < 1.0:
        raise ValueError(
            f"gamma must be in [0, 1) for an infinite-horizon value function, got {gamma!r} "
            "(gamma = 1 is allowed only where the sum is finite, e.g. a finite horizon)"
        )
    return g


def _as_float64(x: Any, name: str) -> Tensor:
    try:
        t = torch.as_tensor(x, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a tensor of numbers") from None
    return t


def _check_distribution_rows(t: Tensor, name: str) -> None:
    """Every row along the last dimension must be a probability distribution."""
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite")
    if (t < 0).any():
        raise ValueError(f"{name} has negative entries: its rows must be probability distributions")
    sums = t.sum(-1)
    bad = (sums - 1).abs() > _ROW_ATOL
    if bad.any():
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"{name} rows must sum to 1 (probability distributions); row {idx} sums to "
            f"{float(sums[idx]):.6g}"
        )


def _check_mdp(P: Any, R: Any) -> tuple[Tensor, Tensor]:
    P = _as_float64(P, "P")
    R = _as_float64(R, "R")
    if P.ndim != 3 or P.shape[0] != P.shape[2] or P.shape[0] == 0 or P.shape[1] == 0:
        raise ValueError(f"P must have shape (S, A, S), got {tuple(P.shape)}")
    _check_distribution_rows(P, "P")
    if tuple(R.shape) != tuple(P.shape[:2]):
        raise ValueError(f"R must have shape (S, A) = {tuple(P.shape[:2])}, got {tuple(R.shape)}")
    if not torch.isfinite(R).all():
        raise ValueError("R must be finite")
    return P, R


def _check_pi(pi: Any, P: Tensor) -> Tensor:
    pi = _as_float64(pi, "pi")
    if tuple(pi.shape) != tuple(P.shape[:2]):
        raise ValueError(f"pi must have shape (S, A) = {tuple(P.shape[:2])}, got {tuple(pi.shape)}")
    _check_distribution_rows(pi, "pi")
    return pi


def _check_logits(logits: Tensor) -> None:
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise ValueError("logits must be a floating-point tensor of shape (..., A)")
    if logits.ndim == 0 or logits.shape[-1] == 0:
        raise ValueError(f"logits must have shape (..., A) with A >= 1, got {tuple(logits.shape)}")
    if torch.isnan(logits).any() or (logits == math.inf).any():
        raise ValueError("logits must not contain NaN or +inf")
    if (logits.amax(-1) == -math.inf).any():
        raise ValueError("logits: every row needs at least one finite logit")


def _check_gaussian(mu: Tensor, log_std: Tensor) -> torch.Size:
    if not isinstance(mu, Tensor) or not mu.is_floating_point() or mu.ndim == 0:
        raise ValueError("mu must be a floating-point tensor of shape (..., D)")
    if not isinstance(log_std, Tensor) or not log_std.is_floating_point() or log_std.ndim == 0:
        raise ValueError("log_std must be a floating-point tensor of shape (D,) or (..., D)")
    if log_std.shape[-1] != mu.shape[-1]:
        raise ValueError(
            f"log_std must have last dimension D = {mu.shape[-1]} like mu, "
            f"got shape {tuple(log_std.shape)}"
        )
    try:
        shape = torch.broadcast_shapes(mu.shape, log_std.shape)
    except RuntimeError:
        raise ValueError(
            f"log_std of shape {tuple(log_std.shape)} does not broadcast with mu of shape "
            f"{tuple(mu.shape)}"
        ) from None
    if not torch.isfinite(log_std).all():
        raise ValueError("log_std must be finite (a standard deviation of 0 or inf has no density)")
    return shape


# --------------------------------------------------------------------------------------
# Stochastic policies
# --------------------------------------------------------------------------------------


def categorical_sample(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Sample actions from the categorical distributions ``softmax(logits)``.

    Uses the inverse of the cumulative distribution: draw ``u ~ U(0, 1)`` and return the
    first action whose cumulative probability exceeds ``u``.

    Parameters
    ----------
    logits : Tensor, shape (..., A)
        Unnormalised log-probabilities of the ``A`` actions; ``-inf`` marks an impossible
        action.
    generator : torch.Generator, optional
        Source of randomness, for reproducible samples.

    Returns
    -------
    Tensor, shape (...), dtype int64
        One action index per row of ``logits``.

    See book/rl.ipynb.
    """
    _check_logits(logits)
    probs = torch.softmax(logits.detach().to(torch.float64), dim=-1)  # (..., A)
    cdf = torch.cumsum(probs, dim=-1).contiguous()
    u = torch.rand(probs.shape[:-1], generator=generator, dtype=torch.float64, device=probs.device)
    u = (u * cdf[..., -1]).unsqueeze(-1)  # scaled so that rounding in the cdf cannot matter
    actions = torch.searchsorted(cdf, u, right=True).squeeze(-1)
    # Guard against u landing on the cdf's last value: never return an impossible action.
    last = probs.shape[-1] - 1 - torch.flip(probs > 0, dims=[-1]).to(torch.int8).argmax(-1)
    return torch.minimum(actions, last)


def categorical_log_prob(logits: Tensor, actions: Tensor) -> Tensor:
    """Log-likelihood ``log pi(a|s) = logits[a] - logsumexp(logits)`` of the chosen actions.

    Parameters
    ----------
    logits : Tensor, shape (..., A)
        Unnormalised log-probabilities, e.g. a policy network's last layer.
    actions : Tensor, shape (...), integer
        Chosen actions in ``[0, A)``; its shape broadcasts with ``logits.shape[:-1]``.

    Returns
    -------
    Tensor, shape (...)
        ``log softmax(logits)[..., a]``, differentiable with respect to ``logits``.

    See book/rl.ipynb.
    """
    _check_logits(logits)
    actions = torch.as_tensor(actions, device=logits.device)
    if actions.is_floating_point() or actions.is_complex() or actions.dtype == torch.bool:
        raise ValueError(f"actions must be an integer tensor, got dtype {actions.dtype}")
    n_actions = logits.shape[-1]
    if actions.numel() and (actions.min() < 0 or actions.max() >= n_actions):
        raise ValueError(f"actions must lie in [0, {n_actions}), got values outside it")
    try:
        shape = torch.broadcast_shapes(actions.shape, logits.shape[:-1])
    except RuntimeError:
        raise ValueError(
            f"actions of shape {tuple(actions.shape)} does not broadcast with the batch shape "
            f"{tuple(logits.shape[:-1])} of logits"
        ) from None
    log_probs = torch.log_softmax(logits, dim=-1).expand(*shape, n_actions)
    index = actions.to(torch.int64).expand(shape).unsqueeze(-1)
    return log_probs.gather(-1, index).squeeze(-1)


def diag_gaussian_sample(
    mu: Tensor, log_std: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """Sample ``a = mu + exp(log_std) * z`` with ``z ~ N(0, I)`` (reparameterised).

    Parameters
    ----------
    mu : Tensor, shape (..., D)
        Mean action.
    log_std : Tensor, shape (D,) or (..., D)
        Log standard deviation of each action dimension; must be finite.
    generator : torch.Generator, optional
        Source of randomness, for reproducible samples.

    Returns
    -------
    Tensor, shape (..., D)
        The sampled actions; gradients flow to ``mu`` and ``log_std``.

    See book/rl.ipynb.
    """
    shape = _check_gaussian(mu, log_std)
    z = torch.randn(shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(log_std) * z


def diag_gaussian_log_prob(mu: Tensor, log_std: Tensor, actions: Tensor) -> Tensor:
    """Log-density of a diagonal Gaussian policy, summed over the action dimensions.

    With ``sigma = exp(log_std)`` and ``D`` action dimensions,

    ``log pi(a|s) = -1/2 * (sum_i ((a_i - mu_i) / sigma_i)**2 + 2 * sum_i log_std_i
    + D * log(2 pi))``.

    Parameters
    ----------
    mu : Tensor, shape (..., D)
        Mean action.
    log_std : Tensor, shape (D,) or (..., D)
        Log standard deviation; must be finite.
    actions : Tensor, shape (..., D)
        Actions whose log-density is wanted; broadcasts with ``mu``.

    Returns
    -------
    Tensor, shape (...)
        Differentiable with respect to ``mu``, ``log_std`` and ``actions``.

    See book/rl.ipynb.
    """
    shape = _check_gaussian(mu, log_std)
    if not isinstance(actions, Tensor) or not actions.is_floating_point() or actions.ndim == 0:
        raise ValueError("actions must be a floating-point tensor of shape (..., D)")
    if actions.shape[-1] != mu.shape[-1]:
        raise ValueError(
            f"actions must have last dimension D = {mu.shape[-1]} like mu, "
            f"got shape {tuple(actions.shape)}"
        )
    try:
        torch.broadcast_shapes(shape, actions.shape)
    except RuntimeError:
        raise ValueError(
            f"actions of shape {tuple(actions.shape)} does not broadcast with mu of shape "
            f"{tuple(mu.shape)}"
        ) from None
    z = (actions - mu) * torch.exp(-log_std)  # standardised actions, (..., D)
    d = mu.shape[-1]
    return -0.5 * ((z**2).sum(-1) + 2.0 * log_std.sum(-1) + d * math.log(2.0 * math.pi))


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class CategoricalPolicy(nn.Module):
    """A categorical policy ``pi_theta(a|s) = softmax(f_theta(s))_a`` with a small MLP ``f``.

    Parameters
    ----------
    obs_dim : int
        Size of an observation vector.
    n_actions : int
        Number of discrete actions ``A``.
    hidden : sequence of int
        Widths of the hidden layers (tanh activations).

    See book/rl.ipynb.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int] = (32,)):
        super().__init__()
        if obs_dim < 1:
            raise ValueError(f"obs_dim must be at least 1, got {obs_dim}")
        if n_actions < 1:
            raise ValueError(f"n_actions must be at least 1, got {n_actions}")
        self.net = _mlp([obs_dim, *hidden, n_actions])

    def forward(self, obs: Tensor) -> Tensor:
        """Logits, shape (..., A), for observations of shape (..., obs_dim)."""
        return self.net(obs)

    def sample(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Actions ``a ~ pi(.|s)``, shape (...), int64."""
        return categorical_sample(self(obs), generator)

    def log_prob(self, obs: Tensor, actions: Tensor) -> Tensor:
        """``log pi(a|s)``, shape (...)."""
        return categorical_log_prob(self(obs), actions)

    def mode(self, obs: Tensor) -> Tensor:
        """The deterministic policy ``mu(s) = argmax_a pi(a|s)``, shape (...)."""
        return self(obs).argmax(-1)


class DiagGaussianPolicy(nn.Module):
    """A diagonal Gaussian policy: an MLP gives the mean, a free parameter the log std.

    ``a = mu_theta(s) + exp(log_std) * z`` with ``z ~ N(0, I)``; ``log_std`` does not depend
    on the state, as in most policy-gradient code.

    Parameters
    ----------
    obs_dim : int
        Size of an observation vector.
    act_dim : int
        Number of action dimensions ``D``.
    hidden : sequence of int
        Widths of the hidden layers (tanh activations).
    log_std : float
        Initial value of every entry of the ``log_std`` parameter.

    See book/rl.ipynb.
    """

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (32,), log_std: float = -0.5
    ):
        super().__init__()
        if obs_dim < 1:
            raise ValueError(f"obs_dim must be at least 1, got {obs_dim}")
        if act_dim < 1:
            raise ValueError(f"act_dim must be at least 1, got {act_dim}")
        if not math.isfinite(log_std):
            raise ValueError(f"log_std must be finite, got {log_std}")
        self.mu_net = _mlp([obs_dim, *hidden, act_dim])
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std)))

    def forward(self, obs: Tensor) -> Tensor:
        """Mean action, shape (..., D), for observations of shape (..., obs_dim)."""
        return self.mu_net(obs)

    def sample(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Actions ``a ~ pi(.|s)``, shape (..., D)."""
        return diag_gaussian_sample(self(obs), self.log_std, generator)

    def log_prob(self, obs: Tensor, actions: Tensor) -> Tensor:
        """``log pi(a|s)``, shape (...)."""
        return diag_gaussian_log_prob(self(obs), self.log_std, actions)

    def mode(self, obs: Tensor) -> Tensor:
        """The deterministic policy ``mu(s)``: the mean action, shape (..., D)."""
        return self(obs)


# --------------------------------------------------------------------------------------
# Returns
# --------------------------------------------------------------------------------------


def _rewards_1d(rewards: Any) -> Tensor:
    r = _as_float64(rewards, "rewards")
    if r.ndim != 1:
        raise ValueError(f"rewards must be 1-D (one reward per step), got shape {tuple(r.shape)}")
    return r


def discounted_return(rewards: Sequence[float] | Tensor, gamma: float) -> float:
    """The return ``R(tau) = sum_t gamma**t * r_t`` of a finite list of rewards.

    Parameters
    ----------
    rewards : sequence of float or Tensor, shape (T,)
        ``r_0, ..., r_{T-1}``.
    gamma : float
        Discount factor in ``[0, 1]``; ``gamma = 1`` gives the undiscounted return.

    Returns
    -------
    float
        Computed in float64; 0 for an empty list.

    See book/rl.ipynb.
    """
    g = _check_gamma(gamma, allow_one=True)
    r = _rewards_1d(rewards)
    steps = torch.arange(len(r), dtype=torch.float64, device=r.device)
    powers = torch.full_like(r, g).pow(steps)  # gamma**t, with 0**0 = 1
    return float((powers * r).sum())


def rewards_to_go(rewards: Sequence[float] | Tensor, gamma: float) -> Tensor:
    """Reward-to-go ``G_t = sum_{k >= t} gamma**(k - t) * r_k`` at every step.

    Computed backwards with ``G_t = r_t + gamma * G_{t+1}``.

    Parameters
    ----------
    rewards : sequence of float or Tensor, shape (T,)
        ``r_0, ..., r_{T-1}``.
    gamma : float
        Discount factor in ``[0, 1]``.

    Returns
    -------
    Tensor, shape (T,)
        ``G_0, ..., G_{T-1}``; float64, or the dtype of ``rewards`` when it is a floating
        tensor. ``G_0`` is :func:`discounted_return`.

    See book/rl.ipynb.
    """
    g = _check_gamma(gamma, allow_one=True)
    r = _rewards_1d(rewards)
    out = [0.0] * len(r)
    running = 0.0
    for t, r_t in zip(range(len(r) - 1, -1, -1), reversed(r.tolist()), strict=True):
        running = r_t + g * running
        out[t] = running
    dtype = rewards.dtype if isinstance(rewards, Tensor) and rewards.is_floating_point() else None
    return torch.tensor(out, dtype=dtype or torch.float64, device=r.device)


# --------------------------------------------------------------------------------------
# The agent-environment loop
# --------------------------------------------------------------------------------------


@dataclass
class Trajectory:
    """One episode of the agent-environment loop.

    ``observations`` has one more entry than ``actions`` and ``rewards``: ``rewards[t]`` is
    the reward received for taking ``actions[t]`` after seeing ``observations[t]``.
    """

    observations: list[Any] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.actions)

    def discounted_return(self, gamma: float = 1.0) -> float:
        """``sum_t gamma**t * r_t`` of this episode."""
        return discounted_return(self.rewards, gamma)


def _actor(policy: Tensor | np.ndarray | Callable[[Any], Any], seed: int | None):
    """A function observation -> action; tabular policies are sampled by inverse cdf."""
    if callable(policy) and not isinstance(policy, Tensor | np.ndarray):
        return policy
    if not isinstance(policy, Tensor | np.ndarray):
        raise ValueError("policy must be a tensor (S, A) or a callable observation -> action")
    pi = _as_float64(policy, "policy")
    if pi.ndim != 2:
        raise ValueError(f"policy must be a callable or a tensor (S, A), got {tuple(pi.shape)}")
    _check_distribution_rows(pi, "policy")
    table = pi.tolist()
    best = pi.argmax(1).tolist()
    if all(row[a] == 1.0 for row, a in zip(table, best, strict=True)):  # deterministic
        return lambda obs: best[int(obs)]
    cdf = np.cumsum(pi.numpy(), axis=1).tolist()
    last = [max(a for a, p in enumerate(row) if p > 0) for row in table]
    rng = np.random.default_rng(seed)

    def act(obs: Any) -> int:
        row = cdf[int(obs)]
        u = rng.random() * row[-1]
        return next((a for a, c in enumerate(row) if u < c), last[int(obs)])

    return act


def _episode(env: Any, act: Callable[[Any], Any], seed: int | None, max_steps: int | None):
    obs, _ = env.reset(seed=seed)
    traj = Trajectory(observations=[obs])
    while max_steps is None or len(traj) < max_steps:
        action = act(obs)
        obs, reward, terminated, truncated, _ = env.step(action)
        traj.actions.append(action)
        traj.rewards.append(float(reward))
        traj.observations.append(obs)
        if terminated or truncated:
            traj.terminated, traj.truncated = bool(terminated), bool(truncated)
            return traj
    traj.truncated = True
    return traj


def _check_max_steps(max_steps: int | None) -> None:
    if max_steps is not None and (isinstance(max_steps, bool) or max_steps < 0):
        raise ValueError(f"max_steps must be a non-negative integer, got {max_steps!r}")


def rollout(
    env: Any,
    policy: Tensor | Callable[[Any], Any],
    *,
    seed: int | None = None,
    max_steps: int | None = None,
) -> Trajectory:
    """Run one episode of the agent-environment loop on a Gymnasium environment.

    Parameters
    ----------
    env : gymnasium.Env
        The environment; ``env.reset(seed=seed)`` starts the episode.
    policy : Tensor, shape (S, A), or callable
        A tabular policy (rows are action probabilities for each discrete observation,
        sampled with a NumPy generator seeded by ``seed``), or a function
        ``policy(observation) -> action``.
    seed : int, optional
        Seeds the environment's reset and the tabular policy's sampling, so the episode is
        reproducible.
    max_steps : int, optional
        Stop after this many steps (``truncated``) even if the environment would go on.

    Returns
    -------
    Trajectory
        Observations, actions and rewards, and whether the episode terminated (reached a
        terminal state) or was truncated (by a time limit).

    See book/rl.ipynb.
    """
    _check_max_steps(max_steps)
    return _episode(env, _actor(policy, seed), seed, max_steps)


def rollouts(
    env: Any,
    policy: Tensor | Callable[[Any], Any],
    n: int,
    *,
    seed: int | None = None,
    max_steps: int | None = None,
) -> list[Trajectory]:
    """Run ``n`` episodes in a row; the first reset is seeded, so the batch is reproducible.

    Parameters are those of :func:`rollout`, plus ``n``, the number of episodes. Faster than
    ``n`` calls of :func:`rollout`: the policy is prepared and the generators seeded once.

    Returns
    -------
    list of Trajectory
        ``n`` episodes.

    See book/rl.ipynb.
    """
    _check_max_steps(max_steps)
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    act = _actor(policy, seed)
    return [_episode(env, act, seed if i == 0 else None, max_steps) for i in range(int(n))]


# --------------------------------------------------------------------------------------
# Tabular MDPs and value functions
# --------------------------------------------------------------------------------------


def tabular_mdp(env: Any) -> tuple[Tensor, Tensor, Tensor]:
    """The transition probabilities, expected rewards and start distribution of a toy-text env.

    Reads Gymnasium's model ``env.unwrapped.P[s][a] = [(prob, next_state, reward,
    terminated), ...]`` and ``env.unwrapped.initial_state_distrib``. A state that some
    transition enters with ``terminated=True`` is terminal: the episode ends there, so its
    row is made absorbing (``P[s, a, s] = 1``) with zero reward, whatever the environment's
    table says about leaving it (CliffWalking's goal, for instance, has moves out of it).

    Parameters
    ----------
    env : gymnasium.Env
        A toy-text environment with discrete observation and action spaces (FrozenLake,
        CliffWalking, Taxi), possibly wrapped.

    Returns
    -------
    P : Tensor, shape (S, A, S)
        ``P[s, a, s']``, float64; each ``P[s, a]`` sums to 1.
    R : Tensor, shape (S, A)
        Expected immediate reward ``sum_s' P[s, a, s'] r(s, a, s')``, float64.
    rho0 : Tensor, shape (S,)
        Start-state distribution, float64.

    See book/rl.ipynb.
    """
    base = getattr(env, "unwrapped", env)
    model = getattr(base, "P", None)
    if not isinstance(model, dict):
        raise ValueError("env must be a toy-text environment with a transition table env.P")
    try:
        n_states = int(base.observation_space.n)
        n_actions = int(base.action_space.n)
    except AttributeError:
        raise ValueError("env must have Discrete observation and action spaces") from None
    rho0_np = getattr(base, "initial_state_distrib", None)
    if rho0_np is None:
        raise ValueError("env has no start-state distribution (initial_state_distrib)")

    P = torch.zeros(n_states, n_actions, n_states, dtype=torch.float64)
    R = torch.zeros(n_states, n_actions, dtype=torch.float64)
    terminal = set()
    for s in range(n_states):
        for a in range(n_actions):
            for prob, s_next, reward, done in model[s][a]:
                P[s, a, int(s_next)] += prob
                R[s, a] += prob * reward
                if done:
                    terminal.add(int(s_next))
    for s in terminal:  # absorbing, no reward: nothing counts after termination
        P[s] = 0.0
        P[s, :, s] = 1.0
        R[s] = 0.0
    rho0 = torch.as_tensor(np.asarray(rho0_np, dtype=np.float64)).reshape(-1)
    if rho0.shape != (n_states,):
        raise ValueError(f"env's start distribution has shape {tuple(rho0.shape)}, not (S,)")
    try:
        _check_distribution_rows(P, "P")
        _check_distribution_rows(rho0, "rho0")
    except ValueError as err:
        raise ValueError(f"env's model is not a valid MDP: {err}") from None
    return P, R, rho0


def trajectory_log_prob(
    P: Tensor, rho0: Tensor, pi: Tensor, states: Sequence[int], actions: Sequence[int]
) -> Tensor:
    """``log P(tau|pi) = log rho0(s_0) + sum_t [log pi(a_t|s_t) + log P(s_{t+1}|s_t, a_t)]``.

    Parameters
    ----------
    P : Tensor, shape (S, A, S)
        Transition probabilities.
    rho0 : Tensor, shape (S,)
        Start-state distribution.
    pi : Tensor, shape (S, A)
        Tabular policy.
    states : sequence of int, length T + 1
        ``s_0, ..., s_T``.
    actions : sequence of int, length T
        ``a_0, ..., a_{T-1}``.

    Returns
    -------
    Tensor, shape ()
        The log-probability (float64), ``-inf`` for an impossible trajectory.

    See book/rl.ipynb.
    """
    P = _as_float64(P, "P")
    if P.ndim != 3 or P.shape[0] != P.shape[2]:
        raise ValueError(f"P must have shape (S, A, S), got {tuple(P.shape)}")
    _check_distribution_rows(P, "P")
    pi = _check_pi(pi, P)
    rho0 = _as_float64(rho0, "rho0")
    if rho0.shape != (P.shape[0],):
        raise ValueError(f"rho0 must have shape (S,) = ({P.shape[0]},), got {tuple(rho0.shape)}")
    _check_distribution_rows(rho0, "rho0")
    s = torch.as_tensor(states, dtype=torch.int64).reshape(-1)
    a = torch.as_tensor(actions, dtype=torch.int64).reshape(-1)
    if len(s) != len(a) + 1:
        raise ValueError(f"states must have one more entry than actions, got {len(s)} and {len(a)}")
    if s.min() < 0 or s.max() >= P.shape[0]:
        raise ValueError(f"states must lie in [0, {P.shape[0]})")
    if len(a) and (a.min() < 0 or a.max() >= P.shape[1]):
        raise ValueError(f"actions must lie in [0, {P.shape[1]})")
    terms = torch.cat([rho0[s[:1]], pi[s[:-1], a], P[s[:-1], a, s[1:]]])
    return torch.log(terms).sum()


def policy_evaluation(P: Tensor, R: Tensor, pi: Tensor, gamma: float) -> tuple[Tensor, Tensor]:
    """Exact ``V^pi`` and ``Q^pi`` of a tabular policy, by solving the Bellman equation.

    ``V = R_pi + gamma * P_pi V`` is linear in ``V``: ``(I - gamma P_pi) V = R_pi``, with
    ``P_pi[s, s'] = sum_a pi[s, a] P[s, a, s']`` and ``R_pi[s] = sum_a pi[s, a] R[s, a]``.
    Then ``Q = R + gamma * P V``.

    Parameters
    ----------
    P : Tensor, shape (S, A, S)
        Transition probabilities.
    R : Tensor, shape (S, A)
        Expected immediate rewards.
    pi : Tensor, shape (S, A)
        Action probabilities of the policy in each state.
    gamma : float
        Discount factor in ``[0, 1)``.

    Returns
    -------
    V : Tensor, shape (S,)
        On-policy value function, float64.
    Q : Tensor, shape (S, A)
        On-policy action-value function, float64.

    See book/rl.ipynb.
    """
    P, R = _check_mdp(P, R)
    pi = _check_pi(pi, P)
    g = _check_gamma(gamma, allow_one=False)
    P_pi = torch.einsum("sa,sat->st", pi, P)  # (S, S)
    R_pi = (pi * R).sum(-1)  # (S,)
    eye = torch.eye(P.shape[0], dtype=torch.float64, device=P.device)
    V = torch.linalg.solve(eye - g * P_pi, R_pi)
    Q = R + g * torch.einsum("sat,t->sa", P, V)
    return V, Q


def finite_horizon_evaluation(
    P: Tensor, R: Tensor, pi: Tensor, horizon: int, gamma: float = 1.0
) -> Tensor:
    """Expected return over the next ``horizon`` steps, ``E[sum_{t<H} gamma**t r_t | s_0 = s]``.

    Backward induction: ``V_0 = 0`` and ``V_{k+1} = R_pi + gamma * P_pi V_k``. With
    ``gamma = 1`` this is the finite-horizon undiscounted value, e.g. what an episode cut
    by Gymnasium's ``TimeLimit`` after ``horizon`` steps earns on average.

    Parameters
    ----------
    P : Tensor, shape (S, A, S)
        Transition probabilities.
    R : Tensor, shape (S, A)
        Expected immediate rewards.
    pi : Tensor, shape (S, A)
        Tabular policy.
    horizon : int
        Number of steps ``H >= 0``.
    gamma : float
        Discount factor in ``[0, 1]``.

    Returns
    -------
    Tensor, shape (S,)
        ``V_H``, float64.

    See book/rl.ipynb.
    """
    P, R = _check_mdp(P, R)
    pi = _check_pi(pi, P)
    g = _check_gamma(gamma, allow_one=True)
    if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 0:
        raise ValueError(f"horizon must be a non-negative integer, got {horizon!r}")
    P_pi = torch.einsum("sa,sat->st", pi, P)
    R_pi = (pi * R).sum(-1)
    V = torch.zeros(P.shape[0], dtype=torch.float64, device=P.device)
    for _ in range(int(horizon)):
        V = R_pi + g * (P_pi @ V)
    return V


def value_iteration(P: Tensor, R: Tensor, gamma: float, tol: float = 1e-8) -> tuple[Tensor, Tensor]:
    """Optimal ``V*`` and ``Q*`` by iterating the Bellman optimality operator.

    ``Q_{k+1} = R + gamma * P V_k`` and ``V_{k+1}(s) = max_a Q_{k+1}(s, a)``, from
    ``V_0 = 0``. The operator is a ``gamma``-contraction in the max norm, so iteration stops
    once ``gamma / (1 - gamma) * max|V_{k+1} - V_k| <= tol``, which guarantees
    ``max|V - V*| <= tol``.

    Parameters
    ----------
    P : Tensor, shape (S, A, S)
        Transition probabilities.
    R : Tensor, shape (S, A)
        Expected immediate rewards.
    gamma : float
        Discount factor in ``[0, 1)``.
    tol : float
        Maximum error of the returned ``V`` in the max norm (positive).

    Returns
    -------
    V : Tensor, shape (S,)
        Optimal value function, float64.
    Q : Tensor, shape (S, A)
        Optimal action-value function ``Q*(s, a) = R(s, a) + gamma * sum_s' P V*(s')``;
        ``V = Q.max(-1)`` and ``argmax_a Q*(s, a)`` is an optimal action.

    See book/rl.ipynb.
    """
    P, R = _check_mdp(P, R)
    g = _check_gamma(gamma, allow_one=False)
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    n_states, n_actions, _ = P.shape
    P_flat = P.reshape(n_states * n_actions, n_states)  # (S*A, S)
    R_flat = R.reshape(-1)  # (S*A,)
    V = torch.zeros(n_states, dtype=torch.float64, device=P.device)
    if g > 0:
        stop = tol * (1.0 - g) / g
        # A-priori bound |V_k - V*| <= g**k * max|R| / (1 - g): a cap that also guarantees tol.
        r_max = float(R.abs().max())
        cap = 1 + max(0, math.ceil(math.log(tol * (1.0 - g) / max(r_max, 1e-300)) / math.log(g)))
        sweeps = 0
        while sweeps < cap:
            # Check every few sweeps: a check costs about as much as a sweep, and the extra
            # sweeps only bring V closer to V*.
            for _ in range(min(8, cap - sweeps)):
                V_prev = V
                V = torch.addmv(R_flat, P_flat, V, alpha=g).view(n_states, n_actions).amax(-1)
                sweeps += 1
            if float(torch.dist(V, V_prev, p=math.inf)) <= stop:
                break
    Q = torch.addmv(R_flat, P_flat, V, alpha=g).view(n_states, n_actions)  # (S, A)
    return Q.amax(-1), Q


def greedy_policy(Q: Tensor) -> Tensor:
    """The deterministic policy ``a(s) = argmax_a Q(s, a)`` as a one-hot table.

    Parameters
    ----------
    Q : Tensor, shape (S, A)
        Action values; ties go to the lowest action index.

    Returns
    -------
    Tensor, shape (S, A)
        float64 one-hot rows, usable as ``pi`` in :func:`policy_evaluation`.

    See book/rl.ipynb.
    """
    Q = _as_float64(Q, "Q")
    if Q.ndim != 2 or Q.shape[1] == 0:
        raise ValueError(f"Q must have shape (S, A), got {tuple(Q.shape)}")
    return torch.nn.functional.one_hot(Q.argmax(-1), Q.shape[1]).to(torch.float64)


# --------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------


def plot_gridworld(
    ax: Axes,
    desc: Any,
    *,
    values: Any = None,
    Q: Any = None,
    path: Sequence[int] | None = None,
    moves: Sequence[tuple[int, int]] = FROZEN_LAKE_MOVES,
    vmin: float = 0.0,
    vmax: float = 1.0,
    cmap: str = "viridis",
    fmt: str = "{:.2f}",
    tie_tol: float = 1e-6,
) -> Axes:
    """Draw a grid world: tiles, optional state values, greedy arrows and a path.

    Parameters
    ----------
    ax : Axes
        Where to draw.
    desc : array-like, shape (nrow, ncol)
        Tile letters, e.g. FrozenLake's ``env.unwrapped.desc`` (S start, F frozen, H hole,
        G goal).
    values : array-like, shape (S,), optional
        A value per state, drawn as a heat map and written in each tile.
    Q : array-like, shape (S, A), optional
        Action values; an arrow is drawn for every action within ``tie_tol`` (relative) of
        the best one, except on holes and goals (terminal states).
    path : sequence of int, optional
        Visited states; drawn as a line, with the agent at the last one.
    moves : sequence of (dx, dy)
        The step on the map of each action (default: FrozenLake's).

    Returns
    -------
    Axes

    See book/rl.ipynb.
    """
    tiles = np.array(
        [[c.decode() if isinstance(c, bytes) else str(c) for c in row] for row in desc]
    )
    nrow, ncol = tiles.shape
    if values is None:
        grid = np.where(tiles == "G", 0.85, 0.45)
        ax.imshow(grid, cmap="Blues", vmin=0, vmax=1)
    else:
        grid = np.asarray(values, dtype=float).reshape(nrow, ncol)
        ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax)
    for letter, face in (("H", "#3a3a3a"), ("G", "#E69F00")):  # holes grey, goal gold
        for r, c in zip(*np.nonzero(tiles == letter), strict=True):
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor=face, edgecolor="none"))
    dark = tiles == "H"  # where text and arrows must be white
    if values is not None:
        dark |= (tiles != "G") & (grid < (vmin + vmax) / 2)
    for r in range(nrow):
        for c in range(ncol):
            letter = tiles[r, c]
            color = "white" if dark[r, c] else "black"
            ax.text(c - 0.42, r - 0.42, letter, ha="left", va="top", fontsize=7, color=color)
            if values is not None and letter not in "HG":
                ax.text(
                    c,
                    r + 0.33,
                    fmt.format(grid[r, c]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=color,
                )
    if Q is not None:
        q = np.asarray(Q, dtype=float)
        for s in range(nrow * ncol):
            r, c = divmod(s, ncol)
            if tiles[r, c] in "HG":
                continue
            best = q[s].max()
            color = "white" if dark[r, c] else "black"
            for a in np.flatnonzero(best - q[s] <= tie_tol * abs(best)):
                dx, dy = moves[a]
                ax.annotate(
                    "",
                    xy=(c + 0.32 * dx, r + 0.32 * dy - 0.05),
                    xytext=(c, r - 0.05),
                    arrowprops={"arrowstyle": "->", "color": color, "lw": 1.6},
                )
    if path is not None and len(path):
        rc = np.array([divmod(int(s), ncol) for s in path], dtype=float)
        ax.plot(rc[:, 1], rc[:, 0], "-", color="#CC79A7", lw=2.5, alpha=0.9)
        ax.plot(rc[-1, 1], rc[-1, 0], "o", color="#D55E00", ms=12, mec="white", mew=1.5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_xlim(-0.5, ncol - 0.5)
    ax.set_ylim(nrow - 0.5, -0.5)
    return ax


def plot_categorical(
    ax: Axes,
    probs: Any,
    *,
    frequencies: Any = None,
    labels: Sequence[str] | None = None,
) -> Axes:
    """Bars of a categorical policy's probabilities, with sample frequencies as markers.

    Parameters
    ----------
    ax : Axes
        Where to draw.
    probs : array-like, shape (A,)
        Action probabilities.
    frequencies : array-like, shape (A,), optional
        Empirical frequencies of sampled actions.
    labels : sequence of str, optional
        Action names.

    Returns
    -------
    Axes

    See book/rl.ipynb.
    """
    p = np.asarray(probs, dtype=float)
    x = np.arange(len(p))
    ax.bar(x, p, color="#56B4E9", label="π(a|s)")
    if frequencies is not None:
        ax.plot(x, np.asarray(frequencies, dtype=float), "D", color="#D55E00", label="sampled")
    ax.set_xticks(x, labels if labels is not None else [str(i) for i in x])
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.legend(loc="upper right")
    return ax


def plot_diag_gaussian(
    ax: Axes,
    mu: Any,
    log_std: Any,
    *,
    samples: Any = None,
    action: Any = None,
    lim: float = 3.0,
) -> Axes:
    """The density of a 2-D diagonal Gaussian policy, with samples and a chosen action.

    Parameters
    ----------
    ax : Axes
        Where to draw.
    mu, log_std : array-like, shape (2,)
        Mean and log standard deviation.
    samples : array-like, shape (N, 2), optional
        Sampled actions, drawn as dots.
    action : array-like, shape (2,), optional
        An action to mark with a star.
    lim : float
        The plot shows ``[-lim, lim]`` on both axes.

    Returns
    -------
    Axes

    See book/rl.ipynb.
    """
    m = torch.as_tensor(np.asarray(mu, dtype=float))
    ls = torch.as_tensor(np.asarray(log_std, dtype=float))
    grid = torch.linspace(-lim, lim, 121, dtype=torch.float64)
    a1, a2 = torch.meshgrid(grid, grid, indexing="xy")
    density = diag_gaussian_log_prob(m, ls, torch.stack([a1, a2], dim=-1)).exp()
    ax.imshow(density.numpy(), origin="lower", extent=(-lim, lim, -lim, lim), cmap="Blues")
    if samples is not None:
        pts = np.asarray(samples, dtype=float)
        ax.plot(pts[:, 0], pts[:, 1], ".", color="#E69F00", ms=3, alpha=0.7)
    if action is not None:
        ax.plot(*np.asarray(action, dtype=float), "*", color="#D55E00", ms=14, mec="black")
    ax.plot(*m.numpy(), "+", color="black", ms=10)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel("a₁")
    ax.set_ylabel("a₂")
    ax.grid(False)
    return ax


def plot_running_return(ax: Axes, rewards: Sequence[float], gamma: float, step: int) -> Axes:
    """Rewards of an episode, its running return and its reward-to-go, up to ``step``.

    Labels are plain text, not mathtext: widgets draw this for every frame, and parsing
    mathtext would dominate the frame time.

    Parameters
    ----------
    ax : Axes
        Where to draw.
    rewards : sequence of float, length T
        ``r_0, ..., r_{T-1}``.
    gamma : float
        Discount factor in ``[0, 1]``.
    step : int
        How many steps have been taken (``0 <= step <= T``): the running return
        ``sum_{k < step} gamma**k r_k`` is drawn up to there.

    Returns
    -------
    Axes

    See book/rl.ipynb.
    """
    r = np.asarray(rewards, dtype=float)
    n = len(r)
    if not 0 <= step <= n:
        raise ValueError(f"step must be in [0, {n}], got {step}")
    running = np.concatenate([[0.0], np.cumsum(r * float(gamma) ** np.arange(n))])  # (T + 1,)
    to_go = rewards_to_go(r.tolist(), gamma).numpy()
    t = np.arange(n + 1)
    ax.plot(np.arange(n), to_go, "--", color="#999999", lw=1, label="reward-to-go Gₜ")
    ax.bar(np.arange(step), r[:step], width=0.35, color="#56B4E9", label="reward rₜ")
    ax.plot(
        t[: step + 1],
        running[: step + 1],
        "o-",
        color="#D55E00",
        ms=3,
        label="running return (sum of γᵏ rₖ, k < t)",
    )
    ax.set_xlim(-0.5, n + 0.5)
    lo, hi = min(0.0, r.min(), running.min()), max(1.0, r.max(), running.max(), to_go.max())
    ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.25 * (hi - lo))
    ax.set_xlabel("step t")
    ax.legend(loc="upper left", fontsize=7)
    return ax


def plot_agent_environment_loop(ax: Axes) -> Axes:
    """A diagram of the agent-environment loop: action out, next state and reward back.

    See book/rl.ipynb.
    """
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 4)
    ax.set_axis_off()
    boxes = {
        "agent": (0.4, r"agent" "\n" r"$a_t \sim \pi_\theta(\cdot|s_t)$", "#56B4E9"),
        "env": (6.1, "environment\n" r"$s_{t+1} \sim P(\cdot|s_t, a_t)$", "#E69F00"),
    }
    for x, text, color in boxes.values():
        ax.add_patch(
            FancyBboxPatch(
                (x, 1.3),
                3.5,
                1.4,
                boxstyle="round,pad=0.1",
                facecolor=color,
                alpha=0.35,
                edgecolor=color,
            )
        )
        ax.text(x + 1.75, 2.0, text, ha="center", va="center", fontsize=10)
    arrow = {"arrowstyle": "-|>", "color": "black", "lw": 1.3, "connectionstyle": "arc3,rad=-0.35"}
    ax.annotate("", xy=(7.2, 2.85), xytext=(2.8, 2.85), arrowprops=arrow)
    ax.text(5.0, 3.75, r"action $a_t$", ha="center", fontsize=10)
    ax.annotate("", xy=(2.8, 1.15), xytext=(7.2, 1.15), arrowprops=arrow)
    ax.text(
        5.0, 0.05, r"next state (observation) $s_{t+1}$, reward $r_t$", ha="center", fontsize=10
    )
    return ax
