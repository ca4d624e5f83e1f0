"""Tests of the tabular additions to mlnotes_lib.rl: advantage, policy iteration, finite-horizon
optimal control and the exact policy gradient, each against an independent computation."""

from __future__ import annotations

import itertools

import gymnasium as gym
import pytest
import torch
from torch.testing import assert_close

from mlnotes_lib import rl
from mlnotes_lib.experiments import rl as experiments

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lake():
    return rl.tabular_mdp(gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True))


def random_mdp(seed: int, n_states: int = 5, n_actions: int = 3):
    g = torch.Generator().manual_seed(seed)
    P = torch.softmax(
        3 * torch.randn(n_states, n_actions, n_states, generator=g, dtype=torch.float64), -1
    )
    R = torch.randn(n_states, n_actions, generator=g, dtype=torch.float64)
    rho0 = torch.softmax(torch.randn(n_states, generator=g, dtype=torch.float64), -1)
    return P, R, rho0


def test_advantage_is_q_minus_v_and_averages_to_zero_under_the_policy(lake):
    P, R, _ = lake
    pi = torch.softmax(
        torch.randn(16, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64), -1
    )
    V, Q = rl.policy_evaluation(P, R, pi, 0.9)
    A = rl.advantage(Q, V)
    assert A.shape == (16, 4)
    assert_close(A, Q - V[:, None])
    assert_close((pi * A).sum(1), torch.zeros(16, dtype=torch.float64), atol=1e-14, rtol=0)


def test_optimal_advantage_is_nonpositive_and_zero_at_optimal_actions(lake):
    P, R, _ = lake
    V, Q = rl.value_iteration(P, R, 0.9, tol=1e-12)
    A = rl.advantage(Q, V)
    assert (A <= 0).all() and (A.amax(1) == 0).all()


def test_advantage_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\bV\b"):
        rl.advantage(torch.zeros(3, 2), torch.zeros(4))
    with pytest.raises(ValueError, match=r"\bQ\b"):
        rl.advantage(torch.zeros(3), torch.zeros(3))


@pytest.mark.parametrize("seed", range(5))
def test_policy_iteration_finds_the_best_deterministic_policy_by_brute_force(seed):
    P, R, _rho0 = random_mdp(seed, n_states=4, n_actions=3)
    V, _Q, pi, n = rl.policy_iteration(P, R, 0.8)
    assert pi.shape == (4, 3) and torch.equal(pi.sum(1), torch.ones(4, dtype=torch.float64))
    assert set(pi.unique().tolist()) <= {0.0, 1.0} and n >= 1
    best = torch.full((4,), -torch.inf, dtype=torch.float64)
    for actions in itertools.product(range(3), repeat=4):
        det = torch.nn.functional.one_hot(torch.tensor(actions), 3).double()
        best = torch.maximum(best, rl.policy_evaluation(P, R, det, 0.8)[0])
    assert_close(V, best, atol=1e-10, rtol=0)
    assert_close(V, rl.value_iteration(P, R, 0.8, tol=1e-12)[0], atol=1e-10, rtol=0)


def test_policy_iteration_on_the_lake_matches_value_iteration(lake):
    P, R, _ = lake
    V, _Q, pi, n = rl.policy_iteration(P, R, 0.9)
    V_star, Q_star = rl.value_iteration(P, R, 0.9, tol=1e-12)
    assert_close(V, V_star, atol=1e-10, rtol=0)
    assert (Q_star.gather(1, pi.argmax(1, keepdim=True)).squeeze(1) >= V_star - 1e-10).all()
    assert n < 10


def test_finite_horizon_optimum_on_the_lake_is_the_issue_value(lake):
    P, R, rho0 = lake
    V, policy = rl.finite_horizon_value_iteration(P, R, 100)
    assert V.shape == (16,) and policy.shape == (100, 16) and policy.dtype == torch.int64
    assert abs((rho0 @ V).item() - 0.7442) < 1e-4
    for gamma, target in ((0.9, 0.7298), (0.99, 0.7402)):
        greedy = rl.greedy_policy(rl.value_iteration(P, R, gamma, tol=1e-12)[1])
        assert abs((rho0 @ rl.finite_horizon_evaluation(P, R, greedy, 100)).item() - target) < 1e-4
    assert abs(experiments.horizon_curve(P, R, rho0, 100)[-1] - (rho0 @ V).item()) < 1e-12


@pytest.mark.parametrize("seed", range(3))
def test_finite_horizon_optimum_beats_every_nonstationary_deterministic_policy(seed):
    # Brute force over all policies of a 2-step horizon on a 3-state, 2-action MDP.
    P, R, _rho0 = random_mdp(seed, n_states=3, n_actions=2)
    V, policy = rl.finite_horizon_value_iteration(P, R, 2, gamma=0.7)
    best = torch.full((3,), -torch.inf, dtype=torch.float64)
    for first in itertools.product(range(2), repeat=3):
        for second in itertools.product(range(2), repeat=3):
            V1 = R[torch.arange(3), torch.tensor(second)]
            a0 = torch.tensor(first)
            V2 = R[torch.arange(3), a0] + 0.7 * P[torch.arange(3), a0] @ V1
            best = torch.maximum(best, V2)
    assert_close(V, best)
    # Following the returned policy achieves V.
    V1 = R[torch.arange(3), policy[1]]
    assert_close(V, R[torch.arange(3), policy[0]] + 0.7 * P[torch.arange(3), policy[0]] @ V1)


def test_finite_horizon_value_iteration_of_horizon_zero_is_zero(lake):
    P, R, _ = lake
    V, policy = rl.finite_horizon_value_iteration(P, R, 0)
    assert torch.equal(V, torch.zeros(16, dtype=torch.float64)) and policy.shape == (0, 16)


@pytest.mark.parametrize("horizon, gamma", [(None, 0.9), (None, 0.5), (7, 1.0), (30, 0.95)])
def test_policy_gradient_equals_autograd_through_the_exact_return(lake, horizon, gamma):
    P, R, rho0 = lake
    z = torch.randn(16, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    z.requires_grad_(True)
    pi = torch.softmax(z, -1)
    if horizon is None:
        J = rho0 @ rl.policy_evaluation(P, R, pi, gamma)[0]
    else:
        J = rho0 @ rl.finite_horizon_evaluation(P, R, pi, horizon, gamma)
    (expected,) = torch.autograd.grad(J, z)
    got = rl.policy_gradient(P, R, rho0, z.detach(), gamma, horizon=horizon)
    assert got.shape == z.shape and got.dtype == z.dtype
    assert_close(got, expected, rtol=1e-9, atol=1e-15)


def test_policy_gradient_keeps_the_logits_dtype_and_matches_finite_differences():
    P, R, rho0 = random_mdp(0)
    z = torch.zeros(5, 3, dtype=torch.float32)
    got = rl.policy_gradient(P, R, rho0, z, 0.9)
    assert got.dtype == torch.float32
    J = lambda zz: (rho0 @ rl.policy_evaluation(P, R, torch.softmax(zz, -1), 0.9)[0]).item()  # noqa: E731
    z64 = z.double()
    for s, a in [(0, 0), (2, 1), (4, 2)]:
        e = torch.zeros_like(z64)
        e[s, a] = 1e-6
        assert abs((J(z64 + e) - J(z64 - e)) / 2e-6 - got[s, a].item()) < 1e-5


def test_bad_horizons_gammas_and_shapes_are_named(lake):
    P, R, rho0 = lake
    z = torch.zeros(16, 4, dtype=torch.float64)
    for horizon in (-1, 2.5, True, "3"):
        with pytest.raises(ValueError, match=r"\bhorizon\b"):
            rl.finite_horizon_value_iteration(P, R, horizon)
        with pytest.raises(ValueError, match=r"\bhorizon\b"):
            rl.policy_gradient(P, R, rho0, z, 1.0, horizon=horizon)
    for gamma in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"\bgamma\b"):
            rl.finite_horizon_value_iteration(P, R, 3, gamma=gamma)
        with pytest.raises(ValueError, match=r"\bgamma\b"):
            rl.policy_iteration(P, R, gamma)
    with pytest.raises(ValueError, match=r"\bgamma\b"):
        rl.policy_iteration(P, R, 1.0)  # no finite infinite-horizon values
    with pytest.raises(ValueError, match=r"\bgamma\b"):
        rl.policy_gradient(P, R, rho0, z, 1.0)  # infinite horizon needs gamma < 1
    with pytest.raises(ValueError, match=r"\bR\b"):
        rl.finite_horizon_value_iteration(P, R[:, :3], 3)
    with pytest.raises(ValueError, match=r"\bP\b"):
        rl.policy_iteration(P[:, :, :15], R, 0.9)
    with pytest.raises(ValueError, match=r"\blogits\b"):
        rl.policy_gradient(P, R, rho0, z[:, :3], 0.9)
    with pytest.raises(ValueError, match=r"\brho0\b"):
        rl.policy_gradient(P, R, rho0[:15], z, 0.9)


def test_moved_names_still_work_from_the_old_path():
    from mlnotes_lib.experiments import rl as exp

    for name in ("rollout", "rollouts", "Trajectory", "tabular_mdp", "FROZEN_LAKE_MOVES"):
        assert getattr(rl, name) is getattr(exp, name)
    with pytest.raises(AttributeError):
        rl.plot_gridworld  # noqa: B018 -- drawing moved to plots.rl, which the math never imports


def test_trajectory_check_and_monte_carlo_estimate(lake):
    P, _R, rho0 = lake
    env = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True)
    uniform = torch.full((16, 4), 0.25, dtype=torch.float64)
    check = experiments.check_trajectories(env, P, rho0, uniform, 500, max_steps=2, seed=0)
    assert sum(check.counts.values()) == 500 and all(p > 0 for p in check.exact.values())
    chi2, dof = check.chi_square()
    assert dof >= 1 and chi2 >= 0
    est = experiments.monte_carlo_return(env, uniform, 200, seed=0)
    assert est.n == 200 and 0 <= est.mean <= 1 and est.se >= 0
