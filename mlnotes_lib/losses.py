"""Entropy, cross-entropy, KL divergence and the binary cross-entropy (log loss).

Distributions live on the last dimension of a tensor: a tensor of shape ``(..., K)``
holds one categorical distribution over ``K`` outcomes per leading index, and the
information measures return a tensor of shape ``(...)``. The convention
``0 log 0 = 0`` holds throughout, so outcomes of probability zero contribute nothing.

Notation follows the book: for a true distribution ``q`` and a model ``p``,

- entropy ``H(q) = -sum_i q_i log q_i``,
- cross-entropy ``H_p(q) = -sum_i q_i log p_i``,
- KL divergence ``KL(q || p) = sum_i q_i log(q_i / p_i) = H_p(q) - H(q)``.

The two binary cross-entropies reproduce ``torch.nn.functional.binary_cross_entropy``
(log clamped at -100) and ``torch.nn.functional.binary_cross_entropy_with_logits``
(stable for logits of any size), forward and backward, with mean reduction, and the
multi-class :func:`cross_entropy_with_logits` reproduces ``F.cross_entropy`` from the ``logits``
through :func:`log_softmax`. :func:`huffman_code` builds an optimal prefix code, whose
expected length ``L`` satisfies ``H <= L < H + 1`` (in bits).

See book/losses.ipynb.
"""

from __future__ import annotations

import heapq
import math

import torch
from torch import Tensor

__all__ = [
    "LOG_CLAMP",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "cross_entropy_with_logits",
    "entropy",
    "huffman_code",
    "kl_divergence",
    "log_softmax",
]

#: Lower bound on each log in :func:`binary_cross_entropy`, as in torch: a confident wrong
#: prediction costs at most 100 nats instead of infinity.
LOG_CLAMP = -100.0

# torch's BCE backward divides by max(p (1 - p), _EPS), so p in {0, 1} gives a finite slope.
_EPS = 1e-12


# ----------------------------------------------------------------------------- checks
def _as_float(x, name: str) -> Tensor:
    """``x`` as a floating tensor (keeps autograd history when it already is one)."""
    try:
        t = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must be a tensor of numbers") from err
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return t


def _check_unit_interval(t: Tensor, name: str, what: str) -> None:
    """Raise unless every entry of ``t`` lies in [0, 1] (NaN fails too)."""
    lo, hi = torch.aminmax(t.detach())
    if not (lo.item() >= 0.0 and hi.item() <= 1.0):
        raise ValueError(
            f"{name} must hold {what} in [0, 1], got values in [{lo.item():.4g}, {hi.item():.4g}]"
        )


def _check_nonempty(t: Tensor, name: str) -> None:
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty")


def _check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_b} must have the same shape as {name_a}: {tuple(b.shape)} != {tuple(a.shape)}"
        )


def _sum_tolerance(dtype: torch.dtype) -> float:
    """How far from 1 a distribution's sum may be: about sqrt(machine epsilon)."""
    return max(1e-6, math.sqrt(torch.finfo(dtype).eps))


def _check_distribution(t: Tensor, name: str) -> None:
    """Raise unless ``t`` holds probability vectors on its last dimension."""
    if t.dim() == 0 or t.shape[-1] == 0 or t.numel() == 0:
        raise ValueError(f"{name} must not be empty: a distribution needs at least one outcome")
    _check_unit_interval(t, name, "probabilities")
    sums = t.detach().sum(dim=-1)
    err = (sums - 1).abs().max().item()
    if not err <= _sum_tolerance(t.dtype):
        raise ValueError(f"{name} must sum to 1 over its last dimension (off by {err:.3g})")


def _log_base(base: float) -> float:
    """``log(base)``, the divisor that turns nats into units of ``base``."""
    if not isinstance(base, int | float) or isinstance(base, bool):
        raise ValueError(f"base must be a number, got {type(base).__name__}")
    if not (base > 0 and base != 1 and math.isfinite(base)):
        raise ValueError(f"base must be positive, finite and not 1, got {base}")
    return math.log(base)


def _xlogy(a: Tensor, b: Tensor) -> Tensor:
    """``a * log(b)`` with ``0 * log(anything) = 0``, also in the gradient."""
    zero = a == 0
    safe_b = torch.where(zero, torch.ones_like(b), b)
    return torch.where(zero, torch.zeros_like(a), a * torch.log(safe_b))


# --------------------------------------------------------------- information measures
def entropy(q: Tensor, base: float = math.e) -> Tensor:
    """Entropy ``H(q) = -sum_i q_i log q_i`` of distributions on the last dimension.

    Parameters
    ----------
    q : Tensor
        Probabilities of shape ``(..., K)``, each row in [0, 1] and summing to 1.
    base : float, optional
        Base of the logarithm: ``math.e`` (default) gives nats, ``2`` gives bits.

    Returns
    -------
    Tensor
        Entropies of shape ``(...)`` (a 0-d tensor for one distribution).

    Raises
    ------
    ValueError
        If ``q`` is empty, leaves [0, 1] or does not sum to 1; if ``base`` is not a
        positive number other than 1.

    See book/losses.ipynb.
    """
    q = _as_float(q, "q")
    _check_distribution(q, "q")
    return (0.0 - _xlogy(q, q).sum(dim=-1)) / _log_base(base)  # 0.0 - x: no -0.0


def _two_distributions(q, p) -> tuple[Tensor, Tensor]:
    """``q`` and ``p`` as float tensors, checked to be distributions of the same shape."""
    q = _as_float(q, "q")
    p = _as_float(p, "p")
    _check_distribution(q, "q")
    _check_same_shape(q, p, "q", "p")
    _check_distribution(p, "p")
    return q, p


def cross_entropy(q: Tensor, p: Tensor, base: float = math.e) -> Tensor:
    """Cross-entropy ``H_p(q) = -sum_i q_i log p_i`` of a model ``p`` under the truth ``q``.

    It is the mean code length, or the mean negative log-likelihood, when outcomes come
    from ``q`` but are scored with ``p``. It is infinite when ``p`` gives probability zero
    to an outcome that ``q`` can produce.

    Parameters
    ----------
    q : Tensor
        True distribution(s), shape ``(..., K)``.
    p : Tensor
        Model distribution(s), same shape as ``q``.
    base : float, optional
        Base of the logarithm (``math.e``: nats, ``2``: bits).

    Returns
    -------
    Tensor
        Cross-entropies of shape ``(...)``.

    Raises
    ------
    ValueError
        If ``q`` or ``p`` is empty, leaves [0, 1] or does not sum to 1, if their shapes
        differ, or if ``base`` is invalid.

    See book/losses.ipynb.
    """
    q, p = _two_distributions(q, p)
    return (0.0 - _xlogy(q, p).sum(dim=-1)) / _log_base(base)


def kl_divergence(q: Tensor, p: Tensor, base: float = math.e) -> Tensor:
    """Kullback-Leibler divergence ``KL(q || p) = sum_i q_i log(q_i / p_i)``.

    Equal to ``cross_entropy(q, p) - entropy(q)``; it is never negative (Gibbs'
    inequality) and is zero only when ``p == q``. It is not symmetric in its arguments.

    Parameters
    ----------
    q : Tensor
        True distribution(s), shape ``(..., K)``.
    p : Tensor
        Model distribution(s), same shape as ``q``.
    base : float, optional
        Base of the logarithm (``math.e``: nats, ``2``: bits).

    Returns
    -------
    Tensor
        Divergences of shape ``(...)``; ``inf`` where ``p`` is zero but ``q`` is not.

    Raises
    ------
    ValueError
        If ``q`` or ``p`` is empty, leaves [0, 1] or does not sum to 1, if their shapes
        differ, or if ``base`` is invalid.

    See book/losses.ipynb.
    """
    q, p = _two_distributions(q, p)
    # Each term is computed as q log q - q log p so that 0 log 0 = 0 and q log(q/0) = inf.
    return (_xlogy(q, q) - _xlogy(q, p)).sum(dim=-1) / _log_base(base)


# -------------------------------------------------------------- binary cross-entropy
class _BCE(torch.autograd.Function):
    """Mean BCE from probabilities with torch's clamped logs and clamped slope."""

    @staticmethod
    def forward(ctx, p: Tensor, y: Tensor) -> Tensor:
        log_p = torch.log(p).clamp_(min=LOG_CLAMP)
        log_1mp = torch.log1p(-p).clamp_(min=LOG_CLAMP)
        # -(y log p + (1 - y) log(1 - p)) = (y - 1) log(1 - p) - y log p
        loss = ((y - 1) * log_1mp - y * log_p).mean()
        ctx.save_for_backward(p, y)
        return loss

    @staticmethod
    def backward(ctx, grad: Tensor):
        p, y = ctx.saved_tensors
        scale = grad / p.numel()
        grad_p = grad_y = None
        if ctx.needs_input_grad[0]:
            # d/dp = (p - y) / (p (1 - p)); the denominator is kept >= 1e-12 as in torch.
            grad_p = scale * (p - y) / ((1 - p) * p).clamp(min=_EPS)
        if ctx.needs_input_grad[1]:
            # d/dy = log(1 - p) - log p = -logit(p), unclamped as in torch.
            grad_y = scale * (torch.log1p(-p) - torch.log(p))
        return grad_p, grad_y


def binary_cross_entropy(p: Tensor, y: Tensor) -> Tensor:
    r"""Mean binary cross-entropy (log loss) of predicted probabilities ``p`` for labels ``y``.

    .. math::

        \mathrm{BCE} = -\frac{1}{N} \sum_{n=1}^N
            \left[ y_n \log p_n + (1 - y_n) \log (1 - p_n) \right]

    Each log is clamped below at ``LOG_CLAMP = -100``, as torch does, so the loss stays
    finite at ``p = 0`` or ``p = 1``; the gradient with respect to ``p`` is
    ``(p - y) / max(p (1 - p), 1e-12) / N``, also as in torch. Values and gradients equal
    ``torch.nn.functional.binary_cross_entropy(p, y)``.

    Parameters
    ----------
    p : Tensor
        Predicted probabilities of the positive class, any non-empty shape, in [0, 1].
    y : Tensor
        Labels (or soft targets) in [0, 1], same shape as ``p``.

    Returns
    -------
    Tensor
        0-d tensor: the mean loss over all elements.

    Raises
    ------
    ValueError
        If ``p`` is empty or leaves [0, 1], if ``y`` leaves [0, 1], or if the shapes differ.

    See book/losses.ipynb.
    """
    p = _as_float(p, "p")
    y = _as_float(y, "y").to(p.dtype)
    _check_nonempty(p, "p")
    _check_same_shape(p, y, "p", "y")
    _check_unit_interval(p, "p", "probabilities")
    _check_unit_interval(y, "y", "labels")
    return _BCE.apply(p, y)


class _BCEWithLogits(torch.autograd.Function):
    """Mean BCE from logits, fused: saves only ``x`` and ``y`` for the backward pass."""

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor) -> Tensor:
        # max(x, 0) - x y + log(1 + exp(-|x|)): no exp of a large positive number, ever.
        t = x.abs().neg_().exp_().log1p_()
        t += x.clamp(min=0)
        t.addcmul_(x, y, value=-1)
        ctx.save_for_backward(x, y)
        return t.mean()

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, y = ctx.saved_tensors
        scale = grad / x.numel()
        grad_x = grad_y = None
        if ctx.needs_input_grad[0]:
            # d/dx = sigmoid(x) - y
            if torch.is_grad_enabled():  # create_graph=True: keep the graph intact
                grad_x = (torch.sigmoid(x) - y) * scale
            else:  # in place: one buffer instead of three on large inputs
                grad_x = torch.sigmoid(x).sub_(y).mul_(scale)
        if ctx.needs_input_grad[1]:
            # d/dy = -x
            grad_y = x * (-scale)
        return grad_x, grad_y


def binary_cross_entropy_with_logits(logits: Tensor, y: Tensor) -> Tensor:
    r"""Mean binary cross-entropy computed from logits, stable for logits of any size.

    With ``p = sigmoid(x)`` the per-element loss ``-[y log p + (1 - y) log(1 - p)]``
    simplifies to ``(1 - y) x + log(1 + exp(-x))``, which overflows for large negative
    ``x``. Writing it as

    .. math::

        \ell(x, y) = \max(x, 0) - x y + \log\left(1 + e^{-|x|}\right)

    only ever exponentiates a non-positive number. The gradient is
    ``(sigmoid(x) - y) / N``. Values and gradients equal
    ``torch.nn.functional.binary_cross_entropy_with_logits(logits, y)``.

    Parameters
    ----------
    logits : Tensor
        Real-valued scores ``x = log(p / (1 - p))``, any non-empty shape.
    y : Tensor
        Labels (or soft targets) in [0, 1], same shape as ``logits``.

    Returns
    -------
    Tensor
        0-d tensor: the mean loss over all elements.

    Raises
    ------
    ValueError
        If ``logits`` is empty, if ``y`` leaves [0, 1], or if the shapes differ.

    See book/losses.ipynb.
    """
    x = _as_float(logits, "logits")
    y = _as_float(y, "y").to(x.dtype)
    _check_nonempty(x, "logits")
    _check_same_shape(x, y, "logits", "y")
    _check_unit_interval(y, "y", "labels")
    return _BCEWithLogits.apply(x, y)


# ------------------------------------------------------------- softmax cross-entropy
def log_softmax(logits: Tensor, dim: int = -1) -> Tensor:
    """``log_softmax(logits) = logits - logsumexp(logits)`` along ``dim``, with the shift.

    ``logsumexp(logits) = m + log sum exp(logits - m)`` with ``m = max logits``: every
    exponent is <= 0, so nothing overflows, and the largest term is exactly 1, so the sum
    cannot underflow to 0. Equal to ``torch.nn.functional.log_softmax``; same shape as
    ``logits``.

    See book/losses.ipynb.
    """
    z = _as_float(logits, "logits")
    _check_nonempty(z, "logits")
    if z.dim() == 0:
        raise ValueError("logits must have at least one dimension (the classes)")
    m = z.detach().amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all -inf: no shift
    shifted = z - m
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()


def cross_entropy_with_logits(logits: Tensor, target: Tensor) -> Tensor:
    r"""Mean softmax cross-entropy of ``logits`` (N, C) against class indices or probabilities.

    ``target`` holds class indices (N,) in ``[0, C)``, or probability rows (N, C) that sum
    to 1. Per example the loss is :math:`-\sum_c q_c \log \mathrm{softmax}(\zeta)_c`, with
    :math:`\zeta` the logits and ``q`` one-hot for an index; the mean over ``N`` equals
    ``torch.nn.functional.cross_entropy(logits, target)``. Its gradient with respect to
    ``logits`` is ``(softmax(logits) - q) / N``. Finite for logits up to ``+-1e4`` and
    beyond, because :func:`log_softmax` never exponentiates a positive number.

    See book/losses.ipynb.
    """
    z = _as_float(logits, "logits")
    if z.dim() != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"logits must have shape (N, C) with N, C >= 1, got {tuple(z.shape)}")
    log_p = log_softmax(z, dim=1)  # (N, C)
    t = torch.as_tensor(target, device=z.device)
    if not t.is_floating_point():
        if t.shape != z.shape[:1]:
            raise ValueError(f"target must have shape (N,) = ({z.shape[0]},) for class indices")
        if bool(((t < 0) | (t >= z.shape[1])).any()):
            raise ValueError(f"target must hold class indices in [0, {z.shape[1]})")
        return -log_p.gather(1, t.long()[:, None]).mean()
    _check_same_shape(z, t, "logits", "target")
    _check_distribution(t, "target")
    t = t.to(z.dtype)
    return -torch.where(t > 0, t * log_p, 0.0).sum(1).mean()  # 0 log 0 = 0


def huffman_code(p) -> dict[int, str]:
    """An optimal binary prefix code for the distribution ``p`` (K,), by Huffman's algorithm.

    Repeatedly merge the two least probable subtrees; the codeword of outcome ``k`` is its
    path from the root (``0`` left, ``1`` right). The expected length ``sum_k p_k len_k``
    is the smallest of all prefix codes and lies in ``[H(p), H(p) + 1)`` bits. Outcomes of
    probability 0 get a codeword too; a single outcome gets ``"0"``.

    See book/losses.ipynb.
    """
    q = _as_float(p, "p").to(torch.float64)
    if q.dim() != 1:
        raise ValueError(f"p must be 1-D (one probability per outcome), got {tuple(q.shape)}")
    _check_distribution(q, "p")
    if len(q) == 1:
        return {0: "0"}
    # (probability, tie-breaker, {outcome: codeword so far}): ties resolve the same way always
    heap = [(w, k, {k: ""}) for k, w in enumerate(q.tolist())]
    heapq.heapify(heap)
    count = len(heap)
    while len(heap) > 1:
        w0, _, left = heapq.heappop(heap)
        w1, _, right = heapq.heappop(heap)
        merged = {k: "0" + c for k, c in left.items()} | {k: "1" + c for k, c in right.items()}
        heapq.heappush(heap, (w0 + w1, count, merged))
        count += 1
    return dict(sorted(heap[0][2].items()))
