"""Benchmarks of mlnotes_lib.rl against reference implementations, timed in the same run.

- ``value_iteration`` on the slippery FrozenLake 8x8 (gamma = 0.99) against the same
  algorithm written with NumPy;
- ``categorical_log_prob`` / ``categorical_sample`` against ``torch.distributions.Categorical``;
- ``diag_gaussian_log_prob`` against ``torch.distributions.Normal`` summed over dimensions;
- ``policy_iteration`` against ``value_iteration`` on the same MDP (for information).

Run by ``make bench``; ``python benchmarks/bench_rl.py`` prints the rows.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from torch.distributions import Categorical, Normal

from mlnotes_lib import rl
from mlnotes_lib._common import num_threads
from timing import median_seconds, render_rows

REPEATS = 7


def _median_seconds(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    return median_seconds(fn, repeats=repeats)


def numpy_value_iteration(P: np.ndarray, R: np.ndarray, gamma: float, tol: float = 1e-8):
    """The reference: value iteration with NumPy, same stopping rule as ``rl.value_iteration``."""
    n_states, n_actions, _ = P.shape
    P_flat = P.reshape(n_states * n_actions, n_states)
    V = np.zeros(n_states)
    stop = tol * (1 - gamma) / gamma
    while True:
        V_new = (R + gamma * (P_flat @ V).reshape(n_states, n_actions)).max(1)
        delta = np.abs(V_new - V).max()
        V = V_new
        if delta <= stop:
            break
    Q = R + gamma * (P_flat @ V).reshape(n_states, n_actions)
    return Q.max(1), Q


def rows() -> list[dict]:
    with num_threads(1):
        out = []
        env = gym.make("FrozenLake-v1", map_name="8x8", is_slippery=True)
        P, R, _ = rl.tabular_mdp(env)
        P_np, R_np = P.numpy(), R.numpy()
        V, _ = rl.value_iteration(P, R, 0.99)
        V_ref, _ = numpy_value_iteration(P_np, R_np, 0.99)
        assert np.allclose(V.numpy(), V_ref, atol=1e-7)
        out.append(
            {
                "what": "value_iteration, FrozenLake 8x8 slippery, gamma 0.99 (ref: NumPy)",
                "ours": _median_seconds(lambda: rl.value_iteration(P, R, 0.99)),
                "ref": _median_seconds(lambda: numpy_value_iteration(P_np, R_np, 0.99)),
                "unit": "s",
                "target": "within 2x of NumPy",
            }
        )

        V_pi = rl.policy_iteration(P, R, 0.99)[0]
        assert torch.allclose(V_pi, V, atol=1e-6)
        out.append(
            {
                "what": "policy_iteration, FrozenLake 8x8, gamma 0.99 (ref: value_iteration)",
                "ours": _median_seconds(lambda: rl.policy_iteration(P, R, 0.99)),
                "ref": _median_seconds(lambda: rl.value_iteration(P, R, 0.99)),
                "unit": "s",
                "target": "(for information: a few exact solves against many sweeps)",
            }
        )

        g = torch.Generator().manual_seed(0)
        logits = torch.randn(65_536, 16, generator=g)
        actions = torch.randint(0, 16, (65_536,), generator=g)
        assert torch.allclose(
            rl.categorical_log_prob(logits, actions), Categorical(logits=logits).log_prob(actions)
        )
        out.append(
            {
                "what": "categorical_log_prob, (65536, 16) (ref: Categorical.log_prob)",
                "ours": _median_seconds(lambda: rl.categorical_log_prob(logits, actions)),
                "ref": _median_seconds(lambda: Categorical(logits=logits).log_prob(actions)),
                "unit": "s",
                "target": "within 2x of torch",
            }
        )
        out.append(
            {
                "what": "categorical_sample, (65536, 16) (ref: Categorical.sample)",
                "ours": _median_seconds(lambda: rl.categorical_sample(logits, generator=g)),
                "ref": _median_seconds(lambda: Categorical(logits=logits).sample()),
                "unit": "s",
                "target": "within 3x of torch",
            }
        )

        mu = torch.randn(65_536, 8, generator=g)
        log_std = 0.3 * torch.randn(8, generator=g)
        acts = torch.randn(65_536, 8, generator=g)
        assert torch.allclose(
            rl.diag_gaussian_log_prob(mu, log_std, acts),
            Normal(mu, log_std.exp()).log_prob(acts).sum(-1),
            atol=1e-4,
        )
        out.append(
            {
                "what": "diag_gaussian_log_prob, (65536, 8) (ref: Normal.log_prob.sum)",
                "ours": _median_seconds(lambda: rl.diag_gaussian_log_prob(mu, log_std, acts)),
                "ref": _median_seconds(lambda: Normal(mu, log_std.exp()).log_prob(acts).sum(-1)),
                "unit": "s",
                "target": "within 2x of torch",
            }
        )
        return out


if __name__ == "__main__":
    print(render_rows(rows()))
