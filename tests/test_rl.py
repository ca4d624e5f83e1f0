"""Tests of mlnotes_lib.rl: torch.distributions, hand-worked cases and Gymnasium's own model."""

from __future__ import annotations

import math

import gymnasium as gym
import matplotlib
import numpy as np
import pytest
import torch
from torch.distributions import Categorical, MultivariateNormal, Normal
from torch.testing import assert_close

from mlnotes_lib import plotting, rl
from mlnotes_lib.exercises import rl as ex
from mlnotes_lib.plots import rl as plots_rl

matplotlib.use("Agg")

LEFT, DOWN, RIGHT, UP = range(4)


pytestmark = pytest.mark.usefixtures("one_thread")


def frozen_lake(slippery: bool, map_name: str = "4x4"):
    return gym.make("FrozenLake-v1", map_name=map_name, is_slippery=slippery)


def numpy_value_iteration(model, n_states, n_actions, gamma, sweeps=3000):
    """Independent reference: Gymnasium's table with the 'done' flag masking the bootstrap."""
    V = np.zeros(n_states)
    for _ in range(sweeps):
        Q = np.zeros((n_states, n_actions))
        for s in range(n_states):
            for a in range(n_actions):
                Q[s, a] = sum(p * (r + gamma * (not d) * V[s2]) for p, s2, r, d in model[s][a])
        V = Q.max(1)
    return V, Q


def random_policy(n_states, n_actions, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(n_states, n_actions, generator=g, dtype=torch.float64), -1)


# ----------------------------------------------------------------------------- categorical


def test_categorical_log_prob_matches_torch_forward_and_backward():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    actions = torch.randint(0, 5, (2, 3), generator=g)
    ours = rl.categorical_log_prob(logits, actions)
    ref = Categorical(logits=logits).log_prob(actions)
    assert ours.shape == (2, 3)
    assert_close(ours, ref)
    w = torch.randn(2, 3, generator=g, dtype=torch.float64)
    (g_ours,) = torch.autograd.grad((ours * w).sum(), logits)
    (g_ref,) = torch.autograd.grad((ref * w).sum(), logits)
    assert_close(g_ours, g_ref)


def test_categorical_log_prob_broadcasts_like_torch():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 4, generator=g)
    actions = torch.randint(0, 4, (7, 3), generator=g)  # 7 samples for each of 3 states
    assert_close(
        rl.categorical_log_prob(logits, actions), Categorical(logits=logits).log_prob(actions)
    )


def test_categorical_log_prob_is_log_softmax_entry_worked_by_hand():
    logits = torch.tensor([0.0, math.log(3.0)])  # probabilities 1/4, 3/4
    assert_close(rl.categorical_log_prob(logits, torch.tensor(1)), torch.tensor(math.log(0.75)))


def test_categorical_log_prob_of_impossible_action_is_minus_inf():
    logits = torch.tensor([0.0, -math.inf, 1.0])
    assert rl.categorical_log_prob(logits, torch.tensor(1)).item() == -math.inf


def test_categorical_sample_frequencies_match_softmax():
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0], [0.0, 0.0, 0.0, 3.0]])
    n = 40_000
    g = torch.Generator().manual_seed(0)
    samples = rl.categorical_sample(logits.expand(n, 2, 4), generator=g)  # (n, 2)
    assert samples.shape == (n, 2) and samples.dtype == torch.int64
    freq = torch.stack([torch.bincount(samples[:, i], minlength=4) for i in range(2)]) / n
    probs = Categorical(logits=logits).probs
    se = (probs * (1 - probs) / n).sqrt()
    assert ((freq - probs).abs() <= 5 * se + 1e-9).all()


def test_categorical_sample_is_reproducible_and_never_picks_impossible_actions():
    logits = torch.tensor([-math.inf, 0.0, -math.inf, 0.0, -math.inf]).expand(5000, 5)
    a1 = rl.categorical_sample(logits, generator=torch.Generator().manual_seed(3))
    a2 = rl.categorical_sample(logits, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a1, a2)
    assert set(a1.unique().tolist()) == {1, 3}


def test_categorical_bad_inputs_name_the_argument():
    logits = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"\bactions\b"):
        rl.categorical_log_prob(logits, torch.tensor([0, 1, 4]))  # out of range
    with pytest.raises(ValueError, match=r"\bactions\b"):
        rl.categorical_log_prob(logits, torch.tensor([0.0, 1.0, 2.0]))  # not integers
    with pytest.raises(ValueError, match=r"\bactions\b"):
        rl.categorical_log_prob(logits, torch.zeros(2, dtype=torch.int64))  # shape mismatch
    with pytest.raises(ValueError, match=r"\blogits\b"):
        rl.categorical_sample(torch.tensor([0.0, math.nan]))
    with pytest.raises(ValueError, match=r"\blogits\b"):
        rl.categorical_sample(torch.full((2, 3), -math.inf))


# ----------------------------------------------------------------------------- Gaussian


@pytest.mark.parametrize("per_state_std", [False, True])
def test_diag_gaussian_log_prob_matches_torch_forward_and_backward(per_state_std):
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    shape = (6, 3) if per_state_std else (3,)
    log_std = (0.5 * torch.randn(shape, generator=g, dtype=torch.float64)).requires_grad_()
    actions = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    ours = rl.diag_gaussian_log_prob(mu, log_std, actions)
    ref = Normal(mu, log_std.exp()).log_prob(actions).sum(-1)
    assert ours.shape == (6,)
    assert_close(ours, ref)
    grads_ours = torch.autograd.grad(ours.sum(), (mu, log_std, actions))
    grads_ref = torch.autograd.grad(ref.sum(), (mu, log_std, actions))
    for a, b in zip(grads_ours, grads_ref, strict=True):
        assert_close(a, b)


def test_diag_gaussian_log_prob_matches_multivariate_normal_with_diagonal_covariance():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(4, 2, generator=g, dtype=torch.float64)
    log_std = torch.tensor([-0.3, 0.8], dtype=torch.float64)
    actions = torch.randn(4, 2, generator=g, dtype=torch.float64)
    mvn = MultivariateNormal(mu, covariance_matrix=torch.diag(torch.exp(2 * log_std)))
    assert_close(rl.diag_gaussian_log_prob(mu, log_std, actions), mvn.log_prob(actions))


def test_diag_gaussian_log_prob_worked_by_hand():
    # Standard normal in 1-D at a = 0: log(1 / sqrt(2 pi)).
    out = rl.diag_gaussian_log_prob(torch.zeros(1), torch.zeros(1), torch.zeros(1))
    assert_close(out, torch.tensor(-0.5 * math.log(2 * math.pi)))


def test_diag_gaussian_sample_is_mu_plus_sigma_times_standard_normal():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    log_std = torch.tensor([0.5, -1.0], requires_grad=True)
    a = rl.diag_gaussian_sample(
        mu.expand(3, 2), log_std, generator=torch.Generator().manual_seed(5)
    )
    z = torch.randn(3, 2, generator=torch.Generator().manual_seed(5))
    assert_close(a, mu + log_std.exp() * z)
    # Reparameterised: da/dmu = 1, da/dlog_std = sigma * z.
    (g_mu, g_ls) = torch.autograd.grad(a.sum(), (mu, log_std))
    assert_close(g_mu, torch.full((1, 2), 3.0))
    assert_close(g_ls, (log_std.exp() * z).sum(0).detach())


def test_diag_gaussian_sample_moments():
    mu = torch.tensor([0.5, -1.0], dtype=torch.float64)
    log_std = torch.tensor([0.0, math.log(0.3)], dtype=torch.float64)
    a = rl.diag_gaussian_sample(mu.expand(50_000, 2), log_std, torch.Generator().manual_seed(0))
    assert_close(a.mean(0), mu, atol=0.02, rtol=0)
    assert_close(a.std(0), log_std.exp(), atol=0.01, rtol=0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_diag_gaussian_rejects_non_finite_log_std(bad):
    mu, actions = torch.zeros(2), torch.zeros(2)
    log_std = torch.tensor([0.0, bad])
    with pytest.raises(ValueError, match=r"\blog_std\b"):
        rl.diag_gaussian_log_prob(mu, log_std, actions)
    with pytest.raises(ValueError, match=r"\blog_std\b"):
        rl.diag_gaussian_sample(mu, log_std)


def test_diag_gaussian_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\blog_std\b"):
        rl.diag_gaussian_log_prob(torch.zeros(4, 2), torch.zeros(3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"\blog_std\b"):
        rl.diag_gaussian_sample(torch.zeros(4, 2), torch.zeros(5, 2))
    with pytest.raises(ValueError, match=r"\bactions\b"):
        rl.diag_gaussian_log_prob(torch.zeros(4, 2), torch.zeros(2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"\bactions\b"):
        rl.diag_gaussian_log_prob(torch.zeros(4, 2), torch.zeros(2), torch.zeros(3, 2))


def test_policy_networks_agree_with_torch_distributions():
    torch.manual_seed(0)
    obs = torch.randn(8, 3)
    cat = rl.CategoricalPolicy(3, 4, hidden=(16,))
    actions = cat.sample(obs, generator=torch.Generator().manual_seed(0))
    assert actions.shape == (8,)
    assert_close(cat.log_prob(obs, actions), Categorical(logits=cat(obs)).log_prob(actions))
    assert torch.equal(cat.mode(obs), Categorical(logits=cat(obs)).probs.argmax(-1))
    gauss = rl.DiagGaussianPolicy(3, 2, hidden=(16,), log_std=-0.5)
    a = gauss.sample(obs, generator=torch.Generator().manual_seed(0))
    assert a.shape == (8, 2)
    lp = gauss.log_prob(obs, a.detach())
    ref = Normal(gauss(obs), gauss.log_std.exp()).log_prob(a.detach()).sum(-1)
    assert_close(lp, ref)
    (g_ours,) = torch.autograd.grad(lp.sum(), gauss.log_std)
    (g_ref,) = torch.autograd.grad(ref.sum(), gauss.log_std)
    assert_close(g_ours, g_ref)


# ----------------------------------------------------------------------------- returns


def test_returns_worked_by_hand():
    # G_3 = 3, G_2 = 2 + 1.5, G_1 = 0 + 1.75, G_0 = 1 + 0.875.
    rewards = [1.0, 0.0, 2.0, 3.0]
    assert rl.discounted_return(rewards, 0.5) == pytest.approx(1.875)
    assert_close(
        rl.rewards_to_go(rewards, 0.5), torch.tensor([1.875, 1.75, 3.5, 3.0], dtype=torch.float64)
    )
    assert rl.discounted_return(rewards, 1.0) == pytest.approx(6.0)
    assert rl.discounted_return(rewards, 0.0) == pytest.approx(1.0)
    assert rl.discounted_return([], 0.9) == 0.0
    assert rl.rewards_to_go([], 0.9).shape == (0,)


def test_rewards_to_go_satisfies_its_recursion_and_keeps_float32():
    r = torch.randn(50, generator=torch.Generator().manual_seed(0))
    G = rl.rewards_to_go(r, 0.9)
    assert G.dtype == torch.float32 and G.shape == (50,)
    assert_close(G[:-1], r[:-1] + 0.9 * G[1:])
    assert G[0].item() == pytest.approx(rl.discounted_return(r, 0.9), rel=1e-5)


@pytest.mark.parametrize("gamma", [-0.1, 1.5, math.nan])
def test_returns_reject_gamma_outside_unit_interval(gamma):
    with pytest.raises(ValueError, match=r"\bgamma\b"):
        rl.discounted_return([1.0, 2.0], gamma)
    with pytest.raises(ValueError, match=r"\bgamma\b"):
        rl.rewards_to_go([1.0, 2.0], gamma)


def test_returns_reject_rewards_that_are_not_1d():
    with pytest.raises(ValueError, match=r"\brewards\b"):
        rl.discounted_return(torch.zeros(2, 3), 0.9)


# ----------------------------------------------------------------------------- tabular MDPs


def test_tabular_mdp_of_deterministic_frozen_lake():
    P, R, rho0 = rl.tabular_mdp(frozen_lake(False))
    assert P.shape == (16, 4, 16) and R.shape == (16, 4) and rho0.shape == (16,)
    assert P.dtype == R.dtype == rho0.dtype == torch.float64
    assert_close(P.sum(-1), torch.ones(16, 4, dtype=torch.float64))
    assert_close(rho0, torch.eye(16, dtype=torch.float64)[0])
    assert P[0, RIGHT, 1] == 1 and P[0, LEFT, 0] == 1 and P[0, DOWN, 4] == 1
    assert R[14, RIGHT] == 1 and R.sum() == 1  # the only way in: 11 above it is a hole
    for terminal in (5, 7, 11, 12, 15):  # holes and the goal are absorbing, reward-free
        assert (P[terminal, :, terminal] == 1).all() and (R[terminal] == 0).all()


def test_tabular_mdp_of_slippery_frozen_lake_matches_gymnasium_table():
    env = frozen_lake(True)
    P, R, _ = rl.tabular_mdp(env)
    # From the start, LEFT slips to DOWN or UP with 1/3 each: it stays with 2/3, goes down 1/3.
    assert_close(
        P[0, LEFT],
        torch.eye(16, dtype=torch.float64)[0] * 2 / 3 + torch.eye(16, dtype=torch.float64)[4] / 3,
    )
    model = env.unwrapped.P
    for s in (0, 6, 14):
        for a in range(4):
            expected = torch.zeros(16, dtype=torch.float64)
            for p, s2, _, _ in model[s][a]:
                expected[s2] += p
            assert_close(P[s, a], expected)
    assert R[14, DOWN] == pytest.approx(1 / 3)  # slips right into the goal


def test_tabular_mdp_makes_cliff_walking_goal_absorbing():
    P, R, rho0 = rl.tabular_mdp(gym.make("CliffWalking-v1"))
    assert P.shape == (48, 4, 48) and rho0[36] == 1
    assert (P[47, :, 47] == 1).all() and (R[47] == 0).all()  # Gymnasium's table has moves out of 47
    assert R[36, 1] == -100 and P[36, 1, 36] == 1  # stepping into the cliff returns to start
    assert R[35, 2] == -1 and P[35, 2, 47] == 1  # stepping onto the goal costs -1 and ends


def test_tabular_mdp_rejects_env_without_model():
    with pytest.raises(ValueError, match=r"\benv\b"):
        rl.tabular_mdp(gym.make("CartPole-v1"))


# ----------------------------------------------------------------------------- value functions


def test_value_iteration_deterministic_lake_worked_by_hand():
    P, R, _ = rl.tabular_mdp(frozen_lake(False))
    V, Q = rl.value_iteration(P, R, 0.9)
    # The goal is 6 moves from the start; its reward comes on the 6th: V*(start) = gamma**5.
    assert V[0].item() == pytest.approx(0.9**5, abs=1e-8)
    assert V[14].item() == pytest.approx(1.0, abs=1e-8) and V[15] == 0 and V[5] == 0
    assert Q[14].argmax().item() == RIGHT


@pytest.mark.parametrize("map_name", ["4x4", "8x8"])
def test_value_iteration_matches_independent_numpy_reference(map_name):
    env = frozen_lake(True, map_name)
    P, R, _ = rl.tabular_mdp(env)
    V, Q = rl.value_iteration(P, R, 0.95, tol=1e-10)
    S = P.shape[0]
    V_ref, Q_ref = numpy_value_iteration(env.unwrapped.P, S, 4, 0.95, sweeps=700)
    terminal = (P[torch.arange(S), 0, torch.arange(S)] == 1) & (R == 0).all(1)
    nonterminal = ~terminal
    assert_close(V[nonterminal], torch.as_tensor(V_ref)[nonterminal], atol=1e-9, rtol=0)
    assert_close(Q[nonterminal], torch.as_tensor(Q_ref)[nonterminal], atol=1e-9, rtol=0)


def test_value_iteration_satisfies_bellman_optimality_and_v_is_max_q():
    P, R, _ = rl.tabular_mdp(gym.make("CliffWalking-v1"))
    V, Q = rl.value_iteration(P, R, 0.99, tol=1e-10)
    assert_close(V, Q.max(-1).values)
    assert_close(Q, R + 0.99 * torch.einsum("sat,t->sa", P, V), atol=1e-9, rtol=0)


def test_policy_evaluation_two_state_chain_worked_by_hand():
    # State 0: action 0 stays (reward 1), action 1 moves to 1 (reward 2); state 1 is absorbing.
    P = torch.zeros(2, 2, 2, dtype=torch.float64)
    P[0, 0, 0] = P[0, 1, 1] = P[1, :, 1] = 1
    R = torch.tensor([[1.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
    pi = torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.float64)
    V, Q = rl.policy_evaluation(P, R, pi, 0.5)
    # V(0) = 0.5 (1 + 0.5 V(0)) + 0.5 * 2  =>  V(0) = 1.5 / 0.75 = 2.
    assert_close(V, torch.tensor([2.0, 0.0], dtype=torch.float64))
    assert_close(Q[0], torch.tensor([2.0, 2.0], dtype=torch.float64))
    V_star, _ = rl.value_iteration(P, R, 0.5)
    assert V_star[0].item() == pytest.approx(2.0, abs=1e-7)  # both actions are worth 2


def test_policy_evaluation_matches_iterative_evaluation_and_identities():
    P, R, _ = rl.tabular_mdp(frozen_lake(True))
    pi = random_policy(16, 4)
    V, Q = rl.policy_evaluation(P, R, pi, 0.9)
    V_iter = rl.finite_horizon_evaluation(P, R, pi, 400, gamma=0.9)
    assert_close(V, V_iter, atol=1e-12, rtol=0)
    assert_close(V, (pi * Q).sum(-1))  # V^pi(s) = E_{a~pi} Q^pi(s, a)
    # Optimal values dominate; the greedy policy of Q* attains them.
    V_star, Q_star = rl.value_iteration(P, R, 0.9, tol=1e-12)
    assert (V_star >= V - 1e-12).all()
    V_greedy, _ = rl.policy_evaluation(P, R, rl.greedy_policy(Q_star), 0.9)
    assert_close(V_greedy, V_star, atol=1e-10, rtol=0)


def test_finite_horizon_evaluation_short_horizons():
    P, R, _ = rl.tabular_mdp(frozen_lake(False))
    pi = random_policy(16, 4, seed=3)
    assert (rl.finite_horizon_evaluation(P, R, pi, 0) == 0).all()
    assert_close(rl.finite_horizon_evaluation(P, R, pi, 1), (pi * R).sum(-1))


def test_expected_return_matches_monte_carlo_on_gymnasium():
    env = frozen_lake(True)
    P, R, rho0 = rl.tabular_mdp(env)
    pi = torch.full((16, 4), 0.25, dtype=torch.float64)
    exact = float(rho0 @ rl.finite_horizon_evaluation(P, R, pi, 100, gamma=1.0))
    returns = np.array([t.discounted_return(1.0) for t in rl.rollouts(env, pi, 3000, seed=0)])
    se = returns.std(ddof=1) / math.sqrt(len(returns))
    assert abs(returns.mean() - exact) < 4 * se


def test_trajectory_log_prob_worked_by_hand_and_rejects_bad_lengths():
    P, _, rho0 = rl.tabular_mdp(frozen_lake(True))
    pi = torch.full((16, 4), 0.25, dtype=torch.float64)
    # s0 = 0, LEFT stays at 0 (prob 2/3), then DOWN to 4 (prob 1/3): 1 * 1/4 * 2/3 * 1/4 * 1/3.
    lp = rl.trajectory_log_prob(P, rho0, pi, [0, 0, 4], [LEFT, DOWN])
    assert lp.exp().item() == pytest.approx(0.25 * 2 / 3 * 0.25 * 1 / 3)
    assert rl.trajectory_log_prob(P, rho0, pi, [1], []).item() == -math.inf  # not a start state
    with pytest.raises(ValueError, match=r"\bstates\b"):
        rl.trajectory_log_prob(P, rho0, pi, [0, 0], [LEFT, DOWN])


def test_trajectory_probabilities_of_all_short_episodes_sum_to_one():
    P, _, rho0 = rl.tabular_mdp(frozen_lake(True))
    pi = random_policy(16, 4, seed=1)
    total, count = 0.0, 0
    for a0 in range(4):
        for s1 in P[0, a0].nonzero().flatten().tolist():  # the others have probability 0
            for a1 in range(4):
                for s2 in P[s1, a1].nonzero().flatten().tolist():
                    lp = rl.trajectory_log_prob(P, rho0, pi, [0, s1, s2], [a0, a1])
                    total += lp.exp().item()
                    count += 1
    assert count > 50
    assert total == pytest.approx(1.0, abs=1e-12)


def test_rollout_is_reproducible_and_consistent():
    env = frozen_lake(True)
    pi = torch.full((16, 4), 0.25, dtype=torch.float64)
    t1, t2 = rl.rollout(env, pi, seed=7), rl.rollout(env, pi, seed=7)
    assert t1.observations == t2.observations and t1.actions == t2.actions
    assert len(t1.observations) == len(t1) + 1 == len(t1.rewards) + 1
    assert t1.terminated or t1.truncated
    short = rl.rollout(env, pi, seed=7, max_steps=1)
    assert len(short) == 1 and (short.truncated or short.terminated)
    assert rl.rollout(env, lambda s: RIGHT, seed=0, max_steps=2).actions == [RIGHT, RIGHT]
    batch = rl.rollouts(env, pi, 3, seed=7)
    assert batch[0].actions == t1.actions and len(batch) == 3


def test_greedy_policy_is_one_hot_argmax():
    Q = torch.tensor([[0.0, 2.0, 1.0], [5.0, 5.0, -1.0]])
    assert_close(
        rl.greedy_policy(Q), torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    )


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("gamma", [-0.5, 1.0, 1.2])
def test_value_functions_reject_gamma_outside_zero_one(gamma):
    P, R, _ = rl.tabular_mdp(frozen_lake(False))
    pi = torch.full((16, 4), 0.25, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"\bgamma\b"):
        rl.value_iteration(P, R, gamma)
    with pytest.raises(ValueError, match=r"\bgamma\b"):
        rl.policy_evaluation(P, R, pi, gamma)


def test_finite_horizon_allows_gamma_one_but_not_more():
    P, R, _ = rl.tabular_mdp(frozen_lake(False))
    pi = torch.full((16, 4), 0.25, dtype=torch.float64)
    assert rl.finite_horizon_evaluation(P, R, pi, 3, gamma=1.0).shape == (16,)
    with pytest.raises(ValueError, match=r"\bgamma\b"):
        rl.finite_horizon_evaluation(P, R, pi, 3, gamma=1.01)
    with pytest.raises(ValueError, match=r"\bhorizon\b"):
        rl.finite_horizon_evaluation(P, R, pi, -1)


def test_rows_of_P_must_be_distributions():
    P, R, _ = rl.tabular_mdp(frozen_lake(False))
    bad = P.clone()
    bad[3, 2] *= 0.5
    with pytest.raises(ValueError, match=r"\bP\b"):
        rl.value_iteration(bad, R, 0.9)
    negative = P.clone()
    negative[0, 0, 0], negative[0, 0, 1] = -0.5, 1.5
    with pytest.raises(ValueError, match=r"\bP\b"):
        rl.policy_evaluation(negative, R, torch.full((16, 4), 0.25), 0.9)


def test_rows_of_pi_must_be_distributions():
    P, R, _ = rl.tabular_mdp(frozen_lake(False))
    with pytest.raises(ValueError, match=r"\bpi\b"):
        rl.policy_evaluation(P, R, torch.full((16, 4), 0.3), 0.9)
    with pytest.raises(ValueError, match=r"\bpi\b"):
        rl.policy_evaluation(P, R, torch.tensor([[1.5, -0.5, 0.0, 0.0]] * 16), 0.9)


def test_mismatched_tabular_shapes_are_rejected():
    P, R, rho0 = rl.tabular_mdp(frozen_lake(False))
    with pytest.raises(ValueError, match=r"\bR\b"):
        rl.value_iteration(P, R[:, :3], 0.9)
    with pytest.raises(ValueError, match=r"\bpi\b"):
        rl.policy_evaluation(P, R, torch.full((15, 4), 0.25), 0.9)
    with pytest.raises(ValueError, match=r"\bP\b"):
        rl.value_iteration(P[:, :, :15], R, 0.9)
    with pytest.raises(ValueError, match=r"\brho0\b"):
        rl.trajectory_log_prob(P, rho0[:15], torch.full((16, 4), 0.25), [0], [])


def test_value_iteration_rejects_non_positive_tol():
    P, R, _ = rl.tabular_mdp(frozen_lake(False))
    with pytest.raises(ValueError, match=r"\btol\b"):
        rl.value_iteration(P, R, 0.9, tol=0.0)


def test_rollout_rejects_bad_policy():
    env = frozen_lake(False)
    with pytest.raises(ValueError, match=r"\bpolicy\b"):
        rl.rollout(env, torch.full((16, 4), 0.3))
    with pytest.raises(ValueError, match=r"\bpolicy\b"):
        rl.rollout(env, "left")


# ----------------------------------------------------------------------------- exercises, plots


def test_gaussian_checker_passes_reference_and_names_each_mistake():
    assert ex.check_diag_gaussian_log_prob(rl.diag_gaussian_log_prob).passed
    for mistake in ex.GAUSSIAN_MISTAKES:
        result = ex.check_diag_gaussian_log_prob(mistake.fn)
        assert not result.passed and result.mistake == mistake.name


def test_rewards_to_go_checker_passes_reference_and_names_each_mistake():
    assert ex.check_rewards_to_go(rl.rewards_to_go).passed
    for mistake in ex.REWARDS_TO_GO_MISTAKES:
        result = ex.check_rewards_to_go(mistake.fn)
        assert not result.passed and result.mistake == mistake.name
    unknown = ex.check_rewards_to_go(lambda r, g: torch.zeros_like(r))
    assert not unknown.passed and unknown.mistake is None


def test_plot_helpers_draw_on_the_given_axes():
    env = frozen_lake(True)
    P, R, _ = rl.tabular_mdp(env)
    V, Q = rl.value_iteration(P, R, 0.9)
    _, axes = plotting.figure(1, 3)
    assert (
        plots_rl.plot_gridworld(axes[0], env.unwrapped.desc, values=V, Q=Q, path=[0, 4, 8])
        is axes[0]
    )
    assert len(axes[0].images) == 1 and len(axes[0].lines) == 2
    assert plots_rl.plot_categorical(axes[1], [0.2, 0.8], frequencies=[0.25, 0.75]) is axes[1]
    assert len(axes[1].patches) == 2
    ax = plots_rl.plot_diag_gaussian(
        axes[2], [0, 0], [0, 0], samples=np.zeros((5, 2)), action=[1, 1]
    )
    assert ax is axes[2] and len(ax.images) == 1


def test_finite_horizon_tables_agree_with_backward_induction():
    from mlnotes_lib.experiments import rl as experiments

    P, R, _ = rl.tabular_mdp(frozen_lake(True))
    tables = experiments.finite_horizon_tables(P, R, [37, 1, 5])
    assert sorted(tables) == [1, 5, 37]
    for k, (V_k, Q_k) in tables.items():
        V_ref, policy = rl.finite_horizon_value_iteration(P, R, k)
        assert_close(V_k, V_ref, atol=1e-14, rtol=0)
        assert_close(Q_k.amax(1), V_k)
        # the first action of the non-stationary optimum is optimal with k steps to go
        assert (Q_k.gather(1, policy[0][:, None])[:, 0] >= V_k - 1e-14).all()
    for bad in ([], [0, 3]):
        with pytest.raises(ValueError, match=r"\bsteps_to_go\b"):
            experiments.finite_horizon_tables(P, R, bad)


def test_steps_to_go_frame_marks_where_a_stationary_policy_is_not_optimal():
    from mlnotes_lib.experiments import rl as experiments
    from mlnotes_lib.plots.frames import text_problems

    env = frozen_lake(True)
    P, R, rho0 = rl.tabular_mdp(env)
    greedy = rl.greedy_policy(rl.value_iteration(P, R, 0.99, tol=1e-12)[1])
    tables = experiments.finite_horizon_tables(P, R, [8, 100])
    optimum = experiments.horizon_curve(P, R, rho0, 100)
    curves = {"greedy": experiments.horizon_curve(P, R, rho0, 100, greedy)}
    framed = {}
    for k in (8, 100):
        fig, axes = plotting.figure(1, 2, figsize=(6.4, 2.9), width_ratios=[1, 1.15])
        plots_rl.plot_steps_to_go(
            axes, env.unwrapped.desc, tables, k, optimum, curves, greedy.argmax(1)
        )
        framed[k] = sum(not p.get_fill() for p in axes[0].patches)
        if k == 8:  # one full draw is enough to check the text
            assert text_problems(fig, dpi=72) == []
    Q_8 = tables[8][1]
    wrong = Q_8.gather(1, greedy.argmax(1, keepdim=True))[:, 0] < Q_8.amax(1) - 1e-12
    assert framed[8] == int(wrong.sum()) > 0 and framed[100] == 0
