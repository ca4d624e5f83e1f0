"""mlnotes_lib.gan against torch's own BCE, independent integrals and Monte Carlo."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon
from torch.testing import assert_close

from mlnotes_lib import gan
from mlnotes_lib.exercises import gan as ex
from mlnotes_lib.experiments import gan as xgan


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
    with pytest.raises(ValueError, match=r"\bd_real\b"):
        gan.discriminator_loss(torch.tensor([1.2, 0.5]), torch.tensor([0.5]))


def test_discriminator_loss_rejects_d_fake_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\bd_fake\b"):
        gan.discriminator_loss(torch.tensor([0.5]), torch.tensor([-0.1]))


def test_discriminator_loss_rejects_nan():
    with pytest.raises(ValueError, match=r"\bd_real\b"):
        gan.discriminator_loss(torch.tensor([float("nan")]), torch.tensor([0.5]))


def test_generator_loss_rejects_unknown_kind():
    with pytest.raises(ValueError, match=r"\bkind\b"):
        gan.generator_loss(torch.tensor([0.5]), "wasserstein")


def test_generator_loss_rejects_d_fake_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\bd_fake\b"):
        gan.generator_loss(torch.tensor([2.0]))


def _tiny_gan(seed: int = 0):
    torch.manual_seed(seed)
    return gan.toy_generator(2, 8), gan.toy_discriminator(1, 8)


def _samplers():
    return gan.mixture_sampler([-1.0, 1.0], 0.3), lambda m: torch.randn(m, 2)


@pytest.mark.parametrize("k", [0, -1, 1.5])
def test_train_gan_rejects_k_below_one(k):
    G, D = _tiny_gan()
    with pytest.raises(ValueError, match=r"\bk\b must"):
        gan.train_gan(G, D, *_samplers(), 1, k)


def test_train_gan_rejects_unknown_loss():
    G, D = _tiny_gan()
    with pytest.raises(ValueError, match=r"\bloss\b"):
        gan.train_gan(G, D, *_samplers(), 1, loss="hinge")


def test_train_gan_rejects_negative_steps():
    G, D = _tiny_gan()
    with pytest.raises(ValueError, match=r"\bsteps\b"):
        gan.train_gan(G, D, *_samplers(), -1)


def test_train_gan_rejects_snapshot_outside_the_run():
    G, D = _tiny_gan()
    with pytest.raises(ValueError, match=r"\bsnapshot_at\b"):
        gan.train_gan(G, D, *_samplers(), 3, snapshot_at=[4])


def test_train_gan_rejects_unknown_optimizer():
    G, D = _tiny_gan()
    with pytest.raises(ValueError, match=r"\boptimizer\b"):
        gan.train_gan(G, D, *_samplers(), 1, optimizer="rmsprop")


def test_train_gan_rejects_bad_batch_size_and_lr():
    G, D = _tiny_gan()
    with pytest.raises(ValueError, match=r"\bbatch_size\b"):
        gan.train_gan(G, D, *_samplers(), 1, batch_size=0)
    with pytest.raises(ValueError, match=r"\blr\b"):
        gan.train_gan(G, D, *_samplers(), 1, lr=0.0)


def test_optimal_discriminator_rejects_negative_density():
    with pytest.raises(ValueError, match=r"\bp_model\b"):
        gan.optimal_discriminator(torch.tensor([0.1]), torch.tensor([-0.1]))
    with pytest.raises(ValueError, match=r"\bp_data\b"):
        gan.optimal_discriminator(torch.tensor([float("inf")]), torch.tensor([0.1]))


def test_js_divergence_rejects_bad_dx_and_shapes():
    p = torch.ones(4)
    with pytest.raises(ValueError, match=r"\bdx\b"):
        gan.js_divergence(p, p, 0.0)
    with pytest.raises(ValueError, match=r"\bp_model\b"):
        gan.js_divergence(p, torch.ones(5), 0.1)


def test_value_function_rejects_d_outside_unit_interval():
    p = torch.ones(4)
    with pytest.raises(ValueError, match=r"\bd\b must"):
        gan.value_function(p, p, torch.full((4,), 1.5), 0.1)


def test_mixture_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"\bstds\b"):
        gan.mixture_sampler([0.0, 1.0], [0.1, -0.1])
    with pytest.raises(ValueError, match=r"\bweights\b"):
        gan.gaussian_mixture(torch.zeros(3), [0.0, 1.0], 0.5, weights=[1.0])
    with pytest.raises(ValueError, match=r"\bmeans\b"):
        gan.gaussian_mixture(torch.zeros(3), [[0.0, 1.0]], 0.5)


def test_fit_discriminator_rejects_negative_steps():
    _, D = _tiny_gan()
    with pytest.raises(ValueError, match=r"\bsteps\b"):
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


def test_gan_step_equals_the_plain_algorithm_and_discriminator_steps_leave_g_alone():
    # one iteration with k = 3, once by gan_step and once written out plainly: the D steps
    # see G(z) detached, and G moves only in its own step, on fresh noise
    G, D = _tiny_gan(4)
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    torch.manual_seed(1)
    real = [torch.randn(16, 1) for _ in range(3)]
    zs = [torch.randn(16, 2) for _ in range(3)]
    z_g = torch.randn(16, 2)
    opt = lambda net: torch.optim.SGD(net.parameters(), lr=0.1)  # noqa: E731
    g_before = [p.detach().clone() for p in G.parameters()]
    logs = xgan.gan_step(G, D, opt(G), opt(D), real, zs, z_g=z_g)
    opt_g2, opt_d2 = opt(G2), opt(D2)
    for x, z in zip(real, zs, strict=True):
        loss = gan.discriminator_loss(D2(x), D2(G2(z).detach()))
        opt_d2.zero_grad()
        loss.backward()
        opt_d2.step()
        assert all(torch.equal(a, b) for a, b in zip(g_before, G2.parameters(), strict=True))
    d_after = [p.detach().clone() for p in D2.parameters()]
    g_loss = gan.generator_loss(D2(G2(z_g)))
    opt_g2.zero_grad()
    g_loss.backward()
    opt_g2.step()
    for a, b in zip([*G.parameters(), *D.parameters()], [*G2.parameters(), *d_after], strict=True):
        assert_close(a, b)
    assert logs["g_loss"].item() == pytest.approx(g_loss.item(), rel=1e-6)
    assert not any(torch.equal(a, b) for a, b in zip(g_before, G.parameters(), strict=True))
    assert all(p.requires_grad for p in D.parameters())


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
    for kind in ("minimax", "non_saturating"):
        G.zero_grad()
        gan.generator_loss(D(G(torch.randn(64, 2))), kind).backward()
        norms[kind] = xgan._grad_norm(G)
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


# ------------------------------------------------------------- new in the GAN chapter
def test_maximum_likelihood_cost_is_the_density_ratio_and_its_slope():
    a = torch.linspace(-6, 6, 25, dtype=torch.float64, requires_grad=True)
    d = torch.sigmoid(a)
    cost = gan.generator_loss(d, "maximum_likelihood")
    assert_close(cost, -torch.exp(a).mean())  # exp(logit(D)) = D / (1 - D)
    (grad,) = torch.autograd.grad(cost * a.numel(), a)
    assert_close(grad, -(d / (1 - d)).detach())


def test_maximum_likelihood_cost_gives_the_kl_gradient_at_the_optimal_discriminator():
    # E_{p_model}[-D*/(1 - D*)] with D* held fixed: its gradient is that of KL(p_data || p_model)
    p_data = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    theta = torch.tensor([0.1, -0.4, 0.2], dtype=torch.float64, requires_grad=True)
    p_model = torch.softmax(theta, 0)
    ratio = (p_data / p_model).detach()  # D*/(1 - D*)
    (g_cost,) = torch.autograd.grad(-(p_model * ratio).sum(), theta)
    (g_kl,) = torch.autograd.grad(
        (p_data * torch.log(p_data / torch.softmax(theta, 0))).sum(), theta
    )
    assert_close(g_cost, g_kl)


def test_nonsaturating_divergence_against_scipy_and_its_gradient_claim():
    from scipy.special import rel_entr

    p = torch.tensor([0.1, 0.4, 0.2, 0.3], dtype=torch.float64)
    q = torch.tensor([0.25, 0.25, 0.3, 0.2], dtype=torch.float64)
    ref = rel_entr(q.numpy(), p.numpy()).sum() - 2 * jensenshannon(p.numpy(), q.numpy()) ** 2
    assert_close(gan.nonsaturating_divergence(p, q), torch.tensor(ref, dtype=torch.float64))
    assert gan.nonsaturating_divergence(p, p).item() == 0.0
    theta = torch.log(q).requires_grad_()
    pm = torch.softmax(theta, 0)
    d_star = gan.optimal_discriminator(p, pm.detach())
    (g_cost,) = torch.autograd.grad(-(pm * torch.log(d_star)).sum(), theta)
    (g_div,) = torch.autograd.grad(gan.nonsaturating_divergence(p, torch.softmax(theta, 0)), theta)
    assert_close(g_cost, g_div)


@pytest.mark.parametrize("name", ["p_data", "p_model"])
def test_nonsaturating_divergence_rejects_probabilities_outside_unit_interval(name):
    good, bad = torch.tensor([0.5, 0.5]), torch.tensor([1.5, -0.5])
    args = {"p_data": good, "p_model": good, name: bad}
    with pytest.raises(ValueError, match=rf"\b{name}\b must hold probabilities in \[0, 1\]"):
        gan.nonsaturating_divergence(**args)


def test_nonsaturating_divergence_rejects_unnormalised_and_mismatched_inputs():
    with pytest.raises(ValueError, match=r"\bp_model\b must sum to 1"):
        gan.nonsaturating_divergence(torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.4]))
    with pytest.raises(ValueError, match=r"\bp_model\b must have the shape"):
        gan.nonsaturating_divergence(torch.tensor([0.5, 0.5]), torch.tensor([0.2, 0.3, 0.5]))


def test_bilinear_game_simultaneous_spirals_out_by_the_closed_form():
    path = gan.bilinear_game(0.6, -0.8, 0.2, 50, "simultaneous")
    assert path.shape == (51, 2) and path.dtype == torch.float64
    assert_close(path[0], torch.tensor([0.6, -0.8], dtype=torch.float64))
    radius = path.norm(dim=1)
    assert_close(radius, 1.04 ** (torch.arange(51, dtype=torch.float64) / 2))
    # each step is the rotation-and-stretch matrix [[1, -lr], [lr, 1]]
    A = torch.tensor([[1.0, -0.2], [0.2, 1.0]], dtype=torch.float64)
    assert_close(path[1:], path[:-1] @ A.T)


def test_bilinear_game_alternating_orbits_and_the_flow_circles():
    lr = 0.3
    path = gan.bilinear_game(1.0, 0.5, lr, 200, "alternating")
    x, y = path[:, 0], path[:, 1]
    q = x**2 + y**2 - lr * x * y  # conserved by the alternating (symplectic) map
    assert_close(q, torch.full_like(q, q[0].item()))
    assert path.norm(dim=1).max() < 1.5
    t = torch.linspace(0, 10, 101, dtype=torch.float64)
    flow = gan.bilinear_flow(1.0, 0.5, t)
    assert_close(flow.norm(dim=1), torch.full((101,), math.sqrt(1.25), dtype=torch.float64))
    # the flow solves dx/dt = -y, dy/dt = x: compare with a fine Euler integration of it
    fine = gan.bilinear_game(1.0, 0.5, 1e-4, 10_000, "alternating")
    assert_close(fine[-1], gan.bilinear_flow(1.0, 0.5, torch.tensor([1.0]))[0], atol=1e-3, rtol=0)


def test_bilinear_game_zero_steps_is_the_start():
    assert_close(
        gan.bilinear_game(2.0, 3.0, 0.1, 0), torch.tensor([[2.0, 3.0]], dtype=torch.float64)
    )


def test_bilinear_game_rejects_unknown_update_rule():
    with pytest.raises(ValueError, match=r"\bupdate\b must be one of"):
        gan.bilinear_game(1.0, 0.0, 0.1, 5, update="leapfrog")


@pytest.mark.parametrize("lr", [0.0, -0.1])
def test_bilinear_game_rejects_non_positive_lr(lr):
    with pytest.raises(ValueError, match=r"\blr\b must be a positive"):
        gan.bilinear_game(1.0, 0.0, lr, 5)


def test_bilinear_game_rejects_negative_steps():
    with pytest.raises(ValueError, match=r"\bsteps\b must be >= 0"):
        gan.bilinear_game(1.0, 0.0, 0.1, -1)


def test_ensemble_members_are_the_single_networks_forward_and_backward():
    nets = []
    for seed in range(3):
        torch.manual_seed(seed)
        nets.append(gan.toy_discriminator(1, 8))
    big = gan.ensemble(nets)
    x = torch.randn(3, 5, 1)
    out = big(x)
    assert out.shape == (3, 5)
    for s, net in enumerate(nets):
        assert_close(out[s], net(x[s]))
    # the summed member losses give each member its own gradient
    (out.log().mean(-1).sum()).backward()
    for s, net in enumerate(nets):
        net.zero_grad()
        net(x[s]).log().mean().backward()
        assert_close(big[0].weight.grad[s], net[0].weight.grad)


def test_ensemble_rejects_mixed_architectures():
    with pytest.raises(ValueError, match=r"\bnets\b must share one architecture"):
        gan.ensemble([gan.toy_generator(2, 8), gan.toy_discriminator(2, 8)])


def test_train_gan_takes_a_config_and_old_keywords_alike():
    cfg = xgan.GANConfig(steps=4, k=2, batch_size=16, lr=5e-3, seed=3)
    G, D = _tiny_gan(3)
    a = gan.train_gan(G, D, *_samplers(), config=cfg)
    G, D = _tiny_gan(3)
    b = gan.train_gan(G, D, *_samplers(), 4, 2, batch_size=16, lr=5e-3, seed=3)
    assert isinstance(a, xgan.GANResult) and a.d_loss == b.d_loss and a["g_loss"] == b.g_loss


def test_mode_counts_of_an_ensemble_run():
    sweep = xgan.train_toy_gans([0, 1], losses=["non_saturating"], ks=[1], steps=3)
    run = sweep.runs["non_saturating", 1]
    assert run.d_real.shape == (3, 2) and run.snapshots[3].shape == (2, 512, 1)
    assert sweep.modes["non_saturating", 1].shape == (2,)
    assert run.member(1).snapshots[3].shape == (512, 1)
    cov = xgan.mode_coverage(
        torch.tensor([[-2.0, -2.1, 2.0, 9.0], [9.0, 9.0, 9.0, 2.2]])[..., None]
    )
    assert_close(cov, torch.tensor([[0.5, 0.25], [0.0, 0.25]]))
    assert xgan.modes_covered(cov).tolist() == [2, 1]


def test_modes_covered_rejects_threshold_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\bthreshold\b must be in"):
        xgan.modes_covered(torch.tensor([0.5, 0.5]), threshold=2.0)


def test_snapshot_plot_says_when_a_run_diverged():
    from mlnotes_lib.plots import figure
    from mlnotes_lib.plots import gan as pgan

    x = xgan.toy_grid()
    _fig, ax = figure()
    pgan.plot_snapshot(ax, x, torch.ones_like(x), torch.full((100, 1), 1e6))
    assert any("diverged" in t.get_text() for t in ax.texts)
    _fig, ax = figure()
    pgan.plot_snapshot(ax, x, torch.ones_like(x), torch.zeros(100, 1))
    assert not ax.texts
