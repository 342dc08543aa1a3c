"""Erasure end to end: `cew run` on generated messy exports, `cew erase` (by id and from a file),
then a late landing file and a re-run of days that still carry the customer: the customer is in
no table of any schema before or after, the late rows are quarantined as ``erased_customer``
without their text, the ledger balances, and ``ops.erasure_log`` holds hashes and counts only.
Two small `cew run`s (60 customers x 6 days)."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.e2e

START = date(2026, 2, 1)
DAYS = 6
CEW = str(Path(sys.executable).parent / "cew")
KEY = "erasure-test-key"  # not the demo key: erasure works outside demo mode too


def cew(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([CEW, *args], env=env, capture_output=True, text=True, timeout=1200)


def _mentions(con, needles: list[str]) -> dict[str, int]:
    """Rows of every base table (every schema) with a text column equal to a needle or holding
    it as a JSON string value."""
    out = {}
    tables = con.execute(
        """SELECT table_schema, table_name, list(column_name) FROM information_schema.columns
        WHERE data_type = 'VARCHAR' AND (table_schema, table_name) IN
              (SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE')
        GROUP BY 1, 2"""
    ).fetchall()
    for schema, table, columns in tables:
        cond = " OR ".join(f'"{c}" = $n OR contains("{c}", \'"\' || $n || \'"\')' for c in columns)
        for needle in needles:
            n = con.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE {cond}', {"n": needle}).fetchone()[0]
            if n:
                out[f"{schema}.{table}:{needle}"] = n
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("erasure")
    landing = root / "landing"
    generate(out_dir=landing, customers=60, days=DAYS, start=START, seed=4, messiness=0.05)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "CEW_DEMO_MODE")},
        "CEW_LANDING_DIR": str(landing),
        "CEW_WAREHOUSE_PATH": str(root / "warehouse.duckdb"),
        "CEW_START_DATE": "2025-01-01",
        "CEW_PII_HASH_KEY": KEY,
    }
    last = START + timedelta(days=DAYS - 2)  # the last day is delivered after the erasure
    first = cew("run", "--from", START.isoformat(), "--to", last.isoformat(), env=env)
    assert first.returncode == 0, first.stderr[-6000:]
    return {"root": root, "landing": landing, "env": env, "warehouse": env["CEW_WAREHOUSE_PATH"]}


def test_erased_customers_are_gone_and_stay_gone_after_a_late_file(world):
    env, landing = world["env"], world["landing"]
    with duckdb.connect(world["warehouse"], read_only=True) as con:
        # the two CRM customers with the most rows in the event sources: rows in many tables
        x, y = [r[0] for r in con.execute(
            """SELECT customer_id FROM (
                   SELECT customer_id FROM raw.orders UNION ALL SELECT customer_id FROM raw.web_events
                   UNION ALL SELECT customer_id FROM raw.app_events UNION ALL SELECT customer_id FROM raw.email_events)
            SEMI JOIN raw.crm_customers USING (customer_id)
            GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2""").fetchall()]
        x_email = con.execute("SELECT any_value(email) FROM raw.crm_customers WHERE customer_id = ?", [x]).fetchone()[0]
        before = _mentions(con, [x, y])
        n_customers = con.execute("SELECT count(*) FROM marts.dim_customers WHERE NOT is_unknown_member").fetchone()[0]
        other = con.execute("SELECT min(customer_id) FROM raw.crm_customers WHERE customer_id NOT IN (?, ?)",
                            [x, y]).fetchone()[0]
    assert sum(n for k, n in before.items() if k.startswith("raw.") and k.endswith(":" + x)) >= 3
    assert any(k.startswith("marts.") for k in before)
    assert any(k.startswith("ml.") for k in before)

    ids = world["root"] / "ids.txt"
    ids.write_text(f"# erasure requests\n{y}\n\n", encoding="utf-8")
    erased = cew("erase", "--customer-id", x, "--customer-id", "C9999999", "--file", str(ids), env=env)
    assert erased.returncode == 0, erased.stderr
    assert x not in erased.stderr and y not in erased.stderr  # the report names hashes only
    with duckdb.connect(world["warehouse"], read_only=True) as con:
        assert _mentions(con, [x, y, x_email]) == {}
        log = con.execute("SELECT customer_hash, table_name, rows_removed FROM ops.erasure_log").fetchall()
        listed = {r[0] for r in con.execute("SELECT customer_hash FROM raw.erased_customers").fetchall()}
        remaining = con.execute("SELECT count(*) FROM marts.dim_customers WHERE NOT is_unknown_member").fetchone()[0]
    hx = hashlib.sha256((KEY + x).encode()).hexdigest()
    hy = hashlib.sha256((KEY + y).encode()).hexdigest()
    h_unknown = hashlib.sha256((KEY + "C9999999").encode()).hexdigest()
    assert listed == {hx, hy, h_unknown}
    per_table = {t: n for h, t, n in log if h == hx}
    assert per_table["raw.crm_customers"] >= 1
    assert per_table["marts.dim_customers"] == 1 and per_table["ml.customer_clv"] == 1
    # every raw row naming x was counted and removed (quarantine: also rows naming only their e-mail)
    seen = {k.split(":")[0]: n for k, n in before.items() if k.startswith("raw.") and k.endswith(":" + x)}
    assert {t: n for t, n in per_table.items() if t.startswith("raw.") and "quarantine" not in t} == {
        t: n for t, n in seen.items() if "quarantine" not in t}
    assert all(per_table.get(t, 0) >= n for t, n in seen.items())
    assert [(t, n) for h, t, n in log if h == h_unknown] == [("(none)", 0)]
    assert remaining == n_customers - 2

    # the last day arrives, with a late file for an earlier day carrying an order of x and one of
    # another customer; days 2.. are re-run (their landing files still hold x and y)
    late_day = START + timedelta(days=2)
    orders = landing / "orders"
    rows = []
    for path in sorted(orders.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            rows += list(csv.DictReader(handle))
    template = dict(rows[0], status="completed", gross_amount="20.00", discount_amount="0.00", cost_amount="8.00")
    late = [dict(template, order_id="O9999999901", customer_id=x, ordered_at=f"{late_day}T10:00:00+00:00"),
            dict(template, order_id="O9999999902", customer_id=other, ordered_at=f"{late_day}T11:00:00+00:00")]
    late_file = orders / f"{late_day.isoformat()}_late.csv"
    with open(late_file, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(template))
        writer.writeheader()
        writer.writerows(late)
    second = cew("run", "--from", (START + timedelta(days=1)).isoformat(),
                 "--to", (START + timedelta(days=DAYS - 1)).isoformat(), env=env)
    assert second.returncode == 0, second.stderr[-6000:]
    with duckdb.connect(world["warehouse"], read_only=True) as con:
        assert _mentions(con, [x, y, x_email]) == {}
        kept = con.execute("SELECT customer_id FROM marts.fct_orders WHERE order_id = 'O9999999902'").fetchall()
        quarantined = con.execute(
            """SELECT _source_line, reason_detail, raw_text FROM raw.orders__quarantine
            WHERE _source_file = ? AND reason = 'erased_customer'""", [late_file.name]).fetchall()
        ledger = con.execute(
            """SELECT rows_read, rows_loaded, rows_quarantined, rows_duplicate FROM raw.load_ledger
            WHERE file_name = ? ORDER BY loaded_at DESC LIMIT 1""", [late_file.name]).fetchone()
        from orchestration.catalog import SOURCES

        erased_rows = con.execute("SELECT " + " + ".join(
            f"(SELECT count(*) FROM raw.{s.quarantine_table} WHERE reason = 'erased_customer')" for s in SOURCES
        )).fetchone()[0]
    assert kept == [(other,)]
    assert quarantined == [(1, "erased_customer: customer_id", None)]
    assert ledger == (2, 1, 1, 0)
    assert erased_rows > 1  # the re-run days' own rows of x and y (events, orders) too


def test_erase_needs_ids_and_refuses_the_demo_key_outside_demo_mode(world):
    env = world["env"]
    assert cew("erase", env=env).returncode == 2
    demo = {**env, "CEW_PII_HASH_KEY": "change-me"}
    refused = cew("erase", "--customer-id", "C1", env=demo)
    assert refused.returncode == 1 and "refusing to start" in refused.stderr and "CEW_DEMO_MODE" in refused.stderr
    run = cew("run", "--date", START.isoformat(), env=demo)
    assert run.returncode == 1 and "refusing to start" in run.stderr


def _order(order_id: str, customer_id: str, day: str) -> dict:
    return {"order_id": order_id, "customer_id": customer_id, "ordered_at": f"{day}T10:00:00+00:00",
            "status": "completed", "channel": "web", "currency": "USD", "gross_amount": "10.00",
            "discount_amount": "0.00", "cost_amount": "4.00"}


def test_loader_quarantines_an_erased_customers_late_rows(tmp_path, monkeypatch):
    """No dbt: raw and quarantine only. A bad row naming the customer goes with them; in a late
    file and a re-delivery their rows, valid or bad, are quarantined without text and counted;
    other customers' rows load (or stay quarantined for their own defect)."""
    from orchestration.erasure import customer_hash, erase_customer
    from orchestration.ingestion.loader import load_source_day
    from tests.support.tiny_warehouse import write_landing

    monkeypatch.setenv("CEW_PII_HASH_KEY", KEY)
    landing = tmp_path / "landing"
    bad = dict(_order("O3", "C1", "2026-03-01"), status="lost")  # unknown enum: quarantined
    bad_other = dict(_order("O6", "C2", "2026-03-01"), status="lost")
    write_landing(landing, {("orders", "2026-03-01"): [_order("O1", "C1", "2026-03-01"),
                                                       _order("O2", "C2", "2026-03-01"), bad, bad_other]})
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        first = load_source_day(con, landing, "orders", date(2026, 3, 1))
        assert (first.rows_loaded, first.rows_quarantined) == (2, 2)
        report = erase_customer(con, "C1", KEY)
        assert report.rows_removed == {"raw.orders": 1, "raw.orders__quarantine": 1}
        assert report.customer_hash == customer_hash("C1", KEY) == hashlib.sha256(b"erasure-test-keyC1").hexdigest()
        again = erase_customer(con, "C1", KEY)  # idempotent
        assert again.rows_removed == {}
        (landing / "orders" / "2026-03-01_late.csv").write_text(
            (landing / "orders" / "2026-03-01.csv").read_text().replace("O1", "O4").replace("O2", "O5"))
        second = load_source_day(con, landing, "orders", date(2026, 3, 1))
        late = [f for f in second.files if f.file_name.endswith("_late.csv")][0]
        assert (late.rows_read, late.rows_loaded, late.rows_quarantined, late.rows_duplicate) == (4, 1, 3, 0)
        assert second.quarantined_by_reason == {"erased_customer": 4, "unknown_enum": 2}
        assert con.execute("SELECT order_id FROM raw.orders ORDER BY 1").fetchall() == [("O2",), ("O5",)]
        rows = con.execute("""SELECT _source_file, _source_line, reason_detail, raw_text FROM raw.orders__quarantine
                              WHERE reason = 'erased_customer' ORDER BY 1, 2""").fetchall()
        assert rows == [(name, line, "erased_customer: customer_id", None)
                        for name in ("2026-03-01.csv", "2026-03-01_late.csv") for line in (1, 3)]
        assert con.execute("SELECT count(*) FROM raw.orders__quarantine WHERE contains(raw_text, '\"C1\"')").fetchone() == (0,)
        log = con.execute("SELECT customer_hash, table_name, rows_removed FROM ops.erasure_log ORDER BY erased_at, 2").fetchall()
    h = customer_hash("C1", KEY)
    assert log == [(h, "raw.orders", 1), (h, "raw.orders__quarantine", 1), (h, "(none)", 0)]


def test_a_malformed_line_naming_an_erased_customer_is_quarantined_without_text(tmp_path, monkeypatch):
    from orchestration.erasure import erase_customer
    from orchestration.ingestion.loader import load_source_day

    monkeypatch.setenv("CEW_PII_HASH_KEY", KEY)
    folder = tmp_path / "landing" / "email_events"
    folder.mkdir(parents=True)
    # a valid third line: a file with no JSON object at all is no JSONL and fails its day
    (folder / "2026-03-01.jsonl").write_text('{"event_id": "E1", "customer_id": "C7", "campaign_id": \n'
                                             '{"event_id": "E2", "customer_id": "C8", oops\n'
                                             '{"event_id": "E3", "customer_id": "C9", "campaign_id": "K", "email_type": "promo", '
                                             '"event_type": "sent", "occurred_at": "2026-03-01T08:00:00Z"}\n')
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        erase_customer(con, "C7", KEY)
        result = load_source_day(con, tmp_path / "landing", "email_events", date(2026, 3, 1))
        rows = con.execute("SELECT _source_line, reason, raw_text IS NULL FROM raw.email_events__quarantine ORDER BY 1").fetchall()
    assert result.quarantined_by_reason == {"erased_customer": 1, "malformed_record": 1}
    assert rows == [(1, "erased_customer", True), (2, "malformed_record", False)]
