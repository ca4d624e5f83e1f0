"""Tests of mlnotes_lib.batchnorm against torch's batch norm, autograd and nn.BatchNorm*d."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from mlnotes_lib import batchnorm as bn
from mlnotes_lib.exercises import batchnorm as ex

SHAPES = [(8, 3), (4, 3, 5, 5), (5, 2, 7), (2, 4, 3, 2)]


def _inputs(shape, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    c = shape[1]
    x = torch.randn(*shape, generator=g, dtype=dtype) * 2 + 3
    gamma = torch.rand(c, generator=g, dtype=dtype) + 0.5
    beta = torch.randn(c, generator=g, dtype=dtype)
    rm = torch.randn(c, generator=g, dtype=dtype)
    rv = torch.rand(c, generator=g, dtype=dtype) + 0.5
    return x, gamma, beta, rm, rv


# --- batch_norm: forward, running statistics, eval mode -------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("momentum", [0.0, 0.1, 0.7, 1.0])
def test_batch_norm_matches_torch_in_training_mode(shape, momentum):
    x, gamma, beta, rm, rv = _inputs(shape)
    rm_ref, rv_ref = rm.clone(), rv.clone()
    y = bn.batch_norm(x, gamma, beta, rm, rv, training=True, momentum=momentum, eps=1e-3)
    y_ref = F.batch_norm(x, rm_ref, rv_ref, gamma, beta, True, momentum, 1e-3)
    assert_close(y, y_ref)
    assert_close(rm, rm_ref)  # updated in place, like torch
    assert_close(rv, rv_ref)  # with the unbiased batch variance


def test_batch_norm_running_var_receives_the_unbiased_variance():
    x, gamma, beta, _, _ = _inputs((6, 3))
    rm, rv = torch.zeros(3), torch.zeros(3)
    bn.batch_norm(x, gamma, beta, rm, rv, training=True, momentum=1.0)
    assert_close(rm, x.mean(0))
    assert_close(rv, x.var(0, unbiased=True))


@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_matches_torch_in_eval_mode(shape):
    x, gamma, beta, rm, rv = _inputs(shape)
    rm0, rv0 = rm.clone(), rv.clone()
    y = bn.batch_norm(x, gamma, beta, rm, rv, training=False)
    assert_close(y, F.batch_norm(x, rm0, rv0, gamma, beta, False))
    assert torch.equal(rm, rm0) and torch.equal(rv, rv0)  # nothing updated


def test_batch_norm_without_affine_or_running_stats_matches_torch():
    x = _inputs((4, 3, 2, 2))[0]
    assert_close(bn.batch_norm(x, None, None), F.batch_norm(x, None, None, training=True))


@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_naive_matches_torch(shape):
    x, gamma, beta, _, _ = _inputs(shape)
    assert_close(
        bn.batch_norm_naive(x, gamma, beta), F.batch_norm(x, None, None, gamma, beta, True)
    )


def test_batch_norm_normalizes_each_channel_over_batch_and_positions():
    x = _inputs((16, 3, 4, 4))[0]
    y = bn.batch_norm(x, None, None)
    assert_close(y.mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    assert_close(y.var((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3, rtol=0)


# --- backward ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_gradients_match_torch_autograd(shape):
    x, gamma, beta, _, _ = _inputs(shape)
    dy = torch.randn(shape, generator=torch.Generator().manual_seed(5))
    ours = [t.clone().requires_grad_() for t in (x, gamma, beta)]
    ref = [t.clone().requires_grad_() for t in (x, gamma, beta)]
    bn.batch_norm(*ours).backward(dy)
    F.batch_norm(ref[0], None, None, ref[1], ref[2], True).backward(dy)
    for a, b in zip(ours, ref, strict=True):
        assert_close(a.grad, b.grad)


@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_backward_matches_autograd(shape):
    x, gamma, beta, _, _ = _inputs(shape)
    dy = torch.randn(shape, generator=torch.Generator().manual_seed(6))
    xr, gr, br = (t.clone().requires_grad_() for t in (x, gamma, beta))
    bn.batch_norm_naive(xr, gr, br, eps=1e-3).backward(dy)  # autograd through Algorithm 1
    dx, dgamma, dbeta = bn.batch_norm_backward(dy, x, gamma, eps=1e-3)
    assert_close(dx, xr.grad)
    assert_close(dgamma, gr.grad)
    assert_close(dbeta, br.grad)


def test_batch_norm_passes_gradcheck_in_double():
    x, gamma, beta, _, _ = _inputs((5, 2, 3, 2), dtype=torch.float64)
    args = [t.requires_grad_() for t in (x, gamma, beta)]
    assert torch.autograd.gradcheck(lambda a, b, c: bn.batch_norm(a, b, c), args)


def test_batch_norm_eval_mode_gradients_match_torch():
    x, gamma, beta, rm, rv = _inputs((4, 3, 2, 2))
    ours = [t.clone().requires_grad_() for t in (x, gamma, beta)]
    ref = [t.clone().requires_grad_() for t in (x, gamma, beta)]
    bn.batch_norm(*ours, rm, rv, training=False).sum().backward()
    F.batch_norm(ref[0], rm, rv, ref[1], ref[2], False).sum().backward()
    for a, b in zip(ours, ref, strict=True):
        assert_close(a.grad, b.grad)


def test_batch_norm_gradient_is_orthogonal_to_shift_and_scale():
    x, gamma, _, _, _ = _inputs((32, 2))
    dy = torch.randn(32, 2, generator=torch.Generator().manual_seed(3))
    dx, _, _ = bn.batch_norm_backward(dy, x, gamma)
    x_hat = (x - x.mean(0)) / x.std(0, unbiased=False)
    assert_close(dx.sum(0), torch.zeros(2), atol=1e-5, rtol=0)
    assert_close((dx * x_hat).sum(0), torch.zeros(2), atol=1e-4, rtol=0)


# --- BatchNorm module ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "ref_cls"), [((8, 4), nn.BatchNorm1d), ((6, 4, 3, 3), nn.BatchNorm2d)]
)
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_module_matches_torch_in_train_and_eval(shape, ref_cls, momentum):
    ours, ref = bn.BatchNorm(4, momentum=momentum), ref_cls(4, momentum=momentum)
    with torch.no_grad():
        for m in (ours, ref):
            m.weight.copy_(torch.linspace(0.5, 2.0, 4))
            m.bias.copy_(torch.linspace(-1.0, 1.0, 4))
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        x = torch.randn(*shape, generator=g) * 3 + 1
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = ours(xa), ref(xb)
        assert_close(ya, yb)
        (ya**2).sum().backward()
        (yb**2).sum().backward()
        assert_close(xa.grad, xb.grad)
    assert_close(ours.weight.grad, ref.weight.grad)
    assert_close(ours.bias.grad, ref.bias.grad)
    for name in ["running_mean", "running_var", "num_batches_tracked"]:
        assert_close(getattr(ours, name), getattr(ref, name))
    ours.eval()
    ref.eval()
    x = torch.randn(*shape, generator=g)
    assert_close(ours(x), ref(x))
    assert int(ours.num_batches_tracked) == 3  # eval mode does not count batches


def test_batch_norm_module_state_dict_loads_from_and_into_torch():
    ref = nn.BatchNorm2d(3)
    ref(torch.randn(4, 3, 2, 2))
    ours = bn.BatchNorm(3)
    ours.load_state_dict(ref.state_dict())
    back = nn.BatchNorm2d(3)
    back.load_state_dict(ours.state_dict())
    assert_close(back.running_var, ref.running_var)
    assert set(ours.state_dict()) == set(ref.state_dict())


def test_batch_norm_module_reset_restores_initial_state():
    m = bn.BatchNorm(2)
    m(torch.randn(5, 2) + 4)
    m.reset_running_stats()
    assert torch.equal(m.running_mean, torch.zeros(2)) and int(m.num_batches_tracked) == 0


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1)])
def test_batch_norm_rejects_one_value_per_channel_in_training(shape):
    with pytest.raises(ValueError, match=r"\bx\b"):
        bn.batch_norm(torch.randn(shape), None, None)
    with pytest.raises(ValueError, match=r"\bx\b"):
        bn.BatchNorm(3)(torch.randn(shape))
    # torch refuses too, and evaluation mode is fine with one sample
    with pytest.raises(ValueError):
        F.batch_norm(torch.randn(shape), None, None, training=True)
    y = bn.batch_norm(torch.randn(shape), None, None, torch.zeros(3), torch.ones(3), False)
    assert y.shape == shape


@pytest.mark.parametrize("name", ["gamma", "beta", "running_mean", "running_var"])
def test_batch_norm_rejects_channel_mismatch(name):
    x, gamma, beta, rm, rv = _inputs((4, 3, 2, 2))
    args = {"gamma": gamma, "beta": beta, "running_mean": rm, "running_var": rv}
    args[name] = torch.ones(5)
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        bn.batch_norm(x, **args)


def test_batch_norm_module_rejects_channel_mismatch():
    with pytest.raises(ValueError, match=r"\bgamma\b"):
        bn.BatchNorm(4)(torch.randn(5, 3))


@pytest.mark.parametrize("eps", [0.0, -1e-5, math.nan])
def test_batch_norm_rejects_non_positive_eps(eps):
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match=r"\beps\b"):
        bn.batch_norm(x, None, None, eps=eps)
    with pytest.raises(ValueError, match=r"\beps\b"):
        bn.BatchNorm(2, eps=eps)
    with pytest.raises(ValueError, match=r"\beps\b"):
        bn.batch_norm_backward(x, x, torch.ones(2), eps=eps)


@pytest.mark.parametrize("momentum", [-0.1, 1.5, math.nan])
def test_batch_norm_rejects_momentum_outside_unit_interval(momentum):
    with pytest.raises(ValueError, match=r"\bmomentum\b"):
        bn.batch_norm(torch.randn(4, 2), None, None, momentum=momentum)
    with pytest.raises(ValueError, match=r"\bmomentum\b"):
        bn.BatchNorm(2, momentum=momentum)


def test_batch_norm_rejects_eval_mode_without_running_stats():
    with pytest.raises(ValueError, match=r"\brunning_mean\b"):
        bn.batch_norm(torch.randn(4, 2), None, None, training=False)
    with pytest.raises(ValueError, match=r"\brunning_var\b"):
        bn.batch_norm(torch.randn(4, 2), None, None, running_mean=torch.zeros(2))


def test_batch_norm_rejects_bad_x():
    with pytest.raises(ValueError, match=r"\bx\b"):
        bn.batch_norm(torch.randn(5), None, None)
    with pytest.raises(ValueError, match=r"\bx\b"):
        bn.batch_norm(torch.ones(4, 2, dtype=torch.long), None, None)


def test_batch_norm_backward_rejects_mismatched_dy():
    with pytest.raises(ValueError, match=r"\bdy\b"):
        bn.batch_norm_backward(torch.randn(4, 3), torch.randn(4, 2), torch.ones(2))


# --- layer norm and group norm ------------------------------------------------------------


def _assert_same_forward_and_backward(ours, ref, inputs, g):
    """``ours`` and ``ref`` agree on the output and on the gradient of every input."""
    ours_in = [t.clone().requires_grad_() for t in inputs]
    ref_in = [t.clone().requires_grad_() for t in inputs]
    y, y_ref = ours(*ours_in), ref(*ref_in)
    assert_close(y, y_ref)
    dy = torch.randn(y.shape, generator=g)
    y.backward(dy)
    y_ref.backward(dy)
    for a, b in zip(ours_in, ref_in, strict=True):
        assert_close(a.grad, b.grad)


@pytest.mark.parametrize(
    ("shape", "normalized_shape"),
    [((4, 6), (6,)), ((3, 4, 5, 5), (4, 5, 5)), ((3, 4, 5, 5), (5,)), ((2, 3, 7), 7)],
)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_torch_forward_and_backward(shape, normalized_shape, affine):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g) * 3 + 1
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    params = [torch.rand(ns, generator=g) + 0.5, torch.randn(ns, generator=g)] if affine else []
    _assert_same_forward_and_backward(
        lambda x, *p: bn.layer_norm(x, normalized_shape, *p, eps=1e-4),
        lambda x, *p: F.layer_norm(x, ns, *p, eps=1e-4),
        [x, *params],
        g,
    )


@pytest.mark.parametrize(("shape", "groups"), [((4, 6, 3, 3), 3), ((2, 8, 5), 2), ((5, 12), 3)])
def test_group_norm_matches_torch_forward_and_backward(shape, groups):
    g = torch.Generator().manual_seed(1)
    c = shape[1]
    x = torch.randn(*shape, generator=g) * 2 - 1
    gamma, beta = torch.rand(c, generator=g) + 0.5, torch.randn(c, generator=g)
    _assert_same_forward_and_backward(
        lambda x, *p: bn.group_norm(x, groups, *p),
        lambda x, *p: F.group_norm(x, groups, *p),
        [x, gamma, beta],
        g,
    )


def test_layer_and_group_norm_agree_with_torch_on_partial_shapes_and_parameters():
    """Layer norm over all or only the last trailing dimensions, with both, one or no affine
    parameters, and group norm with several channels per group: torch's numbers, gradients
    included."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(7, 4, 2, 3, generator=g) * 2 + 1
    ln_p = [torch.rand(4, 2, 3, generator=g) + 0.5, torch.randn(4, 2, 3, generator=g)]
    gn_p = [torch.rand(4, generator=g) + 0.5, torch.randn(4, generator=g)]
    for params in (ln_p, ln_p[:1], []):
        _assert_same_forward_and_backward(
            lambda x, *p: bn.layer_norm(x, (4, 2, 3), *p),
            lambda x, *p: F.layer_norm(x, (4, 2, 3), *p),
            [x, *params],
            g,
        )
    _assert_same_forward_and_backward(
        lambda x, *p: bn.layer_norm(x, (2, 3), *p), lambda x, *p: F.layer_norm(x, (2, 3), *p),
        [x, torch.rand(2, 3, generator=g) + 0.5, torch.randn(2, 3, generator=g)], g,
    )  # fmt: skip
    _assert_same_forward_and_backward(
        lambda x, *p: bn.group_norm(x, 2, *p), lambda x, *p: F.group_norm(x, 2, *p),
        [x, *gn_p], g,
    )  # fmt: skip


def test_layer_and_group_norm_pass_gradcheck_and_do_not_use_the_batch():
    x = torch.randn(3, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: bn.layer_norm(a, (4, 2, 2)), (x,))
    assert torch.autograd.gradcheck(lambda a: bn.group_norm(a, 2), (x,))
    one = x[:1].detach()  # a batch of one sample is fine: nothing depends on the batch
    assert_close(bn.group_norm(one, 2), bn.group_norm(x.detach(), 2)[:1])
    assert_close(bn.group_norm(one, 1), bn.layer_norm(one, (4, 2, 2)))


def test_layer_and_group_norm_analytic_backward_passes_gradcheck_with_gamma_and_beta():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 4, 2, 2, dtype=torch.float64, generator=g).requires_grad_()
    w = (torch.rand(4, 2, 2, dtype=torch.float64, generator=g) + 0.5).requires_grad_()
    b = torch.randn(4, 2, 2, dtype=torch.float64, generator=g).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, c, d: bn.layer_norm(a, (4, 2, 2), c, d), (x, w, b))
    wc, bc = w[:, 0, 0].detach().requires_grad_(), b[:, 0, 0].detach().requires_grad_()
    assert torch.autograd.gradcheck(lambda a, c, d: bn.group_norm(a, 2, c, d), (x, wc, bc))


@pytest.mark.parametrize("which", ["gamma", "beta"])
def test_layer_and_group_norm_match_torch_with_only_one_affine_parameter(which):
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(2, 6, 3, generator=g) * 2 + 1).requires_grad_()
    p = (torch.rand(6, 3, generator=g) + 0.5).requires_grad_()
    pc = p[:, 0]  # (6,): group norm's per-channel parameter

    def both(t):  # torch's arguments: the missing one as its neutral value
        return (t, torch.zeros_like(t)) if which == "gamma" else (torch.ones_like(t), t)

    for ours, ref in [
        (bn.layer_norm(x, (6, 3), **{which: p}), F.layer_norm(x, (6, 3), *both(p))),
        (bn.group_norm(x, 3, **{which: pc}), F.group_norm(x, 3, *both(pc))),
    ]:
        assert_close(ours, ref)
        dy = torch.randn(ours.shape, generator=g)
        assert_close(torch.autograd.grad(ours, (x, p), dy), torch.autograd.grad(ref, (x, p), dy))


def test_group_norm_rejects_channels_not_divisible_by_num_groups():
    with pytest.raises(ValueError, match=r"\bnum_groups\b.*\bchannels\b"):
        bn.group_norm(torch.randn(2, 6, 3, 3), 4)
    with pytest.raises(ValueError, match=r"\bnum_groups\b"):
        bn.group_norm(torch.randn(2, 6), 0)


@pytest.mark.parametrize("normalized_shape", [(3,), (3, 5), 5, (2, 2, 3, 4)])
def test_layer_norm_rejects_a_shape_that_is_not_the_trailing_dimensions(normalized_shape):
    with pytest.raises(ValueError, match=r"\bnormalized_shape\b.*\btrailing\b"):
        bn.layer_norm(torch.randn(2, 3, 4), normalized_shape)


@pytest.mark.parametrize("eps", [0.0, -1e-5, math.nan])
def test_layer_and_group_norm_reject_non_positive_eps(eps):
    with pytest.raises(ValueError, match=r"\beps\b"):
        bn.layer_norm(torch.randn(2, 3), 3, eps=eps)
    with pytest.raises(ValueError, match=r"\beps\b"):
        bn.group_norm(torch.randn(2, 4), 2, eps=eps)


def test_layer_and_group_norm_reject_affine_parameters_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"\bgamma\b"):
        bn.layer_norm(torch.randn(2, 3), 3, gamma=torch.ones(4))
    with pytest.raises(ValueError, match=r"\bbeta\b"):
        bn.group_norm(torch.randn(2, 4, 3), 2, beta=torch.ones(3))


# --- fold_batch_norm ---------------------------------------------------------------------


def test_fold_batch_norm_equals_linear_then_eval_batch_norm():
    g = torch.Generator().manual_seed(0)
    lin = nn.Linear(5, 3)
    ref = nn.BatchNorm1d(3)
    ref.train()
    for _ in range(4):
        ref(lin(torch.randn(16, 5, generator=g)))
    ref.eval()
    with torch.no_grad():
        ref.weight.uniform_(0.5, 2.0, generator=g)
        w, b = bn.fold_batch_norm(
            lin.weight, lin.bias, ref.weight, ref.bias, ref.running_mean, ref.running_var, ref.eps
        )
        x = torch.randn(7, 5, generator=g)
        assert_close(x @ w.T + b, ref(lin(x)))


# --- experiments -------------------------------------------------------------------------


def test_digits_split_is_standardized_and_disjoint():
    xtr, ytr, xte, yte = bn.digits_split(n_test=300)
    assert xtr.shape == (1497, 64) and xte.shape == (300, 64)
    assert ytr.shape == (1497,) and yte.shape == (300,)
    assert xtr.mean(0).abs().max() < 1e-5
    used = xtr.std(0) > 0
    assert_close(xtr.std(0)[used], torch.ones(int(used.sum())))


def test_mlp_places_batch_norm_before_the_activation_and_drops_the_bias():
    m = bn.MLP(3, 16, norm="bn", activation="tanh")
    block = m.blocks[0]
    assert isinstance(block[1], bn.BatchNorm) and isinstance(block[2], nn.Tanh)
    assert block[0].bias is None
    acts = bn.layer_activations(m, torch.randn(32, 64))
    assert len(acts) == 3 and acts[-1].shape == (32, 16)


def test_mlp_rejects_bad_depth():
    with pytest.raises(ValueError, match=r"\bdepth\b"):
        bn.MLP(0)


@pytest.mark.parametrize(
    ("norm", "ref"), [("ln", lambda w: nn.LayerNorm(w)), ("gn", lambda w: nn.GroupNorm(w // 8, w))]
)
def test_mlp_with_layer_or_group_norm_normalizes_like_torch_in_both_modes(norm, ref):
    m = bn.MLP(2, 16, norm=norm)
    lin, layer = m.blocks[0][0], m.blocks[0][1]
    x = torch.randn(1, 64)  # one sample: fine, nothing depends on the batch
    for mode in (True, False):
        m.train(mode)
        with torch.no_grad():
            assert_close(layer(lin(x)), ref(16)(lin(x)))


def test_mlp_rejects_an_unknown_norm_and_a_width_group_norm_cannot_split():
    with pytest.raises(ValueError, match=r"\bnorm\b"):
        bn.MLP(2, 16, norm="instance")
    with pytest.raises(ValueError, match=r"\bwidth\b"):
        bn.MLP(2, 12, norm="gn")


def test_small_batch_experiment_trains_every_norm_and_batch_size_for_every_seed(data):
    from mlnotes_lib.experiments import batchnorm as xbn

    cfg = xbn.SmallBatchConfig(batch_sizes=(2, 4), seeds=(0, 1), depth=2, width=8, steps=3)
    calls = []
    r = xbn.small_batch_experiment(cfg, data, progress=lambda d, t: calls.append((d, t)))
    assert set(r.accuracy) == {(n, b) for n in ("bn", "ln", "gn") for b in (2, 4)}
    assert r.accuracy["gn", 4].shape == (2,) and r.losses["ln", 2].shape == (2, 3)
    assert calls[-1] == (12, 12)
    lo, hi = r.spread("bn", 2)
    assert 0 <= lo <= hi <= 1


def test_minibatch_statistics_spread_matches_sampling_theory():
    values = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    n, b = len(values), 16
    stats = bn.minibatch_statistics(values, b, n_batches=4000)
    theory = values.double().std(unbiased=False) / math.sqrt(b) * math.sqrt((n - b) / (n - 1))
    assert abs(stats["mean"].std().item() / theory.item() - 1) < 0.05
    two = bn.minibatch_statistics(100 * values, 2, n_batches=50)  # eps negligible
    assert_close(two["x_hat"].abs(), torch.ones(50, dtype=torch.float64), atol=1e-3, rtol=0)


def test_running_stats_trace_matches_torch_batch_norm():
    values = torch.randn(200, generator=torch.Generator().manual_seed(1)) * 2 + 5
    means, variances = bn.running_stats_trace(values, batch_size=8, momentum=0.2, steps=10)
    ref = nn.BatchNorm1d(1, momentum=0.2)
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        ref(values[torch.randperm(200, generator=g)[:8], None])
    assert means.shape == (11,)
    assert math.isclose(means[-1], ref.running_mean.item(), rel_tol=1e-5)
    assert math.isclose(variances[-1], ref.running_var.item(), rel_tol=1e-5)


def test_accuracy_in_training_mode_overwrites_running_stats():
    model = bn.MLP(2, 8, norm="bn")
    x, y = torch.randn(20, 64), torch.randint(0, 10, (20,))
    before = model.blocks[0][1].running_mean.clone()
    model.eval()
    bn.accuracy(model, x, y)
    assert torch.equal(model.blocks[0][1].running_mean, before)
    bn.accuracy(model, x, y, training=True, batch_size=10)
    assert not torch.equal(model.blocks[0][1].running_mean, before)
    assert not model.training  # mode restored


@pytest.fixture(scope="module")
def data():
    return bn.digits_split()


def test_train_mlp_is_deterministic_and_learns(data):
    threads = torch.get_num_threads()
    a = bn.train_mlp(depth=3, norm="bn", lr=0.3, steps=40, data=data, track_unit=True)
    b = bn.train_mlp(depth=3, norm="bn", lr=0.3, steps=40, data=data, track_unit=True)
    assert torch.get_num_threads() == threads
    assert (a.losses == b.losses).all()
    assert a.losses[-5:].mean() < 0.5 * a.losses[:5].mean()
    assert a.percentiles.shape == (40, 3) and a.diverged_at is None


def test_train_mlp_takes_a_config_and_the_old_keywords_alike(data):
    from mlnotes_lib.experiments import batchnorm as xbn

    cfg = xbn.TrainConfig(depth=2, width=8, norm="bn", lr=0.2, steps=12)
    new = xbn.train_mlp(cfg, data)
    old = bn.train_mlp(depth=2, width=8, norm="bn", lr=0.2, steps=12, data=data)
    assert (new.losses == old.losses).all() and new.settings["steps"] == 12
    with pytest.raises(ValueError, match=r"\boverrides\b"):
        xbn.train_mlp(cfg, data, depht=3)
    for kw, name in [
        ({"steps": 0}, "steps"),
        ({"lr": 0.0}, "lr"),
        ({"batch_size": 1}, "batch_size"),
    ]:
        with pytest.raises(ValueError, match=rf"\b{name}\b"):
            xbn.train_mlp(cfg, data, **kw)


def test_seed_sweep_trains_each_config_once_per_seed(data):
    from mlnotes_lib.experiments import batchnorm as xbn

    cache = {}
    cfg = {
        "a": xbn.TrainConfig(depth=1, width=4, steps=3),
        "b": xbn.TrainConfig(depth=1, width=4, steps=3),
    }
    out = xbn.seed_sweep(cfg, [0, 1], data, cache=cache)
    assert len(out["a"]) == 2 and len(cache) == 2  # the same config is trained once
    assert out["a"][1] is out["b"][1] and out["a"][0].settings["seed"] == 0


def test_train_mlp_marks_divergence(data):
    r = bn.train_mlp(depth=8, norm="none", lr=10.0, steps=30, data=data)
    assert r.diverged_at is not None and math.isnan(r.test_accuracy)


def test_train_mlp_probes_the_landscape(data):
    r = bn.train_mlp(
        depth=2,
        norm="bn",
        lr=0.1,
        steps=10,
        data=data,
        probe_every=5,
        probe_step_sizes=(0.5, 1.0, 2.0),
    )
    assert r.landscape.shape == (2, 3) and r.grad_change.shape == (2, 3)
    assert (r.grad_change > 0).all()


# --- exercise checkers --------------------------------------------------------------------


def test_forward_checker_accepts_the_reference_and_names_each_mistake():
    def good(x, gamma, beta, eps):
        return gamma * (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + eps) + beta

    assert ex.check_batch_norm_forward(good).passed
    for m in ex.FORWARD_MISTAKES:
        result = ex.check_batch_norm_forward(m.fn)
        assert not result.passed and result.mistake == m.name


def test_backward_checker_accepts_autograd_and_names_each_mistake():
    def good(dy, x, gamma, eps):
        x = x.clone().requires_grad_()
        F.batch_norm(x, None, None, gamma, None, True, 0.1, eps).backward(dy)
        return x.grad

    assert ex.check_batch_norm_backward(good).passed
    for m in ex.BACKWARD_MISTAKES:
        result = ex.check_batch_norm_backward(m.fn)
        assert not result.passed and result.mistake == m.name


def test_fold_checker_accepts_the_reference_and_names_each_mistake():
    assert ex.check_fold_batch_norm(bn.fold_batch_norm).passed
    for m in ex.FOLD_MISTAKES:
        result = ex.check_fold_batch_norm(m.fn)
        assert not result.passed and result.mistake == m.name


def test_final_loss_and_median_jumps_summarise_a_run(data):
    from mlnotes_lib.experiments import batchnorm as xbn

    r = xbn.train_mlp(xbn.TrainConfig(depth=2, width=8, steps=30, track_unit=True), data)
    assert xbn.final_loss(r, last=10) == pytest.approx(float(r.losses[-10:].mean()))
    assert xbn.median_jumps(r) == pytest.approx(float(np.diff(r.percentiles[:, 1]).std()))
    bad = xbn.train_mlp(xbn.TrainConfig(depth=8, lr=10.0, steps=30), data)
    assert xbn.final_loss(bad) == float("inf")
    with pytest.raises(ValueError, match=r"\bresult\b"):
        xbn.landscape_summary(r)  # no probes in this run


def test_eval_mode_bug_reports_five_accuracies_and_leaves_the_model_alone(data):
    from mlnotes_lib.experiments import batchnorm as xbn

    r = xbn.train_mlp(xbn.TrainConfig(depth=2, width=16, norm="bn", lr=0.3, steps=40), data)
    before = {k: v.clone() for k, v in r.model.state_dict().items()}
    acc = xbn.eval_mode_bug(r.model, data[2], data[3])
    assert len(acc) == 5 and all(0 <= a <= 1 for a in acc.values())
    assert all(torch.equal(v, r.model.state_dict()[k]) for k, v in before.items())
