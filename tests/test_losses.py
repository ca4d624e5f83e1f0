"""Tests of mlnotes_lib.losses against torch, hand-worked cases, and the entropy checkers."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Categorical, kl_divergence

from mlnotes_lib import losses
from mlnotes_lib.exercises import losses as ex
from mlnotes_lib.plots import losses as plots_losses

pytestmark = pytest.mark.usefixtures("one_thread")


def _rand_dist(*shape: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.softmax(2 * torch.randn(*shape, generator=gen, dtype=torch.float64), dim=-1)


# ----------------------------------------------------------------- hand-worked cases
def test_entropy_of_the_notes_two_class_examples_in_bits():
    assert losses.entropy(torch.tensor([1.0, 0.0]), base=2).item() == 0.0
    assert losses.entropy(torch.tensor([0.5, 0.5]), base=2).item() == pytest.approx(1.0)


def test_entropy_of_uniform_is_log_k_and_bits_are_nats_over_log2():
    q = torch.full((8,), 1 / 8, dtype=torch.float64)
    assert losses.entropy(q).item() == pytest.approx(math.log(8))
    assert losses.entropy(q, base=2).item() == pytest.approx(3.0)


def test_zero_probabilities_contribute_nothing():
    q = torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64)
    p = torch.tensor([0.25, 0.5, 0.25], dtype=torch.float64)
    assert losses.entropy(q, base=2).item() == pytest.approx(1.0)
    assert losses.cross_entropy(q, p, base=2).item() == pytest.approx(2.0)
    assert losses.kl_divergence(q, p, base=2).item() == pytest.approx(1.0)


def test_kl_is_infinite_when_the_model_rules_out_an_outcome():
    q = torch.tensor([0.5, 0.5], dtype=torch.float64)
    p = torch.tensor([1.0, 0.0], dtype=torch.float64)
    assert math.isinf(losses.kl_divergence(q, p).item())
    assert math.isinf(losses.cross_entropy(q, p).item())
    assert losses.kl_divergence(p, q, base=2).item() == pytest.approx(1.0)


def test_entropy_gradient_is_finite_at_zero_probability():
    q = torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64, requires_grad=True)
    p = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64, requires_grad=True)
    losses.kl_divergence(q, p).backward()
    assert torch.isfinite(p.grad).all()
    assert p.grad[1].item() == 0.0


# ---------------------------------------------------------------------- vs torch
def test_entropy_matches_torch_categorical():
    q = _rand_dist(4, 6)
    torch.testing.assert_close(losses.entropy(q), Categorical(probs=q).entropy())


def test_kl_divergence_matches_torch_forward_and_backward():
    q = _rand_dist(5, 7, seed=1).requires_grad_()
    p = _rand_dist(5, 7, seed=2).requires_grad_()
    ours = losses.kl_divergence(q, p)
    ref = kl_divergence(Categorical(probs=q), Categorical(probs=p))
    torch.testing.assert_close(ours, ref)
    # Categorical renormalises its probs, which changes the gradient; F.kl_div does not.
    ref_fn = F.kl_div(torch.log(p), q, reduction="none").sum(-1)
    torch.testing.assert_close(ours, ref_fn)
    gq, gp = torch.autograd.grad(ours.sum(), (q, p))
    rq, rp = torch.autograd.grad(ref_fn.sum(), (q, p))
    torch.testing.assert_close(gq, rq)
    torch.testing.assert_close(gp, rp)


def test_kl_is_cross_entropy_minus_entropy_and_nonnegative_and_asymmetric():
    q, p = _rand_dist(100, 4, seed=3), _rand_dist(100, 4, seed=4)
    kl = losses.kl_divergence(q, p, base=2)
    torch.testing.assert_close(kl, losses.cross_entropy(q, p, base=2) - losses.entropy(q, base=2))
    assert (kl >= 0).all()
    assert not torch.allclose(kl, losses.kl_divergence(p, q, base=2))


def test_cross_entropy_matches_torch_soft_target_cross_entropy():
    q, p = _rand_dist(6, 5, seed=5), _rand_dist(6, 5, seed=6)
    ref = F.cross_entropy(torch.log(p), q, reduction="none")
    torch.testing.assert_close(losses.cross_entropy(q, p), ref)


def _bce_inputs(dtype=torch.float64):
    p = torch.tensor([0.0, 1e-8, 0.2, 0.5, 0.93, 1 - 1e-7, 1.0, 0.0, 1.0, 0.7], dtype=dtype)
    y = torch.tensor([1.0, 0.0, 1.0, 0.3, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0], dtype=dtype)
    return p, y


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_binary_cross_entropy_matches_torch_forward_and_backward_including_p_0_and_1(dtype):
    p, y = _bce_inputs(dtype)
    p1, y1 = p.clone().requires_grad_(), y.clone().requires_grad_()
    p2, y2 = p.clone().requires_grad_(), y.clone().requires_grad_()
    ours = losses.binary_cross_entropy(p1, y1)
    ref = F.binary_cross_entropy(p2, y2)
    torch.testing.assert_close(ours, ref)
    assert math.isfinite(ours.item())
    ours.backward()
    ref.backward()
    torch.testing.assert_close(p1.grad, p2.grad)
    torch.testing.assert_close(y1.grad, y2.grad)


def test_binary_cross_entropy_clamps_the_log_at_minus_100():
    loss = losses.binary_cross_entropy(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]))
    assert loss.item() == pytest.approx(100.0)


def test_binary_cross_entropy_is_the_mean_negative_log_of_the_true_class_probability():
    p = torch.tensor([0.9, 0.2, 0.6], dtype=torch.float64)
    y = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    want = -(math.log(0.9) + math.log(0.8) + math.log(0.4)) / 3
    assert losses.binary_cross_entropy(p, y).item() == pytest.approx(want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bce_with_logits_matches_torch_for_logits_up_to_1e4(dtype):
    gen = torch.Generator().manual_seed(7)
    x = torch.cat(
        [
            torch.randn(50, generator=gen, dtype=dtype) * 5,
            torch.tensor([1e4, -1e4, 1e3, -1e3, 88.0, -88.0, 0.0, 20.0, -20.0], dtype=dtype),
        ]
    )
    y = torch.rand(x.shape, generator=gen, dtype=dtype)
    y[::3] = y[::3].round()
    x1, y1 = x.clone().requires_grad_(), y.clone().requires_grad_()
    x2, y2 = x.clone().requires_grad_(), y.clone().requires_grad_()
    ours = losses.binary_cross_entropy_with_logits(x1, y1)
    ref = F.binary_cross_entropy_with_logits(x2, y2)
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(y1.grad, y2.grad)
    assert torch.isfinite(x1.grad).all()


def test_bce_with_logits_per_element_at_huge_logits():
    for x, y, want in [(1e4, 1.0, 0.0), (1e4, 0.0, 1e4), (-1e4, 1.0, 1e4), (-1e4, 0.0, 0.0)]:
        got = losses.binary_cross_entropy_with_logits(torch.tensor([x]), torch.tensor([y]))
        assert got.item() == pytest.approx(want, abs=1e-6)


def test_bce_with_logits_equals_bce_of_sigmoid_for_moderate_logits():
    x = torch.linspace(-8, 8, 33, dtype=torch.float64)
    y = (torch.arange(33) % 2).double()
    torch.testing.assert_close(
        losses.binary_cross_entropy_with_logits(x, y),
        losses.binary_cross_entropy(torch.sigmoid(x), y),
    )


def test_bce_with_logits_double_backward_matches_torch():
    x = torch.tensor([-2.0, 0.3, 5.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
    (g,) = torch.autograd.grad(losses.binary_cross_entropy_with_logits(x, y), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x)
    (g2,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(x, y), x, create_graph=True)
    (gg2,) = torch.autograd.grad(g2.sum(), x)
    torch.testing.assert_close(gg, gg2)


# ------------------------------------------------------------------------ bad input
def test_probabilities_outside_unit_interval_name_p():
    with pytest.raises(ValueError, match="p must"):
        losses.binary_cross_entropy(torch.tensor([1.2]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="p must"):
        losses.binary_cross_entropy(torch.tensor([float("nan")]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="q must"):
        losses.entropy(torch.tensor([-0.5, 1.5]))


def test_labels_outside_unit_interval_name_y():
    with pytest.raises(ValueError, match="y must"):
        losses.binary_cross_entropy(torch.tensor([0.5]), torch.tensor([2.0]))
    with pytest.raises(ValueError, match="y must"):
        losses.binary_cross_entropy_with_logits(torch.tensor([0.5]), torch.tensor([-1.0]))


def test_distribution_not_summing_to_one_names_it():
    good = torch.tensor([0.5, 0.5])
    with pytest.raises(ValueError, match="q must sum to 1"):
        losses.entropy(torch.tensor([0.5, 0.4]))
    with pytest.raises(ValueError, match="p must sum to 1"):
        losses.cross_entropy(good, torch.tensor([0.3, 0.3]))
    with pytest.raises(ValueError, match="p must sum to 1"):
        losses.kl_divergence(good, torch.tensor([[0.5, 0.5], [0.9, 0.2]]).sum(0) / 2)


def test_sum_tolerance_accepts_float32_rounding():
    q = torch.softmax(torch.randn(1000, generator=torch.Generator().manual_seed(0)), dim=0)
    assert math.isfinite(losses.entropy(q).item())


def test_mismatched_shapes_name_the_second_argument():
    with pytest.raises(ValueError, match="y must have the same shape"):
        losses.binary_cross_entropy(torch.rand(3), torch.rand(4))
    with pytest.raises(ValueError, match="y must have the same shape"):
        losses.binary_cross_entropy_with_logits(torch.randn(3), torch.rand(3, 1))
    with pytest.raises(ValueError, match="p must have the same shape"):
        losses.kl_divergence(torch.tensor([0.5, 0.5]), torch.tensor([0.2, 0.3, 0.5]))


def test_empty_input_is_rejected_naming_the_argument():
    with pytest.raises(ValueError, match="p must not be empty"):
        losses.binary_cross_entropy(torch.empty(0), torch.empty(0))
    with pytest.raises(ValueError, match="logits must not be empty"):
        losses.binary_cross_entropy_with_logits(torch.empty(0), torch.empty(0))
    with pytest.raises(ValueError, match="q must not be empty"):
        losses.entropy(torch.empty(3, 0))


def test_invalid_base_names_base():
    with pytest.raises(ValueError, match=r"\bbase\b"):
        losses.entropy(torch.tensor([0.5, 0.5]), base=1)
    with pytest.raises(ValueError, match=r"\bbase\b"):
        losses.entropy(torch.tensor([0.5, 0.5]), base=-2.0)


# -------------------------------------------------------------------------- drawing
def test_plot_helpers_draw_on_the_given_axes():
    from mlnotes_lib import plotting

    _fig, axes = plotting.figure(1, 4, figsize=(10, 3))
    assert plots_losses.plot_bernoulli_entropy(axes[0], 0.3) is axes[0]
    q, p = torch.tensor([0.3, 0.7]), torch.tensor([0.5, 0.5])
    assert plots_losses.plot_distributions(axes[1], q, p) is axes[1]
    assert plots_losses.plot_information_bars(axes[2], q, p) is axes[2]
    assert plots_losses.plot_log_loss(axes[3], 0.2, 1) is axes[3]
    assert len(axes[3].lines) == 3
    with pytest.raises(ValueError, match="y must be 0 or 1"):
        plots_losses.plot_log_loss(axes[3], 0.2, 2)


# ------------------------------------------------------------------------ checkers
def test_entropy_checker_passes_reference_and_names_mistakes():
    assert ex.check_entropy_bits(lambda q: losses.entropy(q, base=2))
    nats = ex.check_entropy_bits(lambda q: -torch.special.xlogy(q, q).sum())
    assert not nats and nats.mistake == "nats instead of bits"
    naive = ex.check_entropy_bits(lambda q: -(q * torch.log2(q)).sum())
    assert not naive and naive.mistake == "0 log 0 left undefined"
    sign = ex.check_entropy_bits(lambda q: torch.special.xlogy(q, q).sum() / math.log(2))
    assert sign.mistake == "a missing minus sign"


def test_bce_checker_names_the_notes_missing_log():
    assert ex.check_binary_cross_entropy(lambda p, y: F.binary_cross_entropy(p, y))
    res = ex.check_binary_cross_entropy(lambda p, y: -(y * torch.log(p) + (1 - y) * (1 - p)).mean())
    assert not res and "without the log" in res.mistake
    res = ex.check_binary_cross_entropy(lambda p, y: F.binary_cross_entropy(p, y, reduction="sum"))
    assert res.mistake == "a sum instead of a mean"


def test_logits_checker_names_the_overflow_and_missing_max():
    assert ex.check_bce_with_logits(F.binary_cross_entropy_with_logits)

    def naive(x, y):
        s = torch.sigmoid(x)
        return -(y * torch.log(s) + (1 - y) * torch.log(1 - s)).mean()

    res = ex.check_bce_with_logits(naive)
    assert not res and res.mistake == "the naive formula through sigmoid"
    res = ex.check_bce_with_logits(lambda x, y: (-x * y + torch.log1p(torch.exp(-x.abs()))).mean())
    assert res.mistake == "a missing max(x, 0) term"


# ------------------------------------------------------------- issue 11 additions
def test_log_softmax_matches_torch_forward_and_backward_on_any_dim():
    g = torch.Generator().manual_seed(0)
    z = (5 * torch.randn(3, 4, 5, generator=g, dtype=torch.float64)).requires_grad_()
    for dim in (0, 1, -1):
        ours, ref = losses.log_softmax(z, dim=dim), F.log_softmax(z, dim=dim)
        torch.testing.assert_close(ours, ref)
        w = torch.randn(ref.shape, generator=g, dtype=torch.float64)
        (g1,) = torch.autograd.grad((ours * w).sum(), z)
        (g2,) = torch.autograd.grad((ref * w).sum(), z)
        torch.testing.assert_close(g1, g2)
    big = torch.tensor([[1e4, -1e4, 0.0]])
    torch.testing.assert_close(losses.log_softmax(big), F.log_softmax(big, -1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cross_entropy_with_logits_matches_torch_for_indices_and_probabilities(dtype):
    g = torch.Generator().manual_seed(1)
    z = (4 * torch.randn(8, 5, generator=g, dtype=dtype)).requires_grad_()
    idx = torch.randint(0, 5, (8,), generator=g)
    prob = torch.softmax(torch.randn(8, 5, generator=g, dtype=dtype), 1)
    for target in (idx, prob):
        ours, ref = losses.cross_entropy_with_logits(z, target), F.cross_entropy(z, target)
        torch.testing.assert_close(ours, ref)
        torch.testing.assert_close(torch.autograd.grad(ours, z)[0], torch.autograd.grad(ref, z)[0])
    # the gradient is (softmax(z) - onehot(y)) / N
    (grad,) = torch.autograd.grad(losses.cross_entropy_with_logits(z, idx), z)
    torch.testing.assert_close(
        grad, (torch.softmax(z, 1) - F.one_hot(idx, 5).to(dtype)).detach() / 8
    )


def test_cross_entropy_with_logits_is_finite_at_1e4():
    z = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], requires_grad=True)
    y = torch.tensor([1, 1])
    loss = losses.cross_entropy_with_logits(z, y)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(1e4)
    (grad,) = torch.autograd.grad(loss, z)
    assert torch.isfinite(grad).all()
    torch.testing.assert_close(loss, F.cross_entropy(z, y))


def test_cross_entropy_with_logits_bad_input_is_named():
    z = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"\btarget\b.*\bclass indices\b"):
        losses.cross_entropy_with_logits(z, torch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match=r"\btarget\b.*\bclass indices\b"):
        losses.cross_entropy_with_logits(z, torch.tensor([0, -1, 1]))
    with pytest.raises(ValueError, match=r"\btarget\b.*\bsum to 1\b"):
        losses.cross_entropy_with_logits(z, torch.full((3, 4), 0.3))
    with pytest.raises(ValueError, match=r"\btarget\b.*\bsame shape\b"):
        losses.cross_entropy_with_logits(z, torch.full((3, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"\btarget\b.*\bshape\b"):
        losses.cross_entropy_with_logits(z, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\blogits\b"):
        losses.cross_entropy_with_logits(torch.zeros(4), torch.tensor([0]))


@pytest.mark.parametrize("seed", range(6))
def test_huffman_code_is_an_optimal_prefix_code_within_one_bit_of_the_entropy(seed):
    import itertools

    g = torch.Generator().manual_seed(seed)
    k = 2 + seed % 4
    p = torch.softmax(2 * torch.randn(k, generator=g, dtype=torch.float64), 0)
    code = losses.huffman_code(p)
    assert sorted(code) == list(range(k)) and all(set(w) <= {"0", "1"} for w in code.values())
    words = list(code.values())
    assert not any(a != b and b.startswith(a) for a in words for b in words)
    L = sum(p[i].item() * len(w) for i, w in code.items())
    H = losses.entropy(p, base=2).item()
    assert H - 1e-12 <= L < H + 1
    # optimal: no length vector allowed by Kraft's inequality does better
    best = min(
        sum(pi * li for pi, li in zip(p.tolist(), lengths, strict=True))
        for lengths in itertools.product(range(1, k + 1), repeat=k)
        if sum(2.0**-li for li in lengths) <= 1
    )
    assert L == pytest.approx(best, abs=1e-12)


def test_huffman_code_of_a_dyadic_distribution_reaches_the_entropy():
    p = torch.tensor([0.5, 0.25, 0.125, 0.125])
    code = losses.huffman_code(p)
    assert sorted(len(w) for w in code.values()) == [1, 2, 3, 3]
    assert losses.huffman_code(torch.tensor([1.0])) == {0: "0"}


def test_huffman_code_bad_input_is_named():
    with pytest.raises(ValueError, match=r"\bp\b.*\bsum to 1\b"):
        losses.huffman_code(torch.tensor([0.5, 0.4]))
    with pytest.raises(ValueError, match=r"\bp\b.*\b1-D\b"):
        losses.huffman_code(torch.full((2, 2), 0.25))


def test_softmax_ce_curves_match_torch_cross_entropy_and_its_gradient():
    base = torch.tensor([0.0, 1.0, -1.0])
    grid = torch.linspace(-5, 7, 13, dtype=torch.float64)
    for target in (0, 2):
        curves = plots_losses.softmax_ce_curves(base, grid, target)
        rows = base.double().expand(13, -1).clone()
        rows[:, 0] = grid
        rows.requires_grad_(True)
        ref = F.cross_entropy(rows, torch.full((13,), target), reduction="none")
        (grad,) = torch.autograd.grad(ref.sum(), rows)
        torch.testing.assert_close(curves["loss"], ref.detach())
        torch.testing.assert_close(curves["grad"], grad)
        onehot = F.one_hot(torch.tensor(target), 3).double()
        torch.testing.assert_close(curves["grad"], torch.softmax(rows.detach(), 1) - onehot)


def test_softmax_gradient_frame_is_readable():
    from mlnotes_lib import plotting
    from mlnotes_lib.plots.frames import text_problems

    curves = plots_losses.softmax_ce_curves(
        torch.tensor([0.0, 1.0, -1.0]), torch.linspace(-5, 7, 49), 1
    )
    fig, axes = plotting.figure(1, 2, figsize=(7.2, 2.8))
    plots_losses.plot_softmax_gradient(axes, curves, 2.0, 1)
    assert len(axes[1].patches) == 9  # three bars per class
    assert text_problems(fig) == []
