"""CLV and churn on a small synthetic warehouse (seconds, no dbt build of the marts).

``synthetic_warehouse`` writes just the tables and columns the ML assets read (staging orders
and subscription events, plan periods, dim_customers, engagement events and daily scores,
support tickets, survey responses), drawn from a known process: BG/NBD-like buyers (Poisson
purchases, a daily churn hazard) whose app activity and plan stop when they churn. The demo-data
suite (``test_ml_assets.py``, slow) runs the same code through ``cew run``.
"""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.support.ml_warehouse import write_ml_inputs

START = date(2025, 6, 2)
DAYS = 220
END = START + timedelta(days=DAYS - 1)
N = 700


def _build(path: Path, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    ids = np.array([f"c{i:04d}" for i in range(N)])
    signup = rng.integers(0, 60, N)
    rate = rng.gamma(1.5, 1 / 30, N)  # orders per day
    hazard = rng.gamma(1.0, 1 / 150, N)  # churn per day
    life = rng.exponential(1 / hazard)
    churn_day = signup + life  # in days since START (may be beyond the window)
    orders, events = [], []
    for i in range(N):  # test data only; the code under test never loops over customers
        alive_until = min(churn_day[i], DAYS + 400)
        k = rng.poisson(rate[i] * max(0.0, alive_until - signup[i]))
        days = np.sort(signup[i] + rng.uniform(0, alive_until - signup[i], k)).astype(int)
        value = rng.gamma(3, 15 + 10 * (i % 5))
        for d in days[days < DAYS]:
            orders.append((ids[i], int(d), float(rng.gamma(4, value / 4))))
        # app activity at 0.4 a day, fading to 0.05 in the 45 days before the churn (the signal
        # recency alone does not see)
        for lo, hi, per_day in ((signup[i], min(alive_until - 45, DAYS), 0.4), (max(signup[i], alive_until - 45), min(alive_until, DAYS), 0.05)):
            n_ev = rng.poisson(per_day * max(0.0, hi - lo))
            events += [(ids[i], int(d)) for d in rng.uniform(lo, hi, n_ev)] if n_ev else []
        # a little activity after churning, decaying
        if churn_day[i] < DAYS:
            events += [(ids[i], int(d)) for d in churn_day[i] + rng.exponential(10, rng.poisson(2)) if d < DAYS]
    day0 = pd.Timestamp(START)
    o = pd.DataFrame(orders, columns=["customer_id", "d", "amount"])
    o["order_id"] = [f"o{i}" for i in range(len(o))]
    o["ordered_date"] = (day0 + pd.to_timedelta(o["d"], unit="D")).dt.date
    o["status"] = np.where(rng.random(len(o)) < 0.95, "completed", "returned")
    o["cost"] = o["amount"] * 0.6
    e = pd.DataFrame(events, columns=["customer_id", "d"])
    e["event_id"] = [f"e{i}" for i in range(len(e))]
    e["occurred_date"] = (day0 + pd.to_timedelta(e["d"], unit="D")).dt.date
    e["event_type"] = np.where(rng.random(len(e)) < 0.05, "uninstall", "app_open")
    cust = pd.DataFrame({"customer_id": ids, "signup_date": (day0 + pd.to_timedelta(signup, unit="D")).date})
    paid = rng.random(N) < 0.3
    plan_from = cust["signup_date"]
    plan_to = [(day0 + pd.Timedelta(days=int(c))).date() if c < DAYS else date(9999, 12, 31) for c in churn_day]
    periods = pd.DataFrame({"customer_id": ids[paid], "plan": "pro", "is_paid": True, "is_trial": False,
                            "last_event_type": "subscribed", "from_date": np.asarray(plan_from)[paid],
                            "to_date": np.asarray(plan_to, dtype=object)[paid]})
    cancelled = periods[periods["to_date"] != date(9999, 12, 31)].copy()
    cancelled = cancelled.assign(plan="none", is_paid=False, last_event_type="cancelled",
                                 from_date=cancelled["to_date"], to_date=date(9999, 12, 31))
    periods = pd.concat([periods, cancelled], ignore_index=True)
    sub_events = pd.concat([
        periods[["customer_id", "last_event_type", "from_date"]].rename(
            columns={"last_event_type": "event_type", "from_date": "occurred_date"})], ignore_index=True)
    tickets = e.sample(frac=0.03, random_state=1).assign(
        ticket_id=lambda f: "t" + f["event_id"], opened_date=lambda f: f["occurred_date"])
    surveys = e.sample(frac=0.03, random_state=2).assign(
        invitation_id=lambda f: "s" + f["event_id"], responded_date=lambda f: f["occurred_date"],
        score=lambda f: rng.integers(0, 11, len(f)))
    write_ml_inputs(path, START, END, orders=o, customers=cust, plan_periods=periods, subscription_events=sub_events,
                    events=e, tickets=tickets, surveys=surveys)
    return {"hazard": pd.Series(hazard, index=ids), "churn_day": pd.Series(churn_day, index=ids)}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("mlfast") / "warehouse.duckdb"
    truth = _build(path)
    return {"path": path, **truth}


def test_clv_on_the_synthetic_warehouse(synthetic):
    from orchestration.ml.clv import compute_clv

    with duckdb.connect(str(synthetic["path"])) as con:
        result = compute_clv(con, END, annual_discount_rate=0.1)
    clv, runs = result.customers, result.runs.set_index("model")
    assert len(clv) == N and clv["customer_id"].is_unique
    assert bool(runs.loc["bgnbd", "converged"]) and bool(runs.loc["gamma_gamma", "converged"])
    buyers = clv[clv["orders_count"] > 0]
    assert np.allclose(buyers["simple_clv"], buyers["avg_order_value"] * buyers["purchase_frequency_per_year"]
                       * buyers["expected_lifespan_years"] * buyers["gross_margin_share"])
    assert np.isclose(buyers["gross_margin_share"].iloc[0], 0.4)
    assert buyers[["expected_purchases_12m", "p_alive", "expected_avg_spend", "clv_12m"]].notna().all().all()
    assert (buyers["model_status"] == "bgnbd_gamma_gamma").all()
    assert (clv.loc[clv["orders_count"] == 0, "model_status"] == "no_orders").all()
    assert runs.loc["bgnbd", "model_status"] == runs.loc["gamma_gamma", "model_status"] == "mle"
    # discounted margin CLV is below the undiscounted revenue of the same 52 weeks
    assert (buyers["clv_12m"] <= buyers["expected_revenue_12m"] * 0.4 + 1e-9).all()
    assert runs.loc["bgnbd", "holdout_correlation"] > 0.5
    assert abs(runs.loc["bgnbd", "holdout_total_error_pct"]) < 30


def test_churn_training_split_metrics_and_drivers(synthetic, tmp_path):
    import joblib

    from orchestration.ml.churn import MODEL_NAME, train_and_score
    from orchestration.ml.churn_features import FEATURES

    with duckdb.connect(str(synthetic["path"])) as con:
        result = train_and_score(con, END, models_dir=tmp_path / "models", run_id="test")
    runs = result.runs.set_index("model")
    model = runs.loc[MODEL_NAME]
    assert model["trained"], model["message"]
    assert model["eval_snapshot"] + timedelta(days=90) <= END
    assert model["train_end_snapshot"] < model["eval_snapshot"]
    for name in (MODEL_NAME, "recency_rule", "bgnbd_p_alive"):
        assert 0.5 < runs.loc[name, "roc_auc"] <= 1, name
        assert runs.loc[name, "pr_auc"] > 0 and runs.loc[name, "top_decile_lift"] >= 1
    assert model["brier"] is not None and runs.loc["recency_rule", "brier"] is None
    saved = joblib.load(model["model_path"])
    assert saved["version"] == model["model_version"] and set(saved["features"]) <= set(FEATURES)
    scores = result.scores
    assert len(scores) > 100 and scores["churn_probability"].between(0, 1).all()
    assert (scores["snapshot_date"] == END).all()
    assert set(scores["risk_band"]) <= {"high", "medium", "low"}
    assert (scores["model_status"] == MODEL_NAME).all() and result.status == MODEL_NAME
    # a driver is a feature that raises the log-odds above the average training customer's: most have one
    assert scores["driver_1"].notna().mean() > 0.8
    assert (scores["driver_1_effect"].dropna() > 0).all()
    assert (scores["driver_1_effect"].fillna(0) >= scores["driver_2_effect"].fillna(0)).all()
    assert set(scores["driver_1"].dropna()) <= set(FEATURES)
    # eval rows: only customers active on the evaluation snapshot, labelled 90 days later
    assert len(result.eval_frame) == model["eval_rows"]


def test_churn_features_never_see_data_after_their_snapshot(synthetic, tmp_path):
    """Features of snapshot S; then everything after S changes (orders, events, scores, tickets
    resolved and opened, surveys, a cancellation the day after S): the features of S stay equal,
    while those of a later snapshot move (so the edits are seen at all)."""
    from orchestration.ml.churn_features import FEATURES, snapshot_features

    snapshot, later = START + timedelta(days=100), START + timedelta(days=110)
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(synthetic["path"], copy)

    def features(day):
        with duckdb.connect(str(copy)) as con:
            out = snapshot_features(con, [day], END)
        return out[["customer_id", *FEATURES]].sort_values("customer_id").reset_index(drop=True)

    before, later_before = features(snapshot), features(later)
    assert len(before) > 100
    s = f"DATE '{snapshot.isoformat()}'"
    ts = f"(CAST({s} AS TIMESTAMP) + INTERVAL 1 DAY + INTERVAL 3 HOUR)"
    with duckdb.connect(str(copy)) as con:
        con.execute(f"""INSERT INTO staging.stg_shop__orders SELECT * REPLACE (order_id || '-f' AS order_id,
                        {ts} AS ordered_at, {s} + 1 AS ordered_date, 'completed' AS status) FROM staging.stg_shop__orders""")
        con.execute(f"UPDATE staging.stg_shop__orders SET ordered_date = {s} + 2 WHERE ordered_date > {s}")
        con.execute(f"""INSERT INTO marts.fct_engagement_events SELECT * REPLACE (event_id || '-f' AS event_id,
                        {ts} AS occurred_at, {s} + 1 AS occurred_date) FROM marts.fct_engagement_events""")
        con.execute(f"UPDATE marts.customer_engagement_daily SET score = score + 500, score_app = 7 WHERE score_date > {s}")
        con.execute(f"UPDATE marts.fct_support_tickets SET resolved_at = NULL, resolved_date = NULL WHERE resolved_date > {s}")
        con.execute(f"""INSERT INTO marts.fct_support_tickets SELECT * REPLACE (ticket_id || '-f' AS ticket_id,
                        {ts} AS opened_at, {s} + 1 AS opened_date) FROM marts.fct_support_tickets""")
        con.execute(f"""INSERT INTO marts.fct_survey_responses SELECT * REPLACE (invitation_id || '-f' AS invitation_id,
                        {ts} AS responded_at, {s} + 1 AS responded_date, {s} + 1 AS sent_date, 0 AS score)
                        FROM marts.fct_survey_responses""")
        # an invitation sent by S and answered after it: unanswered at S (the response rate must not see it)
        con.execute(f"UPDATE marts.fct_survey_responses SET responded_date = {s} + 1, responded_at = {ts} "
                    f"WHERE sent_date <= {s} AND responded_date > {s}")
        con.execute(f"""INSERT INTO staging.stg_billing__subscription_events
                        SELECT customer_id, 'cancelled', {s} + 1 FROM marts.dim_customers""")
        con.execute(f"""UPDATE intermediate.int_subscriptions__plan_periods SET to_date = {s} + 1
                        WHERE from_date <= {s} AND to_date > {s} + 1""")
        con.execute(f"""INSERT INTO intermediate.int_subscriptions__plan_periods
                        SELECT * REPLACE ('none' AS plan, false AS is_paid, 'cancelled' AS last_event_type,
                                          {s} + 1 AS from_date, DATE '9999-12-31' AS to_date)
                        FROM intermediate.int_subscriptions__plan_periods WHERE to_date = {s} + 1""")
    pd.testing.assert_frame_equal(before, features(snapshot))
    later_after = features(later)
    assert not later_before.equals(later_after)


@pytest.mark.parametrize("failing", ["churn", "clv", "warn", None])
def test_blocking_checks_decide_whether_customer_360_is_built(synthetic, tmp_path, monkeypatch, failing, dbt_manifest):
    """The ML assets, then the customer_360 dbt asset, in one in-process run: a check failing with
    ERROR (a churn probability NaN, a buyer's CLV NaN) blocks customer_360; one failing with WARN
    (a degraded fit: thin data) does not."""
    import dagster as dg

    from orchestration.dbt.assets import customer_360_dbt_assets, dbt_cli_resource
    from orchestration.ml import assets as ml_assets
    from orchestration.ml import churn as churn_model
    from orchestration.ml import clv as clv_model
    from orchestration.resources import WarehouseResource
    from orchestration.settings import load_settings

    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(synthetic["path"], copy)
    monkeypatch.setenv("CEW_WAREHOUSE_PATH", str(copy))
    if failing == "churn":
        real = churn_model.train_and_score

        def worse(*args, **kwargs):
            result = real(*args, **kwargs)
            result.scores.loc[result.scores.index[0], "churn_probability"] = float("nan")
            return result

        monkeypatch.setattr(churn_model, "train_and_score", worse)
    elif failing in ("clv", "warn"):
        real_clv = clv_model.compute_clv

        def changed(*args, **kwargs):
            result = real_clv(*args, **kwargs)
            if failing == "clv":
                buyer = result.customers.index[result.customers["orders_count"] > 0][0]
                result.customers.loc[buyer, "clv_12m"] = float("nan")
            else:
                result.runs.loc[result.runs["model"] == "bgnbd", "model_status"] = clv_model.FIT_REGULARISED
            return result

        monkeypatch.setattr(clv_model, "compute_clv", changed)
    outcome = dg.materialize(
        [*ml_assets.ml_assets, customer_360_dbt_assets],
        resources={"warehouse": WarehouseResource(path=str(copy)), "dbt": dbt_cli_resource(load_settings())},
        partition_key=END.isoformat(),
        raise_on_error=False,
    )
    checks = {e.asset_check_key.name: e for e in outcome.get_asset_check_evaluations()}
    assert checks[ml_assets.CHURN_CHECK].passed is (failing != "churn")
    assert checks[ml_assets.CLV_CHECK].passed is (failing not in ("clv", "warn"))
    if failing == "warn":
        assert checks[ml_assets.CLV_CHECK].severity == dg.AssetCheckSeverity.WARN
        failing = None  # a warning blocks nothing
    built = {e.asset_key.to_user_string() for e in outcome.get_asset_materialization_events()}
    assert {"ml/customer_clv", "ml/clv_segments", "ml/clv_model_runs", "ml/customer_churn_scores", "ml/churn_model_runs"} <= built
    with duckdb.connect(str(copy), read_only=True) as con:
        exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'customer_360'").fetchone()[0]
        if failing:
            assert "marts/customer_360" not in built and not exists
        else:
            assert "marts/customer_360" in built
            n, scored, with_clv = con.execute(
                "SELECT count(*), count(churn_probability), count(clv_12m) FROM marts.customer_360").fetchone()
            assert n == N and scored > 100 and with_clv > 100
            segments = con.execute("SELECT segment_name, customers FROM ml.clv_segments WHERE segment_name = 'all'").fetchall()
            assert segments == [("all", N)]


def test_channel_features_are_the_same_by_running_totals_and_by_direct_sums(synthetic, tmp_path):
    """Step 3a's two ways (running totals looked up on S - lag, for many snapshots; the daily
    rows summed per snapshot, for a scoring night's one or two) give the same features: equal,
    but for the float sums of weights (points), within rounding."""
    from orchestration.ml.churn_features import CHANNEL_FEATURES, DIRECT_MAX_SNAPSHOTS, build_features

    snaps = [START + timedelta(days=20), START + timedelta(days=95), END]
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(synthetic["path"], copy)
    with duckdb.connect(str(copy)) as con:
        # the fixture's events are all app events of whole weights: a third become web page views,
        # a third e-mail deliveries and opens, with decimal weights
        con.execute("""UPDATE marts.fct_engagement_events SET
                           source = CASE hash(event_id) % 3 WHEN 0 THEN 'web' WHEN 1 THEN 'email' ELSE source END,
                           event_type = CASE hash(event_id) % 3 WHEN 0 THEN 'page_view'
                               WHEN 1 THEN CASE WHEN hash(event_id) % 2 = 0 THEN 'open' ELSE 'delivered' END
                               ELSE event_type END,
                           weight = CASE hash(event_id) % 3 WHEN 0 THEN 4.6 WHEN 1 THEN 1.2 ELSE weight + 0.1 END""")
        running, _ = build_features(con, snaps, END, channel_totals="running")
        direct, _ = build_features(con, snaps, END, channel_totals="direct")
    assert len(running) == len(direct) > 100 and DIRECT_MAX_SNAPSHOTS < len(snaps)
    pd.testing.assert_frame_equal(running.drop(columns=["points_30d", "points_90d"]),
                                  direct.drop(columns=["points_30d", "points_90d"]))
    for name in ("points_30d", "points_90d"):
        np.testing.assert_allclose(direct[name], running[name], rtol=1e-9, atol=1e-9)
    # the comparison is not vacuous: the windows hold events, and some customers have none in them
    for name in ("activity_7d", "activity_90d", "days_since_web", "email_open_rate_90d", "points_30d"):
        assert running[name].notna().any() and running[name].nunique() > 2, name
    assert (running["activity_30d"] == 0).any() and set(CHANNEL_FEATURES) <= set(running.columns)


def test_training_sample_takes_whole_customers_in_hash_order_up_to_the_cap(synthetic):
    """CEW_CHURN_MAX_TRAIN_ROWS: whole customers in MD5 order of their id while their labelled rows
    fit the cap; earlier labelled snapshots keep only them, the evaluation snapshot (the latest
    labelled) and the unlabelled ones keep everyone, with the same features; no cap below the limit."""
    import hashlib

    from orchestration.ml.churn_features import FEATURES, build_features, snapshot_dates

    snaps = snapshot_dates(START, END, 7)
    with duckdb.connect(str(synthetic["path"])) as con:
        full, everyone = build_features(con, snaps, END)
        capped, sample = build_features(con, snaps, END, max_train_rows=1500)
        again, _ = build_features(con, snaps, END, max_train_rows=1500)
        above, unchanged = build_features(con, snaps, END, max_train_rows=everyone.labelled_rows)

    labelled = full[full["churned"].notna()]
    assert not everyone.capped and full["in_training_sample"].all()
    assert everyone.sampled_rows == everyone.labelled_rows == len(labelled) > 1500
    # a cap at the number of labelled rows samples nothing
    assert not unchanged.capped and above["in_training_sample"].all() and len(above) == len(full)

    # the expected sample, recomputed here: MD5 order, whole customers, cumulative rows <= cap
    per_customer = labelled.groupby("customer_id").size()
    order = sorted(per_customer.index, key=lambda c: (hashlib.md5(c.encode()).hexdigest(), c))
    cumulative = per_customer.loc[order].cumsum()
    expected = set(cumulative[cumulative <= 1500].index)
    chosen = set(capped.loc[capped["in_training_sample"], "customer_id"])
    assert chosen == expected and sample.capped
    assert sample.sampled_customers == len(expected) and sample.labelled_customers == per_customer.size
    # the cap holds, and whole customers: each sampled customer keeps all their labelled rows
    train = capped[capped["churned"].notna() & capped["in_training_sample"]]
    assert sample.sampled_rows == len(train) <= 1500
    assert train.groupby("customer_id").size().sort_index().equals(per_customer.loc[sorted(expected)])
    # the next customer in hash order would not have fitted
    assert cumulative.iloc[len(expected)] > 1500
    # deterministic
    pd.testing.assert_frame_equal(capped, again)

    # earlier labelled snapshots: sampled customers only; evaluation and unlabelled: everyone
    s_eval = labelled["snapshot_date"].max()
    earlier = capped[capped["churned"].notna() & (capped["snapshot_date"] < s_eval)]
    assert earlier["in_training_sample"].all()
    for keep_all in (capped["snapshot_date"] == s_eval, capped["churned"].isna()):
        kept = capped[keep_all]
        same = full[full["snapshot_date"].isin(set(kept["snapshot_date"]))]
        assert len(kept) == len(same) and not kept["in_training_sample"].all()
    # sampling changes which rows are computed, never a row's features or label
    key = ["customer_id", "snapshot_date"]
    merged = capped.merge(full, on=key, suffixes=("", "_full"))
    assert len(merged) == len(capped)
    for name in [*FEATURES, "churned"]:
        pd.testing.assert_series_equal(merged[name], merged[f"{name}_full"], check_names=False)


def test_churn_model_trains_on_the_sample_and_is_judged_on_everyone(synthetic, tmp_path):
    from orchestration.ml.churn import MODEL_NAME, train_and_score

    with duckdb.connect(str(synthetic["path"])) as con:
        full = train_and_score(con, END, run_id="full")
        capped = train_and_score(con, END, max_train_rows=2500, run_id="capped")
    a, b = full.metrics(MODEL_NAME), capped.metrics(MODEL_NAME)
    assert a["trained"] and b["trained"], b["message"]
    assert b["production_train_rows"] <= 2500 < a["production_train_rows"]
    assert b["train_rows"] < a["train_rows"]
    assert "trained on a sample of" in b["message"] and "sample" not in a["message"]
    # evaluation and scoring still cover every customer
    assert b["eval_rows"] == a["eval_rows"] and b["eval_snapshot"] == a["eval_snapshot"]
    assert len(capped.scores) == len(full.scores)
    assert set(capped.scores["customer_id"]) == set(full.scores["customer_id"])
    assert b["roc_auc"] > 0.5


def test_saved_model_is_reused_until_it_is_retrain_days_old_or_forced(synthetic, tmp_path, monkeypatch):
    """CEW_CHURN_RETRAIN_DAYS: a model trained 10 days before the run is reused with 14 (scored
    only, and judged on the newest labelled snapshot, which it never saw), retrained with 7 or
    when forced; a model of other features is never reused. A reused model that loses to the
    recency rule (out of time, or in its training run's evaluation) falls back to the rule."""
    import joblib

    from orchestration.ml import churn

    models = tmp_path / "models"
    early = END - timedelta(days=10)
    real_recency = churn._recency_score
    with duckdb.connect(str(synthetic["path"])) as con:
        first = churn.train_and_score(con, early, models_dir=models, run_id="early", retrain_days=14)
        reused = churn.train_and_score(con, END, models_dir=models, run_id="reuse", retrain_days=14)
        with monkeypatch.context() as mp:  # the rule made perfect on labelled rows: it ranks by the label
            mp.setattr(churn, "_recency_score", lambda f: f["churned"].to_numpy(dtype=float)
                       if f["churned"].notna().all() else real_recency(f))
            lost = churn.train_and_score(con, END, models_dir=models, run_id="lost", retrain_days=14)
        stale = churn.train_and_score(con, END, models_dir=models, run_id="stale", retrain_days=7)
        forced = churn.train_and_score(con, END, models_dir=models, run_id="forced", retrain_days=14, force_retrain=True)
    m_first, m_reused = first.metrics(churn.MODEL_NAME), reused.metrics(churn.MODEL_NAME)
    assert m_first["trained"] and m_first["seconds_train"] > 0
    assert m_reused["model_version"] == m_first["model_version"] and m_reused["seconds_train"] == 0
    assert "reused" in m_reused["message"] and m_reused["split"] == "saved_model_out_of_time"
    assert reused.reused_model and not first.reused_model
    assert m_reused["eval_snapshot"] > m_first["eval_snapshot"] and m_reused["roc_auc"] > 0.5
    assert reused.metrics("recency_rule")["eval_snapshot"] == m_reused["eval_snapshot"]
    assert len(reused.scores) > 100 and (reused.scores["model_version"] == m_first["model_version"]).all()
    for retrained in (stale, forced):
        row = retrained.metrics(churn.MODEL_NAME)
        assert row["seconds_train"] > 0 and row["model_version"] != m_first["model_version"]
        assert not retrained.reused_model
    # the reused model scores the run date as a retrained one would be scored: same rows, same shape
    assert set(reused.scores["customer_id"]) == set(forced.scores["customer_id"])
    signature = churn._signature(90, 90)
    assert churn.saved_model(models, END, 14, signature) is not None
    assert churn.saved_model(models, END, 14, {**signature, "feature_set_version": -1}) is None
    assert churn.saved_model(models, END, 0, signature) is None  # 0 = retrain every run
    assert reused.status == churn.STATUS_MODEL and (reused.scores["model_status"] == churn.STATUS_MODEL).all()
    m_lost = lost.metrics(churn.MODEL_NAME)
    assert m_lost["model_version"] == m_first["model_version"] and m_lost["split"] == "saved_model_out_of_time"
    assert lost.metrics("recency_rule")["roc_auc"] == 1.0 > m_lost["roc_auc"]
    assert lost.status == churn.STATUS_RECENCY_RULE and "saved model" in lost.status_reason
    assert (lost.scores["model_status"] == churn.STATUS_RECENCY_RULE).all()
    assert set(lost.scores["customer_id"]) == set(reused.scores["customer_id"])
    # the forced model reused on its own run date repeats its training evaluation; had the rule
    # won there (AUC 1.0 written into the file), the reuse falls back too
    path = Path(forced.metrics(churn.MODEL_NAME)["model_path"])
    payload = joblib.load(path)
    assert payload["recency_rule_roc_auc"] == forced.metrics("recency_rule")["roc_auc"]
    joblib.dump({**payload, "recency_rule_roc_auc": 1.0}, path)
    with duckdb.connect(str(synthetic["path"])) as con:
        repeated = churn.train_and_score(con, END, models_dir=models, run_id="repeat", retrain_days=14)
    assert repeated.metrics(churn.MODEL_NAME)["model_version"] == forced.metrics(churn.MODEL_NAME)["model_version"]
    assert repeated.status == churn.STATUS_RECENCY_RULE and "saved model" in repeated.status_reason


def test_model_metrics_calibration_by_hand():
    from types import SimpleNamespace

    from orchestration.ml.model_metrics import calibration_bins, churn_model_metrics, expected_calibration_error

    # 4 rows, 2 bins: (0.1, 0.2 | y 0, 1) and (0.6, 0.8 | y 1, 1): predicted 0.15 / 0.7, observed
    # 0.5 / 1.0; ECE = (2 x 0.35 + 2 x 0.3) / 4 = 0.325
    y, p = [1, 0, 1, 1], [0.2, 0.1, 0.8, 0.6]
    bins = calibration_bins(y, p, bins=2)
    assert bins["predicted"].round(6).tolist() == [0.15, 0.7] and bins["observed"].tolist() == [0.5, 1.0]
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(0.325)
    runs = pd.DataFrame([
        {"run_id": "r", "run_date": END, "computed_at": None, "model": "hgb_calibrated", "model_version": "v",
         "split": "gapped", "eval_snapshot": END, "eval_rows": 4, "roc_auc": 0.8, "pr_auc": 0.9, "brier": 0.1,
         "top_decile_lift": 1.3, "eval_churn_rate": 0.75},
        {"run_id": "r", "run_date": END, "computed_at": None, "model": "recency_rule", "model_version": None,
         "split": "gapped", "eval_snapshot": END, "eval_rows": 4, "roc_auc": 0.6, "pr_auc": 0.8, "brier": None,
         "top_decile_lift": 1.0, "eval_churn_rate": 0.75},
    ])
    # engagement: churners score 1, 5, 3; the stayer 4 -> -score ranks 2 of 3 churners above it
    frame = pd.DataFrame({"churned": [1, 0, 1, 1], "model": p, "engagement_score": [1.0, 4.0, 5.0, 3.0]})
    out = churn_model_metrics(SimpleNamespace(runs=runs, eval_frame=frame))
    value = {(r.subject, r.model, r.metric, r.bin): r.value for r in out.itertuples()}
    assert value[("churn", "hgb_calibrated", "roc_auc", None)] == 0.8
    assert ("churn", "recency_rule", "calibration_ece", None) not in value  # not a probability
    assert value[("churn", "hgb_calibrated", "calibration_observed", 4)] == 1.0  # 4 rows: 4 bins of one
    assert value[("engagement_score", "engagement_score", "roc_auc", None)] == pytest.approx(2 / 3)


@pytest.mark.parametrize(("customers", "threads", "expected"), [(3, 2, 1), (5, 2, 2), (5, 1, 1)])
def test_churn_trees_run_parallel_only_on_enough_customers(monkeypatch, customers, threads, expected):
    """OpenMP threads (HGB) for the whole run: `threads` from PARALLEL_MIN_CUSTOMERS customers who
    ordered, else one; BLAS always one."""
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
    from threadpoolctl import threadpool_info

    from orchestration.ml import churn

    seen = {}

    def record(con, as_of, **kwargs):
        seen["openmp"] = _openmp_effective_n_threads()
        seen["blas"] = {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
        seen["kwargs"] = kwargs

    monkeypatch.setattr(churn, "_train_and_score", record)
    monkeypatch.setattr(churn, "PARALLEL_MIN_CUSTOMERS", 5)
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA staging")
        con.execute("CREATE TABLE staging.stg_shop__orders AS SELECT 'c' || (range % ?) AS customer_id FROM range(40)",
                    [customers])
        churn.train_and_score(con, END, threads=threads, run_id="t")
    assert seen["openmp"] == min(expected, os.cpu_count() or 1)  # sklearn caps at the cores
    assert seen["blas"] <= {1}
    assert seen["kwargs"] == {"run_id": "t"}
