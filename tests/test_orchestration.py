"""Dagster definitions, schedule, sensor logic and generated files."""

from datetime import date

import dagster as dg

from orchestration import codegen
from orchestration.catalog import SOURCES
from orchestration.sensors import changed_days


def test_generated_files_match_the_catalog():
    assert codegen.stale() == [], "run `cew codegen` and commit the result"


def test_definitions_load_with_every_source_linked_to_dbt(dbt_manifest):
    from orchestration.definitions import defs

    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {f"raw/{s.name}" for s in SOURCES} <= keys
    assert "marts/fct_engagement_events" in keys and "marts/dim_customers" in keys
    graph = defs.resolve_asset_graph()
    staged = dg.AssetKey(["staging", "stg_shop__orders"])
    assert dg.AssetKey(["raw", "orders"]) in graph.get(staged).parent_keys
    # dbt tests arrive as asset checks
    assert any(True for _ in graph.asset_check_keys)
    job = defs.resolve_job_def("nightly")
    assert job.partitions_def is not None


def test_nightly_schedule_runs_at_two_for_yesterday():
    from orchestration.definitions import defs

    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "UTC"


def test_sensor_waits_for_files_to_settle_and_fires_once_per_change():
    d1, d2 = date(2026, 3, 1), date(2026, 3, 2)
    landing = {"orders": {d1: 100.0, d2: 1000.0}, "web_events": {d1: 150.0}}
    days, cursor = changed_days(landing, {}, now=1050.0, settle_seconds=120)
    assert days == [d1]  # d2's newest file is only 50 s old
    assert changed_days(landing, cursor, now=1050.0, settle_seconds=120)[0] == []
    days, cursor = changed_days(landing, cursor, now=1200.0, settle_seconds=120)
    assert days == [d2]
    landing["web_events"][d1] = 1300.0  # a re-delivered file
    assert changed_days(landing, cursor, now=1500.0, settle_seconds=120)[0] == [d1]


def test_readme_documents_every_setting():
    readme = (codegen.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- settings-table -->\n")[1].split("\n<!-- /settings-table -->")[0]
    assert block == codegen.render_settings_table()


def test_definitions_load_without_warnings(dbt_manifest):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import orchestration.definitions"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    warnings = [
        line
        for line in result.stderr.splitlines()
        if "Warning" in line and "sqlglotrs" not in line  # a dependency's own deprecation notice
    ]
    assert warnings == []


def test_dbt_as_of_date_never_rewinds(dbt_manifest):
    from orchestration.dbt.project import run_env

    days = [date(2026, 3, 2), date(2026, 3, 4)]
    assert run_env(days) == {"CEW_RUN_START_DATE": "2026-03-02", "CEW_RUN_DATE": "2026-03-04"}
    # days an interrupted run loaded but never built widen the window of the next run
    assert run_env([date(2026, 3, 7)], unbuilt_from=date(2026, 3, 6))["CEW_RUN_START_DATE"] == "2026-03-06"
    assert run_env([date(2026, 3, 7)], unbuilt_from=date(2026, 3, 7))["CEW_RUN_START_DATE"] == "2026-03-07"
    rerun = run_env([date(2026, 3, 2)], latest_loaded=date(2026, 3, 9))
    assert (rerun["CEW_RUN_START_DATE"], rerun["CEW_RUN_DATE"]) == ("2026-03-02", "2026-03-09")


def test_runs_whose_process_is_gone_are_marked_failed(tmp_path):
    """A `cew run` killed with SIGKILL stays 'started' in the Dagster instance: the next run on
    the machine marks it failed; a run whose process lives (this one) is left alone."""
    import os
    import socket
    import subprocess
    import sys

    from dagster._core.storage.dagster_run import DagsterRun

    from orchestration.pipeline import HOST_TAG, PID_TAG, fail_dead_runs

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        for run_id, pid in (("dead", gone.stdout.strip()), ("alive", str(os.getpid()))):
            tags = {HOST_TAG: socket.gethostname(), PID_TAG: pid}
            instance.add_run(DagsterRun(job_name="nightly", run_id=run_id, status=dg.DagsterRunStatus.STARTED, tags=tags))
        assert fail_dead_runs(instance) == ["dead"]
        assert instance.get_run_by_id("dead").status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id("alive").status == dg.DagsterRunStatus.STARTED
        assert fail_dead_runs(instance) == []


def test_days_loaded_but_never_built_are_found(dbt_manifest, tmp_path):
    """The days a killed run loaded before its dbt build finished: loaded after the start of
    the last finished build."""
    from datetime import datetime

    from orchestration.dbt.assets import BUILDS_TABLE, unbuilt_from
    from orchestration.resources import WarehouseResource

    warehouse = WarehouseResource(path=str(tmp_path / "w.duckdb"))
    assert unbuilt_from(warehouse) is None

    def ledger(day, status, at):
        con.execute("INSERT INTO raw.load_ledger (source, partition_date, status, loaded_at) VALUES ('orders', ?, ?, ?)",
                    [date(2026, 3, day), status, datetime(2026, 3, 9, *at)])  # fmt: skip

    with warehouse.connect() as con:
        ledger(5, "loaded", (10, 0))
        con.execute(f"INSERT INTO {BUILDS_TABLE} VALUES ('r5', '2026-03-05', '2026-03-05', '2026-03-09 10:05', '2026-03-09 10:06')")
        ledger(7, "loaded", (10, 10))  # a night that was killed after its ingestion
        ledger(6, "loaded", (10, 11))
        ledger(4, "failed", (10, 12))  # nothing of a failed day was loaded
        ledger(3, "no_file", (10, 12))
    assert unbuilt_from(warehouse) == date(2026, 3, 6)
    with warehouse.connect() as con:
        con.execute(f"INSERT INTO {BUILDS_TABLE} VALUES ('r8', '2026-03-06', '2026-03-08', '2026-03-09 10:20', '2026-03-09 10:22')")
    assert unbuilt_from(warehouse) is None
