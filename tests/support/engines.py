"""Engine comparison for tests/test_engines.py: run `cew run` on one landing set per engine and
compare the public tables row for row with the DuckDB build."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Sequence

CEW = str(Path(sys.executable).parent / "cew")

# the tables an engine must reproduce exactly (issue 10): the KPI store, the customer 360
# dimension and the engagement score tables
COMPARED_TABLES = (
    "marts.metric_values",
    "marts.dim_customers",
    "marts.customer_engagement_daily",
    "marts.customer_engagement_current",
    "marts.mart_engagement_segments",
    "marts.mart_engagement_index",
)
# when the row was written: differs between any two runs by design
RUN_COLUMNS = {"computed_at"}


def cew_run(env: dict[str, str], *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([CEW, "run", *args], env=env, capture_output=True, text=True, timeout=timeout)


def base_env(landing: Path, warehouse: Path, engine: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith(("CEW_", "PG"))}
    env.update(
        CEW_LANDING_DIR=str(landing), CEW_WAREHOUSE_PATH=str(warehouse), CEW_START_DATE="2025-01-01",
        CEW_ENGINE=engine, CEW_DUCKDB_THREADS="2",
        # generated demo data: the default PII key is accepted (the CEW_ variables above are dropped)
        CEW_DEMO_MODE="true",
    )
    return env


def _normal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _sort_key(row: Sequence[Any]) -> tuple:
    # floats rounded for ordering only: engines may differ in the last bits
    return tuple(
        (0, "") if v is None else (1, f"{v:.6f}") if isinstance(v, float) else (1, str(v)) for v in row
    )


def normalized_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> tuple[list[str], list[tuple]]:
    keep = [i for i, c in enumerate(columns) if c not in RUN_COLUMNS]
    out = [tuple(_normal(r[i]) for i in keep) for r in rows]
    return [columns[i] for i in keep], sorted(out, key=_sort_key)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        if isinstance(a, (bool, str, date)) or isinstance(b, (bool, str, date)):
            return False
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def table_differences(
    name: str, expected: tuple[list[str], list[tuple]], got: tuple[list[str], list[tuple]], limit: int = 5
) -> list[str]:
    """What differs between two normalized tables: columns, row count, then the first rows."""
    (cols_e, rows_e), (cols_g, rows_g) = expected, got
    if cols_e != cols_g:
        return [f"{name}: columns differ\n  duckdb: {cols_e}\n  engine: {cols_g}"]
    problems = []
    if len(rows_e) != len(rows_g):
        problems.append(f"{name}: {len(rows_e)} rows on DuckDB, {len(rows_g)} on the engine")
    for row_e, row_g in zip(rows_e, rows_g):
        bad = [c for c, a, b in zip(cols_e, row_e, row_g) if not _same(a, b)]
        if bad:
            problems.append(
                f"{name}: row differs in {bad}\n  duckdb: {dict(zip(cols_e, row_e))}\n  engine: {dict(zip(cols_g, row_g))}"
            )
            if len(problems) >= limit:
                break
    return problems
