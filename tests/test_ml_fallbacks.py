"""Thin and degenerate data never fail the night: each fallback of CLV and churn on hand-built
tiny inputs (no customers, no orders, one purchase each, a handful of customers, identical
customers, a purchase rate without heterogeneity), with its ``model_status`` and finite
outputs; and the checks' severities (WARN for a fallback, ERROR for NaN, a probability outside
[0, 1], rows lost). Seconds; no dbt."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.support.ml_warehouse import write_ml_inputs


@pytest.fixture(autouse=True)
def _manifest(dbt_manifest):
    """The checks live in orchestration.ml.assets, which imports the dbt assets: they read the
    manifest at import (absent on a fresh clone until some test parses the project)."""


AS_OF = date(2026, 3, 1)
START = AS_OF - timedelta(days=364)
OPEN_END = date(9999, 12, 31)


def _customers(n: int, signup: date = START) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [f"c{i:03d}" for i in range(n)], "signup_date": signup})


def _orders(rows) -> pd.DataFrame:
    """rows: (customer_id, day, amount); completed, cost 60% of the amount (margin 0.4)."""
    o = pd.DataFrame(rows, columns=["customer_id", "ordered_date", "amount"])
    o["order_id"] = [f"o{i}" for i in range(len(o))]
    o["status"] = "completed"
    o["cost"] = o["amount"] * 0.6
    return o


def _warehouse(tmp_path, customers, orders=None, **frames):
    path = tmp_path / "warehouse.duckdb"
    write_ml_inputs(path, START, AS_OF, customers=customers, orders=orders, **frames)
    return path


def _clv(path, **kwargs):
    from orchestration.ml.clv import compute_clv

    with duckdb.connect(str(path)) as con:
        return compute_clv(con, AS_OF, **{"annual_discount_rate": 0.0, **kwargs})


def _churn(path, tmp_path):
    from orchestration.ml.churn import train_and_score

    with duckdb.connect(str(path)) as con:
        return train_and_score(con, AS_OF, models_dir=tmp_path / "models", run_id="t")


def _buyer_outputs_finite(frame: pd.DataFrame) -> None:
    buyers = frame[frame["orders_count"] > 0]
    for col in ("expected_purchases_12m", "expected_avg_spend", "expected_revenue_12m", "clv_12m", "simple_clv"):
        assert np.isfinite(buyers[col].to_numpy(dtype=float)).all(), col
    known = buyers["p_alive"].dropna()
    assert known.between(0, 1).all()


def _run_status(result, model):
    return result.run_row(model)["model_status"]


# ------------------------------------------------------------------ CLV fallbacks


def test_clv_without_customers_or_orders(tmp_path):
    from orchestration.ml.assets import clv_check_result

    empty = _clv(_warehouse(tmp_path, _customers(0)))
    assert len(empty.customers) == 0
    assert _run_status(empty, "bgnbd") == _run_status(empty, "gamma_gamma") == "not_fitted"
    check = clv_check_result(empty, 0)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN


def test_clv_customers_without_orders(tmp_path):
    result = _clv(_warehouse(tmp_path, _customers(4)))
    frame = result.customers
    assert len(frame) == 4 and (frame["model_status"] == "no_orders").all()
    assert (frame["simple_clv"] == 0).all() and frame["clv_12m"].isna().all()
    assert _run_status(result, "bgnbd") == "not_fitted"


def test_clv_one_purchase_each_falls_back_to_the_simple_rate(tmp_path):
    """Five customers, one order of 100 each (margin 0.4), signed up 365 days before the as-of
    date (both days counted): 1 order a year; over 52 weeks 364/365.25 of it."""
    from orchestration.ml.assets import clv_check_result

    orders = _orders([(f"c{i:03d}", AS_OF - timedelta(days=10 * i), 100.0) for i in range(5)])
    result = _clv(_warehouse(tmp_path, _customers(5), orders))
    frame = result.customers.set_index("customer_id")
    assert (frame["model_status"] == "simple").all()
    assert _run_status(result, "bgnbd") == "not_fitted"
    purchases = (365.25 / 365) * 364 / 365.25
    np.testing.assert_allclose(frame["expected_purchases_12m"], purchases)
    np.testing.assert_allclose(frame["expected_avg_spend"], 100.0)
    np.testing.assert_allclose(frame["expected_revenue_12m"], 100.0 * purchases)
    np.testing.assert_allclose(frame["clv_12m"], 100.0 * purchases * 0.4)
    assert frame["p_alive"].isna().all()  # not estimable without a fitted BG/NBD
    _buyer_outputs_finite(result.customers)
    check = clv_check_result(result, 5)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "simple 5" in check.description


def test_clv_simple_fallback_discounts_an_even_flow_monthly(tmp_path):
    """With a 10% yearly rate, 12 monthly steps each carry 1/12 of the purchases, discounted by
    1.1^(-k/12)."""
    orders = _orders([("c000", AS_OF, 100.0)])
    result = _clv(_warehouse(tmp_path, _customers(1), orders), annual_discount_rate=0.1)
    row = result.customers.iloc[0]
    factor = np.mean([1.1 ** (-k / 12) for k in range(1, 13)])
    assert row["clv_12m"] == pytest.approx(row["expected_revenue_12m"] * 0.4 * factor, rel=1e-12)


def test_clv_handful_of_repeat_buyers_is_not_fitted(tmp_path):
    rows = [(f"c{i:03d}", AS_OF - timedelta(days=d), 50.0 + i) for i in range(6) for d in (5, 40, 90)]
    result = _clv(_warehouse(tmp_path, _customers(8), _orders(rows)))
    frame = result.customers
    assert sorted(frame["model_status"].unique()) == ["no_orders", "simple"]
    assert "6 customers with a repeat transaction" in result.run_row("bgnbd")["message"]
    _buyer_outputs_finite(frame)


def test_clv_identical_customers_use_the_regularised_fit(tmp_path):
    """30 customers with the same history (orders on the same three days, same amounts): no
    heterogeneity at all. BG/NBD's maximum likelihood stops on a flat ridge (r = 6e4, alpha = 9e5,
    no finite standard errors): the regularised fit is used. Gamma-Gamma's spread of spend is 0,
    its likelihood grows without bound (p, q to the search bound, with the prior too): each
    customer's own average order value is the expected spend."""
    from orchestration.ml.assets import clv_check_result

    rows = [(f"c{i:03d}", AS_OF - timedelta(days=d), 80.0) for i in range(30) for d in (200, 120, 30)]
    result = _clv(_warehouse(tmp_path, _customers(30), _orders(rows)))
    frame = result.customers
    assert _run_status(result, "bgnbd") == "regularised", result.run_row("bgnbd")["message"]
    assert "standard errors not finite" in result.run_row("bgnbd")["message"]
    assert _run_status(result, "gamma_gamma") == "failed"
    assert "search bound: p, q" in result.run_row("gamma_gamma")["message"]
    assert (frame["model_status"] == "simple_spend").all() and (frame["expected_avg_spend"] == 80.0).all()
    _buyer_outputs_finite(frame)
    # identical customers get identical predictions
    assert frame["clv_12m"].nunique() == 1 and frame["p_alive"].nunique() == 1
    check = clv_check_result(result, 30)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN


def test_clv_homogeneous_purchase_rate_is_regularised_not_failed(tmp_path):
    """The failure of issue #11 (BG/NBD r = 2.7e5, alpha = 1e6 at the search bound on two months
    of a young shop) in miniature: 240 customers who each buy on a day with probability 0.1. Daily
    purchase indicators vary less than a Poisson count, so the Gamma of purchase rates collapses
    to a point and maximum likelihood sends r and alpha to the bound."""
    from orchestration.ml import clv_models as cm
    from orchestration.ml.assets import clv_check_result

    rng = np.random.default_rng(0)
    first = rng.integers(0, 20, 240)
    bought = rng.random((240, 60)) < 0.1
    rows = [(f"c{i:03d}", AS_OF - timedelta(days=59 - d), float(rng.gamma(4, 20)))
            for i in range(240) for d in range(first[i], 60) if d == first[i] or bought[i, d]]
    path = _warehouse(tmp_path, _customers(240, AS_OF - timedelta(days=59)), _orders(rows))
    with duckdb.connect(str(path)) as con:
        o = con.execute("SELECT customer_id, ordered_date, net_amount_reporting FROM staging.stg_shop__orders").df()
    rfm = cm.rfm_from_transactions(o["customer_id"].to_numpy(), o["ordered_date"].to_numpy(),
                                   o["net_amount_reporting"].to_numpy(), AS_OF)
    mle = cm.fit_bgnbd(rfm.frequency, rfm.recency_weeks, rfm.T_weeks)
    assert not mle.converged and "search bound: alpha" in mle.message and mle.r > 1e5  # the failure itself
    result = _clv(path)
    assert _run_status(result, "bgnbd") == "regularised"
    bg = result.bgnbd
    assert bg.converged and max(bg.params.values()) < 1e4 and all(np.isfinite(list(bg.stderr.values())))
    # the purchase rate r / alpha (per week) is what the data do determine: kept within 5%
    assert bg.r / bg.alpha == pytest.approx(mle.r / mle.alpha, rel=0.05)
    frame = result.customers
    _buyer_outputs_finite(frame)
    assert set(frame["model_status"]) == {"regularised"}
    check = clv_check_result(result, 240)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "bgnbd regularised" in check.description


def test_regularised_fit_leaves_a_well_determined_fit_nearly_unchanged():
    """The prior is weak: on 5,000 simulated customers the regularised BG/NBD lands within 5%
    of the maximum-likelihood parameters."""
    from orchestration.ml import clv_models as cm

    sim = cm.simulate_bgnbd(5000, 0.8, 6.0, 0.7, 2.5, 52.0, np.random.default_rng(3), p=6.0, q=4.0, v=15.0)
    mle = cm.fit_bgnbd(sim.frequency, sim.recency, sim.T)
    reg = cm.fit_bgnbd(sim.frequency, sim.recency, sim.T, prior_sd=2.0)
    assert mle.converged and reg.converged
    for name, value in mle.params.items():
        assert reg.params[name] == pytest.approx(value, rel=0.05), name
    assert reg.message.startswith("regularised")


# ------------------------------------------------------------------ churn fallbacks


def test_churn_without_labelled_history_scores_by_recency(tmp_path):
    """60 days of history, a 90-day horizon: no labelled snapshot. Every active customer is still
    scored, by d / (d + 90), d = days since the last order."""
    from orchestration.ml.assets import churn_check_result

    orders = _orders([("c000", AS_OF, 20.0), ("c001", AS_OF - timedelta(days=30), 20.0),
                      ("c002", AS_OF - timedelta(days=59), 20.0)])
    path = _warehouse(tmp_path, _customers(4, AS_OF - timedelta(days=59)), orders)
    result = _churn(path, tmp_path)
    scores = result.scores.set_index("customer_id")
    assert result.status == "recency_rule" and "not trained" in result.status_reason
    assert set(scores.index) == {"c000", "c001", "c002"}  # c003 never ordered: not active
    assert (scores["model_status"] == "recency_rule").all()
    np.testing.assert_allclose(scores.loc[["c000", "c001", "c002"], "churn_probability"],
                               [0.0, 30 / 120, 59 / 149])
    assert list(scores.loc[["c000", "c001", "c002"], "risk_band"]) == ["low", "medium", "medium"]
    assert not result.metrics("hgb_calibrated")["trained"]
    check = churn_check_result(result)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN


def test_churn_without_orders_scores_paid_subscribers(tmp_path):
    """No completed order anywhere: the paid subscribers active on the run date are scored by
    their tenure (no order yet); nobody else is active."""
    periods = pd.DataFrame({"customer_id": ["c000"], "plan": "pro", "is_paid": True, "is_trial": False,
                            "last_event_type": "subscribed", "from_date": AS_OF - timedelta(days=9),
                            "to_date": OPEN_END})
    path = _warehouse(tmp_path, _customers(3, AS_OF - timedelta(days=9)), plan_periods=periods)
    result = _churn(path, tmp_path)
    assert result.status == "recency_rule" and result.expected_scores == 1
    row = result.scores.iloc[0]
    assert row["customer_id"] == "c000" and np.isfinite(row["churn_probability"])
    assert 0 < row["churn_probability"] < 0.25


def test_churn_with_no_data_at_all(tmp_path):
    result = _churn(_warehouse(tmp_path, _customers(0)), tmp_path)
    assert result.status == "recency_rule" and len(result.scores) == 0 and result.expected_scores == 0


# ------------------------------------------------------------------ check severities


def _clv_result(frame_rows, bg_status="mle", converged=True, message="ok"):
    from orchestration.ml.clv import CLVResult

    frame = pd.DataFrame(frame_rows, columns=["customer_id", "orders_count", "expected_purchases_12m", "p_alive",
                                              "expected_avg_spend", "expected_revenue_12m", "clv_12m", "model_status"])
    runs = pd.DataFrame([{"model": "bgnbd", "converged": converged, "message": message, "model_status": bg_status},
                         {"model": "gamma_gamma", "converged": True, "message": "ok", "model_status": "mle"}])
    return CLVResult(frame, runs)


GOOD = ("c1", 3, 1.5, 0.9, 40.0, 60.0, 24.0, "bgnbd_gamma_gamma")
NONE = ("c2", 0, None, None, None, None, None, "no_orders")


def test_clv_check_severities():
    from orchestration.ml.assets import clv_check_result

    ok = clv_check_result(_clv_result([GOOD, NONE]), 2)
    assert ok.passed
    bound = "CONVERGENCE: ...; parameter(s) at the search bound: b"
    assert clv_check_result(_clv_result([GOOD], converged=False, message=bound), 1).passed  # no dropout yet
    warn = clv_check_result(_clv_result([GOOD[:-1] + ("regularised",)], bg_status="regularised"), 1)
    assert not warn.passed and warn.severity == dg.AssetCheckSeverity.WARN
    # a maximum-likelihood fit used although it did not converge (only the fallbacks may stand in)
    diverged = clv_check_result(_clv_result([GOOD], converged=False, message="ABNORMAL: search bound: r"), 1)
    assert not diverged.passed and diverged.severity == dg.AssetCheckSeverity.ERROR
    for bad, expected in (
        ([GOOD[:6] + (float("nan"), GOOD[7])], 1),  # a buyer's CLV NaN
        ([GOOD[:3] + (1.2,) + GOOD[4:]], 1),  # P(alive) outside [0, 1]
        ([GOOD[:3] + (None,) + GOOD[4:]], 1),  # P(alive) missing from a fitted row
        ([GOOD, NONE], 3),  # rows lost
        ([GOOD[:-1] + ("made_up",)], 1),
    ):
        check = clv_check_result(_clv_result(bad), expected)
        assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR, bad


def test_churn_check_severities():
    from orchestration.ml.assets import churn_check_result
    from orchestration.ml.churn import ChurnResult

    def result(p, status="hgb_calibrated", expected=None):
        scores = pd.DataFrame({"churn_probability": p, "model_status": status})
        runs = pd.DataFrame([{"model": "hgb_calibrated", "trained": True, "roc_auc": 0.8},
                             {"model": "recency_rule", "trained": True, "roc_auc": 0.7}])
        return ChurnResult(scores, runs, pd.DataFrame(), status=status, status_reason="why",
                           expected_scores=len(p) if expected is None else expected)

    assert churn_check_result(result([0.1, 0.9])).passed
    warn = churn_check_result(result([0.1, 0.9], status="recency_rule"))
    assert not warn.passed and warn.severity == dg.AssetCheckSeverity.WARN
    for bad in (result([0.1, float("nan")]), result([0.1, 1.01]), result([-0.1]), result([0.5], expected=2),
                result([float("nan")], status="recency_rule")):
        check = churn_check_result(bad)
        assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
