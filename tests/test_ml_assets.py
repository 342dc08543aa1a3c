"""CLV and churn assets on a generated data set, judged against the generator's latent truth.

One module-scoped warehouse: ``generate`` (400 customers x 120 days) then ``cew run`` (ingestion,
dbt, the ML assets, customer_360 in one nightly run). The tests read it, and work on copies of it
for the leakage and blocking tests. Figures (holdout errors, AUCs beside the oracle and the
baselines, predicted vs true 12-month purchases) are printed: ``pytest -s`` shows them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

START = date(2026, 1, 5)
DAYS = 120
END = START + timedelta(days=DAYS - 1)
CUSTOMERS = 400
CEW = str(Path(sys.executable).parent / "cew")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("ml")
    landing = root / "landing"
    generate(out_dir=landing, customers=CUSTOMERS, days=DAYS, start=START, seed=7)
    env = {
        **os.environ,
        "CEW_LANDING_DIR": str(landing),
        "CEW_WAREHOUSE_PATH": str(root / "warehouse.duckdb"),
        "CEW_START_DATE": "2026-01-01",
        "DAGSTER_HOME": str(root / "dagster_home"),
    }
    (root / "dagster_home").mkdir()
    done = subprocess.run([CEW, "run"], env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    truth = pd.read_parquet(root / "landing_meta" / "truth_customers.parquet")
    return {"root": root, "warehouse": root / "warehouse.duckdb", "truth": truth, "env": env, "log": done.stderr}


def query(world, sql, params=None) -> pd.DataFrame:
    with duckdb.connect(str(world["warehouse"]), read_only=True) as con:
        return con.execute(sql, params or []).df()


def test_clv_tables_have_every_factor_and_converged_fits(world):
    clv = query(world, "SELECT * FROM ml.customer_clv")
    customers = query(world, "SELECT count(*) AS n FROM marts.dim_customers WHERE NOT is_unknown_member")["n"][0]
    assert len(clv) == customers and clv["customer_id"].is_unique
    assert (clv["as_of_date"] == pd.Timestamp(END)).all()
    buyers = clv[clv["orders_count"] > 0]
    product = (buyers["avg_order_value"] * buyers["purchase_frequency_per_year"]
               * buyers["expected_lifespan_years"] * buyers["gross_margin_share"])
    assert np.allclose(buyers["simple_clv"], product)
    assert (clv.loc[clv["orders_count"] == 0, "simple_clv"] == 0).all()
    for col in ("expected_purchases_12m", "p_alive", "expected_avg_spend", "clv_12m"):
        assert buyers[col].notna().all() and np.isfinite(buyers[col]).all(), col
    assert buyers["p_alive"].between(0, 1).all()
    assert (buyers.loc[buyers["frequency"] == 0, "p_alive"] == 1).all()  # one-time buyers: no NaN
    runs = query(world, "SELECT * FROM ml.clv_model_runs ORDER BY model")
    assert list(runs["model"]) == ["bgnbd", "gamma_gamma", "simple"]
    fits = runs[runs["model"] != "simple"]
    assert fits["converged"].all() and (fits["customers_fitted"] > 0).all()
    assert fits["holdout_mae"].notna().all() and fits["holdout_correlation"].notna().all()
    params = {m: json.loads(p) for m, p in zip(runs["model"], runs["parameters"])}
    assert set(params["bgnbd"]) >= {"r", "alpha", "a", "b"} and set(params["gamma_gamma"]) >= {"p", "q", "v"}
    simple = params["simple"]
    print(f"\n[clv] BG/NBD {params['bgnbd']}\n[clv] Gamma-Gamma {params['gamma_gamma']}\n[clv] simple {simple}")
    for row in fits.itertuples():
        print(f"[clv holdout {row.model}] cutoff {row.holdout_cutoff_date} ({row.holdout_weeks:.1f} weeks, "
              f"{row.holdout_customers} customers): predicted {row.holdout_predicted_total:.1f} vs actual "
              f"{row.holdout_actual_total:.1f} ({row.holdout_total_error_pct:+.1f}%), MAE {row.holdout_mae:.3f}, "
              f"corr {row.holdout_correlation:.3f}; fit {row.fit_seconds:.2f} s")
    assert 0 < simple["gross_margin_share"] <= 1 and 0 < simple["lifespan_years"] <= simple["cap_years"]
    bg = fits[fits["model"] == "bgnbd"].iloc[0]
    assert abs(bg["holdout_total_error_pct"]) < 35 and bg["holdout_correlation"] > 0.3


def test_predicted_12_month_purchases_track_the_truth(world):
    """The generator's future 365 days (orders after the window) against BG/NBD's 52 weeks."""
    clv = query(world, "SELECT customer_id, expected_purchases_12m FROM ml.customer_clv WHERE orders_count > 0")
    joined = clv.merge(world["truth"], on="customer_id")
    assert len(joined) == len(clv)
    pred, true = joined["expected_purchases_12m"].to_numpy(), joined["future_orders_365d"].to_numpy(dtype=float)
    corr = float(np.corrcoef(pred, true)[0, 1])
    mae = float(np.mean(np.abs(pred - true)))
    print(f"\n[clv vs truth] {len(joined)} buyers: predicted total {pred.sum():.0f} vs true {true.sum():.0f} "
          f"orders in 12 months, MAE {mae:.2f}, correlation {corr:.3f} (true mean {true.mean():.2f})")
    assert corr > 0.4


def test_churn_model_runs_and_scores(world):
    runs = query(world, "SELECT * FROM ml.churn_model_runs")
    by_model = runs.set_index("model")
    assert set(by_model.index) == {"hgb_calibrated", "recency_rule", "bgnbd_p_alive"}
    model = by_model.loc["hgb_calibrated"]
    assert model["trained"] and model["eval_snapshot"] + pd.Timedelta(days=90) <= pd.Timestamp(END)
    assert model["train_end_snapshot"] < model["eval_snapshot"]
    for name, row in by_model.iterrows():
        print(f"\n[churn {name}] eval {row['eval_snapshot']:%Y-%m-%d} ({row['eval_rows']} rows, churn rate "
              f"{row['eval_churn_rate']:.2f}, split {row['split']}): ROC AUC {row['roc_auc']:.3f}, PR AUC "
              f"{row['pr_auc']:.3f}, Brier {row['brier']}, top-decile lift {row['top_decile_lift']:.2f}")
    assert model["roc_auc"] >= by_model.loc["recency_rule", "roc_auc"]  # the blocking check let it through
    assert Path(model["model_path"]).exists() and model["model_version"] in model["model_path"]
    scores = query(world, "SELECT * FROM ml.customer_churn_scores")
    assert len(scores) == model["scored_customers"] > 0 and scores["customer_id"].is_unique
    assert scores["churn_probability"].between(0, 1).all()
    assert set(scores["risk_band"]) <= {"high", "medium", "low"}
    assert scores["driver_1"].notna().mean() > 0.5
    c360 = query(world, "SELECT * FROM marts.customer_360")
    assert c360["customer_id"].is_unique and c360["simple_clv"].notna().all()
    assert c360["churn_probability"].notna().sum() == len(scores)


def test_churn_model_beside_the_oracle_and_baselines(world):
    """On the customers scored at the end of the window, against what the truth says happens next:
    not alive at the end, or churning within 90 days after it. The oracle knows each customer's
    state at the end and their hazard: P = 1 if churned already, else 1 - exp(-90 x hazard)."""
    from sklearn.metrics import roc_auc_score

    scores = query(world, "SELECT s.customer_id, s.churn_probability, s.recency_days, c.p_alive "
                          "FROM ml.customer_churn_scores AS s JOIN ml.customer_clv AS c USING (customer_id)")
    joined = scores.merge(world["truth"], on="customer_id")
    y = (~joined["is_alive_at_end"] | joined["churned_within_90d_after_end"]).to_numpy(dtype=int)
    oracle = np.where(joined["is_alive_at_end"], 1 - np.exp(-90 * joined["churn_hazard_per_day"]), 1.0)
    recency = joined["recency_days"].fillna(10_000).to_numpy(dtype=float)
    dropout = (1 - joined["p_alive"].fillna(1.0)).to_numpy()
    auc = {name: float(roc_auc_score(y, s)) for name, s in
           (("model", joined["churn_probability"]), ("oracle", oracle), ("recency_rule", recency), ("bgnbd_1-p_alive", dropout))}
    print(f"\n[churn vs truth] {len(y)} active customers, {y.mean():.2f} churn by the truth: "
          + ", ".join(f"{k} AUC {v:.3f}" for k, v in auc.items()))
    assert auc["model"] > 0.6
    assert auc["oracle"] >= auc["model"] - 0.05


def test_checks_pass_and_customer_360_was_built_after_the_ml_assets(world):
    assert "clv as of" in world["log"] and "churn as of" in world["log"]
    c360 = query(world, "SELECT count(*) AS n, count(clv_12m) AS with_clv FROM marts.customer_360")
    assert c360["n"][0] > 0 and c360["with_clv"][0] > 0


# --------------------------------------------------------------------------- leakage


def _features(path: Path, snapshot: date, as_of: date) -> pd.DataFrame:
    from orchestration.ml.churn_features import FEATURES, snapshot_features

    with duckdb.connect(str(path)) as con:
        out = snapshot_features(con, [snapshot], as_of)
    return out[["customer_id", "snapshot_date", *FEATURES]].sort_values("customer_id").reset_index(drop=True)


def test_churn_features_never_see_data_after_their_snapshot(world, tmp_path):
    """Features of snapshot S, then everything after S changes (new orders, events, scores,
    tickets resolved, surveys answered, a cancellation): the features of S stay the same."""
    snapshot = START + timedelta(days=40)
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(world["warehouse"], copy)
    before = _features(copy, snapshot, END)
    assert len(before) > 50
    s = snapshot.isoformat()
    after_ts = f"TIMESTAMP '{s}' + INTERVAL 1 DAY + INTERVAL 3 HOUR"
    with duckdb.connect(str(copy)) as con:
        orders_raw = con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.views "
            "WHERE table_name = 'stg_shop__orders'").fetchone()[0]
        raw_table = con.execute(
            "SELECT 'raw.' || table_name FROM information_schema.tables WHERE table_schema = 'raw' "
            "AND table_name LIKE '%orders' AND table_name NOT LIKE '%quarantine'").fetchone()[0]
        assert orders_raw
        con.execute(f"""INSERT INTO {raw_table} SELECT * REPLACE (order_id || '-future' AS order_id,
                        {after_ts} AS ordered_at, 'completed' AS status) FROM {raw_table}""")
        con.execute(f"""INSERT INTO marts.fct_engagement_events SELECT * REPLACE (event_id || '-future' AS event_id,
                        {after_ts} AS occurred_at, DATE '{s}' + 1 AS occurred_date) FROM marts.fct_engagement_events""")
        con.execute(f"UPDATE marts.customer_engagement_daily SET score = score + 500, score_app = score_app + 500 "
                    f"WHERE score_date > DATE '{s}'")
        con.execute(f"UPDATE marts.fct_support_tickets SET resolved_at = {after_ts}, resolved_date = DATE '{s}' + 1, "
                    f"first_response_at = coalesce(first_response_at, {after_ts}) WHERE resolved_at IS NULL "
                    f"OR resolved_date > DATE '{s}'")
        con.execute(f"""INSERT INTO marts.fct_support_tickets SELECT * REPLACE (ticket_id || '-future' AS ticket_id,
                        {after_ts} AS opened_at, DATE '{s}' + 1 AS opened_date) FROM marts.fct_support_tickets""")
        con.execute(f"""INSERT INTO marts.fct_survey_responses SELECT * REPLACE (invitation_id || '-f' AS invitation_id,
                        {after_ts} AS responded_at, DATE '{s}' + 1 AS responded_date, 0 AS score)
                        FROM marts.fct_survey_responses WHERE is_response""")
        # a cancellation the day after S for everyone who holds a plan then
        con.execute(f"""UPDATE intermediate.int_subscriptions__plan_periods SET to_date = DATE '{s}' + 1
                        WHERE from_date <= DATE '{s}' AND to_date > DATE '{s}' + 1""")
        con.execute(f"""INSERT INTO intermediate.int_subscriptions__plan_periods
                        SELECT * REPLACE ('none' AS plan, false AS is_paid, false AS is_trial, 'cancelled' AS last_event_type,
                                          DATE '{s}' + 1 AS from_date, DATE '9999-12-31' AS to_date)
                        FROM intermediate.int_subscriptions__plan_periods WHERE to_date = DATE '{s}' + 1""")
        changed = con.execute(f"SELECT count(*) FROM staging.stg_shop__orders WHERE ordered_date > DATE '{s}'").fetchone()[0]
        assert changed > 0
    after = _features(copy, snapshot, END)
    pd.testing.assert_frame_equal(before, after)
    # ... while the same edits do move a later snapshot's features (the test can see a change)
    later = snapshot + timedelta(days=5)
    with duckdb.connect(str(world["warehouse"]), read_only=True) as con:
        from orchestration.ml.churn_features import snapshot_features

        original_later = snapshot_features(con, [later], END)
    edited_later = _features(copy, later, END)
    assert not original_later.sort_values("customer_id")["orders_count"].reset_index(drop=True).equals(
        edited_later["orders_count"])


# --------------------------------------------------------------------------- blocking


def test_failing_checks_block_customer_360(world, tmp_path, monkeypatch):
    """A churn model worse than the recency rule (and a CLV fit that did not converge) fail their
    blocking checks, and customer_360 is not built in that run."""
    import dagster as dg

    from orchestration.dbt.assets import customer_360_dbt_assets, dbt_cli_resource
    from orchestration.ml import assets as ml_assets
    from orchestration.ml import churn as churn_model
    from orchestration.resources import WarehouseResource
    from orchestration.settings import load_settings

    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(world["warehouse"], copy)
    monkeypatch.setenv("CEW_WAREHOUSE_PATH", str(copy))
    with duckdb.connect(str(copy)) as con:
        con.execute("DROP TABLE marts.customer_360")
    real = churn_model.train_and_score

    def worse_than_recency(*args, **kwargs):
        result = real(*args, **kwargs)
        runs = result.runs.copy()
        runs.loc[runs["model"] == churn_model.MODEL_NAME, "roc_auc"] = 0.5
        runs.loc[runs["model"] == "recency_rule", "roc_auc"] = 0.9
        result.runs = runs
        return result

    monkeypatch.setattr(churn_model, "train_and_score", worse_than_recency)
    settings = load_settings()
    outcome = dg.materialize(
        [ml_assets.churn_assets, customer_360_dbt_assets],
        resources={"warehouse": WarehouseResource(path=str(copy)), "dbt": dbt_cli_resource(settings)},
        partition_key=END.isoformat(),
        raise_on_error=False,
    )
    checks = {e.asset_check_key.name: e.passed for e in outcome.get_asset_check_evaluations()}
    assert checks[ml_assets.CHURN_CHECK] is False
    materialized = {e.asset_key.to_user_string() for e in outcome.get_asset_materialization_events()}
    assert "ml/customer_churn_scores" in materialized
    assert "marts/customer_360" not in materialized
    with duckdb.connect(str(copy), read_only=True) as con:
        assert not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'customer_360'").fetchone()[0]


def test_check_results_from_fits():
    from orchestration.ml.assets import churn_check_result, clv_check_result
    from orchestration.ml.churn import ChurnResult
    from orchestration.ml.clv import CLVResult

    def clv(converged):
        runs = pd.DataFrame([{"model": "bgnbd", "converged": converged, "message": "m"},
                             {"model": "gamma_gamma", "converged": True, "message": "ok"}])
        return CLVResult(pd.DataFrame(), runs)

    assert clv_check_result(clv(True)).passed
    assert not clv_check_result(clv(False)).passed
    assert clv_check_result(clv(None)).passed  # not attempted (too little data): nothing to judge

    def churn(auc, base, trained=True):
        runs = pd.DataFrame([{"model": "hgb_calibrated", "trained": trained, "roc_auc": auc, "message": "m"},
                             {"model": "recency_rule", "trained": trained, "roc_auc": base}])
        return ChurnResult(pd.DataFrame(), runs, pd.DataFrame())

    assert churn_check_result(churn(0.8, 0.7)).passed
    assert not churn_check_result(churn(0.6, 0.7)).passed
    assert not churn_check_result(churn(None, 0.7)).passed
    assert churn_check_result(churn(None, None, trained=False)).passed
