"""The RL chapter's runs on a real environment: the agent-environment loop and the model.

- :class:`Trajectory`, :func:`rollout`, :func:`rollouts`: episodes of a Gymnasium
  environment under a tabular or callable policy;
- :func:`tabular_mdp`: the transition table of a toy-text environment as tensors
  ``(P, R, rho0)`` for the exact computations of :mod:`mlnotes_lib.rl`;
- :func:`monte_carlo_return`: the mean return of many episodes with its standard error.

These names are also importable from :mod:`mlnotes_lib.rl`, where they used to live.
See book/rl.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mlnotes_lib.rl import (
    _as_float64,
    _check_distribution_rows,
    discounted_return,
    trajectory_log_prob,
)

__all__ = [
    "FROZEN_LAKE_MOVES",
    "MonteCarloEstimate",
    "Trajectory",
    "TrajectoryCheck",
    "check_trajectories",
    "describe_trajectory",
    "horizon_curve",
    "monte_carlo_return",
    "rollout",
    "rollouts",
    "tabular_mdp",
]

#: FrozenLake's actions as (column, row) steps on the map: 0 left, 1 down, 2 right, 3 up.
FROZEN_LAKE_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))


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


@dataclass
class MonteCarloEstimate:
    """The mean return of ``n`` episodes and its standard error ``s / sqrt(n)``."""

    mean: float
    se: float
    n: int

    def z_score(self, exact: float) -> float:
        """How many standard errors the estimate lies from ``exact``."""
        return (self.mean - exact) / self.se if self.se > 0 else math.inf


def monte_carlo_return(
    env: Any,
    policy: Tensor | Callable[[Any], Any],
    n: int,
    *,
    gamma: float = 1.0,
    seed: int | None = None,
) -> MonteCarloEstimate:
    """Estimate ``J(pi)`` from ``n`` episodes of :func:`rollouts` (the sample standard error).

    See book/rl.ipynb.
    """
    returns = np.array([e.discounted_return(gamma) for e in rollouts(env, policy, n, seed=seed)])
    se = returns.std(ddof=1) / math.sqrt(len(returns)) if len(returns) > 1 else math.inf
    return MonteCarloEstimate(float(returns.mean()), float(se), len(returns))


def describe_trajectory(tau: tuple, action_names: Sequence[str]) -> str:
    """``"0 -D-> 1 -L-> 5"`` for ``tau = (states, actions)``: each action's initial letter."""
    states, acts = tau
    steps = (f" -{action_names[a][0].upper()}-> {s}" for a, s in zip(acts, states[1:], strict=True))
    return f"{states[0]}" + "".join(steps)


@dataclass
class TrajectoryCheck:
    """Monte Carlo frequencies of whole trajectories against their exact probabilities."""

    counts: dict  # (states, actions) -> how often it occurred
    exact: dict  # (states, actions) -> P(tau | pi)
    n: int  # episodes

    def z_score(self, tau: tuple) -> float:
        """(frequency - probability) / standard error of the frequency."""
        p = self.exact[tau]
        return (self.counts[tau] / self.n - p) / math.sqrt(p * (1 - p) / self.n)

    def representatives(self, levels: int = 5, rarest: int = 2) -> list[tuple]:
        """One trajectory of each of the ``levels`` largest probabilities, and the rarest seen.

        Ordered by exact probability (ties by the trajectory itself), never by frequency:
        among equally probable trajectories the over-sampled ones would rise to the top.
        """
        likely = sorted(self.exact, key=lambda tau: (-round(self.exact[tau], 12), tau))
        values = sorted({round(p, 12) for p in self.exact.values()}, reverse=True)[:levels]
        shown = [next(t for t in likely if round(self.exact[t], 12) == p) for p in values]
        return shown + likely[-rarest:]

    def chi_square(self, min_expected: float = 5.0) -> tuple[float, int]:
        """Pearson's statistic over trajectories expected ``>= min_expected`` times, plus one
        cell for all the rest; returns ``(chi2, degrees of freedom)``: one fewer than the cells."""
        cells = [t for t in self.counts if self.n * self.exact[t] >= min_expected]
        k_rest = self.n - sum(self.counts[t] for t in cells)
        p_rest = 1 - sum(self.exact[t] for t in cells)
        chi2 = sum(
            (self.counts[t] - self.n * self.exact[t]) ** 2 / (self.n * self.exact[t]) for t in cells
        )
        chi2 += (k_rest - self.n * p_rest) ** 2 / (self.n * p_rest)
        return chi2, len(cells)  # (len(cells) + 1 cells) - 1


def check_trajectories(
    env: Any, P: Tensor, rho0: Tensor, pi: Tensor, n: int, *, max_steps: int, seed: int
) -> TrajectoryCheck:
    """Run ``n`` episodes of at most ``max_steps`` steps; count each distinct trajectory and
    compute its exact probability with :func:`mlnotes_lib.rl.trajectory_log_prob`.

    See book/rl.ipynb.
    """
    from collections import Counter

    episodes = rollouts(env, pi, n, seed=seed, max_steps=max_steps)
    counts = Counter((tuple(e.observations), tuple(e.actions)) for e in episodes)
    exact = {tau: trajectory_log_prob(P, rho0, pi, *tau).exp().item() for tau in counts}
    return TrajectoryCheck(dict(counts), exact, n)


def horizon_curve(P: Tensor, R: Tensor, rho0: Tensor, max_horizon: int, pi: Tensor | None = None):
    """``J_H = rho0 . V_H`` for every horizon ``H = 1, ..., max_horizon`` (undiscounted).

    With a policy ``pi`` (S, A) it is that policy's ``H``-step return; without, the optimal
    one of backward induction (:func:`mlnotes_lib.rl.finite_horizon_value_iteration` for each
    ``H`` at once: the ``k``-th backward step is the optimal ``k``-step value).

    See book/rl.ipynb.
    """
    V = torch.zeros(P.shape[0], dtype=torch.float64)
    curve = []
    for _ in range(int(max_horizon)):
        Q = R + torch.einsum("sat,t->sa", P, V)  # (S, A)
        V = Q.amax(1) if pi is None else (pi * Q).sum(1)
        curve.append(float(rho0 @ V))
    return curve


def finite_horizon_tables(P: Tensor, R: Tensor, steps_to_go: Sequence[int]) -> dict:
    """``(V_k, Q_k)`` of backward induction for each ``k`` in ``steps_to_go`` (undiscounted).

    ``V_k(s)`` is the optimal probability-weighted return of ``k`` more steps from ``s`` and
    ``Q_k`` (S, A) the value of each first action with ``k`` steps to go, so
    ``argmax_a Q_k`` is the optimal action then (the ``policy[H - k]`` of
    :func:`mlnotes_lib.rl.finite_horizon_value_iteration`, ties aside). Returns
    ``{k: (V_k (S,), Q_k (S, A))}``.

    See book/rl.ipynb.
    """
    wanted = sorted({int(k) for k in steps_to_go})
    if not wanted or wanted[0] < 1:
        raise ValueError(f"steps_to_go must hold integers >= 1, got {list(steps_to_go)}")
    V = torch.zeros(P.shape[0], dtype=torch.float64)
    tables = {}
    for k in range(1, wanted[-1] + 1):
        Q = R + torch.einsum("sat,t->sa", P, V)  # (S, A)
        V = Q.amax(1)
        if k in wanted:
            tables[k] = (V, Q)
    return tables
