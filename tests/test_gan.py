"""mlnotes_lib.gan against torch's own BCE, independent integrals and Monte Carlo."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon
from torch.testing import assert_close

from mlnotes_lib import gan
from mlnotes_lib.exercises import gan as ex


def _probs(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(n, generator=g, dtype=torch.float64) * 0.98 + 0.01
    return p.requires_grad_()


# --------------------------------------------------------------------------- costs
def test_discriminator_loss_matches_torch_bce_forward_and_backward():
    real, fake = _probs(7, 0), _probs(5, 1)
    ours = gan.discriminator_loss(real, fake)
    ours.backward()
    r2, f2 = real.detach().clone().requires_grad_(), fake.detach().clone().requires_grad_()
    ref = 0.5 * F.binary_cross_entropy(r2, torch.ones_like(r2)) + 0.5 * F.binary_cross_entropy(
        f2, torch.zeros_like(f2)
    )
    ref.backward()
    assert_close(ours, ref)
    assert_close(real.grad, r2.grad)
    assert_close(fake.grad, f2.grad)


def test_discriminator_loss_is_the_formula_and_log2_at_one_half():
    real, fake = _probs(6, 2).detach(), _probs(6, 3).detach()
    formula = -0.5 * torch.log(real).mean() - 0.5 * torch.log(1 - fake).mean()
    assert_close(gan.discriminator_loss(real, fake), formula)
    half = torch.full((4,), 0.5)
    assert_close(gan.discriminator_loss(half, half), torch.tensor(math.log(2)))


def test_discriminator_loss_is_finite_at_zero_and_one_like_torch():
    real = torch.tensor([0.0, 1.0, 0.5], requires_grad=True)
    fake = torch.tensor([1.0, 0.0, 0.5], requires_grad=True)
    ours = gan.discriminator_loss(real, fake)
    ours.backward()
    r2, f2 = real.detach().clone().requires_grad_(), fake.detach().clone().requires_grad_()
    ref = 0.5 * F.binary_cross_entropy(r2, torch.ones(3)) + 0.5 * F.binary_cross_entropy(
        f2, torch.zeros(3)
    )
    ref.backward()
    assert torch.isfinite(ours)
    assert_close(ours, ref)
    assert_close(real.grad, r2.grad)
    assert_close(fake.grad, f2.grad)


@pytest.mark.parametrize("kind", ["minimax", "non_saturating"])
def test_generator_loss_matches_torch_forward_and_backward(kind):
    d = _probs(9, 4)
    ours = gan.generator_loss(d, kind)
    ours.backward()
    d2 = d.detach().clone().requires_grad_()
    if kind == "minimax":  # E log(1 - D) = -BCE(D, 0)
        ref = -F.binary_cross_entropy(d2, torch.zeros_like(d2))
        formula = torch.log(1 - d.detach()).mean()
    else:  # -E log D = BCE(D, 1)
        ref = F.binary_cross_entropy(d2, torch.ones_like(d2))
        formula = -torch.log(d.detach()).mean()
    ref.backward()
    assert_close(ours, ref)
    assert_close(ours.detach(), formula)
    assert_close(d.grad, d2.grad)


def test_generator_loss_default_is_non_saturating():
    d = _probs(5, 5).detach()
    assert_close(gan.generator_loss(d), -torch.log(d).mean())


def test_generator_loss_gradients_against_the_logit():
    # With D = sigmoid(a): d/da log(1 - D) = -D and d/da (-log D) = -(1 - D).
    a = torch.linspace(-8, 8, 17, dtype=torch.float64, requires_grad=True)
    for kind, expected in [("minimax", lambda p: -p), ("non_saturating", lambda p: -(1 - p))]:
        a.grad = None
        (gan.generator_loss(torch.sigmoid(a), kind) * a.numel()).backward()
        assert_close(a.grad, expected(torch.sigmoid(a.detach())))
    # the minimax gradient vanishes where the discriminator rejects the fakes, the other not
    p = torch.sigmoid(torch.tensor(-8.0, dtype=torch.float64))
    assert p < 1e-3 and 1 - p > 0.999


# ----------------------------------------------------------------- bad input, one each
def test_discriminator_loss_rejects_d_real_outside_unit_interval():
    with pytest.raises(ValueError, match="d_real"):
        gan.discriminator_loss(torch.tensor([1.2, 0.5]), torch.tensor([0.5]))


def test_discriminator_loss_rejects_d_fake_outside_unit_interval():
    with pytest.raises(ValueError, match="d_fake"):
        gan.discriminator_loss(torch.tensor([0.5]), torch.tensor([-0.1]))


def test_discriminator_loss_rejects_nan():
    with pytest.raises(ValueError, match="d_real"):
        gan.discriminator_loss(torch.tensor([float("nan")]), torch.tensor([0.5]))


def test_generator_loss_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        gan.generator_loss(torch.tensor([0.5]), "wasserstein")


def test_generator_loss_rejects_d_fake_outside_unit_interval():
    with pytest.raises(ValueError, match="d_fake"):
        gan.generator_loss(torch.tensor([2.0]))


def _tiny_gan(seed: int = 0):
    torch.manual_seed(seed)
    return gan.toy_generator(2, 8), gan.toy_discriminator(1, 8)


def _samplers():
    return gan.mixture_sampler([-1.0, 1.0], 0.3), lambda m: torch.randn(m, 2)


@pytest.mark.parametrize("k", [0, -1, 1.5])
def test_train_gan_rejects_k_below_one(k):
    G, D = _tiny_gan()
    with pytest.raises(ValueError, match="k must"):
        gan.train_gan(G, D, *_samplers(), 1, k)


def test_train_gan_rejects_unknown_loss():
    G, D = _tiny_gan()
    with pytest.raises(ValueError, match="loss"):
        gan.train_gan(G, D, *_samplers(), 1, loss="hinge")


def test_train_gan_rejects_negative_steps():
    G, D = _tiny_gan()
    with pytest.raises(ValueError, match="steps"):
        gan.train_gan(G, D, *_samplers(), -1)


def test_train_gan_rejects_snapshot_outside_the_run():
    G, D = _tiny_gan()
    with pytest.raises(ValueError, match="snapshot_at"):
        gan.train_gan(G, D, *_samplers(), 3, snapshot_at=[4])


def test_train_gan_rejects_unknown_optimizer():
    G, D = _tiny_gan()
    with pytest.raises(ValueError, match="optimizer"):
        gan.train_gan(G, D, *_samplers(), 1, optimizer="rmsprop")


def test_train_gan_rejects_bad_batch_size_and_lr():
    G, D = _tiny_gan()
    with pytest.raises(ValueError, match="batch_size"):
        gan.train_gan(G, D, *_samplers(), 1, batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        gan.train_gan(G, D, *_samplers(), 1, lr=0.0)


def test_optimal_discriminator_rejects_negative_density():
    with pytest.raises(ValueError, match="p_model"):
        gan.optimal_discriminator(torch.tensor([0.1]), torch.tensor([-0.1]))
    with pytest.raises(ValueError, match="p_data"):
        gan.optimal_discriminator(torch.tensor([float("inf")]), torch.tensor([0.1]))


def test_js_divergence_rejects_bad_dx_and_shapes():
    p = torch.ones(4)
    with pytest.raises(ValueError, match="dx"):
        gan.js_divergence(p, p, 0.0)
    with pytest.raises(ValueError, match="p_model"):
        gan.js_divergence(p, torch.ones(5), 0.1)


def test_value_function_rejects_d_outside_unit_interval():
    p = torch.ones(4)
    with pytest.raises(ValueError, match="d must"):
        gan.value_function(p, p, torch.full((4,), 1.5), 0.1)


def test_mixture_rejects_bad_parameters():
    with pytest.raises(ValueError, match="stds"):
        gan.mixture_sampler([0.0, 1.0], [0.1, -0.1])
    with pytest.raises(ValueError, match="weights"):
        gan.gaussian_mixture(torch.zeros(3), [0.0, 1.0], 0.5, weights=[1.0])
    with pytest.raises(ValueError, match="means"):
        gan.gaussian_mixture(torch.zeros(3), [[0.0, 1.0]], 0.5)


def test_fit_discriminator_rejects_negative_steps():
    _, D = _tiny_gan()
    with pytest.raises(ValueError, match="steps"):
        gan.fit_discriminator(D, *_samplers(), -2)


# ---------------------------------------------------------------------------- theory
def test_optimal_discriminator_formula_and_both_zero():
    p = torch.tensor([0.4, 0.1, 0.0, 0.0, 2.0])
    q = torch.tensor([0.1, 0.1, 0.2, 0.0, 2.0])
    assert_close(gan.optimal_discriminator(p, q), torch.tensor([0.8, 0.5, 0.0, 0.5, 0.5]))


def _densities():
    x = torch.linspace(-8, 8, 4001, dtype=torch.float64)
    p = gan.gaussian_mixture(x, [-2.0, 2.0], 0.5)
    q = gan.gaussian_mixture(x, [0.5], 1.2)
    return x, p, q, float(x[1] - x[0])


def test_value_at_optimal_discriminator_is_minus_log4_plus_twice_jsd():
    _x, p, q, dx = _densities()
    d_star = gan.optimal_discriminator(p, q)
    v = gan.value_function(p, q, d_star, dx)
    jsd = gan.js_divergence(p, q, dx)
    assert_close(v, -math.log(4) + 2 * jsd)
    # independent JSD: scipy's Jensen-Shannon distance is the square root of it
    ref = jensenshannon((p * dx).numpy(), (q * dx).numpy()) ** 2
    assert_close(jsd, torch.tensor(ref, dtype=torch.float64))


def test_value_function_is_the_integral_and_minus_twice_j_d_by_monte_carlo():
    _x, p, q, dx = _densities()
    d_star = gan.optimal_discriminator(p, q)
    # the plain Riemann sum of the integrand (densities integrate to 1 on this grid)
    integral = (torch.xlogy(p, d_star) + torch.xlogy(q, 1 - d_star)).sum() * dx
    assert_close(gan.value_function(p, q, d_star, dx), integral, rtol=1e-6, atol=1e-6)
    # V(G, D) = -2 J(D): estimate J(D*) on samples of both densities
    torch.manual_seed(0)
    xs_data = gan.mixture_sampler([-2.0, 2.0], 0.5)(200_000).reshape(-1).double()
    xs_model = 0.5 + 1.2 * torch.randn(200_000, dtype=torch.float64)

    def d_star_at(t):
        return gan.optimal_discriminator(
            gan.gaussian_mixture(t, [-2.0, 2.0], 0.5), gan.gaussian_mixture(t, [0.5], 1.2)
        )

    j_d = gan.discriminator_loss(d_star_at(xs_data), d_star_at(xs_model))
    assert abs(-2 * j_d.item() - integral.item()) < 0.01


def test_optimal_discriminator_maximises_the_value():
    x, p, q, dx = _densities()
    d_star = gan.optimal_discriminator(p, q)
    best = gan.value_function(p, q, d_star, dx)
    bump = torch.exp(-((x - 1.0) ** 2))
    for eps in (-0.05, -0.01, 0.01, 0.05):
        other = (d_star + eps * bump).clamp(0, 1)
        assert gan.value_function(p, q, other, dx) < best


def test_jsd_extremes_and_symmetry():
    x, p, q, dx = _densities()
    assert_close(gan.js_divergence(p, p, dx), torch.tensor(0.0, dtype=torch.float64))
    assert_close(gan.js_divergence(p, q, dx), gan.js_divergence(q, p, dx))
    left = (x < 0).double()
    right = (x > 0).double()
    assert_close(gan.js_divergence(left, right, dx), torch.tensor(math.log(2), dtype=torch.float64))


def test_gaussian_mixture_matches_torch_distributions():
    x = torch.linspace(-4, 4, 33, dtype=torch.float64)
    means, stds, w = [-1.0, 0.5, 2.0], [0.3, 1.0, 0.6], [0.2, 0.5, 0.3]
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.tensor(w, dtype=torch.float64)),
        torch.distributions.Normal(
            torch.tensor(means, dtype=torch.float64), torch.tensor(stds, dtype=torch.float64)
        ),
    )
    assert_close(gan.gaussian_mixture(x, means, stds, w), mix.log_prob(x).exp())


def test_mixture_sampler_shape_and_moments():
    torch.manual_seed(0)
    xs = gan.mixture_sampler([-2.0, 2.0], 0.5)(20_000)
    assert xs.shape == (20_000, 1)
    assert abs(xs.mean().item()) < 0.05
    assert abs(xs.var().item() - (4 + 0.25)) < 0.1
    ring = gan.mixture_sampler([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], 0.1)(50)
    assert ring.shape == (50, 2)


# -------------------------------------------------------------------------- training
def test_train_gan_runs_k_discriminator_steps_per_generator_step():
    calls = {"data": 0, "z": 0}
    data, z = _samplers()

    def count_data(m):
        calls["data"] += 1
        return data(m)

    def count_z(m):
        calls["z"] += 1
        return z(m)

    G, D = _tiny_gan()
    h = gan.train_gan(G, D, count_data, count_z, 4, 3, batch_size=16, seed=0)
    assert calls == {"data": 4 * 3, "z": 4 * (3 + 1)}
    assert all(len(h[key]) == 4 for key in ("d_loss", "g_loss", "d_real", "d_fake"))


def test_train_gan_discriminator_steps_leave_the_generator_alone():
    G, D = _tiny_gan()
    before = [p.detach().clone() for p in G.parameters()]
    d_before = [p.detach().clone() for p in D.parameters()]
    # steps=0: no iteration at all; with a snapshot at 0 only forward passes run
    gan.train_gan(G, D, *_samplers(), 0, snapshot_at=[0])
    for a, b in zip(before, G.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(d_before, D.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_few_discriminator_steps_lower_its_loss():
    G, D = _tiny_gan(1)
    # k = 30 discriminator steps, then one generator step: J(D) falls within the iteration
    losses_fit = gan.fit_discriminator(
        D, gan.mixture_sampler([-2.0, 2.0], 0.3), lambda m: G(torch.randn(m, 2)), 60, seed=0
    )
    assert sum(losses_fit[-10:]) / 10 < sum(losses_fit[:10]) / 10 - 0.1
    G, D = _tiny_gan(1)
    h = gan.train_gan(G, D, *_samplers(), 20, 5, lr=5e-3, seed=0)
    assert sum(h["d_loss"][-5:]) / 5 < h["d_loss"][0]


def test_train_gan_is_reproducible_and_leaves_caller_rng_and_threads_alone():
    threads = torch.get_num_threads()
    runs = []
    for _ in range(2):
        G, D = _tiny_gan(3)
        state = torch.get_rng_state()
        runs.append(gan.train_gan(G, D, *_samplers(), 5, 2, seed=7, snapshot_at=[0, 5]))
        assert torch.equal(state, torch.get_rng_state())
    assert torch.get_num_threads() == threads
    assert runs[0]["d_loss"] == runs[1]["d_loss"]
    assert_close(runs[0]["snapshots"][5], runs[1]["snapshots"][5])


def test_train_gan_snapshots_and_progress():
    G, D = _tiny_gan()
    seen = []
    x = torch.linspace(-3, 3, 11)[:, None]
    h = gan.train_gan(
        G,
        D,
        *_samplers(),
        6,
        snapshot_at=[0, 3, 6],
        snapshot_z=torch.randn(40, 2),
        snapshot_x=x,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert sorted(h["snapshots"]) == [0, 3, 6]
    assert h["snapshots"][3].shape == (40, 1)
    assert h["d_snapshots"][6].shape == (11,)
    assert seen[-1] == (6, 6)
    assert not torch.equal(h["snapshots"][0], h["snapshots"][6])


def test_minimax_generator_gradient_vanishes_against_a_confident_discriminator():
    torch.manual_seed(0)
    G = gan.toy_generator(2, 8)
    # a discriminator that rejects everything near G's outputs with D ~ 1e-4
    D = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Sigmoid(), torch.nn.Flatten(0))
    with torch.no_grad():
        D[0].weight.fill_(1.0)
        D[0].bias.fill_(-9.0)
    norms = {}
    for kind in gan.GENERATOR_LOSSES:
        G.zero_grad()
        gan.generator_loss(D(G(torch.randn(64, 2))), kind).backward()
        norms[kind] = gan._grad_norm(G)
    assert norms["minimax"] < 1e-3 * norms["non_saturating"]


def test_train_toy_gan_and_mode_coverage():
    h = gan.train_toy_gan(steps=5, snapshot_at=[0, 5])
    assert {"x", "p_data", "G", "D", "settings", "snapshots"} <= set(h)
    assert h["d_snapshots"][5].shape == h["x"].shape
    cov = gan.mode_coverage(torch.tensor([-2.1, -1.5, 2.0, 0.0]))
    assert_close(cov, torch.tensor([0.5, 0.25]))


# ------------------------------------------------------------------------- exercises
def test_checkers_pass_the_references():
    assert ex.check_discriminator_loss(gan.discriminator_loss)
    assert ex.check_generator_loss(lambda d: gan.generator_loss(d, "non_saturating"))
    assert ex.check_optimal_discriminator(gan.optimal_discriminator)


@pytest.mark.parametrize("mistake", ex._D_MISTAKES, ids=lambda m: m.name)
def test_discriminator_checker_names_each_mistake(mistake):
    result = ex.check_discriminator_loss(mistake.fn)
    assert not result and result.mistake == mistake.name


@pytest.mark.parametrize("mistake", ex._G_MISTAKES, ids=lambda m: m.name)
def test_generator_checker_names_each_mistake(mistake):
    result = ex.check_generator_loss(mistake.fn)
    assert not result and result.mistake == mistake.name


@pytest.mark.parametrize("mistake", ex._OPT_MISTAKES, ids=lambda m: m.name)
def test_optimal_discriminator_checker_names_each_mistake(mistake):
    result = ex.check_optimal_discriminator(mistake.fn)
    assert not result and result.mistake == mistake.name


def test_checker_reports_an_unknown_mistake():
    result = ex.check_optimal_discriminator(lambda p, q: p * 0 + 0.5)
    assert not result and result.mistake is None


def test_train_gan_restores_the_discriminators_trainable_flags():
    G, D = _tiny_gan()
    D[0].bias.requires_grad_(False)  # a frozen parameter stays frozen and untouched
    frozen = D[0].bias.detach().clone()
    gan.train_gan(G, D, *_samplers(), 3, 2)
    assert [p.requires_grad for p in D.parameters()] == [True, False, True, True, True, True]
    assert torch.equal(D[0].bias, frozen)
