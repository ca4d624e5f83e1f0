"""Reinforcement learning, key concepts: policies, returns and exact tabular values.

The math of the chapter "Reinforcement learning: key concepts and terminology":

- stochastic policies: the categorical policy (:func:`categorical_sample`,
  :func:`categorical_log_prob`) and the diagonal Gaussian policy (:func:`diag_gaussian_sample`,
  :func:`diag_gaussian_log_prob`), written from their formulas, and small torch networks
  that use them (:class:`CategoricalPolicy`, :class:`DiagGaussianPolicy`);
- returns: :func:`discounted_return`, :func:`rewards_to_go`; tabular MDPs: the
  probability of a trajectory (:func:`trajectory_log_prob`), exact values
  (:func:`policy_evaluation`, :func:`finite_horizon_evaluation`, :func:`value_iteration`,
  :func:`policy_iteration`, :func:`finite_horizon_value_iteration`), :func:`greedy_policy`,
  :func:`advantage` and the exact :func:`policy_gradient`.

Tabular quantities are float64 tensors: ``P`` (S, A, S) with ``P[s, a, s']`` the probability
of moving to ``s'``, ``R`` (S, A) the expected immediate reward, ``pi`` (S, A) a policy's
action probabilities, ``rho0`` (S,) the start-state distribution. Terminal states are
absorbing with zero reward (Gymnasium's convention: nothing counts after termination).
The loop on a Gymnasium environment (``rollout``, ``tabular_mdp``, ...) is in
:mod:`mlnotes_lib.experiments.rl`, still importable from here; drawing is in ``plots.rl``.

References: OpenAI Spinning Up, "Introduction to RL" (Achiam, 2018); Sutton and Barto,
*Reinforcement Learning: An Introduction* (2018); Sutton et al. (2000) for the policy
gradient theorem. See book/rl.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mlnotes_lib._common import forward_moved

__all__ = [
    "CategoricalPolicy",
    "DiagGaussianPolicy",
    "advantage",
    "categorical_log_prob",
    "categorical_sample",
    "diag_gaussian_log_prob",
    "diag_gaussian_sample",
    "discounted_return",
    "finite_horizon_evaluation",
    "finite_horizon_value_iteration",
    "greedy_policy",
    "policy_evaluation",
    "policy_gradient",
    "policy_iteration",
    "rewards_to_go",
    "trajectory_log_prob",
    "value_iteration",
]

_MOVED_TO_EXPERIMENTS = ("FROZEN_LAKE_MOVES", "Trajectory", "rollout", "rollouts", "tabular_mdp")

_ROW_ATOL = 1e-6  # how far a row of P or pi may sum from 1


# Names that moved to experiments/rl.py still import from here.
__getattr__ = forward_moved(__name__, "mlnotes_lib.experiments.rl", _MOVED_TO_EXPERIMENTS)


# --- Input checks --------------------------------------------------------------------


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


def _check_horizon(horizon: Any) -> int:
    ok = isinstance(horizon, int | float) and not isinstance(horizon, bool)
    if not ok or not math.isfinite(horizon) or horizon != int(horizon) or horizon < 0:
        raise ValueError(f"horizon must be a non-negative integer, got {horizon!r}")
    return int(horizon)


def _as_float64(x: Any, name: str) -> Tensor:
    try:
        return torch.as_tensor(x, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a tensor of numbers") from None


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


def _check_rho0(rho0: Any, P: Tensor) -> Tensor:
    rho0 = _as_float64(rho0, "rho0")
    if rho0.shape != (P.shape[0],):
        raise ValueError(f"rho0 must have shape (S,) = ({P.shape[0]},), got {tuple(rho0.shape)}")
    _check_distribution_rows(rho0, "rho0")
    return rho0


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


# --- Stochastic policies -------------------------------------------------------------


def categorical_sample(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Sample actions from the categorical distributions ``softmax(logits)``.

    Inverse-cdf sampling: draw ``u ~ U(0, 1)`` and return the first action whose cumulative
    probability exceeds ``u``.

    Parameters
    ----------
    logits : Tensor, shape (..., A)
        Unnormalised log-probabilities; ``-inf`` marks an impossible action.
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

    ``logits`` (..., A) are unnormalised log-probabilities, e.g. a policy network's last
    layer; ``actions`` (...) are integers in ``[0, A)`` whose shape broadcasts with
    ``logits.shape[:-1]``. Returns ``log softmax(logits)[..., a]``, shape (...),
    differentiable with respect to ``logits``.

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
    """Sample ``a = mu + exp(log_std) * eps`` with ``eps ~ N(0, I)`` (reparameterised).

    ``mu`` has shape (..., D) and ``log_std`` (D,) or (..., D), finite; the sample has the
    broadcast shape (..., D), and gradients flow to ``mu`` and ``log_std``.

    See book/rl.ipynb.
    """
    shape = _check_gaussian(mu, log_std)
    eps = torch.randn(shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(log_std) * eps


def diag_gaussian_log_prob(mu: Tensor, log_std: Tensor, actions: Tensor) -> Tensor:
    """Log-density of a diagonal Gaussian policy, summed over the action dimensions.

    With ``sigma = exp(log_std)`` and ``D`` action dimensions,
    ``log pi(a|s) = -1/2 * (sum_i ((a_i - mu_i) / sigma_i)**2 + 2 * sum_i log_std_i
    + D * log(2 pi))``. ``mu`` and ``actions`` have shape (..., D) and broadcast, ``log_std``
    (D,) or (..., D) is finite; the result (...) is differentiable in all three.

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
    u = (actions - mu) * torch.exp(-log_std)  # standardised actions, (..., D)
    d = mu.shape[-1]
    return -0.5 * ((u**2).sum(-1) + 2.0 * log_std.sum(-1) + d * math.log(2.0 * math.pi))


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class CategoricalPolicy(nn.Module):
    """A categorical policy ``pi_theta(a|s) = softmax(f_theta(s))_a`` with a small MLP ``f``.

    ``obs_dim`` is the size of an observation vector, ``n_actions`` the number ``A`` of
    actions, ``hidden`` the widths of the hidden layers (tanh activations).

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

    ``a = mu_theta(s) + exp(log_std) * eps`` with ``eps ~ N(0, I)``; ``log_std`` (initial
    value ``log_std`` in every entry) does not depend on the state, as in most
    policy-gradient code. ``act_dim`` is the number ``D`` of action dimensions.

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


# --- Returns -------------------------------------------------------------------------


def _rewards_1d(rewards: Any) -> Tensor:
    r = _as_float64(rewards, "rewards")
    if r.ndim != 1:
        raise ValueError(f"rewards must be 1-D (one reward per step), got shape {tuple(r.shape)}")
    return r


def discounted_return(rewards: Sequence[float] | Tensor, gamma: float) -> float:
    """The return ``R(tau) = sum_t gamma**t * r_t`` of a finite list of rewards (T,).

    ``gamma`` in ``[0, 1]``; ``gamma = 1`` gives the undiscounted return. Computed in
    float64; 0 for an empty list.

    See book/rl.ipynb.
    """
    g = _check_gamma(gamma, allow_one=True)
    r = _rewards_1d(rewards)
    steps = torch.arange(len(r), dtype=torch.float64, device=r.device)
    powers = torch.full_like(r, g).pow(steps)  # gamma**t, with 0**0 = 1
    return float((powers * r).sum())


def rewards_to_go(rewards: Sequence[float] | Tensor, gamma: float) -> Tensor:
    """Reward-to-go ``G_t = sum_{k >= t} gamma**(k - t) * r_k`` at every step.

    Computed backwards with ``G_t = r_t + gamma * G_{t+1}``. For rewards of shape (T,) it
    returns ``G_0, ..., G_{T-1}``, shape (T,): float64, or the dtype of ``rewards`` when it
    is a floating tensor. ``G_0`` is :func:`discounted_return`.

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


# --- Tabular MDPs: trajectories, values, advantages and policy gradients -------------


def trajectory_log_prob(
    P: Tensor, rho0: Tensor, pi: Tensor, states: Sequence[int], actions: Sequence[int]
) -> Tensor:
    """``log P(tau|pi) = log rho0(s_0) + sum_t [log pi(a_t|s_t) + log P(s_{t+1}|s_t, a_t)]``.

    ``states`` are ``s_0, ..., s_T`` (T + 1 entries) and ``actions`` ``a_0, ..., a_{T-1}``.
    Returns a 0-d float64 tensor, ``-inf`` for an impossible trajectory.
    See book/rl.ipynb.
    """
    P, _ = _check_mdp(P, torch.zeros(_as_float64(P, "P").shape[:2]))
    pi, rho0 = _check_pi(pi, P), _check_rho0(rho0, P)
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


def _policy_model(P: Tensor, R: Tensor, pi: Tensor) -> tuple[Tensor, Tensor]:
    """``P_pi[s, s'] = sum_a pi[s, a] P[s, a, s']`` (S, S) and ``R_pi = sum_a pi R`` (S,)."""
    return torch.einsum("sa,sat->st", pi, P), (pi * R).sum(-1)


def policy_evaluation(P: Tensor, R: Tensor, pi: Tensor, gamma: float) -> tuple[Tensor, Tensor]:
    """Exact ``V^pi`` (S,) and ``Q^pi`` (S, A) of a tabular policy, for ``gamma`` in [0, 1).

    The Bellman equation ``V = R_pi + gamma * P_pi V`` is linear: ``(I - gamma P_pi) V =
    R_pi``, solved directly; then ``Q = R + gamma * P V``. Differentiable in ``pi``.

    See book/rl.ipynb.
    """
    P, R = _check_mdp(P, R)
    pi = _check_pi(pi, P)
    g = _check_gamma(gamma, allow_one=False)
    P_pi, R_pi = _policy_model(P, R, pi)
    eye = torch.eye(P.shape[0], dtype=torch.float64, device=P.device)
    V = torch.linalg.solve(eye - g * P_pi, R_pi)
    return V, R + g * torch.einsum("sat,t->sa", P, V)


def finite_horizon_evaluation(
    P: Tensor, R: Tensor, pi: Tensor, horizon: int, gamma: float = 1.0
) -> Tensor:
    """Expected return over the next ``horizon`` steps, ``E[sum_{t<H} gamma**t r_t | s_0 = s]``.

    Backward induction, ``V_0 = 0`` and ``V_{k+1} = R_pi + gamma * P_pi V_k``; returns ``V_H``
    (S,). With ``gamma = 1`` this is what an episode cut by Gymnasium's ``TimeLimit`` after
    ``horizon`` steps earns on average.

    See book/rl.ipynb.
    """
    P, R = _check_mdp(P, R)
    pi = _check_pi(pi, P)
    g = _check_gamma(gamma, allow_one=True)
    P_pi, R_pi = _policy_model(P, R, pi)
    V = torch.zeros(P.shape[0], dtype=torch.float64, device=P.device)
    for _ in range(_check_horizon(horizon)):
        V = R_pi + g * (P_pi @ V)
    return V


def value_iteration(P: Tensor, R: Tensor, gamma: float, tol: float = 1e-8) -> tuple[Tensor, Tensor]:
    """Optimal ``V*`` (S,) and ``Q*`` (S, A) by iterating the Bellman optimality operator.

    ``Q_{k+1} = R + gamma * P V_k``, ``V_{k+1} = max_a Q_{k+1}``, from ``V_0 = 0``, for
    ``gamma`` in [0, 1). The operator is a ``gamma``-contraction in the max norm, so iteration
    stops once ``gamma / (1 - gamma) * max|V_{k+1} - V_k| <= tol``, which guarantees
    ``max|V - V*| <= tol``. ``argmax_a Q*(s, a)`` is an optimal action.

    See book/rl.ipynb.
    """
    P, R = _check_mdp(P, R)
    g = _check_gamma(gamma, allow_one=False)
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    n_states, n_actions, _ = P.shape
    P_flat, R_flat = P.reshape(n_states * n_actions, n_states), R.reshape(-1)  # (S*A, S), (S*A,)
    V = torch.zeros(n_states, dtype=torch.float64, device=P.device)
    if g > 0:
        stop = tol * (1.0 - g) / g
        # A-priori bound |V_k - V*| <= g**k * max|R| / (1 - g): a cap that also guarantees tol.
        r_max = float(R.abs().max())
        cap = 1 + max(0, math.ceil(math.log(tol * (1.0 - g) / max(r_max, 1e-300)) / math.log(g)))
        sweeps = 0
        while sweeps < cap:
            # Check every few sweeps: a check costs about as much as a sweep.
            for _ in range(min(8, cap - sweeps)):
                V_prev = V
                V = torch.addmv(R_flat, P_flat, V, alpha=g).view(n_states, n_actions).amax(-1)
                sweeps += 1
            if float(torch.dist(V, V_prev, p=math.inf)) <= stop:
                break
    Q = torch.addmv(R_flat, P_flat, V, alpha=g).view(n_states, n_actions)  # (S, A)
    return Q.amax(-1), Q


def greedy_policy(Q: Tensor) -> Tensor:
    """The deterministic policy ``argmax_a Q(s, a)`` as float64 one-hot rows (S, A).

    Ties go to the lowest action index; the result is usable as ``pi``.

    See book/rl.ipynb.
    """
    Q = _as_float64(Q, "Q")
    if Q.ndim != 2 or Q.shape[1] == 0:
        raise ValueError(f"Q must have shape (S, A), got {tuple(Q.shape)}")
    return torch.nn.functional.one_hot(Q.argmax(-1), Q.shape[1]).to(torch.float64)


def advantage(Q: Tensor, V: Tensor) -> Tensor:
    """The advantage ``A(s, a) = Q(s, a) - V(s)``, shape (S, A), of ``Q`` (S, A) and ``V`` (S,).
    For ``V^pi, Q^pi`` its ``pi``-average is 0 in every state; for ``V*, Q*`` it is <= 0,
    with 0 exactly at the optimal actions.

    See book/rl.ipynb.
    """
    Q, V = _as_float64(Q, "Q"), _as_float64(V, "V")
    if Q.ndim != 2:
        raise ValueError(f"Q must have shape (S, A), got {tuple(Q.shape)}")
    if V.shape != Q.shape[:1]:
        raise ValueError(f"V must have shape (S,) = ({Q.shape[0]},), got {tuple(V.shape)}")
    return Q - V[:, None]


def policy_iteration(
    P: Tensor, R: Tensor, gamma: float, max_iterations: int = 1000
) -> tuple[Tensor, Tensor, Tensor, int]:
    """Optimal values and a deterministic optimal policy by policy iteration.

    Start from "always action 0", then repeat: evaluate the policy exactly
    (:func:`policy_evaluation`), act greedily on its ``Q``, until the policy is stable. A
    state keeps its action when that action is within rounding of the best one, so ties
    cannot make the loop cycle. By the policy improvement theorem each new policy is at least
    as good everywhere, and a finite MDP has finitely many policies, so the loop ends.

    Returns
    -------
    V, Q : Tensor, shapes (S,) and (S, A)
        ``V*`` and ``Q*`` (the values of the final policy).
    pi : Tensor, shape (S, A)
        float64 one-hot rows of an optimal deterministic policy.
    n_iterations : int
        How many policies were evaluated.

    See book/rl.ipynb.
    """
    P, R = _check_mdp(P, R)
    _check_gamma(gamma, allow_one=False)
    actions = torch.zeros(P.shape[0], dtype=torch.int64)
    for n in range(1, int(max_iterations) + 1):
        pi = torch.nn.functional.one_hot(actions, P.shape[1]).to(torch.float64)
        V, Q = policy_evaluation(P, R, pi, gamma)
        best = Q.amax(-1)
        keep = Q.gather(1, actions[:, None]).squeeze(1) >= best - 1e-12 * (1.0 + best.abs())
        new = torch.where(keep, actions, Q.argmax(-1))
        if torch.equal(new, actions):
            return V, Q, pi, n
        actions = new
    raise ValueError(f"max_iterations = {max_iterations} was too few for policy iteration")


def finite_horizon_value_iteration(
    P: Tensor, R: Tensor, horizon: int, gamma: float = 1.0
) -> tuple[Tensor, Tensor]:
    """The optimal ``horizon``-step return and its non-stationary policy, by backward induction.

    ``V_0 = 0``, ``Q_k = R + gamma * P V_{k-1}``, ``V_k = max_a Q_k``: with ``k`` steps to go
    the best action is ``argmax_a Q_k``; it depends on the time left.

    Returns
    -------
    V : Tensor, shape (S,)
        ``V_H(s)``, the optimal expected return of ``horizon`` steps from ``s``.
    policy : Tensor, shape (horizon, S), int64
        ``policy[t, s]``: an optimal action at step ``t`` (``horizon - t`` steps to go).

    See book/rl.ipynb.
    """
    P, R = _check_mdp(P, R)
    g = _check_gamma(gamma, allow_one=True)
    H = _check_horizon(horizon)
    V = torch.zeros(P.shape[0], dtype=torch.float64, device=P.device)
    policy = torch.zeros(H, P.shape[0], dtype=torch.int64)
    for k in range(1, H + 1):
        Q = R + g * torch.einsum("sat,t->sa", P, V)
        V, policy[H - k] = Q.max(-1)
    return V, policy


def policy_gradient(
    P: Tensor, R: Tensor, rho0: Tensor, logits: Tensor, gamma: float, horizon: int | None = None
) -> Tensor:
    """Exact ``dJ/dlogits`` of the tabular softmax policy ``pi = softmax(logits, dim=-1)``.

    ``J = rho0 . V^pi`` (``horizon=None``, ``gamma`` in [0, 1)) or the ``horizon``-step
    return (``gamma`` in [0, 1]). The policy gradient theorem with the softmax's score
    ``1[a = b] - pi(b|s)`` gives ``dJ/dlogits[s, a] = sum_t gamma**t P(s_t = s) pi(a|s)
    A_t(s, a)``, with ``A_t`` the advantage with ``horizon - t`` steps to go (or ``A^pi``).
    The result has the shape (S, A) and dtype of ``logits``.

    See book/rl.ipynb.
    """
    P, R = _check_mdp(P, R)
    rho0 = _check_rho0(rho0, P)
    _check_logits(logits)
    if tuple(logits.shape) != tuple(P.shape[:2]):
        raise ValueError(f"logits must have shape (S, A) = {tuple(P.shape[:2])}")
    pi = torch.softmax(logits.detach().to(torch.float64), dim=-1)
    P_pi, _ = _policy_model(P, R, pi)
    if horizon is None:
        V, Q = policy_evaluation(P, R, pi, gamma)
        eye = torch.eye(P.shape[0], dtype=torch.float64)
        d = torch.linalg.solve((eye - gamma * P_pi).T, rho0)  # sum_t gamma**t P(s_t = s)
        return (d[:, None] * pi * advantage(Q, V)).to(logits.dtype)
    g = _check_gamma(gamma, allow_one=True)
    H = _check_horizon(horizon)
    V, values = torch.zeros(P.shape[0], dtype=torch.float64), []
    for _ in range(H):  # values[k - 1] = (V_k, Q_k), k steps to go
        Q = R + g * torch.einsum("sat,t->sa", P, V)
        V = (pi * Q).sum(-1)
        values.append((V, Q))
    grad, dist = torch.zeros_like(pi), rho0.clone()
    for t in range(H):
        V_k, Q_k = values[H - 1 - t]
        grad += g**t * dist[:, None] * pi * advantage(Q_k, V_k)
        dist = dist @ P_pi
    return grad.to(logits.dtype)
