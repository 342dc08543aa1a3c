"""End to end: generated messy exports -> `cew run` -> raw, quarantine, ledger, dbt marts.

One module-scoped warehouse is built in two nightly-like runs (first days, then the rest),
then re-runs and a re-delivery are checked against it.
"""

import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from orchestration.catalog import SOURCES

pytestmark = pytest.mark.e2e

START = date(2026, 2, 1)
DAYS = 12
SPLIT = 6  # first run: days 1-6, second run: days 7-12
CEW = str(Path(sys.executable).parent / "cew")
# columns that say when or by which run a row was written: they change on every run by design
LOAD_COLUMNS = {"_loaded_at", "load_id", "loaded_at", "seconds", "computed_at"}


def cew(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([CEW, *args], env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("e2e")
    landing = root / "landing"
    report = generate(out_dir=landing, customers=250, days=DAYS, start=START, seed=11, messiness=0.05)
    env = {
        **{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
        "CEW_LANDING_DIR": str(landing),
        "CEW_WAREHOUSE_PATH": str(root / "warehouse.duckdb"),
        "CEW_START_DATE": "2025-01-01",
    }  # no DAGSTER_HOME: an in-memory Dagster instance (its SQLite run storage costs ~40 s a run)
    first = cew("run", "--from", START.isoformat(), "--to", (START + timedelta(days=SPLIT - 1)).isoformat(), env=env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-6000:]
    with duckdb.connect(env["CEW_WAREHOUSE_PATH"], read_only=True) as con:
        unknown_after_first = dict(
            con.execute(
                "SELECT customer_id, count(*) FROM marts.fct_engagement_events WHERE NOT is_known_customer GROUP BY 1"
            ).fetchall()
        )
    second = cew(
        "run", "--from", (START + timedelta(days=SPLIT)).isoformat(), "--to", (START + timedelta(days=DAYS - 1)).isoformat(),
        env=env,
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-6000:]
    manifest = json.loads(Path(report.manifest_path).read_text())
    return {
        "env": env,
        "landing": landing,
        "warehouse": env["CEW_WAREHOUSE_PATH"],
        "manifest": manifest,
        "unknown_after_first": unknown_after_first,
        "output": first.stderr + second.stderr,
    }


def query(world, sql):
    with duckdb.connect(world["warehouse"], read_only=True) as con:
        return con.execute(sql).fetchall()


def test_run_prints_progress_per_stage(world):
    out = world["output"]
    assert "ingest orders:" in out and "dbt build:" in out and "run succeeded" in out


def test_thin_history_degrades_the_ml_and_the_run_succeeds(world):
    """12 days: no churn label can be observed and few customers bought twice. The runs exited 0
    (the fixture), the checks warn, every active customer has a recency-rule score and every
    buyer a finite 12-month CLV, and customer_360 carries both statuses."""
    out = world["output"]
    assert "WARNING: check ml/customer_churn_scores:churn_model_beats_recency_baseline warns" in out
    scores = query(world, "SELECT model_status, count(*), count(churn_probability), min(churn_probability), "
                          "max(churn_probability) FROM ml.customer_churn_scores GROUP BY 1")
    assert len(scores) == 1 and scores[0][0] == "recency_rule" and scores[0][1] == scores[0][2] > 0
    assert 0 <= scores[0][3] <= scores[0][4] <= 1
    clv = dict(query(world, "SELECT model_status, count(*) FROM ml.customer_clv GROUP BY 1"))
    assert set(clv) <= {"bgnbd_gamma_gamma", "regularised", "simple_spend", "simple", "no_orders"} and clv
    assert query(world, "SELECT count(*) FROM ml.customer_clv WHERE orders_count > 0 AND NOT isfinite(clv_12m)") == [(0,)]
    assert query(world, "SELECT count(*) FROM ml.customer_clv WHERE orders_count > 0 AND clv_12m IS NULL") == [(0,)]
    joined = query(world, """SELECT count(*) FROM marts.customer_360 AS c JOIN ml.customer_clv AS k USING (customer_id)
                             WHERE c.clv_model_status IS NOT DISTINCT FROM k.model_status""")
    assert joined == query(world, "SELECT count(*) FROM ml.customer_clv")
    assert query(world, "SELECT count(churn_model_status) FROM marts.customer_360") == [(scores[0][1],)]


def test_every_file_is_in_the_ledger_and_balances(world):
    landed = {
        (source.name, p.name) for source in SOURCES for p in (world["landing"] / source.name).glob("*") if p.is_file()
    }
    ledger = query(
        world,
        "SELECT source, file_name, rows_read, rows_loaded, rows_quarantined, rows_duplicate, status "
        "FROM raw.load_ledger WHERE file_name IS NOT NULL",
    )
    assert {(r[0], r[1]) for r in ledger} == landed
    for source, file_name, read, loaded, quarantined, duplicate, status in ledger:
        assert status == "loaded", (source, file_name)
        assert read == loaded + quarantined + duplicate, (source, file_name)
        assert duplicate >= 0


def test_quarantine_and_duplicates_match_the_generator_manifest(world):
    got = {
        (r[0], r[1], r[2]): r[3]
        for r in query(
            world,
            " UNION ALL ".join(
                f"SELECT '{s.name}', _source_file, reason, count(*) FROM raw.{s.quarantine_table} GROUP BY ALL"
                for s in SOURCES
            ),
        )
    }
    expected = {
        (f["source"], f["file"], reason): n for f in world["manifest"]["files"] for reason, n in f["bad_rows"].items() if n
    }
    assert got == expected
    assert len({reason for _s, _f, reason in expected}) >= 7, "the generator should inject every kind of bad row"
    duplicates = {(r[0], r[1]): r[2] for r in query(world, "SELECT source, file_name, rows_duplicate FROM raw.load_ledger WHERE file_name IS NOT NULL")}
    for f in world["manifest"]["files"]:
        assert duplicates[(f["source"], f["file"])] == f["duplicates"], f
        assert f["rows"] == query(
            world, f"SELECT rows_read FROM raw.load_ledger WHERE source='{f['source']}' AND file_name='{f['file']}'"
        )[0][0]


def test_late_arriving_customers_are_relinked(world):
    # facts that arrived before their customer pointed at the unknown member after the first run ...
    late = [c for c in world["unknown_after_first"] if c is not None]
    known_now = {r[0] for r in query(world, "SELECT customer_id FROM marts.dim_customers")}
    relinked = [c for c in late if c in known_now]
    assert relinked, "the demo data should hold customers whose CRM row arrives after their first facts"
    # ... and point at the real customer once it arrived
    ids = ", ".join(f"'{c}'" for c in relinked)
    assert query(
        world, f"SELECT count(*) FROM marts.fct_engagement_events WHERE customer_id IN ({ids}) AND NOT is_known_customer"
    ) == [(0,)]


def _checksums(warehouse: str) -> dict[str, tuple]:
    out = {}
    with duckdb.connect(warehouse, read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'staging', 'intermediate', 'marts', 'seeds') AND table_name <> 'load_ledger'"
        ).fetchall()
        for schema, table in tables:
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
                f'printf(\'%.9g\', round("{c}", 6) + 0.0)' if t in ("DOUBLE", "FLOAT", "REAL") else f'"{c}"'
                for c, t in columns
            )
            out[f"{schema}.{table}"] = con.execute(
                f"SELECT count(*), md5(coalesce(string_agg(row_text, '|' ORDER BY row_text), '')) "
                f"FROM (SELECT CAST(ROW({select}) AS VARCHAR) AS row_text FROM {schema}.{table})"
            ).fetchone()
    return out


def _float_mismatches(before_path: Path, after_path: str, table: str) -> list[tuple]:
    """Rows of `table` that differ between two warehouses once doubles are compared with a
    relative tolerance of 1e-9: rows are matched on all other columns (which must be a key), so
    a sum of doubles whose last bits moved with the order of a parallel aggregate (and came out
    on the other side of a rounding edge in `_checksums`) is no difference."""
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{before_path}' AS before_db (READ_ONLY)")
        con.execute(f"ATTACH '{after_path}' AS after_db (READ_ONLY)")
        schema, name = table.split(".")
        columns = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_catalog = 'after_db' AND table_schema = '{schema}' AND table_name = '{name}'"
        ).fetchall()
        floats = [c for c, t in columns if t in ("DOUBLE", "FLOAT", "REAL") and c not in LOAD_COLUMNS]
        keys = [c for c, t in columns if t not in ("DOUBLE", "FLOAT", "REAL") and c not in LOAD_COLUMNS]
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


def _assert_run_changes_nothing(world, tmp_path, *args: str) -> subprocess.CompletedProcess:
    """`cew run *args` leaves every table of the warehouse as it was (doubles to 1e-9)."""
    before = _checksums(world["warehouse"])
    copy = tmp_path / "before.duckdb"
    shutil.copy(world["warehouse"], copy)
    done = cew("run", *args, env=world["env"])
    assert done.returncode == 0, done.stderr[-5000:]
    after = _checksums(world["warehouse"])
    assert set(after) == set(before)
    changed = [t for t in after if after[t] != before[t]]
    assert {t: _float_mismatches(copy, world["warehouse"], t) for t in changed} == {t: [] for t in changed}
    return done


def test_rerunning_a_day_changes_nothing(world, tmp_path):
    _assert_run_changes_nothing(world, tmp_path, "--date", (START + timedelta(days=3)).isoformat())


def test_full_refresh_gives_the_incremental_tables(world, tmp_path):
    # the world was built by two runs, the second one incremental on top of the first (late
    # and re-sent rows included): rebuilding every model from all history changes nothing
    last = (START + timedelta(days=DAYS - 1)).isoformat()
    full = _assert_run_changes_nothing(world, tmp_path, "--from", START.isoformat(), "--to", last, "--full-refresh")
    assert "dbt full refresh" in full.stderr


def test_redelivered_file_replaces_the_day(world):
    day = START + timedelta(days=2)
    folder = world["landing"] / "orders"
    files = sorted(folder.glob(f"{day.isoformat()}*"))
    assert files
    before = query(world, f"SELECT count(*) FROM raw.orders WHERE _partition_date = DATE '{day}'")[0][0]
    assert before > 0
    # re-deliver the day as one CSV holding a single known order
    kept = query(world, f"SELECT order_id FROM raw.orders WHERE _partition_date = DATE '{day}' ORDER BY order_id LIMIT 1")[0][0]
    for path in files:
        path.unlink()
    with duckdb.connect(world["warehouse"], read_only=True) as con:
        con.execute(
            f"COPY (SELECT order_id, customer_id, strftime(ordered_at, '%Y-%m-%dT%H:%M:%SZ') AS ordered_at, status, channel, "
            f"currency, gross_amount, discount_amount, cost_amount, referral_code FROM raw.orders "
            f"WHERE order_id = '{kept}' AND _partition_date = DATE '{day}') TO '{folder / (day.isoformat() + '.csv')}' (HEADER)"
        )
    rerun = cew("run", "--date", day.isoformat(), env=world["env"])
    assert rerun.returncode == 0, rerun.stderr[-5000:]
    assert query(world, f"SELECT order_id FROM raw.orders WHERE _partition_date = DATE '{day}'") == [(kept,)]
    assert query(world, f"SELECT count(*) FROM staging.stg_shop__orders WHERE order_id = '{kept}'") == [(1,)]


def test_broken_file_fails_its_day_with_a_clear_message(world, tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(world["landing"] / "fx_rates", landing / "fx_rates")
    day = START.isoformat()
    for path in (landing / "fx_rates").glob(f"{day}*"):
        path.unlink()
    (landing / "fx_rates" / f"{day}.csv").write_text("date,currency\n2026-02-01,EUR\n")
    env = {**world["env"], "CEW_LANDING_DIR": str(landing), "CEW_WAREHOUSE_PATH": str(tmp_path / "w.duckdb")}
    result = cew("run", "--from", day, "--to", (START + timedelta(days=1)).isoformat(), env=env)
    assert result.returncode == 1
    assert f"fx_rates {day}: {day}.csv: missing required column(s) rate_to_usd" in result.stderr
    with duckdb.connect(env["CEW_WAREHOUSE_PATH"], read_only=True) as con:
        # the other day of that source loaded, and the marts were still built
        assert con.execute("SELECT count(*) FROM raw.fx_rates").fetchone()[0] > 0
        assert con.execute("SELECT count(*) FROM marts.dim_customers").fetchone()[0] >= 1
