"""Dagster assets of schema ``ml``: CLV (simple and BG/NBD + Gamma-Gamma) and churn scores.

They run after the dbt marts (deps on the dbt asset keys) and before ``marts/customer_360``,
which reads their tables through the dbt source ``ml``. Each asset carries a blocking check
(``clv_fit_converged``, ``churn_model_beats_recency_baseline``): when it fails, the run does not
build ``customer_360`` (it keeps the previous version) and ``cew run`` exits non-zero.
Partitioned daily like every other asset; the as-of date is the run's latest partition day, or
the newest loaded day when that is later (the dbt build's ``run_date``).
"""


import time
import warnings

import dagster as dg

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

CLV_CHECK = "clv_fit_converged"


class ChurnConfig(dg.Config):
    """``retrain``: train the churn model even when a saved one younger than
    ``CEW_CHURN_RETRAIN_DAYS`` with the same features exists (``cew run --full-refresh`` or
    ``--retrain-churn`` set it)."""

    retrain: bool = False

CHURN_CHECK = "churn_model_beats_recency_baseline"


def _append_run(con, table: str, frame, columns: dict[str, str], run_date) -> None:
    """Per-run tables keep one set of rows per run date: a re-run replaces its date's rows."""
    write_table(con, table, frame.iloc[0:0], columns, replace=False)
    con.execute(f"DELETE FROM ml.{table} WHERE run_date = ?", [run_date])
    write_table(con, table, frame, columns, replace=False)


def _dropout_at_bound_only(message: str) -> bool:
    """BG/NBD whose only bound is on the dropout Beta (a and/or b at the search bound): the history
    shows no detectable dropout, the Beta degenerates at p = a / (a + b) and the predictions are
    those of that limit. A boundary optimum, not a failed optimisation."""
    marker = "parameter(s) at the search bound: "
    if marker not in (message or ""):
        return False
    hit = {p.strip() for p in message.split(marker, 1)[1].split(",")}
    return bool(hit) and hit <= {"a", "b"} and "ABNORMAL" not in message.upper()


def clv_check_result(result: clv_model.CLVResult) -> dg.AssetCheckResult:
    """Fails when a BG/NBD or Gamma-Gamma fit was attempted and did not converge. Passes (saying
    so) when BG/NBD only ran its dropout parameters a, b to the search bound: see
    ``_dropout_at_bound_only``; ``clv_model_runs.converged`` stays false there."""
    problems, notes = [], []
    for model in ("bgnbd", "gamma_gamma"):
        row = result.run_row(model)
        if not row:
            notes.append(f"{model}: no orders")
        elif row.get("converged") is None:
            notes.append(f"{model}: {row.get('message')}")
        elif not row["converged"] and model == "bgnbd" and _dropout_at_bound_only(row.get("message")):
            notes.append(f"bgnbd: no dropout detectable in the history ({row.get('message')})")
        elif not row["converged"]:
            problems.append(f"{model} did not converge: {row.get('message')}")
    return dg.AssetCheckResult(
        check_name=CLV_CHECK,
        asset_key=CUSTOMER_CLV_KEY,
        passed=not problems,
        description="; ".join(problems or notes or ["BG/NBD and Gamma-Gamma converged"]),
        metadata={m: str(result.run_row(m).get("converged")) for m in ("bgnbd", "gamma_gamma")},
    )


def churn_check_result(result: churn_model.ChurnResult) -> dg.AssetCheckResult:
    """Fails when the trained model's ROC AUC is below the recency rule's on the evaluation snapshot."""
    model = result.metrics(churn_model.MODEL_NAME)
    baseline = result.metrics("recency_rule")
    if not model.get("trained"):
        return dg.AssetCheckResult(
            check_name=CHURN_CHECK, asset_key=CUSTOMER_CHURN_SCORES_KEY, passed=True,
            description=f"no model to judge ({model.get('message')}); no churn scores written",
        )
    auc, base_auc = model.get("roc_auc"), baseline.get("roc_auc")
    passed = auc is not None and base_auc is not None and auc >= base_auc
    return dg.AssetCheckResult(
        check_name=CHURN_CHECK, asset_key=CUSTOMER_CHURN_SCORES_KEY, passed=passed,
        description=f"ROC AUC {auc} (model) vs {base_auc} (recency rule) on snapshot {model.get('eval_snapshot')}",
        metadata={"model_roc_auc": float(auc or 0.0), "recency_roc_auc": float(base_auc or 0.0)},
    )


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
                                   description="BG/NBD and Gamma-Gamma fits converged (when attempted).")],
    group_name="ml",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def clv_assets(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    settings = load_settings()
    as_of = run_as_of_date(context, latest_loaded_day(warehouse))
    started = time.perf_counter()
    with warehouse.connect() as con:
        result = clv_model.compute_clv(
            con, as_of, active_window_days=settings.active_window_days,
            max_lifespan_years=settings.clv_max_lifespan_years,
            annual_discount_rate=settings.clv_annual_discount_rate, run_id=context.run.run_id[:12],
        )
        n = write_table(con, "customer_clv", result.customers, clv_model.CUSTOMER_CLV_COLUMNS)
        _append_run(con, "clv_model_runs", result.runs, clv_model.CLV_MODEL_RUNS_COLUMNS, as_of)
        segments = clv_model.write_segments(con)
    seconds = time.perf_counter() - started
    bg = result.bgnbd
    context.log.info(
        f"clv as of {as_of}: {n} customers, "
        + (f"BG/NBD r={bg.r:.3g} alpha={bg.alpha:.3g} a={bg.a:.3g} b={bg.b:.3g} converged={bg.converged}, "
           if bg else "BG/NBD not fitted, ")
        + f"{seconds:.1f} s"
    )
    yield dg.MaterializeResult(
        asset_key=CUSTOMER_CLV_KEY,
        metadata={"as_of_date": as_of.isoformat(), "customers": n, "seconds": round(seconds, 2),
                  **({f"bgnbd_{k}": float(v) for k, v in bg.params.items()} if bg else {})},
    )
    yield dg.MaterializeResult(asset_key=CLV_MODEL_RUNS_KEY, metadata={"rows": len(result.runs)})
    yield dg.MaterializeResult(asset_key=CLV_SEGMENTS_KEY, metadata={"rows": segments})
    yield clv_check_result(result)


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
                                   description="The churn model's ROC AUC is at least the recency rule's.")],
    group_name="ml",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def churn_assets(context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: ChurnConfig):
    settings = load_settings()
    as_of = run_as_of_date(context, latest_loaded_day(warehouse))
    started = time.perf_counter()
    with warehouse.connect() as con:
        result = churn_model.train_and_score(
            con, as_of, horizon_days=settings.churn_horizon_days, active_window_days=settings.active_window_days,
            snapshot_step_days=settings.churn_snapshot_step_days, max_train_rows=settings.churn_max_train_rows,
            models_dir=models_dir(warehouse.path), run_id=context.run.run_id[:12],
            retrain_days=settings.churn_retrain_days, force_retrain=config.retrain,
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
    context.log.info(f"churn as of {as_of}: {n} customers scored; {summary or model.get('message')}; {seconds:.1f} s")
    yield dg.MaterializeResult(
        asset_key=CUSTOMER_CHURN_SCORES_KEY,
        metadata={"as_of_date": as_of.isoformat(), "scored_customers": n, "seconds": round(seconds, 2),
                  "model_version": str(model.get("model_version")), "roc_auc": float(model.get("roc_auc") or 0.0)},
    )
    yield dg.MaterializeResult(asset_key=CHURN_MODEL_RUNS_KEY, metadata={"rows": len(result.runs)})
    yield dg.MaterializeResult(asset_key=MODEL_METRICS_KEY, metadata={"retrained": model.get("seconds_train") not in (None, 0.0)})
    yield churn_check_result(result)


ml_assets = [clv_assets, churn_assets]
