"""Drawing for the RL chapter: grid worlds, policies, returns, and the widgets' panels.

Every ``plot_*`` draws on the Axes (or the pair of Axes) it is given and returns it.
See book/rl.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch, Rectangle

from mlnotes_lib.experiments.rl import FROZEN_LAKE_MOVES
from mlnotes_lib.plots import COLORS
from mlnotes_lib.rl import categorical_log_prob, diag_gaussian_log_prob, rewards_to_go

__all__ = [
    "plot_agent_environment_loop",
    "plot_categorical",
    "plot_diag_gaussian",
    "plot_gaussian_policy",
    "plot_gridworld",
    "plot_finite_horizon",
    "plot_optimal_values",
    "plot_replay",
    "plot_running_estimate",
    "plot_running_return",
    "plot_steps_to_go",
    "plot_temperature",
]


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
    for letter, face in (("H", "#3a3a3a"), ("G", COLORS["orange"])):  # holes grey, goal gold
        for r, c in zip(*np.nonzero(tiles == letter), strict=True):
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor=face, edgecolor="none"))
    dark = tiles == "H"  # where text and arrows must be white
    if values is not None:
        dark |= (tiles != "G") & (grid < (vmin + vmax) / 2)
    for r in range(nrow):
        for c in range(ncol):
            letter = tiles[r, c]
            color = "white" if dark[r, c] else "black"
            ax.text(c - 0.42, r - 0.42, letter, ha="left", va="top", fontsize=9, color=color,
                    in_layout=False)  # fmt: skip
            if values is not None and letter not in "HG":
                ax.text(
                    c,
                    r + 0.33,
                    fmt.format(grid[r, c]),
                    ha="center",
                    va="center",
                    fontsize=9,
                    color=color,
                    in_layout=False,  # inside its cell: constrained layout need not measure it
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
                    in_layout=False,
                )
    if path is not None and len(path):
        rc = np.array([divmod(int(s), ncol) for s in path], dtype=float)
        ax.plot(rc[:, 1], rc[:, 0], "-", color=COLORS["purple"], lw=2.5, alpha=0.9)
        ax.plot(rc[-1, 1], rc[-1, 0], "o", color=COLORS["red"], ms=12, mec="white", mew=1.5)
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
    ax.bar(x, p, color=COLORS["sky"], label="π(a|s)")
    if frequencies is not None:
        ax.plot(x, np.asarray(frequencies, dtype=float), "D", color=COLORS["red"], label="sampled")
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
        ax.plot(pts[:, 0], pts[:, 1], ".", color=COLORS["orange"], ms=3, alpha=0.7)
    if action is not None:
        ax.plot(*np.asarray(action, dtype=float), "*", color=COLORS["red"], ms=14, mec="black")
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
    ax.bar(np.arange(step), r[:step], width=0.35, color=COLORS["sky"], label="reward rₜ")
    ax.plot(
        t[: step + 1],
        running[: step + 1],
        "o-",
        color=COLORS["red"],
        ms=3,
        label="running return (sum of γᵏ rₖ, k < t)",
    )
    ax.set_xlim(-0.5, n + 0.5)
    lo, hi = min(0.0, r.min(), running.min()), max(1.0, r.max(), running.max(), to_go.max())
    ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.25 * (hi - lo))
    ax.set_xlabel("step t")
    ax.legend(loc="upper left", fontsize=9)
    return ax


def plot_agent_environment_loop(ax: Axes) -> Axes:
    """A diagram of the agent-environment loop: action out, next state and reward back.

    See book/rl.ipynb.
    """
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 4)
    ax.set_axis_off()
    boxes = {
        "agent": (0.4, r"agent" "\n" r"$a_t \sim \pi_\theta(\cdot|s_t)$", COLORS["sky"]),
        "env": (6.1, "environment\n" r"$s_{t+1} \sim P(\cdot|s_t, a_t)$", COLORS["orange"]),
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


def plot_temperature(
    axes: Sequence[Axes], logits: Any, temperature: float, samples: Any, labels: Sequence[str]
) -> Sequence[Axes]:
    """Two panels: ``softmax(logits / T)`` with the frequencies of ``samples``, and ``log pi``.

    ``samples`` (n,) are actions drawn from the tempered policy.

    See book/rl.ipynb.
    """
    ax, ax2 = axes
    z = torch.as_tensor(logits, dtype=torch.float64) / temperature
    probs, logp = torch.softmax(z, -1), categorical_log_prob(z, torch.arange(len(z)))
    samples = torch.as_tensor(samples)
    freq = torch.bincount(samples, minlength=len(z)) / len(samples)
    plot_categorical(ax, probs, frequencies=freq, labels=labels)
    ax.set_title(f"T = {temperature}: π(a|s) and {len(samples)} samples", fontsize=10)
    ax2.bar(range(len(z)), logp, color=COLORS["purple"])
    ax2.set(xticks=range(len(z)), xticklabels=labels, ylim=(-32, 1), ylabel="log π(a|s)")
    for a in range(len(z)):
        ax2.text(a, logp[a].item() - 0.5, f"{logp[a]:.2f}", ha="center", va="top", fontsize=9)
    ax2.set_title(f"entropy H = {-(probs * logp).sum():.3f} nats", fontsize=10)
    return axes


def plot_gaussian_policy(
    axes: Sequence[Axes], mu: Any, log_std: Any, eps: Any, action: Any
) -> Sequence[Axes]:
    """The density of a 2-D Gaussian policy with samples ``mu + sigma * eps`` (N, 2), and
    the log-likelihood of ``action`` split into the three terms of its formula.

    See book/rl.ipynb.
    """
    ax, ax2 = axes
    mu, log_std = torch.as_tensor(mu).double(), torch.as_tensor(log_std).double()
    action = torch.as_tensor(action).double()
    samples = mu + log_std.exp() * torch.as_tensor(eps).double()
    plot_diag_gaussian(ax, mu, log_std, samples=samples, action=action)
    u = (action - mu) / log_std.exp()
    log_p = diag_gaussian_log_prob(mu, log_std, action).item()
    terms = {  # plain-text labels: mathtext would dominate the frame time
        "−½ Σ u²": -0.5 * (u**2).sum().item(),
        "−Σ log σ": -log_std.sum().item(),
        "−(D/2) log 2π": -len(mu) / 2 * math.log(2 * math.pi),
        "log π(a|s)": log_p,
    }
    ax2.barh(list(terms), list(terms.values()), color=list(COLORS.values())[:4])
    ax2.set(xlim=(-12, 2.5), title=f"log π(a|s) = {log_p:.3f}")
    ax2.invert_yaxis()
    ax.set_title(f"μ₁ = {mu[0].item()}, log σ₁ = {log_std[0].item()}", fontsize=10)
    return axes


def plot_replay(
    axes: Sequence[Axes],
    desc: Any,
    episode: Any,
    step: int,
    gamma: float,
    action_names: Sequence[str],
) -> Sequence[Axes]:
    """An episode (a ``Trajectory``) up to ``step``: the path on the map and the returns.

    See book/rl.ipynb.
    """
    ax, ax2 = axes
    plot_gridworld(ax, desc, path=episode.observations[: step + 1])
    if step < len(episode):
        move = f", then {action_names[episode.actions[step]]}"
    else:
        move = " (episode over)"
    ax.set_title(f"t = {step}: s = {episode.observations[step]}{move}", fontsize=9)
    plot_running_return(ax2, episode.rewards, gamma, step)
    return axes


def plot_optimal_values(
    axes: Sequence[Axes], desc: Any, optimal: dict, gamma: float, slippery: bool
) -> Sequence[Axes]:
    """``V*`` and the greedy arrows for one ``(gamma, slippery)``, and ``V*(start)`` over gamma.

    ``optimal[(gamma, slippery)]`` holds ``(V*, Q*)`` for every setting on the slider.

    See book/rl.ipynb.
    """
    ax, ax2 = axes
    V, Q = optimal[(gamma, slippery)]
    plot_gridworld(ax, desc, values=V, Q=Q)
    kind = "slippery" if slippery else "not slippery"
    ax.set_title(f"V* and a*(s), γ = {gamma}, {kind}", fontsize=9)
    gammas = sorted({g for g, _ in optimal})
    for s, color in ((False, COLORS["blue"]), (True, COLORS["orange"])):
        starts = [optimal[(g, s)][0][0].item() for g in gammas]
        ax2.plot(gammas, starts, "o-", color=color, label="slippery" if s else "not slippery")
    ax2.plot(gamma, V[0].item(), "s", ms=12, mfc="none", mec="black")
    ax2.set(xlabel="γ", ylabel="V*(start)", ylim=(0, 1))
    ax2.legend()
    return axes


def plot_running_estimate(ax: Axes, returns: Any, exact: float, *, ylabel: str = "J(π)") -> Axes:
    """The running Monte Carlo mean of 0/1 returns with its 95% band, against ``exact``.

    See book/rl.ipynb.
    """
    x = np.asarray(returns, dtype=float)
    n = np.arange(1, len(x) + 1)
    mean = np.cumsum(x) / n
    se = np.sqrt(np.maximum(mean * (1 - mean), 1e-12) / n)  # returns are 0 or 1
    ax.fill_between(n, mean - 1.96 * se, mean + 1.96 * se, alpha=0.3, label="95% interval")
    ax.plot(n, mean, label="Monte Carlo mean")
    ax.axhline(exact, color=COLORS["red"], ls="--", label="exact J(π)")
    ax.set(xscale="log", xlabel="episodes N", ylabel=ylabel)
    ax.legend()
    return ax


def plot_finite_horizon(ax: Axes, horizons: Any, curves: dict) -> Axes:
    """P(goal within H steps) against the horizon H for several policies (name -> values).

    See book/rl.ipynb.
    """
    for name, values in curves.items():
        ax.plot(horizons, values, label=name)
    ax.set(xlabel="horizon H (steps)", ylabel="P(goal within H steps)")
    ax.legend()
    return ax


def plot_steps_to_go(
    axes: Sequence[Axes],
    desc: Any,
    tables: dict,
    k: int,
    optimum: Sequence[float],
    curves: dict,
    stationary: Any,
) -> Sequence[Axes]:
    """The finite-horizon optimum with ``k`` steps to go, against stationary policies.

    Left: ``V_k`` (the optimal probability of reaching the goal within ``k`` steps) and
    every optimal action, with a red frame on the tiles where the action of ``stationary``
    (S,) ints is not among them. Right: how far each of ``curves`` (name -> values for
    H = 1, 2, ...) falls short of ``optimum`` (the same horizons), in percentage points,
    with the current ``k`` marked. ``tables[k]`` holds ``(V_k, Q_k)``
    (:func:`mlnotes_lib.experiments.rl.finite_horizon_tables`).

    See book/rl.ipynb.
    """
    ax, ax2 = axes
    V, Q = tables[k]
    plot_gridworld(ax, desc, values=V, Q=Q)
    q = np.asarray(Q, dtype=float)
    ncol = len(desc[0])
    for s, a in enumerate(np.asarray(stationary)):
        best = q[s].max()
        if best - q[s, a] > 1e-6 * abs(best):
            r, c = divmod(s, ncol)
            ax.add_patch(Rectangle((c - 0.46, r - 0.46), 0.92, 0.92, fill=False,
                                   edgecolor=COLORS["red"], lw=2.5))  # fmt: skip
    ax.set_title(f"{k} steps to go: V_k and optimal actions", fontsize=9)
    best = np.asarray(optimum, dtype=float)
    horizons = np.arange(1, len(best) + 1)
    for (name, values), color in zip(
        curves.items(), (COLORS["blue"], COLORS["orange"]), strict=False
    ):
        gap = 100 * (best - np.asarray(values, dtype=float))
        ax2.plot(horizons, gap, color=color, label=name)
        ax2.plot(k, gap[k - 1], "o", color=color)
    ax2.axvline(k, color="grey", lw=1, ls=":")
    ax2.set(xscale="log", xlabel="steps to go k", ylabel="optimum − policy (points)")
    ax2.set_title(f"P(goal within {k} steps): optimum {100 * best[k - 1]:.1f}%", fontsize=9)
    ax2.legend(loc="upper left")
    return axes
