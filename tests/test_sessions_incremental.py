"""fct_sessions built incrementally equals a full rebuild: late hits that extend, split and merge
sessions, a late CRM row that re-links a session, and a new landing host that turns an old
session's referrer into the brand's own (direct).

Mar 1 is built in full; Mar 2 is loaded and built as a nightly run (CEW_RUN_START_DATE), which
reopens only the visitors Mar 2 changed; then a full refresh must give the same rows.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.support.postgres import run_dbt
from tests.support.tiny_warehouse import build_tiny_warehouse, write_landing
from orchestration.ingestion.loader import load_source_day

SELECT = "+fct_sessions"
DAY1, DAY2 = "2026-03-01", "2026-03-02"


def _customer(customer_id):
    return {
        "customer_id": customer_id, "email": f"{customer_id.lower()}@example.com", "full_name": "A B",
        "signup_at": "2026-02-01T08:00:00Z", "country": "TR", "acquisition_channel": "email",
        "marketing_opt_in": "true", "updated_at": "2026-02-01T08:00:00Z",
    }


def _web(event_id, visitor, at, page="https://shop.example.com/", referrer="", customer=""):
    return {
        "event_id": event_id, "anonymous_id": visitor, "customer_id": customer, "event_type": "page_view",
        "page_url": page, "referrer_url": referrer, "occurred_at": at,
        "context": json.dumps({"device": "desktop"}),
    }


def _app(event_id, device, at):
    return {"event_id": event_id, "customer_id": "", "device_id": device, "platform": "ios",
            "event_type": "app_open", "app_version": "1.0", "occurred_at": at}


FIRST = {
    ("crm_customers", DAY1): [_customer("C1")],
    ("web_events", DAY1): [
        # A: 10:00-10:10, then 12:00 (a second session)
        _web("W01", "A", "2026-03-01T10:00:00Z", customer="C1"),
        _web("W02", "A", "2026-03-01T10:10:00Z"),
        _web("W03", "A", "2026-03-01T12:00:00Z"),
        # B is not touched on Mar 2: its session must stay as it is
        _web("W04", "B", "2026-03-01T09:00:00Z"),
        # L's customer arrives in the CRM only on Mar 2
        _web("W05", "L", "2026-03-01T09:00:00Z", customer="LATE"),
        # F comes from blog.example.com, a referral until a session lands there
        _web("W06", "F", "2026-03-01T08:00:00Z", referrer="https://blog.example.com/post"),
    ],
    ("app_events", DAY1): [_app("A01", "D1", "2026-03-01T09:00:00Z"), _app("A02", "D1", "2026-03-01T11:00:00Z")],
}

SECOND = {
    ("crm_customers", DAY2): [_customer("LATE")],
    ("web_events", DAY2): [
        # late hit 11:30 on Mar 1: 80 min after 10:10 -> a new session, which 12:00 (exactly 30
        # minutes later) joins: session web:W03 disappears into web:W10
        _web("W10", "A", "2026-03-01T11:30:00Z"),
        _web("W11", "A", "2026-03-02T10:00:00Z"),
        # E lands on the blog: blog.example.com becomes one of the brand's hosts
        _web("W12", "E", "2026-03-02T10:00:00Z", page="https://blog.example.com/"),
    ],
    # D1: 10:45 joins neither 09:00 nor 11:00 alone ... it bridges nothing (> 30 min from 09:00)
    # but is within 30 min of 11:00: the 11:00 session starts at 10:45 now
    ("app_events", DAY2): [_app("A10", "D1", "2026-03-01T10:45:00Z")],
}


def _sessions(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("SELECT * FROM marts.fct_sessions ORDER BY session_id").fetchall()


def _dbt(root: Path, warehouse: Path, args: list[str], env: dict[str, str]) -> None:
    done = run_dbt(args, {"CEW_WAREHOUSE_PATH": str(warehouse), "CEW_ENGINE": "duckdb", **env},
                   target_path=root / "target", log_path=root / "logs")
    assert done.returncode == 0, done.stdout[-4000:]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("sessions")
    warehouse = build_tiny_warehouse(root, FIRST, date(2026, 3, 1), SELECT)
    first = {row[0]: row for row in _sessions(warehouse)}
    write_landing(root / "landing", SECOND)
    with duckdb.connect(str(warehouse)) as con:
        for source_name, day in SECOND:
            result = load_source_day(con, root / "landing", source_name, date.fromisoformat(day))
            assert result.status == "loaded", result
    _dbt(root, warehouse, ["run", "--select", SELECT], {"CEW_RUN_START_DATE": DAY2, "CEW_RUN_DATE": DAY2})
    return root, warehouse, first


def test_the_nightly_run_rebuilt_only_the_changed_visitors(world):
    root, warehouse, first = world
    compiled = next((root / "target" / "compiled").rglob("fct_sessions.sql")).read_text()
    assert "__reopened" in compiled  # the batch read the reopened visitors only
    with duckdb.connect(str(warehouse), read_only=True) as con:
        leftovers = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'fct_sessions__reopened'"
        ).fetchone()[0]
    assert leftovers == 0  # the post-hook dropped the scratch table
    rows = {row[0]: row for row in _sessions(warehouse)}
    assert rows["web:W04"] == first["web:W04"]


def test_late_hits_split_and_merge_sessions(world):
    _, warehouse, _ = world
    with duckdb.connect(str(warehouse), read_only=True) as con:
        got = con.execute(
            "SELECT session_id, visitor_session_number, strftime(started_at, '%H:%M'), strftime(ended_at, '%H:%M'), hits "
            "FROM marts.fct_sessions WHERE coalesce(anonymous_id, device_id) IN ('A', 'D1') ORDER BY session_id"
        ).fetchall()
    assert got == [
        ("app:A01", 1, "09:00", "09:00", 1),
        ("app:A10", 2, "10:45", "11:00", 2),
        ("web:W01", 1, "10:00", "10:10", 2),
        ("web:W10", 2, "11:30", "12:00", 2),
        ("web:W11", 3, "10:00", "10:00", 1),
    ]


def test_late_customer_relinks_and_new_own_host_is_direct(world):
    _, warehouse, first = world
    rows = {row[0]: row for row in _sessions(warehouse)}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = [r[0] for r in con.execute("DESCRIBE marts.fct_sessions").fetchall()]
    col = {name: i for i, name in enumerate(columns)}
    assert first["web:W05"][col["dim_customer_id"]] == "__unknown__"
    assert rows["web:W05"][col["dim_customer_id"]] == "LATE"
    assert first["web:W06"][col["traffic_source"]] == "referral"
    assert rows["web:W06"][col["traffic_source"]] == "direct"


def test_incremental_equals_a_full_refresh(world):
    root, warehouse, _ = world
    incremental = _sessions(warehouse)
    _dbt(root, warehouse, ["run", "--select", "fct_sessions", "--full-refresh"], {"CEW_RUN_DATE": DAY2})
    assert _sessions(warehouse) == incremental


def test_data_tests_of_a_nightly_run_check_the_rows_it_wrote(world):
    # an old duplicate session: outside the nightly run's rows (macros/generic_tests/run_rows.sql),
    # so the nightly's unique test passes, and a test of all rows (no run window) catches it
    root, warehouse, _ = world
    with duckdb.connect(str(warehouse)) as con:
        con.execute("INSERT INTO marts.fct_sessions SELECT * REPLACE (timestamp '2026-01-01 10:00:00' AS started_at) "
                    "FROM marts.fct_sessions WHERE session_id = 'web:W04'")
    try:
        unique_test = ["test", "--select", "unique_fct_sessions_session_id"]
        nightly = run_dbt(unique_test, {"CEW_WAREHOUSE_PATH": str(warehouse), "CEW_ENGINE": "duckdb",
                                        "CEW_RUN_START_DATE": DAY2, "CEW_RUN_DATE": DAY2},
                          target_path=root / "target", log_path=root / "logs")
        assert nightly.returncode == 0, nightly.stdout[-3000:]
        compiled = next((root / "target" / "compiled").rglob("unique_fct_sessions_session_id.sql")).read_text()
        assert "started_at >= " in compiled
        everything = run_dbt(unique_test, {"CEW_WAREHOUSE_PATH": str(warehouse), "CEW_ENGINE": "duckdb",
                                           "CEW_RUN_DATE": DAY2},
                             target_path=root / "target", log_path=root / "logs")
        assert everything.returncode != 0 and "FAIL 1" in everything.stdout, everything.stdout[-3000:]
    finally:
        with duckdb.connect(str(warehouse)) as con:
            con.execute("DELETE FROM marts.fct_sessions WHERE session_id = 'web:W04' AND started_at < DATE '2026-02-01'")
