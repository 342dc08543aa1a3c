"""CLV and churn assets on a generated data set, judged against the generator's latent truth.

One module-scoped warehouse: ``generate`` (2,000 customers x 200 days: the churn model needs
about 1,000 labelled rows) then ``cew run`` (ingestion, dbt, the ML assets, customer_360 in one
nightly run). The tests read it, and work on copies of it
for nothing else: leakage, blocking checks and the model code are tested fast on a synthetic
warehouse in ``test_ml_fast.py``. Run with ``pytest -m slow tests/test_ml_assets.py -s``. Figures (holdout errors, AUCs beside the oracle and the
baselines, predicted vs true 12-month purchases) are printed: ``pytest -s`` shows them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

# About 6 minutes on a quiet 2-core machine (200 days of ingestion + dbt): not in the default run.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

START = date(2026, 1, 5)
DAYS = 200
END = START + timedelta(days=DAYS - 1)
CUSTOMERS = 2000
CEW = str(Path(sys.executable).parent / "cew")


@pytest.fixture(scope="module")
def world(tmp_path_factory, request):
    from orchestration.demo.generator import generate

    if "slow" not in (request.config.getoption("markexpr") or "") and not os.environ.get("CEW_TEST_SLOW"):
        pytest.skip("slow demo-data suite: run with -m slow (or CEW_TEST_SLOW=1)")

    root = tmp_path_factory.mktemp("ml")
    landing = root / "landing"
    generate(out_dir=landing, customers=CUSTOMERS, days=DAYS, start=START, seed=7)
    env = {
        **{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
        "CEW_LANDING_DIR": str(landing),
        "CEW_WAREHOUSE_PATH": str(root / "warehouse.duckdb"),
        "CEW_START_DATE": "2026-01-01",
    }  # no DAGSTER_HOME: an in-memory Dagster instance
    done = subprocess.run([CEW, "run"], env=env, capture_output=True, text=True, timeout=3600)
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
          + ", ".join(f"{k} AUC {v:.3f}" for k, v in auc.items())
          + f"; model / oracle {auc['model'] / auc['oracle']:.3f} (issue #12 target: 0.95)")
    # 0.665 before the features of issue #12, 0.693 after on this world (target 0.72 = 0.95 x the
    # oracle, not reached: README "CLV and churn")
    assert auc["model"] > 0.68 and auc["model"] > auc["recency_rule"] + 0.05
    assert auc["oracle"] >= auc["model"] - 0.05


def test_model_metrics_table_has_the_run(world):
    metrics = query(world, "SELECT * FROM ml.model_metrics")
    assert (metrics["run_date"] == pd.Timestamp(END)).all()
    value = {(r.subject, r.model, r.metric): r.value for r in metrics[metrics["bin"].isna()].itertuples()}
    runs = query(world, "SELECT model, roc_auc FROM ml.churn_model_runs").set_index("model")["roc_auc"]
    assert value[("churn", "hgb_calibrated", "roc_auc")] == pytest.approx(runs["hgb_calibrated"])
    assert 0 <= value[("churn", "hgb_calibrated", "calibration_ece")] < 0.1
    bins = metrics[(metrics["metric"] == "calibration_observed") & (metrics["model"] == "hgb_calibrated")]
    assert sorted(bins["bin"]) == list(range(1, 11))
    print(f"\n[model_metrics] {len(metrics)} rows; churn ECE {value[('churn', 'hgb_calibrated', 'calibration_ece')]:.3f}, "
          f"engagement score AUC vs observed churn {value[('engagement_score', 'engagement_score', 'roc_auc')]:.3f}")


def test_engagement_calibration_from_the_warehouse_alone_raises_the_auc(world):
    from orchestration.evaluation.engagement import calibrate_weights

    calibration = calibrate_weights(world["warehouse"], world["root"] / "landing_meta" / "truth_customers.parquet")
    print("\n[engagement calibration]\n" + calibration.markdown())
    assert calibration.auc["fitted_oot"] > calibration.auc["seed"]


def test_checks_pass_and_customer_360_was_built_after_the_ml_assets(world):
    assert "clv as of" in world["log"] and "churn as of" in world["log"]
    c360 = query(world, "SELECT count(*) AS n, count(clv_12m) AS with_clv FROM marts.customer_360")
    assert c360["n"][0] > 0 and c360["with_clv"][0] > 0
