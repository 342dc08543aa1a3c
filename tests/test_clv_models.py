"""BG/NBD + Gamma-Gamma CLV library: likelihoods against independent evaluations, conditional
expectations against Monte Carlo and quadrature, parameter recovery on simulated data, speed,
and the RFM summary of raw transactions."""

import math
import time
import warnings
from datetime import date, datetime

import numpy as np
import pytest
from scipy import integrate, special, stats

from orchestration.ml import clv_models as clv

# Published CDNOW estimates (Fader, Hardie & Lee 2005), weeks.
CDNOW = dict(r=0.243, alpha=4.414, a=0.793, b=2.426)
# Ground truth for the simulations.
TRUE_BG = dict(r=0.25, alpha=4.0, a=0.8, b=2.5)
TRUE_GG = dict(p=6.0, q=4.0, v=15.0)


class Params:
    """A stand-in for a fit (the prediction functions only read the parameters)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


# --------------------------------------------------------------------------------------------
# 1. Likelihoods against values worked out independently
# --------------------------------------------------------------------------------------------

CASES = [(0, 0.0, 38.86), (1, 1.71, 38.86), (2, 30.43, 38.86), (7, 29.43, 38.86), (20, 50.0, 52.0)]


def bgnbd_ll_closed_form_math(x, t_x, T, r, alpha, a, b):
    """FHL (2005) eq. 6 in plain floating point with math.lgamma, term by term (no log-sum trick)."""

    def lbeta(u, v):
        return math.lgamma(u) + math.lgamma(v) - math.lgamma(u + v)

    nbd = math.exp(math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha))
    term1 = math.exp(lbeta(a, b + x) - lbeta(a, b)) * nbd / (alpha + T) ** (r + x)
    term2 = 0.0
    if x > 0:
        term2 = math.exp(lbeta(a + 1, b + x - 1) - lbeta(a, b)) * nbd / (alpha + t_x) ** (r + x)
    return math.log(term1 + term2)


def bgnbd_ll_by_integration(x, t_x, T, r, alpha, a, b):
    """ln of the model's definition: E over lambda ~ Gamma(r, alpha), p ~ Beta(a, b) of the
    individual likelihood (1-p)^x lam^x e^(-lam T) + [x>0] p (1-p)^(x-1) lam^x e^(-lam t_x).

    Each term is a product of a lambda part and a p part, so the double integral is a sum of
    products of one-dimensional integrals, done here with adaptive quadrature. The Beta and
    Gamma densities' singularities at 0 are handled by QUADPACK's algebraic weights.
    """

    def lam_part(c):
        # int_0^inf lam^x e^(-lam c) * alpha^r lam^(r-1) e^(-alpha lam) / Gamma(r) dlam
        k = math.exp(r * math.log(alpha) - math.lgamma(r))
        f = lambda lam: lam**x * math.exp(-lam * (c + alpha))  # noqa: E731
        head, _ = integrate.quad(f, 0.0, 1.0, weight="alg", wvar=(r - 1.0, 0.0), epsabs=0, epsrel=1e-12, limit=200)
        tail, _ = integrate.quad(lambda lam: f(lam) * lam ** (r - 1.0), 1.0, np.inf, epsabs=0, epsrel=1e-12, limit=200)
        return k * (head + tail)

    def p_part(g):
        # int_0^1 g(p) p^(a-1) (1-p)^(b-1) / B(a, b) dp
        val, _ = integrate.quad(g, 0.0, 1.0, weight="alg", wvar=(a - 1.0, b - 1.0), epsabs=0, epsrel=1e-12, limit=200)
        return val / math.exp(special.betaln(a, b))

    total = p_part(lambda p: (1 - p) ** x) * lam_part(T)
    if x > 0:
        total += p_part(lambda p: p * (1 - p) ** (x - 1)) * lam_part(t_x)
    return math.log(total)


@pytest.mark.parametrize("x,t_x,T", CASES)
def test_bgnbd_log_likelihood_matches_independent_evaluations(x, t_x, T):
    ours = float(clv.bgnbd_log_likelihood(**CDNOW, frequency=x, recency=t_x, T=T))
    by_formula = bgnbd_ll_closed_form_math(x, t_x, T, **CDNOW)
    by_integral = bgnbd_ll_by_integration(x, t_x, T, **CDNOW)
    assert ours == pytest.approx(by_formula, rel=1e-10, abs=1e-10)
    assert ours == pytest.approx(by_integral, rel=1e-7, abs=1e-7)


def test_bgnbd_log_likelihood_is_finite_for_extreme_customers():
    x = np.array([0, 1, 500, 5000, 20000])
    ll = clv.bgnbd_log_likelihood(**CDNOW, frequency=x, recency=np.array([0, 0.1, 519.0, 519.9, 520]), T=520.0)
    assert np.all(np.isfinite(ll))  # (a density in the purchase times: it may exceed 1)
    # b < 1: Gamma(b - 1) for one-time buyers must not leak into the result
    ll0 = clv.bgnbd_log_likelihood(0.5, 2.0, 0.5, 0.7, frequency=[0, 0], recency=[0, 0], T=[10.0, 0.0])
    assert np.all(np.isfinite(ll0)) and ll0[1] == pytest.approx(0.0, abs=1e-12)  # T = 0: L = 1


def gamma_gamma_density_by_integration(x, m, p, q, v):
    """Density of the mean of x transaction values: m | nu ~ Gamma(p x, rate nu x) (a sum of x
    Gamma(p, nu) values, divided by x), integrated over nu ~ Gamma(q, rate v)."""
    f = lambda nu: stats.gamma.pdf(m, p * x, scale=1.0 / (nu * x)) * stats.gamma.pdf(nu, q, scale=1.0 / v)  # noqa: E731
    mode = (p * x + q - 1) / (v + m * x)  # of the integrand in nu
    pieces = [(0.0, mode), (mode, 10 * mode), (10 * mode, np.inf)]
    return sum(integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0] for lo, hi in pieces)


@pytest.mark.parametrize("x,m", [(1, 12.5), (2, 40.0), (5, 3.2), (30, 25.0)])
def test_gamma_gamma_log_likelihood_matches_numerical_integration(x, m):
    p, q, v = 6.25, 3.74, 15.44  # the CDNOW estimates of Fader & Hardie (2013)
    ours = float(clv.gamma_gamma_log_likelihood(p, q, v, x, m))
    assert ours == pytest.approx(math.log(gamma_gamma_density_by_integration(x, m, p, q, v)), rel=1e-8, abs=1e-8)


def test_fits_take_weights_as_customer_counts():
    rng = np.random.default_rng(11)
    sim = clv.simulate_bgnbd(3000, **TRUE_BG, T_weeks=rng.integers(20, 40, 3000).astype(float), rng=rng, **TRUE_GG)
    rec = np.round(sim.recency)  # coarse grid: many duplicate rows
    rows = np.stack([sim.frequency, rec, sim.T], axis=1)
    uniq, counts = np.unique(rows, axis=0, return_counts=True)
    full = clv.fit_bgnbd(sim.frequency, rec, sim.T)
    weighted = clv.fit_bgnbd(uniq[:, 0], uniq[:, 1], uniq[:, 2], weights=counts)
    assert full.n_distinct_rows == uniq.shape[0] < 3000
    assert weighted.n_customers == full.n_customers == 3000
    assert weighted.log_likelihood == pytest.approx(full.log_likelihood, rel=1e-9)
    for k in ("r", "alpha", "a", "b"):
        assert getattr(weighted, k) == pytest.approx(getattr(full, k), rel=1e-4)


# --------------------------------------------------------------------------------------------
# 2. Conditional expectation, P(alive)
# --------------------------------------------------------------------------------------------


def conditional_by_monte_carlo(x, t_x, T, t, r, alpha, a, b, n=2_000_000, seed=0):
    """E[Y(t) | x, t_x, T] and P(alive) by importance sampling of (lambda, p) plus simulation of
    the future: a draw is alive at T with probability (1-p)^x e^(-lam T) / L(lam, p); an alive
    customer's purchases in (T, T+t] are min(Geometric(p), Poisson(lam t)) (the purchase after
    which they drop out, and the Poisson arrivals). lambda comes from Gamma(r+x, rate alpha+t_x)
    (bounded weights), p from its prior; the weights are prior x likelihood / proposal."""
    rng = np.random.default_rng(seed)
    shape, rate = r + x, alpha + t_x
    lam = rng.gamma(shape, 1.0 / rate, n)
    p = rng.beta(a, b, n)
    log_alive = x * np.log1p(-p) + x * np.log(lam) - lam * T
    if x > 0:
        log_dead = np.log(p) + (x - 1) * np.log1p(-p) + x * np.log(lam) - lam * t_x
        log_lik = np.logaddexp(log_alive, log_dead)
    else:
        log_lik = log_alive
    log_prior = stats.gamma.logpdf(lam, r, scale=1.0 / alpha)
    log_prop = stats.gamma.logpdf(lam, shape, scale=1.0 / rate)
    log_w = log_prior + log_lik - log_prop
    w = np.exp(log_w - log_w.max())
    alive_prob = np.exp(log_alive - log_lik)
    alive = rng.random(n) < alive_prob
    future = np.where(alive, np.minimum(rng.geometric(p), rng.poisson(lam * t)), 0)

    def ratio(values):
        est = float(w @ values / w.sum())
        se = float(np.sqrt(np.sum((w * (values - est)) ** 2)) / w.sum())
        return est, se

    return ratio(future.astype(float)), ratio(alive_prob)


@pytest.mark.parametrize("x,t_x,T,t", [(2, 30.43, 38.86, 39.0), (0, 0.0, 60.0, 52.0), (6, 20.0, 70.0, 52.0)])
def test_expected_purchases_and_p_alive_match_monte_carlo(x, t_x, T, t):
    fit = Params(**CDNOW)
    (mc, mc_se), (pa, pa_se) = conditional_by_monte_carlo(x, t_x, T, t, **CDNOW)
    ours = float(clv.bgnbd_expected_purchases(fit, t, x, t_x, T))
    ours_pa = float(clv.bgnbd_p_alive(fit, x, t_x, T))
    print(f"x={x}: E[Y({t})] = {ours:.5f}, Monte Carlo {mc:.5f} +/- {mc_se:.5f}; P(alive) {ours_pa:.5f} vs {pa:.5f}")
    assert abs(ours - mc) < 4 * mc_se + 1e-9
    assert abs(ours_pa - pa) < 4 * pa_se + 1e-9


def conditional_by_quadrature(x, t_x, T, t, r, alpha, a, b):
    """P(alive) x E_{p ~ Beta(a, b+x)}[(1 - (1 + p t/(alpha+T))^-(r+x)) / p], adaptive quadrature.

    The Beta(a, b+x) density is evaluated in log space; [0, c] (around the bulk of the mass)
    uses QUADPACK's algebraic weight p^(a-1) for the singularity at 0, [c, 1] is plain."""
    s, u = r + x, t / (alpha + T)
    log_norm = special.betaln(a, b + x)
    g = lambda q: -math.expm1(-s * math.log1p(q * u)) / q if q > 0 else s * u  # noqa: E731
    tail = lambda q: math.exp((b + x - 1) * math.log1p(-q) - log_norm) if q < 1 else 0.0  # noqa: E731
    c = min(0.5, 10 * (a + 1) / (a + b + x))
    kw = dict(epsabs=0, epsrel=1e-10, limit=500)
    with warnings.catch_warnings():  # QUADPACK's round-off notice for a = 50; the result is checked to 1e-7
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        head, _ = integrate.quad(lambda q: g(q) * tail(q), 0, c, weight="alg", wvar=(a - 1, 0), **kw)
        rest, _ = integrate.quad(lambda q: g(q) * tail(q) * q ** (a - 1), c, 1, **kw)
    cond = head + rest
    p_alive = 1.0
    if x > 0:
        p_alive = 1.0 / (1.0 + a / (b + x - 1) * math.exp((r + x) * math.log((alpha + T) / (alpha + t_x))))
    return p_alive * cond


GRID = [
    # (params, x, t_x, T, t)
    (CDNOW, 0, 0.0, 38.86, 39.0),
    (CDNOW, 500, 515.0, 520.0, 52.0),  # the literal 2F1(r+x, b+x; ...) is ~1e205 here
    (CDNOW, 5000, 519.0, 520.0, 52.0),  # ... and overflows here
    (CDNOW, 3, 10.0, 520.0, 52.0),
    (CDNOW, 3, 40.0, 50.0, 1e5),  # z -> 1
    (CDNOW, 1, 2.0, 20.0, 0.01),  # z -> 0
    (dict(r=0.5, alpha=2.0, a=1.0, b=3.0), 4, 30.0, 60.0, 52.0),  # a = 1: 0/0 in (a+b+x-1)/(a-1)
    (dict(r=0.5, alpha=2.0, a=3.5, b=3.0), 0, 0.0, 60.0, 5000.0),  # x + r + 1 < a: original form
    (dict(r=0.5, alpha=2.0, a=50.0, b=80.0), 0, 0.0, 60.0, 1e9),
    (dict(r=2.0, alpha=1.0, a=0.3, b=0.6), 12, 100.0, 104.0, 52.0),
    (dict(r=0.5, alpha=2.0, a=1.00003, b=3.0), 4, 30.0, 60.0, 52.0),  # a ~ 1: interpolated in a
    (dict(r=0.5, alpha=2.0, a=1.0005, b=3.0), 40, 300.0, 300.0, 0.5),  # a ~ 1, small z: power series
    (dict(r=0.5, alpha=3.0, a=1.5, b=2.0), 110, 155.7, 155.7, 4291.6),  # c - A - B integer: scipy gives NaN
]


@pytest.mark.parametrize("params,x,t_x,T,t", GRID)
def test_expected_purchases_match_quadrature(params, x, t_x, T, t):
    ours = float(clv.bgnbd_expected_purchases(Params(**params), t, x, t_x, T))
    assert ours == pytest.approx(conditional_by_quadrature(x, t_x, T, t, **params), rel=1e-7)


def test_the_three_evaluation_paths_agree():
    """hyp2f1 (Euler form), its power series (small z) and the quadrature fallback agree."""
    r, alpha, a, b = CDNOW.values()
    x = np.array([0.0, 1, 7, 500, 3])
    T = np.array([38.86, 38.86, 60.0, 520.0, 300.0])
    t = np.array([52.0, 52.0, 52.0, 52.0, 5.0])
    via_hyp2f1, cond = clv._cond_alive_hyp2f1(r, alpha, a, b, t, x, T)
    via_series, converged = clv._cond_alive_series(r, alpha, a, b, t, x, T)
    via_quadrature = clv._cond_alive_quadrature(r, alpha, a, b, t, x, T)
    assert np.all(cond < 1e3) and np.all(converged)
    np.testing.assert_allclose(via_series, via_hyp2f1, rtol=1e-12)
    np.testing.assert_allclose(via_quadrature, via_hyp2f1, rtol=1e-10)


def test_expected_purchases_over_random_parameters_agree_with_quadrature():
    """A sweep over parameters and customers (horizons up to 20 years, a = 1 included) against the
    tanh-sinh quadrature of the same expectation (itself checked against adaptive quadrature above)."""
    rng = np.random.default_rng(5)
    n = 250
    worst = 0.0
    for trial in range(16):
        r, alpha, a, b = 10 ** rng.uniform([-1.5, -1, -1, -1], [1, 2, 1.5, 2])
        if trial % 4 == 0:
            a = 1.0 + rng.uniform(-2e-3, 2e-3) if trial % 8 else 1.0
        x = np.where(rng.random(n) < 0.4, 0, rng.integers(1, 3000, n)).astype(float)
        T = rng.uniform(0, 520, n)
        t = 10 ** rng.uniform(-1, 3, n)
        ours = clv.bgnbd_expected_purchases(Params(r=r, alpha=alpha, a=a, b=b), t, x, np.where(x > 0, T, 0), T)
        p_alive = clv.bgnbd_p_alive(Params(r=r, alpha=alpha, a=a, b=b), x, np.where(x > 0, T, 0), T)
        reference = p_alive * clv._cond_alive_quadrature(r, alpha, a, b, t, x, T)
        worst = max(worst, float(np.max(np.abs(ours / reference - 1))))
    print(f"\nworst relative difference: {worst:.1e}")
    assert worst < 1e-6


def test_p_alive_and_expectations_are_finite_everywhere():
    fit = Params(**CDNOW)
    xs = np.array([0, 1, 500])
    T = np.array([0.0, 1.0, 52.0, 260.0, 520.0])
    X, TT, F = np.meshgrid(xs, T, np.array([0.0, 0.01, 0.5, 0.99, 1.0]), indexing="ij")
    x, TT, t_x = X.ravel(), TT.ravel(), (F * TT).ravel()
    t_x = np.where(x == 0, 0.0, t_x)
    pa = clv.bgnbd_p_alive(fit, x, t_x, TT)
    assert np.all(np.isfinite(pa)) and np.all((pa >= 0) & (pa <= 1))
    assert np.all(pa[x == 0] == 1.0)
    e52 = clv.bgnbd_expected_purchases(fit, 52.0, x, t_x, TT)
    e104 = clv.bgnbd_expected_purchases(fit, 104.0, x, t_x, TT)
    assert np.all(np.isfinite(e52)) and np.all(e52 >= 0) and np.all(e104 >= e52)
    assert np.all(clv.bgnbd_expected_purchases(fit, 0.0, x, t_x, TT) == 0)
    # a frequent buyer who has just bought is alive and keeps buying at about their rate
    big = float(clv.bgnbd_expected_purchases(fit, 52.0, 500, 519.9, 520.0))
    assert 40 < big < 52
    # and one who stopped long ago is almost surely gone
    assert float(clv.bgnbd_p_alive(fit, 500, 100.0, 520.0)) < 1e-12


def test_gamma_gamma_expected_spend():
    fit = Params(**TRUE_GG)
    spend = clv.gamma_gamma_expected_spend(fit, [0, 1, 50, 3], [0.0, 10.0, 10.0, 0.0])
    population = TRUE_GG["p"] * TRUE_GG["v"] / (TRUE_GG["q"] - 1)
    assert spend[0] == pytest.approx(population) and spend[3] == pytest.approx(population)
    # shrinkage: between the population mean and the customer's own mean, nearer the latter with more data
    assert 10.0 < spend[2] < spend[1] < population
    assert spend[1] == pytest.approx((15 + 10) * 6 / (6 + 4 - 1))


def test_expected_clv_margin_and_discounting():
    bg, gg = Params(**CDNOW), Params(**TRUE_GG)
    args = (np.array([0, 2, 7]), np.array([0.0, 30.0, 29.0]), np.array([38.0, 38.0, 38.0]), np.array([0.0, 25.0, 40.0]))
    plain = clv.expected_clv(bg, gg, *args)
    expected = clv.bgnbd_expected_purchases(bg, 52.0, *args[:3]) * clv.gamma_gamma_expected_spend(gg, args[0], args[3])
    np.testing.assert_allclose(plain, expected)
    np.testing.assert_allclose(clv.expected_clv(bg, gg, *args, margin=0.3), 0.3 * plain)
    discounted = clv.expected_clv(bg, gg, *args, annual_discount_rate=0.10)
    assert np.all(discounted < plain) and np.all(discounted > plain / 1.10)
    tiny = clv.expected_clv(bg, gg, *args, annual_discount_rate=1e-12)
    np.testing.assert_allclose(tiny, plain, rtol=1e-9)


# --------------------------------------------------------------------------------------------
# 3. Parameter recovery and holdout on simulated customers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated_50k():
    rng = np.random.default_rng(20260509)
    n = 50_000
    T = rng.uniform(52, 104, n)
    return clv.simulate_bgnbd(n, **TRUE_BG, T_weeks=T, rng=rng, **TRUE_GG, holdout_weeks=52.0)


def test_simulator_matches_model_moments(simulated_50k):
    sim = simulated_50k
    # E[X(T) | T] for a customer of the model (FHL 2005 eq. 7) integrated over the T distribution
    r, alpha, a, b = TRUE_BG.values()

    def ex(T):
        z = T / (alpha + T)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + T)) ** r * special.hyp2f1(r, b, a + b - 1, z))

    expected = ex(sim.T).mean()
    se = sim.frequency.std() / math.sqrt(sim.frequency.size)
    assert abs(sim.frequency.mean() - expected) < 4 * se
    assert np.all(sim.recency <= sim.T) and np.all(sim.recency[sim.frequency == 0] == 0)
    assert np.all(sim.monetary_value[sim.frequency == 0] == 0)
    assert np.all(sim.holdout_frequency[~sim.alive_at_T] == 0)


def test_parameter_recovery_and_holdout(simulated_50k):
    sim = simulated_50k
    t0 = time.perf_counter()
    bg = clv.fit_bgnbd(sim.frequency, sim.recency, sim.T)
    gg = clv.fit_gamma_gamma(sim.frequency, sim.monetary_value)
    elapsed = time.perf_counter() - t0
    assert bg.converged and gg.converged, (bg.message, gg.message)
    assert gg.n_customers == np.count_nonzero(sim.frequency)
    print(f"\n50k fit: {elapsed:.2f} s (BG/NBD {bg.iterations} iterations, Gamma-Gamma {gg.iterations})")
    for fit, truth in ((bg, TRUE_BG), (gg, TRUE_GG)):
        for name, true in truth.items():
            est, se = getattr(fit, name), fit.stderr[name]
            print(
                f"  {name:5s} true {true:6.3f}  fit {est:7.4f}  SE {se:.4f}  "
                f"error {(est - true) / se:+.2f} SE, {100 * (est - true) / true:+.2f}%"
            )
            assert np.isfinite(se) and se > 0
            assert abs(est - true) < 4 * se
            assert abs(est - true) < 0.15 * true

    check = clv.holdout_check(
        bg, sim.frequency, sim.recency, sim.T, sim.holdout_frequency, 52.0,
        gg_fit=gg, monetary_value=sim.monetary_value, actual_spend=sim.holdout_spend,
    )
    hp, hs = check.purchases, check.spend
    for label, h in (("purchases", hp), ("spend", hs)):
        print(
            f"  holdout {label:9s}: predicted {h.predicted_total:.0f} actual {h.actual_total:.0f} "
            f"error {h.total_error_pct:+.2f}% MAE {h.mae:.3f} r {h.correlation:.3f}"
        )
    assert abs(hp.total_error_pct) < 5
    assert abs(hs.total_error_pct) < 5
    assert hp.correlation > 0.6 and hs.correlation > 0.6
    assert set(check.as_record()) >= {"purchases_total_error_pct", "spend_mae", "holdout_weeks"}
    rec = bg.as_record()
    assert rec["model"] == "bgnbd" and rec["converged"] and "alpha_se" in rec


def test_standard_errors_match_the_spread_over_replications():
    """The inverse-Hessian SEs describe the sampling spread of the estimates (20 samples of 5,000)."""
    rng = np.random.default_rng(7)
    estimates, ses = [], []
    for _ in range(20):
        sim = clv.simulate_bgnbd(5000, **TRUE_BG, T_weeks=rng.uniform(52, 104, 5000), rng=rng, **TRUE_GG)
        fit = clv.fit_bgnbd(sim.frequency, sim.recency, sim.T)
        estimates.append([getattr(fit, k) for k in TRUE_BG])
        ses.append([fit.stderr[k] for k in TRUE_BG])
    spread = np.std(estimates, axis=0, ddof=1)
    mean_se = np.mean(ses, axis=0)
    print("\nreplication sd / mean SE:", dict(zip(TRUE_BG, np.round(spread / mean_se, 2))))
    # sd of 20 draws is within ~ +/-35% of the truth with high probability
    assert np.all((spread / mean_se > 0.55) & (spread / mean_se < 1.6))


# --------------------------------------------------------------------------------------------
# 4. Speed
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,limit", [(100_000, 5.0), (1_000_000, 15.0)])
def test_fit_speed(n, limit):
    rng = np.random.default_rng(n)
    sim = clv.simulate_bgnbd(n, **TRUE_BG, T_weeks=rng.uniform(52, 104, n), rng=rng, **TRUE_GG)
    t0 = time.perf_counter()
    fit = clv.fit_bgnbd(sim.frequency, sim.recency, sim.T)  # continuous times: no duplicate rows
    elapsed = time.perf_counter() - t0
    # day-resolution data (what the warehouse has) repeat rows, which the fit groups
    days = clv.fit_bgnbd(sim.frequency, np.floor(sim.recency * 7) / 7, np.floor(sim.T * 7) / 7)
    t1 = time.perf_counter()
    gg = clv.fit_gamma_gamma(sim.frequency, sim.monetary_value)
    gg_elapsed = time.perf_counter() - t1
    print(
        f"\n{n:,} customers: BG/NBD fit {elapsed:.2f} s ({fit.n_distinct_rows:,} distinct rows, {fit.iterations} it.); "
        f"day resolution {days.fit_seconds:.2f} s ({days.n_distinct_rows:,} distinct rows); "
        f"Gamma-Gamma {gg_elapsed:.2f} s"
    )
    assert fit.converged and days.converged and gg.converged
    assert elapsed < limit and days.fit_seconds < limit and gg_elapsed < limit
    for k, true in TRUE_BG.items():
        assert abs(getattr(fit, k) - true) < 5 * fit.stderr[k]


# --------------------------------------------------------------------------------------------
# 5. RFM from transactions
# --------------------------------------------------------------------------------------------


def test_rfm_from_transactions():
    tx = [
        # customer, when, amount
        ("a", datetime(2026, 1, 1, 9, 0), 10.0),
        ("a", datetime(2026, 1, 1, 18, 30), 5.0),  # same day: merges with the one above
        ("a", datetime(2026, 1, 8, 12, 0), 20.0),
        ("a", datetime(2026, 1, 22, 8, 0), 30.0),
        ("a", datetime(2026, 1, 22, 9, 0), 10.0),  # same day: 40 in total
        ("b", datetime(2026, 1, 15, 10, 0), 99.0),  # one-time buyer
        ("b", datetime(2026, 1, 15, 11, 0), 1.0),
        ("c", datetime(2026, 1, 29, 0, 0), 7.0),  # first purchase on the observation end
        ("a", datetime(2026, 2, 5, 0, 0), 1000.0),  # after the observation end: ignored
        ("d", datetime(2026, 2, 2, 0, 0), 3.0),  # only after the end: not a customer yet
    ]
    ids, when, amt = zip(*tx)
    rfm = clv.rfm_from_transactions(
        np.array(ids), np.array(when, dtype="datetime64[s]"), np.array(amt), date(2026, 1, 29)
    )
    assert list(rfm.customer_id) == ["a", "b", "c"]
    np.testing.assert_array_equal(rfm.frequency, [2, 0, 0])
    np.testing.assert_allclose(rfm.recency_weeks, [3.0, 0.0, 0.0])
    np.testing.assert_allclose(rfm.T_weeks, [4.0, 2.0, 0.0])
    np.testing.assert_allclose(rfm.monetary_value, [(20.0 + 40.0) / 2, 0.0, 0.0])  # first day (15) excluded
    first = np.array(["2026-01-01", "2026-01-15", "2026-01-29"], dtype="datetime64[D]")
    np.testing.assert_array_equal(rfm.first_purchase, first)
    assert len(rfm) == 3 and list(rfm.to_frame().columns)[:2] == ["customer_id", "frequency"]

    # strings and a cohort filter
    cohort = clv.rfm_from_transactions(
        list(ids), [w.isoformat() for w in when], list(amt), "2026-01-29", customer_start="2026-01-10"
    )
    assert list(cohort.customer_id) == ["b", "c"]

    # calibration / holdout split
    rfm_cal, h_n, h_spend = clv.calibration_holdout_split(ids, when, amt, date(2026, 1, 10), date(2026, 2, 5))
    assert list(rfm_cal.customer_id) == ["a"]
    np.testing.assert_array_equal(rfm_cal.frequency, [1])
    np.testing.assert_allclose(rfm_cal.T_weeks, [9 / 7])
    np.testing.assert_array_equal(h_n, [2])  # 22 Jan (two orders, one day) and 5 Feb
    np.testing.assert_allclose(h_spend, [1040.0])


def test_rfm_from_transactions_is_vectorised_at_scale():
    rng = np.random.default_rng(3)
    n = 1_000_000
    ids = rng.integers(0, 200_000, n)
    days = np.datetime64("2024-01-01") + rng.integers(0, 730, n).astype("timedelta64[D]")
    amounts = rng.gamma(2.0, 20.0, n)
    t0 = time.perf_counter()
    rfm = clv.rfm_from_transactions(ids, days, amounts, "2025-12-31")
    elapsed = time.perf_counter() - t0
    print(f"\nrfm_from_transactions: {n:,} orders, {len(rfm):,} customers in {elapsed:.2f} s")
    assert elapsed < 20
    assert rfm.frequency.sum() + len(rfm) == np.unique(np.stack([ids, days.astype(np.int64)]), axis=1).shape[1]
    assert np.all(rfm.recency_weeks <= rfm.T_weeks)


def test_input_validation():
    with pytest.raises(ValueError):
        clv.fit_bgnbd([1, 2], [3.0, 1.0], [2.0, 5.0])  # recency > T
    with pytest.raises(ValueError):
        clv.fit_bgnbd([1.5], [1.0], [2.0])  # fractional count
    with pytest.raises(ValueError):
        clv.fit_gamma_gamma([0, 0], [0.0, 0.0])  # nobody with repeat purchases
    with pytest.raises(ValueError):
        clv.bgnbd_expected_purchases(Params(**CDNOW), -1.0, 1, 1.0, 2.0)


def test_degenerate_data_is_reported_not_raised():
    # nobody came back: the purchase rate runs to 0 and the dropout process is not identified
    fit = clv.fit_bgnbd([0, 0, 0], [0.0, 0.0, 0.0], [10.0, 20.0, 30.0])
    assert not fit.converged and "search bound" in fit.message and np.isfinite(fit.log_likelihood)
    # two identical-looking spenders: no heterogeneity to estimate
    gg = clv.fit_gamma_gamma([1, 2], [10.0, 12.0])
    assert not gg.converged and np.isfinite(gg.log_likelihood)
