"""Dagster assets of schema ``ml``: CLV (simple and BG/NBD + Gamma-Gamma) and churn scores.

They run after the dbt marts (deps on the dbt asset keys) and before ``marts/customer_360``,
which reads their tables through the dbt source ``ml``. Each asset carries a blocking check
(``clv_fit_converged``, ``churn_model_beats_recency_baseline``): when it fails with severity
ERROR (a real defect: NaN, a probability outside [0, 1], customers lost) the run does not build
``customer_360`` (it keeps the previous version) and ``cew run`` exits non-zero; a fallback on
thin or degenerate data (``model_status``) fails it with severity WARN: the UI and the log show
the warning, nothing is blocked and the night goes on.
Partitioned daily like every other asset; the as-of date is the run's latest partition day, or
the newest loaded day when that is later (the dbt build's ``run_date``).
"""


import time
import warnings

import dagster as dg
import numpy as np

from orchestration.dbt.assets import latest_loaded_day
from orchestration.ml import churn as churn_model
from orchestration.ml import clv as clv_model
from orchestration.ml.model_metrics import MODEL_METRICS_COLUMNS, churn_model_metrics
from orchestration.ml.common import (
    CHURN_MODEL_RUNS_KEY,
    CLV_MODEL_RUNS_KEY,
    CLV_SEGMENTS_KEY,
    CUSTOMER_CHURN_SCORES_KEY,
    CUSTOMER_CLV_KEY,
    DIM_CUSTOMERS_KEY,
    ENGAGEMENT_DAILY_KEY,
    ENGAGEMENT_EVENTS_KEY,
    MODEL_METRICS_KEY,
    PLAN_PERIODS_KEY,
    STG_ORDERS_KEY,
    STG_SUBSCRIPTION_EVENTS_KEY,
    SUPPORT_TICKETS_KEY,
    SURVEY_RESPONSES_KEY,
    models_dir,
    run_as_of_date,
    write_table,
)
from orchestration.partitions import daily_partitions
from orchestration.resources import WarehouseResource
from orchestration.settings import load_settings

warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `multi_asset`", category=dg.BetaWarning)

# what the assets read and write: copied from and to the engine when it is not DuckDB
# (orchestration.engines); the per-run tables are read too, as a run appends to them
CLV_READS = ["staging.stg_shop__orders", "marts.dim_customers", "intermediate.int_subscriptions__plan_periods",
             "ml.clv_model_runs"]
CHURN_READS = [
    *CLV_READS[:3], "staging.stg_billing__subscription_events", "marts.fct_engagement_events",
    "marts.customer_engagement_daily", "marts.fct_support_tickets", "marts.fct_survey_responses", "ml.churn_model_runs",
]
CLV_WRITES = ["ml.customer_clv", "ml.clv_model_runs", "ml.clv_segments"]
CHURN_WRITES = ["ml.customer_churn_scores", "ml.churn_model_runs"]

CLV_CHECK = "clv_fit_converged"
CHURN_CHECK = "churn_model_beats_recency_baseline"


class ChurnConfig(dg.Config):
    """``retrain``: train the churn model even when a saved one younger than
    ``CEW_CHURN_RETRAIN_DAYS`` with the same features exists (``cew run --full-refresh`` or
    ``--retrain-churn`` set it)."""

    retrain: bool = False


def _append_run(con, table: str, frame, columns: dict[str, str], run_date) -> None:
    """Per-run tables keep one set of rows per run date: a re-run replaces its date's rows."""
    write_table(con, table, frame.iloc[0:0], columns, replace=False)
    con.execute(f"DELETE FROM ml.{table} WHERE run_date = ?", [run_date])
    write_table(con, table, frame, columns, replace=False)


def _check(check_name: str, asset_key, defects: list[str], degraded: list[str], ok: str, metadata: dict):
    """ERROR for real defects (blocks ``customer_360``, fails the run); WARN for a degraded but
    usable state (thin or degenerate data: the UI shows the warning, the run goes on); else passed."""
    if defects:
        severity, passed, text = dg.AssetCheckSeverity.ERROR, False, "; ".join(defects + degraded)
    elif degraded:
        severity, passed, text = dg.AssetCheckSeverity.WARN, False, "degraded: " + "; ".join(degraded)
    else:
        severity, passed, text = dg.AssetCheckSeverity.ERROR, True, ok
    return dg.AssetCheckResult(check_name=check_name, asset_key=asset_key, passed=passed, severity=severity,
                                description=text, metadata=metadata)


def _probability_defects(name: str, values, *, required) -> list[str]:
    """NaN/inf where a value is required, or a probability outside [0, 1]."""
    values = np.asarray(values, dtype=float)
    required = np.asarray(required, dtype=bool)
    out = []
    missing = int((required & ~np.isfinite(values)).sum())
    if missing:
        out.append(f"{missing} {name} value(s) NaN or infinite")
    outside = int((np.isfinite(values) & ((values < 0) | (values > 1))).sum())
    if outside:
        out.append(f"{outside} {name} value(s) outside [0, 1]")
    return out


def clv_check_result(result: clv_model.CLVResult, expected_customers: int | None = None) -> dg.AssetCheckResult:
    """ERROR: rows lost (fewer or more customers than ``dim_customers``), a buyer without a finite
    12-month CLV, expected purchases or spend, P(alive) outside [0, 1], or an unknown status.
    WARN: a fallback was used (``model_status`` regularised / simple_spend / simple) or a fit was
    not attempted or failed. BG/NBD with only its dropout parameters a, b at the search bound
    passes with a note (no dropout detectable yet); ``clv_model_runs.converged`` stays false there."""
    frame = result.customers
    defects, degraded, notes = [], [], []
    if expected_customers is not None and len(frame) != expected_customers:
        defects.append(f"rows lost: {len(frame)} customers scored, {expected_customers} in dim_customers")
    if len(frame):
        status = frame["model_status"]
        unknown = sorted(set(status.dropna()) - set(clv_model.CLV_STATUSES)) + (["null"] if status.isna().any() else [])
        if unknown:
            defects.append(f"unknown model_status {unknown}")
        buyers = (frame["orders_count"] > 0).to_numpy()
        for col in ("expected_purchases_12m", "expected_avg_spend", "expected_revenue_12m", "clv_12m"):
            bad = int((buyers & ~np.isfinite(frame[col].to_numpy(dtype=float))).sum())
            if bad:
                defects.append(f"{bad} buyer(s) with {col} NaN or infinite")
        has_bg = buyers & (status != clv_model.STATUS_SIMPLE).to_numpy()
        defects += _probability_defects("p_alive", frame["p_alive"], required=has_bg)
        counts = status.value_counts()
        fallback = {s: int(counts[s]) for s in clv_model.DEGRADED_STATUSES if s in counts}
        if fallback:
            degraded.append("customers on a fallback: " + ", ".join(f"{s} {n}" for s, n in fallback.items()))
    for model in ("bgnbd", "gamma_gamma"):
        row = result.run_row(model)
        state = row.get("model_status")
        if state in (clv_model.FIT_REGULARISED, clv_model.FIT_FAILED, clv_model.FIT_NOT_FITTED):
            degraded.append(f"{model} {state}: {row.get('message')}")
        elif row and row.get("converged") is False and model == "bgnbd" and clv_model.dropout_at_bound_only(row.get("message")):
            notes.append(f"bgnbd: no dropout detectable in the history ({row.get('message')})")
        elif row and row.get("converged") is False:
            defects.append(f"{model} used although it did not converge: {row.get('message')}")
    statuses = frame["model_status"].value_counts().to_dict() if len(frame) else {}
    metadata = {
        **{f"{m}_status": str(result.run_row(m).get("model_status")) for m in ("bgnbd", "gamma_gamma")},
        **{f"customers_{k}": int(v) for k, v in statuses.items()},
    }
    return _check(CLV_CHECK, CUSTOMER_CLV_KEY, defects, degraded,
                  "; ".join(notes or ["BG/NBD and Gamma-Gamma converged"]), metadata)


def churn_check_result(result: churn_model.ChurnResult) -> dg.AssetCheckResult:
    """ERROR: a score NaN or outside [0, 1], or rows lost (scores != customers active on the run
    date). WARN: the scores come from the recency-rule fallback (no model could be trained, or it
    lost to the rule on the evaluation snapshot)."""
    scores = result.scores
    defects, degraded = [], []
    if result.expected_scores is not None and len(scores) != result.expected_scores:
        defects.append(f"rows lost: {len(scores)} customers scored, {result.expected_scores} active on the run date")
    defects += _probability_defects("churn_probability", scores["churn_probability"], required=np.ones(len(scores)))
    model = result.metrics(churn_model.MODEL_NAME)
    auc, base_auc = model.get("roc_auc"), result.metrics("recency_rule").get("roc_auc")
    fallback = scores["model_status"].eq(churn_model.STATUS_RECENCY_RULE).sum() if len(scores) else 0
    if result.status == churn_model.STATUS_RECENCY_RULE:
        degraded.append(f"{fallback} customers scored by the recency rule: {result.status_reason}")
    ok = f"ROC AUC {auc} (model) vs {base_auc} (recency rule) on snapshot {model.get('eval_snapshot')}"
    return _check(CHURN_CHECK, CUSTOMER_CHURN_SCORES_KEY, defects, degraded, ok, {
        "model_status": str(result.status), "model_roc_auc": float(auc or 0.0),
        "recency_roc_auc": float(base_auc or 0.0), "scored_customers": len(scores)})


def _warn_degraded(context, check: dg.AssetCheckResult) -> None:
    if not check.passed:
        log = context.log.warning if check.severity == dg.AssetCheckSeverity.WARN else context.log.error
        log(f"{check.check_name} {check.severity.value}: {check.description}")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(CUSTOMER_CLV_KEY, deps=[STG_ORDERS_KEY, DIM_CUSTOMERS_KEY, PLAN_PERIODS_KEY],
                     description="Per customer: simple CLV with its factors, BG/NBD + Gamma-Gamma 12-month "
                                 "expected purchases, P(alive), expected spend and CLV.",
                     kinds={"python", "duckdb"}),
        dg.AssetSpec(CLV_SEGMENTS_KEY, deps=[CUSTOMER_CLV_KEY, DIM_CUSTOMERS_KEY],
                     description="Simple CLV (per customer and total) and its factors per segment, with the "
                                 "12-month CLV per buyer.",
                     kinds={"python", "duckdb"}),
        dg.AssetSpec(CLV_MODEL_RUNS_KEY, deps=[STG_ORDERS_KEY],
                     description="One row per run date and CLV model: parameters, log-likelihood, customers "
                                 "fitted, converged, holdout check.",
                     kinds={"python", "duckdb"}),
    ],
    check_specs=[dg.AssetCheckSpec(CLV_CHECK, asset=CUSTOMER_CLV_KEY, blocking=True,
                                   description="ERROR: customers lost, a buyer's 12-month CLV NaN, P(alive) outside [0, 1]. "
                                               "WARN: a fallback (regularised fit, simple CLV) was used.")],
    group_name="ml",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def clv_assets(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    settings = load_settings()
    as_of = run_as_of_date(context, latest_loaded_day(warehouse))
    started = time.perf_counter()
    with warehouse.working_copy(reads=CLV_READS, writes=CLV_WRITES) as con:
        result = clv_model.compute_clv(
            con, as_of, active_window_days=settings.active_window_days,
            max_lifespan_years=settings.clv_max_lifespan_years,
            annual_discount_rate=settings.clv_annual_discount_rate, run_id=context.run.run_id[:12],
        )
        n = write_table(con, "customer_clv", result.customers, clv_model.CUSTOMER_CLV_COLUMNS)
        _append_run(con, "clv_model_runs", result.runs, clv_model.CLV_MODEL_RUNS_COLUMNS, as_of)
        segments = clv_model.write_segments(con)
        expected = con.execute(clv_model.CUSTOMERS_COUNT_SQL).fetchall()[0][0]
    seconds = time.perf_counter() - started
    check = clv_check_result(result, expected)
    bg = result.bgnbd
    statuses = result.customers["model_status"].value_counts().to_dict() if n else {}
    context.log.info(
        f"clv as of {as_of}: {n} customers, "
        + (f"BG/NBD r={bg.r:.3g} alpha={bg.alpha:.3g} a={bg.a:.3g} b={bg.b:.3g} "
           f"({result.run_row('bgnbd').get('model_status')}), " if bg else "BG/NBD not used, ")
        + f"model_status {statuses}, {seconds:.1f} s"
    )
    _warn_degraded(context, check)
    yield dg.MaterializeResult(
        asset_key=CUSTOMER_CLV_KEY,
        metadata={"as_of_date": as_of.isoformat(), "customers": n, "seconds": round(seconds, 2),
                  **{f"model_status_{k}": int(v) for k, v in statuses.items()},
                  **({f"bgnbd_{k}": float(v) for k, v in bg.params.items()} if bg else {})},
    )
    yield dg.MaterializeResult(asset_key=CLV_MODEL_RUNS_KEY, metadata={"rows": len(result.runs)})
    yield dg.MaterializeResult(asset_key=CLV_SEGMENTS_KEY, metadata={"rows": segments})
    yield check


@dg.multi_asset(
    specs=[
        dg.AssetSpec(CUSTOMER_CHURN_SCORES_KEY,
                     deps=[STG_ORDERS_KEY, STG_SUBSCRIPTION_EVENTS_KEY, PLAN_PERIODS_KEY, DIM_CUSTOMERS_KEY,
                           ENGAGEMENT_EVENTS_KEY, ENGAGEMENT_DAILY_KEY, SUPPORT_TICKETS_KEY, SURVEY_RESPONSES_KEY],
                     description="Churn probability, risk band and top three drivers of every customer active "
                                 "on the run date.",
                     kinds={"python", "duckdb", "scikitlearn"}),
        dg.AssetSpec(MODEL_METRICS_KEY, deps=[CHURN_MODEL_RUNS_KEY],
                     description="Per run date: ROC AUC, PR AUC, Brier, top-decile lift and calibration (ECE, "
                                 "ten bins) of the churn model and its baselines, and the engagement score's "
                                 "AUC against observed churn (long format, for drift charts).",
                     kinds={"python", "duckdb"}),
        dg.AssetSpec(CHURN_MODEL_RUNS_KEY, deps=[STG_ORDERS_KEY],
                     description="One row per run date and model (the churn model and its baselines): ROC AUC, "
                                 "PR AUC, Brier, top-decile lift, training window, model version and file.",
                     kinds={"python", "duckdb"}),
    ],
    check_specs=[dg.AssetCheckSpec(CHURN_CHECK, asset=CUSTOMER_CHURN_SCORES_KEY, blocking=True,
                                   description="ERROR: a churn probability NaN or outside [0, 1], customers lost. "
                                                 "WARN: scored by the recency-rule fallback (too little "
                                                 "labelled history, or the model lost to the rule).")],
    group_name="ml",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def churn_assets(context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: ChurnConfig):
    settings = load_settings()
    as_of = run_as_of_date(context, latest_loaded_day(warehouse))
    started = time.perf_counter()
    with warehouse.working_copy(reads=CHURN_READS, writes=CHURN_WRITES) as con:
        result = churn_model.train_and_score(
            con, as_of, horizon_days=settings.churn_horizon_days, active_window_days=settings.active_window_days,
            snapshot_step_days=settings.churn_snapshot_step_days, max_train_rows=settings.churn_max_train_rows,
            models_dir=models_dir(warehouse.path), run_id=context.run.run_id[:12],
            retrain_days=settings.churn_retrain_days, force_retrain=config.retrain,
            threads=settings.duckdb_threads,
        )
        n = write_table(con, "customer_churn_scores", result.scores, churn_model.CHURN_SCORES_COLUMNS)
        _append_run(con, "churn_model_runs", result.runs, churn_model.CHURN_MODEL_RUNS_COLUMNS, as_of)
        _append_run(con, "model_metrics", churn_model_metrics(result), MODEL_METRICS_COLUMNS, as_of)
    seconds = time.perf_counter() - started
    model = result.metrics(churn_model.MODEL_NAME)
    summary = ", ".join(
        f"{m} AUC {result.metrics(m).get('roc_auc'):.3f}" for m in ("hgb_calibrated", "recency_rule", "bgnbd_p_alive")
        if result.metrics(m).get("roc_auc") is not None
    )
    context.log.info(f"churn as of {as_of}: {n} customers scored ({result.status}); "
                     f"{summary or model.get('message')}; {seconds:.1f} s")
    check = churn_check_result(result)
    _warn_degraded(context, check)
    yield dg.MaterializeResult(
        asset_key=CUSTOMER_CHURN_SCORES_KEY,
        metadata={"as_of_date": as_of.isoformat(), "scored_customers": n, "seconds": round(seconds, 2),
                  "model_status": result.status, "model_version": str(model.get("model_version")),
                  "roc_auc": float(model.get("roc_auc") or 0.0)},
    )
    yield dg.MaterializeResult(asset_key=CHURN_MODEL_RUNS_KEY, metadata={"rows": len(result.runs)})
    yield dg.MaterializeResult(asset_key=MODEL_METRICS_KEY, metadata={"retrained": model.get("seconds_train") not in (None, 0.0)})
    yield check


ml_assets = [clv_assets, churn_assets]
