"""Crash recovery: a nightly run killed with SIGKILL during ingestion, during the dbt build and
during the ML step; the next run completes and leaves every table as an uninterrupted run.

A small generated world is loaded for days 1-5 once (the state before the night); the
reference is that warehouse plus an uninterrupted `cew run` of day 6. Each test copies the
state before the night, starts `cew run --date <day 6>` in its own process group, kills the
whole group (cew, Dagster and the dbt subprocess) with SIGKILL at its stage, runs the same
command again and compares every table (raw, staging, intermediate, marts, seeds, ml; not the
run logs: ledger and model runs) with the reference. One more test, after a crash in dbt,
runs the next night's day instead and is compared with two uninterrupted nights. Crash
points: the third source load inside its transaction (ingestion), the start of the
incremental ``customer_engagement_daily`` after ``fct_engagement_events`` was committed (dbt),
an ML asset after its scores were written and before the rest (ML); see
``tests/support/crash_run.py``.

Slow (about 11 `cew run`s; the three stage tests took 50 min on 2026-12-03 on the 2-core
machine busy with other work, load 20+): ``CEW_TEST_SLOW=1 pytest -s
tests/test_crash_recovery.py`` or ``pytest -m crash``.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.support.crash_run import CRASH_POINT
from tests.support.warehouses import assert_same_warehouse, checksums, cew, cew_env, rows_lost, skip_unless_slow

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.crash]

START = date(2026, 2, 1)
NIGHT = START + timedelta(days=5)  # day 6: the run that is killed
NEXT_NIGHT = NIGHT + timedelta(days=1)
CRASH_RUN = str(Path(__file__).parent / "support" / "crash_run.py")
TRIGGERS = {
    "ingestion": re.compile(re.escape(CRASH_POINT)),
    "dbt": re.compile(r"START sql incremental model marts\.customer_engagement_daily"),
    "ml": re.compile(re.escape(CRASH_POINT)),
}


@pytest.fixture(scope="module")
def night(tmp_path_factory, request):
    from orchestration.demo.generator import generate

    skip_unless_slow(request, "crash")
    root = tmp_path_factory.mktemp("crash")
    landing = root / "landing"
    generate(out_dir=landing, customers=120, days=7, start=START, seed=5, messiness=0.05)
    before = root / "before.duckdb"
    built = cew("run", "--from", START.isoformat(), "--to", (NIGHT - timedelta(days=1)).isoformat(),
                env=cew_env(landing, before))  # fmt: skip
    assert built.returncode == 0, built.stderr[-5000:]
    reference = root / "reference.duckdb"
    shutil.copy(before, reference)
    started = time.perf_counter()
    done = cew("run", "--date", NIGHT.isoformat(), env=cew_env(landing, reference))
    assert done.returncode == 0, done.stderr[-5000:]
    seconds = time.perf_counter() - started
    next_reference = root / "next_reference.duckdb"
    shutil.copy(reference, next_reference)
    done = cew("run", "--date", NEXT_NIGHT.isoformat(), env=cew_env(landing, next_reference))
    assert done.returncode == 0, done.stderr[-5000:]
    return {
        "landing": landing, "before": before, "reference": reference, "sums": checksums(reference),
        "next_reference": next_reference, "night_seconds": seconds,
    }  # fmt: skip


def _kill_at(stage: str, env: dict[str, str]) -> tuple[float, str]:
    """Start `cew run` of the night with the stage's crash point and SIGKILL its whole process
    group once the trigger shows in its output; (seconds until the kill, output)."""
    proc = subprocess.Popen(
        [sys.executable, CRASH_RUN, "run", "--date", NIGHT.isoformat()],
        env={**env, "CEW_TEST_CRASH_AT": stage if stage != "dbt" else ""},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    watchdog = threading.Timer(900, os.killpg, (proc.pid, signal.SIGKILL))
    watchdog.start()
    started, output, killed = time.perf_counter(), [], False
    try:
        for line in proc.stdout:
            output.append(line)
            if TRIGGERS[stage].search(line):
                os.killpg(proc.pid, signal.SIGKILL)  # cew, Dagster's step and dbt's subprocess alike
                killed = True
                break
        seconds = time.perf_counter() - started
        proc.wait(timeout=60)
    finally:
        watchdog.cancel()
        proc.stdout.close()
    text = "".join(output)
    assert killed, f"the run ended before the {stage} crash point:\n{text[-4000:]}"
    assert proc.returncode == -signal.SIGKILL
    for _ in range(50):  # every process of the group is gone (none holds the warehouse open)
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("a process of the killed run survived")
    return seconds, text


@pytest.mark.parametrize("stage", list(TRIGGERS))
def test_a_run_killed_during_a_stage_is_recovered_by_the_next(night, tmp_path, stage):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(night["before"], warehouse)
    env = cew_env(night["landing"], warehouse)
    killed_after, output = _kill_at(stage, env)
    if stage == "dbt":
        # killed inside the dbt build: ingestion done, the ML step not reached
        assert "ingest web_events:" in output and "clv as of" not in output
    # the killed run left the night half done ...
    assert checksums(warehouse) != night["sums"]
    started = time.perf_counter()
    again = cew("run", "--date", NIGHT.isoformat(), env=env)
    recovery = time.perf_counter() - started
    assert again.returncode == 0, again.stderr[-5000:]
    # ... and the next run leaves every table as the uninterrupted night did
    after = assert_same_warehouse(night["reference"], warehouse, night["sums"])
    lost = rows_lost(night["sums"], after)
    assert lost == 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        unbalanced = con.execute(
            "SELECT count(*) FROM raw.load_ledger WHERE status = 'loaded' "
            "AND rows_read <> rows_loaded + rows_quarantined + rows_duplicate"
        ).fetchone()[0]
    assert unbalanced == 0
    print(
        f"\ncrash during {stage}: killed {killed_after:.1f} s into the run; recovery run {recovery:.1f} s "
        f"(uninterrupted night {night['night_seconds']:.1f} s); {len(after)} tables equal; rows lost {lost}"
    )


def test_a_run_killed_during_dbt_is_recovered_by_the_next_nights_run(night, tmp_path):
    """The schedule does not re-run a failed night: the next night runs its own day. The days
    the killed run loaded but never built (its incremental models stopped half way) are taken
    in by that run's dbt build all the same."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(night["before"], warehouse)
    env = cew_env(night["landing"], warehouse)
    _kill_at("dbt", env)
    started = time.perf_counter()
    nxt = cew("run", "--date", NEXT_NIGHT.isoformat(), env=env)
    assert nxt.returncode == 0, nxt.stderr[-5000:]
    assert f"days from {NIGHT} were loaded but never built" in nxt.stderr
    after = assert_same_warehouse(night["next_reference"], warehouse)
    lost = rows_lost(checksums(night["next_reference"]), after)
    assert lost == 0
    print(f"\ncrash during dbt, then the next night: {time.perf_counter() - started:.1f} s; rows lost {lost}")
