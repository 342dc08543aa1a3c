"""End to end: generated messy exports -> `cew run` -> raw, quarantine, ledger, dbt marts.

One module-scoped warehouse is built in two nightly-like runs (first days, then the rest),
then re-runs and a re-delivery are checked against it.
"""

import json
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from orchestration.catalog import SOURCES
from tests.support.postgres import run_dbt
from tests.support.warehouses import assert_same_warehouse, cew, cew_env, skip_unless_slow

pytestmark = pytest.mark.e2e

START = date(2026, 2, 1)
DAYS = 12
SPLIT = 6  # first run: days 1-6, second run: days 7-12


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("e2e")
    landing = root / "landing"
    report = generate(out_dir=landing, customers=250, days=DAYS, start=START, seed=11, messiness=0.05)
    env = cew_env(landing, root / "warehouse.duckdb")
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
    # the warehouse as built, before any test re-runs or re-delivers something
    shutil.copy(env["CEW_WAREHOUSE_PATH"], root / "fresh.duckdb")
    return {
        "fresh": root / "fresh.duckdb",
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


def _assert_run_changes_nothing(world, tmp_path, *args: str) -> subprocess.CompletedProcess:
    """`cew run *args` leaves every table of the warehouse as it was (doubles to 1e-9)."""
    copy = tmp_path / "before.duckdb"
    shutil.copy(world["warehouse"], copy)
    done = cew("run", *args, env=world["env"])
    assert done.returncode == 0, done.stderr[-5000:]
    assert_same_warehouse(copy, world["warehouse"])
    return done


def test_rerunning_a_day_changes_nothing(world, tmp_path):
    _assert_run_changes_nothing(world, tmp_path, "--date", (START + timedelta(days=3)).isoformat())


def test_rerunning_a_range_of_days_changes_nothing(world, tmp_path):
    # days of both earlier runs, in one run: every incremental model rebuilds the range's window
    _assert_run_changes_nothing(
        world, tmp_path, "--from", (START + timedelta(days=3)).isoformat(), "--to", (START + timedelta(days=8)).isoformat()
    )


LATE_DAY = START + timedelta(days=2)
# sources whose files of LATE_DAY arrive after the days that follow it were loaded: customers
# (facts of later days wait for them), orders, web hits (sessions, engagement), survey answers
# and ticket versions (later days' corrections must keep winning)
LATE_SOURCES = ("crm_customers", "orders", "web_events", "survey_responses", "support_tickets")


@pytest.mark.slow
@pytest.mark.idempotency
def test_late_files_for_an_old_day_give_the_fresh_build(world, tmp_path, request):
    """Files of an old day that arrive after the later days were loaded, then the run the
    landing sensor starts for that day alone: every table equals the build that had them all.
    Two more `cew run`s (a whole build and a day): slow, `-m idempotency`."""
    skip_unless_slow(request, "idempotency")
    landing = tmp_path / "landing"
    shutil.copytree(world["landing"], landing)
    held = tmp_path / "held"
    late_files = [p for s in LATE_SOURCES for p in sorted((landing / s).glob(f"{LATE_DAY.isoformat()}*"))]
    assert len(late_files) >= len(LATE_SOURCES)
    for path in late_files:
        (held / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.move(path, held / path.parent.name / path.name)
    env = {**world["env"], "CEW_LANDING_DIR": str(landing), "CEW_WAREHOUSE_PATH": str(tmp_path / "w.duckdb")}
    last = (START + timedelta(days=DAYS - 1)).isoformat()
    first = cew("run", "--from", START.isoformat(), "--to", last, env=env)
    assert first.returncode == 0, first.stderr[-5000:]
    for path in late_files:
        shutil.move(held / path.parent.name / path.name, path)
    late = cew("run", "--date", LATE_DAY.isoformat(), env=env)
    assert late.returncode == 0, late.stderr[-5000:]
    assert_same_warehouse(world["fresh"], env["CEW_WAREHOUSE_PATH"])


def test_full_refresh_gives_the_incremental_tables(world, tmp_path):
    # the world was built by two runs, the second one incremental on top of the first (late
    # and re-sent rows included): rebuilding every model from all history changes nothing
    last = (START + timedelta(days=DAYS - 1)).isoformat()
    full = _assert_run_changes_nothing(world, tmp_path, "--from", START.isoformat(), "--to", last, "--full-refresh")
    assert "dbt full refresh" in full.stderr


# marts that read their parts rolled up by their _by_segment model (by_segment='rolled_up'); the
# analysis (dbt_project/analyses) builds the same mart the plain way, from the per-customer rows
ROLLED_UP_MARTS = (
    "mart_active_users__metrics", "mart_email__metrics", "mart_engagement__metrics", "mart_retention__metrics",
    "mart_revenue__metrics", "mart_web__metrics",
)


@pytest.mark.parametrize("mart", ROLLED_UP_MARTS)
def test_rolled_up_marts_equal_the_per_customer_definition(world, mart, tmp_path):
    last = (START + timedelta(days=DAYS - 1)).isoformat()
    env = {**world["env"], "CEW_RUN_DATE": last, "CEW_RUN_START_DATE": last}
    done = run_dbt(
        ["compile", "--select", f"{mart}_reference", "--output", "json", "--quiet"], env,
        target_path=tmp_path / "target", log_path=tmp_path / "logs",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
    reference = json.loads(done.stdout)["compiled"]
    keys = ("metric_name", "period_grain", "period_start", "segment_name", "segment_value")
    # doubles to 1e-9 relative: the mart sums in another order (and divides sums where the
    # definition sums quotients)
    differs = " OR ".join(
        f"NOT (r.{c} IS NULL AND m.{c} IS NULL OR abs(r.{c} - m.{c}) <= 1e-9 * greatest(1, abs(r.{c})))"
        for c in ("numerator", "denominator", "value", "ci_low", "ci_high", "sum_squares")
    )
    with duckdb.connect(world["warehouse"], read_only=True) as con:
        con.execute(f"CREATE TEMP TABLE reference AS {reference}")
        rows, plans = con.execute(
            "SELECT count(*), count(DISTINCT segment_value) FILTER (WHERE segment_name = 'plan') FROM reference"
        ).fetchone()
        mismatches = con.execute(
            f"SELECT r.*, m.* FROM reference AS r FULL JOIN marts.{mart} AS m USING ({', '.join(keys)}) "
            f"WHERE r.computed_at IS NULL OR m.computed_at IS NULL OR r.sample_size IS DISTINCT FROM m.sample_size OR {differs}"
        ).fetchall()
    assert rows > 1000 and plans >= 3  # several plans: plan changes cut the day ranges
    assert not mismatches, mismatches[:5]


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
