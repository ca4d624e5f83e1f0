"""Drawing for the entropy, cross-entropy and KL chapter: curves and bars.

Every ``plot_*`` draws on the Axes it is given and returns it. See book/losses.ipynb.
"""

from __future__ import annotations

import math

import torch
from matplotlib.axes import Axes
from torch import Tensor

from mlnotes_lib.losses import (
    binary_cross_entropy,
    cross_entropy,
    cross_entropy_with_logits,
    entropy,
    kl_divergence,
)
from mlnotes_lib.plots import COLORS

__all__ = [
    "plot_bernoulli_entropy",
    "plot_code_lengths",
    "plot_distributions",
    "plot_information_bars",
    "plot_log_loss",
    "plot_saturation",
    "plot_softmax_gradient",
    "softmax_ce_curves",
]

_BLUE, _ORANGE, _GREEN, _RED, _PURPLE = (
    COLORS[k] for k in ("blue", "orange", "green", "red", "purple")
)


def _bernoulli(p: float) -> Tensor:
    return torch.tensor([1.0 - p, p], dtype=torch.float64)


def plot_bernoulli_entropy(ax: Axes, p: float, *, base: float = 2) -> Axes:
    """Draw the entropy of a Bernoulli(``p``) variable against ``p``, marking ``p``.

    See book/losses.ipynb.
    """
    grid = torch.linspace(0, 1, 201, dtype=torch.float64)
    h = entropy(torch.stack([1 - grid, grid], dim=-1), base=base)
    h_p = entropy(_bernoulli(p), base=base).item()
    unit = "bits" if base == 2 else "nats" if base == math.e else f"log base {base:g}"
    ax.plot(grid.numpy(), h.numpy(), color=_BLUE)
    ax.plot([p], [h_p], "o", color=_RED, ms=8, zorder=3)
    ax.vlines(p, 0, h_p, color=_RED, ls=":")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max(h.max().item(), 1e-9) * 1.15)
    ax.set_xlabel("p = P(y = 1)")
    ax.set_ylabel(f"H ({unit})")
    ax.set_title(f"H(Bernoulli({p:.2f})) = {h_p:.3f} {unit}")
    return ax


def plot_distributions(ax: Axes, q: Tensor, p: Tensor, *, labels=None) -> Axes:
    """Draw two categorical distributions side by side as grouped bars (q: truth, p: model).

    See book/losses.ipynb.
    """
    q = torch.as_tensor(q, dtype=torch.float64)
    p = torch.as_tensor(p, dtype=torch.float64)
    k = torch.arange(q.shape[-1], dtype=torch.float64).numpy()
    ax.bar(k - 0.2, q.numpy(), width=0.4, color=_BLUE, label="q (true)")
    ax.bar(k + 0.2, p.numpy(), width=0.4, color=_ORANGE, label="p (model)")
    ax.set_xticks(k, labels if labels is not None else [str(int(i)) for i in k])
    ax.set_ylim(0, 1.3)  # room for the legend above the bars
    ax.set_ylabel("probability")
    ax.legend(loc="upper center", ncols=2, frameon=False)
    return ax


def plot_information_bars(ax: Axes, q: Tensor, p: Tensor, *, base: float = 2) -> Axes:
    """Draw H(q), H_p(q), KL(q || p) and KL(p || q) as bars, with their values written on top.

    Bars run off the top (and say ``inf``) where a divergence is infinite.

    See book/losses.ipynb.
    """
    values = [
        entropy(q, base).item(),
        cross_entropy(q, p, base).item(),
        kl_divergence(q, p, base).item(),
        kl_divergence(p, q, base).item(),
    ]
    names = ["H(q)", "H_p(q)", "KL(q‖p)", "KL(p‖q)"]
    top = 4.0
    shown = [min(v, top) for v in values]
    ax.bar(range(4), shown, color=[_BLUE, _ORANGE, _GREEN, _PURPLE])
    for i, v in enumerate(values):
        text = "inf" if math.isinf(v) else f"{v:.3f}"
        ax.text(i, min(v, top) + 0.05, text, ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(4), names)
    ax.set_ylim(0, top * 1.12)
    ax.set_ylabel("bits" if base == 2 else "nats" if base == math.e else f"log base {base:g}")
    return ax


def plot_log_loss(ax: Axes, p: float, y: int) -> Axes:
    """Draw the log loss ``-log p`` (label 1) and ``-log(1 - p)`` (label 0), marking ``(p, y)``.

    The curve of the given label ``y`` is solid, the other dashed; the point shows the loss
    that the prediction ``p`` costs for that label.

    See book/losses.ipynb.
    """
    if y not in (0, 1):
        raise ValueError(f"y must be 0 or 1, got {y}")
    grid = torch.linspace(1e-3, 1 - 1e-3, 400, dtype=torch.float64)
    curves = {1: -torch.log(grid), 0: -torch.log1p(-grid)}
    for label, color in ((1, _BLUE), (0, _ORANGE)):
        ax.plot(
            grid.numpy(),
            curves[label].numpy(),
            color=color,
            ls="-" if label == y else "--",
            lw=2.0 if label == y else 1.0,
            label=f"y = {label}: " + ("-log p" if label == 1 else "-log(1 - p)"),
        )
    loss = binary_cross_entropy(torch.tensor([p], dtype=torch.float64), torch.tensor([float(y)]))
    shown = min(loss.item(), 7.0)
    ax.plot([p], [shown], "o", color=_RED, ms=8, zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 7.3)
    ax.set_xlabel("predicted probability p = P(y = 1)")
    ax.set_ylabel("loss (nats)")
    ax.set_title(f"p = {p:.2f}, y = {y}: loss = {loss.item():.3f} nats")
    ax.legend(loc="upper center", frameon=False)
    return ax


def plot_saturation(axes, logits: Tensor, through_sigmoid: list, with_logits: list) -> list:
    """Two panels: loss and gradient against the logit, through the sigmoid and from logits.

    ``through_sigmoid`` and ``with_logits`` hold one ``(loss, gradient)`` pair per logit.

    See book/losses.ipynb.
    """
    ax1, ax2 = axes
    for ax, k, name in ((ax1, 0, "loss (nats)"), (ax2, 1, "d loss / d logit")):
        ax.plot(
            logits,
            [v[k] for v in through_sigmoid],
            color=_RED,
            lw=2,
            label="BCE(sigmoid(z)), float32",
        )
        ax.plot(logits, [v[k] for v in with_logits], color=_BLUE, ls="--", label="BCE with logits")
        ax.set(xlabel="logit z (label y = 0)", ylabel=name)
    ax1.set_ylim(0, 105)
    ax2.set_ylim(-0.05, 1.1)
    ax1.legend(loc="upper left")
    return axes


def plot_code_lengths(ax: Axes, p: Tensor, code: dict) -> Axes:
    """Bars of the Huffman codeword lengths beside the ideal lengths ``-log2 p``.

    See book/losses.ipynb.
    """
    p = torch.as_tensor(p, dtype=torch.float64)
    k = torch.arange(len(p), dtype=torch.float64)
    ax.bar(
        k - 0.2,
        [len(code[i]) for i in range(len(p))],
        width=0.4,
        color=_BLUE,
        label="Huffman codeword length",
    )
    ax.bar(k + 0.2, -torch.log2(p), width=0.4, color=_ORANGE, label="−log₂ p (ideal)")
    for i in range(len(p)):
        ax.text(i - 0.2, len(code[i]) + 0.05, code[i], ha="center", va="bottom", fontsize=9)
    ax.set(xticks=k.tolist(), xlabel="outcome", ylabel="bits")
    ax.legend(loc="upper left")
    return ax


def softmax_ce_curves(logits, grid, target: int) -> dict[str, Tensor]:
    """Softmax cross-entropy and its gradient as the first logit moves along ``grid``.

    ``logits`` (C,) are the other logits' values (the first is replaced by each point of
    ``grid`` (n,)); ``target`` is the class index. The loss comes from
    :func:`~mlnotes_lib.losses.cross_entropy_with_logits` and the gradient from autograd
    through it. Returns ``{"grid" (n,), "loss" (n,), "grad" (n, C), "probs" (n, C)}``.

    See book/losses.ipynb.
    """
    grid = torch.as_tensor(grid, dtype=torch.float64)
    rows = torch.as_tensor(logits, dtype=torch.float64).expand(len(grid), -1).clone()
    rows[:, 0] = grid
    rows.requires_grad_(True)
    targets = torch.full((len(grid),), int(target))
    per_example = torch.stack(
        [cross_entropy_with_logits(rows[i : i + 1], targets[i : i + 1]) for i in range(len(grid))]
    )  # (n,): the mean over a batch of one is that example's loss
    (grad,) = torch.autograd.grad(per_example.sum(), rows)
    return {
        "grid": grid,
        "loss": per_example.detach(),
        "grad": grad,
        "probs": torch.softmax(rows.detach(), dim=1),
    }


def plot_softmax_gradient(axes, curves: dict, value: float, target: int) -> list:
    """Two panels at one point of ``curves`` (:func:`softmax_ce_curves`).

    Left: the loss and its slope against the moving logit, the current ``value`` marked.
    Right: per class, the softmax probability, the one-hot target and the gradient
    ``softmax - onehot``.

    See book/losses.ipynb.
    """
    ax1, ax2 = axes
    grid = curves["grid"]
    i = int(torch.argmin((grid - value).abs()))
    x, loss, slope = grid.numpy(), curves["loss"].numpy(), curves["grad"][:, 0].numpy()
    ax1.plot(x, loss, color=_BLUE, label="loss ℓ(ζ, y)")
    ax1.plot(x, slope, color=_ORANGE, ls="--", label="slope ∂ℓ/∂ζ₀")
    ax1.plot(x[i], loss[i], "o", color=_BLUE)
    ax1.plot(x[i], slope[i], "o", color=_ORANGE)
    ax1.axhline(0, color="grey", lw=0.8)
    ax1.set(xlabel="logit ζ₀ of class 0", ylim=(-1.2, 7.5))
    ax1.set_title(f"target y = {target}: ℓ = {curves['loss'][i]:.3f}", fontsize=10)
    ax1.legend(loc="upper left" if target else "upper right")
    C = curves["probs"].shape[1]
    classes = torch.arange(C, dtype=torch.float64).numpy()
    onehot = (torch.arange(C) == target).double().numpy()
    probs, grad = curves["probs"][i].numpy(), curves["grad"][i].numpy()
    ax2.bar(classes - 0.27, probs, width=0.27, color=_BLUE, label="softmax(ζ)")
    ax2.bar(classes, onehot, width=0.27, color=_GREEN, label="one-hot(y)")
    ax2.bar(classes + 0.27, grad, width=0.27, color=_ORANGE, label="gradient")
    ax2.axhline(0, color="grey", lw=0.8)
    ax2.set(xticks=classes.tolist(), xticklabels=[f"class {c}" for c in range(C)],
            ylim=(-1.1, 1.1), title="gradient = softmax(ζ) − one-hot(y)")  # fmt: skip
    ax2.legend(loc="lower left", fontsize=9)
    return [ax1, ax2]
