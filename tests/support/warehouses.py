"""Run `cew` in a subprocess and compare whole warehouses: the end-to-end, idempotency and
crash-recovery suites' common ground."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

CEW = str(Path(sys.executable).parent / "cew")
# columns that say when or by which run a row was written (or how long it took): they change
# on every run by design
LOAD_COLUMNS = {
    "_loaded_at", "load_id", "loaded_at", "seconds", "computed_at", "run_id", "model_path", "fit_seconds",
    "seconds_features", "seconds_train", "seconds_score", "model_version",
}  # fmt: skip
SCHEMAS = ("raw", "staging", "intermediate", "marts", "seeds", "ml")
# logs of the runs that happened, not state: a night that died has no model-runs rows, a run
# that re-ran a day replaced its rows (the ledger, too, is a log)
RUN_LOGS = ("load_ledger", "clv_model_runs", "churn_model_runs")
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


def skip_unless_slow(request, suite: str) -> None:
    """Skip a slow test unless asked for: ``-m slow``, ``-m <suite>`` or ``CEW_TEST_SLOW=1``."""
    asked = set(re.findall(r"\w+", request.config.getoption("markexpr") or ""))
    if not ({"slow", suite} & asked) and not os.environ.get("CEW_TEST_SLOW"):
        pytest.skip(f"slow {suite} suite: run with -m {suite} (or CEW_TEST_SLOW=1)")


def cew(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([CEW, *args], env=env, capture_output=True, text=True, timeout=timeout)


def cew_env(landing: Path, warehouse: Path, **extra: str) -> dict[str, str]:
    """The environment of a `cew run` on these folders: no DAGSTER_HOME, so an in-memory
    Dagster instance (its SQLite run storage costs ~40 s a run)."""
    return {
        **{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
        "CEW_LANDING_DIR": str(landing),
        "CEW_WAREHOUSE_PATH": str(warehouse),
        "CEW_START_DATE": "2025-01-01",
        **extra,
    }


def _tables(con, catalog: str | None = None) -> list[tuple[str, str]]:
    where = f"table_catalog = '{catalog}' AND " if catalog else ""
    return con.execute(
        f"SELECT table_schema, table_name FROM information_schema.tables WHERE {where}"
        f"table_schema IN {SCHEMAS} AND table_name NOT IN {RUN_LOGS} ORDER BY ALL"
    ).fetchall()


def checksums(warehouse: str | Path) -> dict[str, tuple]:
    """table -> (rows, md5 of its sorted rows) for every table of the warehouse but the run
    logs, leaving out LOAD_COLUMNS."""
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for schema, table in _tables(con):
            columns = [
                (r[0], r[1])
                for r in con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    f"WHERE table_schema='{schema}' AND table_name='{table}'"
                ).fetchall()
                if r[0] not in LOAD_COLUMNS
            ]
            # a parallel sum of doubles may differ in its last bits from run to run (and a sum
            # that is 0 may come out as +-1e-13): compare floating-point columns rounded to 6
            # decimals and 9 significant digits, everything else exactly
            select = ", ".join(
                f'printf(\'%.9g\', round("{c}", 6) + 0.0)' if t in FLOAT_TYPES else f'"{c}"' for c, t in columns
            )
            out[f"{schema}.{table}"] = con.execute(
                f"SELECT count(*), md5(coalesce(string_agg(row_text, '|' ORDER BY row_text), '')) "
                f"FROM (SELECT CAST(ROW({select}) AS VARCHAR) AS row_text FROM {schema}.{table})"
            ).fetchone()
    return out


def float_mismatches(before_path: str | Path, after_path: str | Path, table: str) -> list[tuple]:
    """Rows of `table` that differ between two warehouses once doubles are compared with a
    relative tolerance of 1e-9: rows are matched on all other columns (which must be a key), so
    a sum of doubles whose last bits moved with the order of a parallel aggregate (and came out
    on the other side of a rounding edge in `checksums`) is no difference."""
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{before_path}' AS before_db (READ_ONLY)")
        con.execute(f"ATTACH '{after_path}' AS after_db (READ_ONLY)")
        schema, name = table.split(".")
        columns = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_catalog = 'after_db' AND table_schema = '{schema}' AND table_name = '{name}'"
        ).fetchall()
        floats = [c for c, t in columns if t in FLOAT_TYPES and c not in LOAD_COLUMNS]
        keys = [c for c, t in columns if t not in FLOAT_TYPES and c not in LOAD_COLUMNS]
        key_list = ", ".join(f'"{k}"' for k in keys)
        for db in ("before_db", "after_db"):
            rows, distinct = con.execute(
                f"SELECT count(*), count(DISTINCT ({key_list})) FROM {db}.{table}"
            ).fetchone()
            assert rows == distinct, f"{table}: the non-float columns are no key, cannot match rows"
        on = " AND ".join(f'b."{k}" IS NOT DISTINCT FROM a."{k}"' for k in keys)
        differs = " OR ".join(
            f'NOT (b."{f}" IS NOT DISTINCT FROM a."{f}" OR abs(b."{f}" - a."{f}") <= 1e-9 * greatest(1, abs(a."{f}")))'
            for f in floats
        ) or "false"
        return con.execute(
            f"SELECT * FROM (SELECT *, 1 AS _present FROM before_db.{table}) AS b "
            f"FULL OUTER JOIN (SELECT *, 1 AS _present FROM after_db.{table}) AS a ON {on} "
            f"WHERE b._present IS NULL OR a._present IS NULL OR {differs} LIMIT 5"
        ).fetchall()


def assert_same_warehouse(expected: str | Path, actual: str | Path, expected_sums: dict | None = None) -> dict:
    """Every table of `actual` holds the rows of `expected` (doubles to 1e-9 relative);
    returns the checksums of `actual`."""
    before = expected_sums if expected_sums is not None else checksums(expected)
    after = checksums(actual)
    assert set(after) == set(before), set(after) ^ set(before)
    changed = [t for t in after if after[t] != before[t]]
    rows = {t: (before[t][0], after[t][0]) for t in changed}
    assert {t: float_mismatches(expected, actual, t) for t in changed} == {t: [] for t in changed}, rows
    return after


def rows_lost(expected: dict, actual: dict) -> int:
    """Rows a table of `expected` checksums holds beyond the same table of `actual`, summed."""
    return sum(max(0, expected[t][0] - actual.get(t, (0,))[0]) for t in expected)
