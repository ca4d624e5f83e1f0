"""Tests of mlnotes_lib.mle against torch.distributions, closed forms, and its checkers."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Binomial, Normal

from mlnotes_lib import losses, mle
from mlnotes_lib.exercises import mle as ex
from mlnotes_lib.plots import mle as plots_mle

pytestmark = pytest.mark.usefixtures("one_thread")


def _sample(n: int = 50, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 1.5 + 0.8 * torch.randn(n, generator=gen, dtype=torch.float64)


# ------------------------------------------------------------------ log-likelihoods
def test_gaussian_log_likelihood_matches_normal_log_prob_forward_and_backward():
    x = _sample()
    mu = torch.tensor(1.2, dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    ours = mle.gaussian_log_likelihood(x, mu, sigma)
    ref = Normal(mu, sigma).log_prob(x).sum()
    torch.testing.assert_close(ours, ref)
    g = torch.autograd.grad(ours, (mu, sigma))
    r = torch.autograd.grad(ref, (mu, sigma))
    torch.testing.assert_close(g, r)


def test_gaussian_log_likelihood_on_a_grid_of_parameters():
    x = _sample(20)
    mus = torch.linspace(0, 3, 7, dtype=torch.float64)
    sigmas = torch.linspace(0.3, 2, 5, dtype=torch.float64)
    ll = mle.gaussian_log_likelihood(x, mus[None, :], sigmas[:, None])
    assert ll.shape == (5, 7)
    ref = Normal(mus[None, :, None], sigmas[:, None, None]).log_prob(x).sum(-1)
    torch.testing.assert_close(ll, ref)


def test_gaussian_log_likelihood_by_hand():
    # One sample at the mean of a standard normal: log(1 / sqrt(2 pi)).
    got = mle.gaussian_log_likelihood(torch.tensor([0.0]), 0.0, 1.0).item()
    assert got == pytest.approx(-0.5 * math.log(2 * math.pi))


def test_bernoulli_log_likelihood_matches_torch_and_handles_p_0_and_1():
    x = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0])
    p = torch.tensor([0.1, 0.4, 0.6, 0.9])
    ref = Bernoulli(probs=p[:, None]).log_prob(x).sum(-1)
    torch.testing.assert_close(mle.bernoulli_log_likelihood(x, p), ref)
    assert mle.bernoulli_log_likelihood(torch.ones(4), 1.0).item() == 0.0
    assert mle.bernoulli_log_likelihood(torch.zeros(4), 0.0).item() == 0.0
    assert mle.bernoulli_log_likelihood(torch.ones(4), 0.0).item() == -math.inf


def test_bernoulli_log_likelihood_is_minus_n_times_bce():
    x = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    p = torch.tensor(0.35, dtype=torch.float64)
    bce = losses.binary_cross_entropy(p.expand(5), x)
    torch.testing.assert_close(mle.bernoulli_log_likelihood(x, p), -5 * bce)


# -------------------------------------------------------------------- closed forms
def test_gaussian_mle_is_mean_and_biased_std():
    x = _sample(40)
    mu, sigma = mle.gaussian_mle(x)
    torch.testing.assert_close(mu, x.mean())
    torch.testing.assert_close(sigma, x.std(correction=0))
    assert sigma < x.std(correction=1)


def test_gaussian_mle_by_hand():
    mu, sigma = mle.gaussian_mle(torch.tensor([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]))
    assert (mu.item(), sigma.item()) == (5.0, 2.0)


def test_gaussian_mle_maximises_the_log_likelihood():
    x = _sample(30)
    mu, sigma = mle.gaussian_mle(x)
    best = mle.gaussian_log_likelihood(x, mu, sigma)
    for dmu, dsig in [(0.01, 0), (-0.01, 0), (0, 0.01), (0, -0.01)]:
        assert mle.gaussian_log_likelihood(x, mu + dmu, sigma + dsig) < best


def test_bernoulli_mle_is_fraction_of_ones():
    assert mle.bernoulli_mle(torch.tensor([1, 0, 1, 1])).item() == pytest.approx(0.75)
    assert mle.bernoulli_mle([True, False]).item() == pytest.approx(0.5)


def test_empirical_distribution_puts_1_over_n_on_each_sample():
    x = torch.tensor([0, 2, 2, 3, 2])
    torch.testing.assert_close(
        mle.empirical_distribution(x, 5),
        torch.tensor([0.2, 0.0, 0.6, 0.2, 0.0], dtype=torch.float64),
    )


def test_mle_minimises_kl_from_the_empirical_distribution():
    gen = torch.Generator().manual_seed(1)
    k = 6
    x = Binomial(k - 1, torch.tensor(0.3)).sample((200,)).double()
    x = x[torch.randperm(200, generator=gen)]
    p_hat = mle.empirical_distribution(x, k)
    thetas = torch.linspace(0.05, 0.95, 181, dtype=torch.float64)
    support = torch.arange(k, dtype=torch.float64)
    models = Binomial(k - 1, thetas[:, None]).log_prob(support).exp()  # (T, K)
    kl = losses.kl_divergence(p_hat.expand_as(models), models / models.sum(-1, keepdim=True))
    avg_nll = -Binomial(k - 1, thetas[:, None]).log_prob(x).mean(-1)
    # KL(p_hat || p_theta) = average NLL - H(p_hat) for every theta ...
    torch.testing.assert_close(kl, avg_nll - losses.entropy(p_hat))
    # ... so both are minimised by the closed-form MLE theta = mean / (K - 1).
    theta_mle = x.mean() / (k - 1)
    assert abs(thetas[kl.argmin()] - theta_mle) <= 0.0025 + 1e-12


# ----------------------------------------------------------------------- fit_mle
def test_fit_mle_recovers_the_gaussian_closed_form():
    x = _sample(60)

    def nll(mu, log_sigma):
        return -mle.gaussian_log_likelihood(x, mu, log_sigma.exp()) / x.numel()

    start = (torch.tensor(0.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64))
    (mu, log_sigma), history = mle.fit_mle(nll, start, steps=600, lr=0.05)
    mu_ref, sigma_ref = mle.gaussian_mle(x)
    torch.testing.assert_close(mu, mu_ref, atol=1e-4, rtol=0)
    torch.testing.assert_close(log_sigma.exp(), sigma_ref, atol=1e-4, rtol=0)
    assert len(history) == 600 and history[-1] < history[0]
    assert start[0].item() == 0.0  # inputs untouched


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_fit_mle_steps_match_torch_optim(optimizer):
    x = _sample(20)

    def nll(mu, log_sigma):
        return -mle.gaussian_log_likelihood(x, mu, log_sigma.exp()) / x.numel()

    start = [torch.tensor(0.3, dtype=torch.float64), torch.tensor(-0.2, dtype=torch.float64)]
    fitted, history = mle.fit_mle(nll, start, steps=25, lr=0.05, optimizer=optimizer)
    leaves = [p.clone().requires_grad_() for p in start]
    opt = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer](leaves, lr=0.05)
    ref_history = []
    for _ in range(25):
        opt.zero_grad()
        loss = nll(*leaves)
        ref_history.append(loss.item())
        loss.backward()
        opt.step()
    torch.testing.assert_close(fitted, tuple(p.detach() for p in leaves))
    torch.testing.assert_close(torch.tensor(history), torch.tensor(ref_history))


def test_fit_mle_recovers_the_bernoulli_closed_form_with_sgd():
    x = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0])

    def nll(logit):
        return losses.binary_cross_entropy_with_logits(logit.expand(x.shape), x)

    (logit,), _ = mle.fit_mle(nll, torch.tensor(0.0), steps=400, lr=2.0, optimizer="sgd")
    torch.testing.assert_close(torch.sigmoid(logit), mle.bernoulli_mle(x), atol=1e-4, rtol=0)


def test_repeated_gaussian_mle_spread_shrinks_like_one_over_sqrt_n():
    m10, s10 = mle.repeated_gaussian_mle(10, 4000, mu=2.0, sigma=3.0)
    m1000, _ = mle.repeated_gaussian_mle(1000, 400, mu=2.0, sigma=3.0)
    assert m10.std().item() == pytest.approx(3 / math.sqrt(10), rel=0.05)
    assert m1000.std().item() == pytest.approx(3 / math.sqrt(1000), rel=0.1)
    # E[sigma_hat^2] = (n - 1)/n sigma^2: the bias of the 1/n variance
    assert (s10**2).mean().item() == pytest.approx(0.9 * 9, rel=0.03)


# ------------------------------------------------------------------------ bad input
def test_nonpositive_sigma_names_sigma():
    with pytest.raises(ValueError, match=r"\bsigma\b"):
        mle.gaussian_log_likelihood(torch.tensor([1.0]), 0.0, 0.0)
    with pytest.raises(ValueError, match=r"\bsigma\b"):
        mle.gaussian_log_likelihood(torch.tensor([1.0]), 0.0, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"\bsigma\b"):
        mle.repeated_gaussian_mle(5, 5, sigma=-1.0)


def test_empty_samples_name_x():
    for fn in (mle.gaussian_mle, mle.bernoulli_mle):
        with pytest.raises(ValueError, match="x must not be empty"):
            fn(torch.empty(0))
    with pytest.raises(ValueError, match="x must not be empty"):
        mle.gaussian_log_likelihood(torch.empty(0), 0.0, 1.0)


def test_non_binary_outcomes_name_x():
    with pytest.raises(ValueError, match="x must hold"):
        mle.bernoulli_mle(torch.tensor([0.0, 2.0]))
    with pytest.raises(ValueError, match="x must hold"):
        mle.bernoulli_log_likelihood(torch.tensor([0.5]), 0.5)


def test_probability_outside_unit_interval_names_p():
    with pytest.raises(ValueError, match="p must"):
        mle.bernoulli_log_likelihood(torch.tensor([1.0]), 1.5)


def test_samples_must_be_one_dimensional():
    with pytest.raises(ValueError, match="x must be 1-D"):
        mle.gaussian_mle(torch.zeros(3, 2))


def test_empirical_distribution_rejects_out_of_range_values():
    with pytest.raises(ValueError, match="x must hold integers"):
        mle.empirical_distribution(torch.tensor([0, 5]), 5)
    with pytest.raises(ValueError, match=r"\bnum_classes\b"):
        mle.empirical_distribution(torch.tensor([0]), 0)


def test_fit_mle_bad_arguments_are_named():
    p = torch.tensor(0.0)
    with pytest.raises(ValueError, match=r"\bsteps\b"):
        mle.fit_mle(lambda a: a**2, p, steps=0)
    with pytest.raises(ValueError, match=r"\blr\b"):
        mle.fit_mle(lambda a: a**2, p, lr=-1.0)
    with pytest.raises(ValueError, match=r"\bparams\b"):
        mle.fit_mle(lambda: torch.tensor(0.0), [])
    with pytest.raises(ValueError, match=r"\bnll\b"):
        mle.fit_mle(lambda a: a * torch.ones(2), p)
    with pytest.raises(ValueError, match=r"\bnll\b"):
        mle.fit_mle(lambda a: torch.log(a - 1), p, steps=2)
    with pytest.raises(ValueError, match=r"\boptimizer\b"):
        mle.fit_mle(lambda a: a**2, p, optimizer="lbfgs")


# -------------------------------------------------------------------------- drawing
def test_plot_helpers_draw_on_the_given_axes():
    from mlnotes_lib import plotting

    x = _sample(30)
    _fig, axes = plotting.figure(1, 3, figsize=(9, 3))
    assert plots_mle.plot_gaussian_fit(axes[0], x, 1.0, 1.0) is axes[0]
    mus = torch.linspace(0, 3, 20, dtype=torch.float64)
    sig = torch.linspace(0.3, 2, 15, dtype=torch.float64)
    ll = mle.gaussian_log_likelihood(x, mus[None, :], sig[:, None])
    ax = plots_mle.plot_log_likelihood_surface(
        axes[1], mus, sig, ll, current=(1, 1), mle=(1.5, 0.8)
    )
    assert ax is axes[1] and len(ax.lines) == 2
    m, _ = mle.repeated_gaussian_mle(10, 100)
    assert plots_mle.plot_mle_spread(axes[2], m, n=10) is axes[2]


# ------------------------------------------------------------------------ checkers
def test_gaussian_mle_checker():
    assert ex.check_gaussian_mle(mle.gaussian_mle)
    res = ex.check_gaussian_mle(lambda x: (x.mean(), x.std()))
    assert not res and res.mistake == "the unbiased standard deviation"
    res = ex.check_gaussian_mle(lambda x: (x.mean(), x.var(correction=0)))
    assert res.mistake == "a variance where a standard deviation belongs"


def test_gaussian_log_likelihood_checker():
    assert ex.check_gaussian_log_likelihood(lambda x, m, s: Normal(m, s).log_prob(x).sum())
    res = ex.check_gaussian_log_likelihood(lambda x, m, s: -Normal(m, s).log_prob(x).sum())
    assert not res and res.mistake == "a missing minus sign"
    res = ex.check_gaussian_log_likelihood(
        lambda x, m, s: Normal(m, math.sqrt(s)).log_prob(x).sum()
    )
    assert res.mistake == "sigma used as the variance"
    res = ex.check_gaussian_log_likelihood(lambda x, m, s: Normal(m, s).log_prob(x).mean())
    assert res.mistake == "a mean instead of a sum"


# ------------------------------------------------------------- issue 11 additions
def test_linear_regression_mle_is_least_squares_with_the_1_over_n_sigma():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(50, 3, generator=g, dtype=torch.float64)
    y = X @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 0.7
    y = y + 0.3 * torch.randn(50, generator=g, dtype=torch.float64)
    w, b, sigma = mle.linear_regression_mle(X, y)
    assert w.shape == (3,) and b.shape == () and sigma.shape == ()
    # Normal equations solved independently.
    A = torch.cat([X, torch.ones(50, 1, dtype=torch.float64)], 1)
    coef = torch.linalg.solve(A.T @ A, A.T @ y)
    torch.testing.assert_close(torch.cat([w, b[None]]), coef)
    torch.testing.assert_close(sigma, (y - A @ coef).pow(2).mean().sqrt())

    # ... and it maximises the Gaussian conditional log-likelihood.
    def ll(w_, b_, s_):
        return torch.distributions.Normal(X @ w_ + b_, s_).log_prob(y).sum()

    best = ll(w, b, sigma)
    for dw in torch.eye(3, dtype=torch.float64) * 1e-3:
        assert ll(w + dw, b, sigma) < best and ll(w - dw, b, sigma) < best
    assert ll(w, b + 1e-3, sigma) < best and ll(w, b, sigma * 1.001) < best


def test_linear_regression_mle_bad_input_is_named():
    with pytest.raises(ValueError, match=r"\bX\b"):
        mle.linear_regression_mle(torch.zeros(5), torch.zeros(5))
    with pytest.raises(ValueError, match=r"\by\b"):
        mle.linear_regression_mle(torch.zeros(5, 2), torch.zeros(4))
    with pytest.raises(ValueError, match=r"\bN >= 2\b"):
        mle.linear_regression_mle(torch.zeros(1, 2), torch.zeros(1))


@pytest.mark.parametrize(
    "kind, params, value",
    [
        ("gaussian_mu", {"sigma": 2.0}, 0.25),
        ("gaussian_sigma", {"sigma": 2.0}, 0.5),
        ("bernoulli", {"p": 0.2}, 1 / 0.16),
    ],
)
def test_fisher_information_closed_forms_and_score_variance(kind, params, value):
    assert mle.fisher_information(kind, **params) == pytest.approx(value, rel=1e-12)
    # Independently: the mean squared score d/dtheta log f(x; theta) over many draws, by
    # autograd with one copy of the parameter per draw (so the gradient is per draw).
    g = torch.Generator().manual_seed(1)
    n = 200_000
    if kind == "bernoulli":
        theta = torch.full((n,), params["p"], dtype=torch.float64, requires_grad=True)
        x = (torch.rand(n, generator=g, dtype=torch.float64) < params["p"]).double()
        logf = torch.distributions.Bernoulli(probs=theta).log_prob(x)
    else:
        sigma = params["sigma"]
        x = sigma * torch.randn(n, generator=g, dtype=torch.float64)
        theta = torch.full((n,), 0.0 if kind == "gaussian_mu" else sigma, dtype=torch.float64)
        theta.requires_grad_(True)
        mu, s = (theta, sigma) if kind == "gaussian_mu" else (0.0, theta)
        logf = torch.distributions.Normal(mu, s).log_prob(x)
    (scores,) = torch.autograd.grad(logf.sum(), theta)
    assert (scores**2).mean().item() == pytest.approx(value, rel=0.02)


def test_fisher_information_bad_input_is_named():
    with pytest.raises(ValueError, match=r"\bkind\b"):
        mle.fisher_information("poisson", lam=1.0)
    with pytest.raises(ValueError, match=r"\bsigma\b"):
        mle.fisher_information("gaussian_mu", sigma=0.0)
    with pytest.raises(ValueError, match=r"\bsigma\b"):
        mle.fisher_information("gaussian_sigma", sigma=-1.0)
    with pytest.raises(ValueError, match=r"\bp\b"):
        mle.fisher_information("bernoulli", p=1.0)
    with pytest.raises(ValueError, match=r"\bparams\b"):
        mle.fisher_information("bernoulli", sigma=1.0)


def test_the_mle_spread_matches_one_over_sqrt_n_fisher_information():
    from mlnotes_lib.experiments import mle as experiments

    mu_hats, _ = experiments.repeated_gaussian_mle(50, 4000, mu=1.0, sigma=3.0, seed=0)
    assert mu_hats.std().item() * (
        50 * mle.fisher_information("gaussian_mu", sigma=3.0)
    ) ** 0.5 == pytest.approx(1, abs=0.05)
    p_hats = experiments.repeated_bernoulli_mle(80, 4000, p=0.25, seed=1)
    assert p_hats.std().item() * (
        80 * mle.fisher_information("bernoulli", p=0.25)
    ) ** 0.5 == pytest.approx(1, abs=0.05)


def test_bernoulli_map_is_laplace_smoothing_and_the_mle_under_a_flat_prior():
    x = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0])
    assert mle.bernoulli_map(x).item() == pytest.approx(3 / 7)
    assert mle.bernoulli_map(x, 1.0, 1.0).item() == pytest.approx(mle.bernoulli_mle(x).item())
    assert mle.bernoulli_map(x, 3.0, 2.0).item() == pytest.approx((2 + 2) / (5 + 3))
    tails = torch.zeros(5)
    assert mle.bernoulli_map(tails).item() == pytest.approx(1 / 7)
    assert mle.bernoulli_map(tails, 0.5, 2.0).item() == 0.0  # the posterior peaks at 0
    grid = torch.linspace(1e-4, 1 - 1e-4, 99_999, dtype=torch.float64)
    log_post = (
        mle.bernoulli_log_likelihood(x.double(), grid) + 2.0 * grid.log() + 0.5 * (-grid).log1p()
    )
    assert abs(grid[log_post.argmax()].item() - mle.bernoulli_map(x, 3.0, 1.5).item()) < 1e-4


def test_bernoulli_map_bad_input_is_named():
    x = torch.tensor([1.0, 0.0])
    with pytest.raises(ValueError, match=r"\balpha\b"):
        mle.bernoulli_map(x, alpha=0.0)
    with pytest.raises(ValueError, match=r"\bbeta\b"):
        mle.bernoulli_map(x, beta=-1.0)
    with pytest.raises(ValueError, match=r"\bx\b"):
        mle.bernoulli_map(torch.tensor([0.5]))


def test_fit_mle_uses_torch_optim_and_the_old_sweep_path_still_works():
    import inspect

    assert "torch.optim" in inspect.getsource(mle.fit_mle)
    from mlnotes_lib.experiments import mle as experiments

    assert mle.repeated_gaussian_mle is experiments.repeated_gaussian_mle


def test_bernoulli_spread_bars_are_a_distribution_and_the_frame_is_readable():
    from mlnotes_lib import plotting
    from mlnotes_lib.experiments import mle as experiments
    from mlnotes_lib.plots.frames import text_problems

    p_hats = experiments.repeated_bernoulli_mle(10, 500, p=0.05, seed=0)
    fig, ax = plotting.figure(figsize=(6.0, 2.7))
    assert plots_mle.plot_bernoulli_spread(ax, p_hats, n=10, p=0.05) is ax
    area = sum(bar.get_height() * bar.get_width() for bar in ax.patches)
    assert abs(area - 1) < 1e-9
    share_of_zero = max(ax.patches, key=lambda bar: bar.get_height()).get_height() / 10
    assert abs(share_of_zero - (p_hats == 0).double().mean().item()) < 1e-12
    assert text_problems(fig) == []
