"""What the ML assets share: asset keys, the as-of date of a run, typed writes to schema ``ml``."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

ML_SCHEMA = "ml"
CUSTOMER_CLV_KEY = dg.AssetKey(["ml", "customer_clv"])
CLV_MODEL_RUNS_KEY = dg.AssetKey(["ml", "clv_model_runs"])
CLV_SEGMENTS_KEY = dg.AssetKey(["ml", "clv_segments"])
CUSTOMER_CHURN_SCORES_KEY = dg.AssetKey(["ml", "customer_churn_scores"])
CHURN_MODEL_RUNS_KEY = dg.AssetKey(["ml", "churn_model_runs"])
MODEL_METRICS_KEY = dg.AssetKey(["ml", "model_metrics"])

# dbt models the ML assets read (keys as the dbt translator names them)
STG_ORDERS_KEY = dg.AssetKey(["staging", "stg_shop__orders"])
STG_SUBSCRIPTION_EVENTS_KEY = dg.AssetKey(["staging", "stg_billing__subscription_events"])
PLAN_PERIODS_KEY = dg.AssetKey(["intermediate", "int_subscriptions__plan_periods"])
DIM_CUSTOMERS_KEY = dg.AssetKey(["marts", "dim_customers"])
ENGAGEMENT_EVENTS_KEY = dg.AssetKey(["marts", "fct_engagement_events"])
ENGAGEMENT_DAILY_KEY = dg.AssetKey(["marts", "customer_engagement_daily"])
SUPPORT_TICKETS_KEY = dg.AssetKey(["marts", "fct_support_tickets"])
SURVEY_RESPONSES_KEY = dg.AssetKey(["marts", "fct_survey_responses"])


def run_as_of_date(context: dg.AssetExecutionContext, latest_loaded: date | None) -> date:
    """The run's as-of date: its latest partition day, never earlier than the newest loaded day
    (the same ``run_date`` the dbt build of the run used)."""
    days = [date.fromisoformat(k) for k in context.partition_keys]
    return max([*days, latest_loaded] if latest_loaded else days)


def write_table(con, table: str, frame: pd.DataFrame, columns: dict[str, str], *, replace: bool = True) -> int:
    """Write ``frame`` to ``ml.<table>`` with exactly ``columns`` (name -> DuckDB type), in that order.

    ``replace``: the table is recreated (current-state tables); otherwise the rows are appended
    to the table (created if missing). Returns the number of rows written."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {ML_SCHEMA}")
    ddl = ", ".join(f'"{name}" {sqltype}' for name, sqltype in columns.items())
    if replace:
        con.execute(f"CREATE OR REPLACE TABLE {ML_SCHEMA}.{table} ({ddl})")
    else:
        con.execute(f"CREATE TABLE IF NOT EXISTS {ML_SCHEMA}.{table} ({ddl})")
    if len(frame):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"ml.{table}: frame lacks columns {missing}")
        con.register("_ml_frame", frame[list(columns)])
        try:
            select = ", ".join(f'CAST("{name}" AS {sqltype})' for name, sqltype in columns.items())
            con.execute(f"INSERT INTO {ML_SCHEMA}.{table} SELECT {select} FROM _ml_frame")
        finally:
            con.unregister("_ml_frame")
    return len(frame)


def finite_or_none(value: Any) -> Any:
    """JSON/SQL friendly scalar: numpy -> Python, NaN/inf -> None."""
    if value is None:
        return None
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def params_json(params: dict[str, Any]) -> str:
    return json.dumps({k: finite_or_none(v) for k, v in params.items()}, sort_keys=True)


def models_dir(warehouse_path: str | Path) -> Path:
    """Fitted models live next to the warehouse file: ``<warehouse dir>/models``."""
    return Path(warehouse_path).expanduser().resolve().parent / "models"
