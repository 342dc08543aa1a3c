"""The landing contract's loader rules, one by one, on hand-written files."""

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.catalog import QUARANTINE_REASONS, SOURCES
from orchestration.ingestion.loader import day_files, ensure_raw_schema, landing_partitions, load_source_day

DAY = date(2026, 3, 1)
SURVEY_HEADER = "invitation_id,customer_id,survey_type,touchpoint,channel,sent_at,responded_at,score,comment"
ORDER_HEADER = "order_id,customer_id,ordered_at,status,channel,currency,gross_amount,discount_amount,cost_amount"


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


def write(landing: Path, source: str, name: str, text: str) -> Path:
    path = landing / source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def rows(con, sql):
    return con.execute(sql).fetchall()


def test_schema_has_every_source_quarantine_and_ledger(con):
    ensure_raw_schema(con)
    tables = {r[0] for r in rows(con, "SELECT table_name FROM information_schema.tables WHERE table_schema='raw'")}
    for source in SOURCES:
        assert source.raw_table in tables and source.quarantine_table in tables
    assert "load_ledger" in tables


def test_csv_quoting_turkish_text_and_timestamps_to_utc(con, tmp_path):
    write(
        tmp_path,
        "survey_responses",
        "2026-03-01.csv",
        SURVEY_HEADER + "\n"
        'i1,c1,nps,post_purchase,email,2026-03-01T09:15:00+03:00,2026-03-01T10:00:00Z,9,"Çok iyi, ""harika""\nğüşıöçİ"\n'
        "i2,c1,csat,app,in_app,2026-03-01 09:15:00,,,\n",
    )
    result = load_source_day(con, tmp_path, "survey_responses", DAY)
    assert result.status == "loaded" and result.rows_loaded == 2
    got = dict(
        (r[0], r[1:])
        for r in rows(con, "SELECT invitation_id, sent_at, responded_at, score, comment FROM raw.survey_responses")
    )
    # +03:00 becomes UTC; naive timestamps are taken as UTC
    assert got["i1"] == (datetime(2026, 3, 1, 6, 15), datetime(2026, 3, 1, 10, 0), 9, 'Çok iyi, "harika"\nğüşıöçİ')
    assert got["i2"] == (datetime(2026, 3, 1, 9, 15), None, None, None)


@pytest.mark.parametrize(
    "line, reason, column",
    [
        (",c1,nps,app,email,2026-03-01T09:00:00Z,,,", "missing_key", "invitation_id"),
        ("i1,,nps,app,email,2026-03-01T09:00:00Z,,,", "missing_value", "customer_id"),
        ("i1,c1,nps,app,email,2026-13-45T99:00,,,", "bad_timestamp", "sent_at"),
        ("i1,c1,nps,app,email,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,\"9,5x\",", "bad_number", "score"),
        ("i1,c1,nps,app,email,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,7.5,", "bad_number", "score"),
        ("i1,c1,nps,kiosk,email,2026-03-01T09:00:00Z,,,", "unknown_enum", "touchpoint"),
        ("i1,c1,nps,app,email,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,11,", "out_of_range", "score"),
        ("i1,c1,csat,app,email,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,0,", "out_of_range", "score"),
        ("i1,c1,ces,app,email,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,6,", "out_of_range", "score"),
        ("i1,c1,nps,app,email,2026-03-03T00:00:00Z,,,", "future_timestamp", "sent_at"),
    ],
)
def test_each_bad_survey_row_is_quarantined_with_its_reason(con, tmp_path, line, reason, column):
    write(tmp_path, "survey_responses", "2026-03-01.csv", f"{SURVEY_HEADER}\n{line}\n")
    result = load_source_day(con, tmp_path, "survey_responses", DAY)
    assert result.status == "loaded"
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (1, 0, 1)
    (q,) = rows(con, "SELECT reason, reason_detail, _source_file, _source_line, raw_text FROM raw.survey_responses__quarantine")
    assert q[0] == reason and q[1] == f"{reason}: {column}"
    assert q[2] == "2026-03-01.csv" and q[3] == 1
    assert json.loads(q[4])["customer_id"] in ("c1", None)


@pytest.mark.parametrize("score, survey", [(0, "nps"), (10, "nps"), (1, "csat"), (5, "csat"), (1, "ces"), (5, "ces")])
def test_score_range_edges_are_accepted(con, tmp_path, score, survey):
    write(
        tmp_path,
        "survey_responses",
        "2026-03-01.csv",
        f"{SURVEY_HEADER}\ni1,c1,{survey},app,email,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,{score},\n",
    )
    assert load_source_day(con, tmp_path, "survey_responses", DAY).rows_loaded == 1


def test_timestamp_on_the_day_after_is_not_future(con, tmp_path):
    # more than one day after the file's date = on or after day D+2; D+1 23:59 (e.g. -05:00 offsets) is fine
    write(tmp_path, "survey_responses", "2026-03-01.csv", f"{SURVEY_HEADER}\ni1,c1,nps,app,email,2026-03-02T23:59:59Z,,,\n")
    assert load_source_day(con, tmp_path, "survey_responses", DAY).rows_loaded == 1


def test_negative_money_and_bad_boolean(con, tmp_path):
    write(
        tmp_path,
        "orders",
        "2026-03-01.csv",
        f"{ORDER_HEADER}\no1,c1,2026-03-01T10:00:00Z,completed,web,EUR,-5.00,0,1\n"
        "o2,c1,2026-03-01T10:00:00Z,completed,web,EUR,5.00,0,1\n",
    )
    load_source_day(con, tmp_path, "orders", DAY)
    assert rows(con, "SELECT reason_detail FROM raw.orders__quarantine") == [("negative_amount: gross_amount",)]
    header = "registration_id,event_id,event_name,event_type,event_date,capacity,customer_id,registered_at,attended,cancelled"
    write(
        tmp_path,
        "event_registrations",
        "2026-03-01.csv",
        f"{header}\nr1,e1,Launch,launch,2026-04-01,100,c1,2026-03-01T10:00:00Z,,maybe\n"
        "r2,e1,Launch,launch,2026-04-01,100,c1,2026-03-01T10:00:00Z,,yes\n",
    )
    load_source_day(con, tmp_path, "event_registrations", DAY)
    assert rows(con, "SELECT reason FROM raw.event_registrations__quarantine") == [("bad_boolean",)]
    assert rows(con, "SELECT registration_id, attended, cancelled FROM raw.event_registrations") == [("r2", None, True)]


def test_duplicates_within_a_day_later_file_and_later_line_win(con, tmp_path):
    write(
        tmp_path,
        "survey_responses",
        "2026-03-01.csv",
        f"{SURVEY_HEADER}\ni1,c1,nps,app,email,2026-03-01T09:00:00Z,,,\ni1,c1,nps,app,email,2026-03-01T09:00:00Z,,,\n"
        "i2,c1,nps,app,email,2026-03-01T09:00:00Z,,,\n",
    )
    write(
        tmp_path,
        "survey_responses",
        "2026-03-01_part2.csv",
        f"{SURVEY_HEADER}\ni2,c1,nps,app,email,2026-03-01T09:00:00Z,2026-03-01T11:00:00Z,10,answered later\n",
    )
    result = load_source_day(con, tmp_path, "survey_responses", DAY)
    by_file = {f.file_name: (f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_duplicate) for f in result.files}
    assert by_file == {"2026-03-01.csv": (3, 1, 0, 2), "2026-03-01_part2.csv": (1, 1, 0, 0)}
    assert rows(con, "SELECT invitation_id, score, _source_file FROM raw.survey_responses ORDER BY 1") == [
        ("i1", None, "2026-03-01.csv"),
        ("i2", 10, "2026-03-01_part2.csv"),
    ]


def test_entity_versions_latest_updated_at_wins_within_a_day(con, tmp_path):
    header = "ticket_id,customer_id,channel,category,agent_id,opened_at,first_response_at,resolved_at,handle_time_seconds,contacts_count,reopened,status,updated_at"
    write(
        tmp_path,
        "support_tickets",
        "2026-03-01.csv",
        f"{header}\nt1,c1,chat,billing,a1,2026-03-01T08:00:00Z,,2026-03-01T12:00:00Z,600,1,false,resolved,2026-03-01T12:00:00Z\n"
        "t1,c1,chat,billing,a1,2026-03-01T08:00:00Z,,,,1,false,open,2026-03-01T08:00:00Z\n",
    )
    result = load_source_day(con, tmp_path, "support_tickets", DAY)
    assert result.rows_duplicate == 1
    assert rows(con, "SELECT status, handle_time_seconds FROM raw.support_tickets") == [("resolved", 600)]


def test_redelivery_replaces_the_day_and_rerun_is_idempotent(con, tmp_path):
    write(tmp_path, "survey_responses", "2026-03-01.csv", f"{SURVEY_HEADER}\ni1,c1,nps,app,email,2026-03-01T09:00:00Z,,,\ni2,c1,nps,app,email,2026-03-01T09:00:00Z,,,\n")
    write(tmp_path, "survey_responses", "2026-03-02.csv", f"{SURVEY_HEADER}\ni3,c1,nps,app,email,2026-03-02T09:00:00Z,,,\n")
    for day in (DAY, date(2026, 3, 2)):
        load_source_day(con, tmp_path, "survey_responses", day)
    snapshot = rows(con, "SELECT * EXCLUDE (_loaded_at) FROM raw.survey_responses ORDER BY 1")
    load_source_day(con, tmp_path, "survey_responses", DAY)
    assert rows(con, "SELECT * EXCLUDE (_loaded_at) FROM raw.survey_responses ORDER BY 1") == snapshot
    write(tmp_path, "survey_responses", "2026-03-01.csv", f"{SURVEY_HEADER}\ni1,c1,nps,app,email,2026-03-01T09:00:00Z,2026-03-01T09:30:00Z,3,\n")
    load_source_day(con, tmp_path, "survey_responses", DAY)
    assert rows(con, "SELECT invitation_id, score FROM raw.survey_responses ORDER BY 1") == [("i1", 3), ("i3", None)]


def test_missing_required_column_fails_the_source_day_only(con, tmp_path):
    write(tmp_path, "orders", "2026-03-01.csv", f"{ORDER_HEADER}\no1,c1,2026-03-01T10:00:00Z,completed,web,EUR,5,0,1\n")
    assert load_source_day(con, tmp_path, "orders", DAY).status == "loaded"
    broken = "order_id,customer_id,ordered_at,status,channel,currency,gross_amount\no9,c1,2026-03-01T10:00:00Z,completed,web,EUR,5\n"
    write(tmp_path, "orders", "2026-03-01.csv", broken)
    write(tmp_path, "orders", "2026-03-02.csv", f"{ORDER_HEADER}\no2,c1,2026-03-02T10:00:00Z,completed,web,EUR,5,0,1\n")
    failed = load_source_day(con, tmp_path, "orders", DAY)
    assert failed.status == "failed"
    assert "2026-03-01.csv" in failed.error and "discount_amount" in failed.error and "cost_amount" in failed.error
    # the day keeps what it held; the next day still loads
    assert load_source_day(con, tmp_path, "orders", date(2026, 3, 2)).status == "loaded"
    assert rows(con, "SELECT order_id FROM raw.orders ORDER BY 1") == [("o1",), ("o2",)]
    ledger = rows(con, "SELECT status, error FROM raw.load_ledger WHERE source='orders' ORDER BY loaded_at")
    assert [r[0] for r in ledger] == ["loaded", "failed", "loaded"] and "cost_amount" in ledger[1][1]


def test_unreadable_file_fails_with_the_file_named(con, tmp_path):
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "2026-03-01.parquet").write_bytes(b"not a parquet file at all")
    result = load_source_day(con, tmp_path, "orders", DAY)
    assert result.status == "failed" and "2026-03-01.parquet" in result.error and "unreadable" in result.error


def test_no_folder_is_reported_not_an_error(con, tmp_path):
    result = load_source_day(con, tmp_path, "referrals", DAY)
    assert result.status == "no_file"
    assert rows(con, "SELECT status FROM raw.load_ledger") == [("no_file",)]


def test_jsonl_nested_context_and_malformed_lines(con, tmp_path):
    hit = {
        "event_id": "e1",
        "anonymous_id": "a1",
        "event_type": "page_view",
        "page_url": "https://shop.example/",
        "occurred_at": "2026-03-01T23:30:00-05:00",
        "context": {"device": "mobile", "utm_source": "newsletter"},
        "unexpected": 1,
    }
    bad_device = dict(hit, event_id="e2", context={"device": "phone"})
    write(
        tmp_path,
        "web_events",
        "2026-03-01.jsonl",
        json.dumps(hit) + "\n{not json\n\n" + json.dumps(bad_device) + "\n[1,2]\n",
    )
    result = load_source_day(con, tmp_path, "web_events", DAY)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 1, 3)
    assert rows(con, "SELECT occurred_at, context_device, context_utm_source, customer_id FROM raw.web_events") == [
        (datetime(2026, 3, 2, 4, 30), "mobile", "newsletter", None)
    ]
    got = rows(con, "SELECT _source_line, reason_detail FROM raw.web_events__quarantine ORDER BY 1")
    # JSONL rows are numbered by physical line (the blank line 3 counts, but is no record)
    assert got == [(2, "malformed_record: record"), (4, "unknown_enum: context_device"), (5, "malformed_record: record")]


def test_parquet_with_struct_and_typed_columns(con, tmp_path):
    table = pa.table(
        {
            "event_id": ["e1", "e2"],
            "customer_id": ["c1", None],
            "device_id": ["d1", "d2"],
            "platform": ["ios", "android"],
            "event_type": ["install", "app_open"],
            "app_version": ["1.0", "1.1"],
            "occurred_at": pa.array([datetime(2026, 3, 1, 8), datetime(2026, 3, 1, 9)], pa.timestamp("us", tz="UTC")),
            "properties": [{"screen": "home"}, None],
        }
    )
    (tmp_path / "app_events").mkdir()
    pq.write_table(table, tmp_path / "app_events" / "2026-03-01.parquet")
    result = load_source_day(con, tmp_path, "app_events", DAY)
    assert result.rows_loaded == 2
    got = rows(con, "SELECT event_id, occurred_at, properties, _source_line FROM raw.app_events ORDER BY 1")
    assert got[0][1] == datetime(2026, 3, 1, 8) and json.loads(got[0][2]) == {"screen": "home"} and got[0][3] == 1
    assert got[1][2] is None and got[1][3] == 2


def test_extra_columns_are_ignored_and_listed_nullable_columns_may_be_absent(con, tmp_path):
    write(tmp_path, "survey_responses", "2026-03-01.csv", "invitation_id,customer_id,survey_type,touchpoint,channel,sent_at,new_col\ni1,c1,nps,app,email,2026-03-01T09:00:00Z,x\n")
    result = load_source_day(con, tmp_path, "survey_responses", DAY)
    assert result.rows_loaded == 1 and result.files[0].extra_columns == ["new_col"]


def test_ledger_balances_for_every_file(con, tmp_path):
    write(tmp_path, "survey_responses", "2026-03-01.csv", f"{SURVEY_HEADER}\ni1,c1,nps,app,email,2026-03-01T09:00:00Z,,,\ni1,c1,nps,app,email,2026-03-01T09:00:00Z,,,\n,c1,nps,app,email,2026-03-01T09:00:00Z,,,\n")
    load_source_day(con, tmp_path, "survey_responses", DAY)
    (row,) = rows(con, "SELECT rows_read, rows_loaded, rows_quarantined, rows_duplicate FROM raw.load_ledger")
    assert row == (3, 1, 1, 1)


def test_file_discovery_ignores_foreign_names(tmp_path):
    for name in ("2026-03-01.csv", "2026-03-01_b.jsonl", "2026-03-01.txt", "notes.csv", "2026-03-02.csv"):
        write(tmp_path, "orders", name, "x")
    assert [p.name for p in day_files(tmp_path, "orders", DAY)] == ["2026-03-01.csv", "2026-03-01_b.jsonl"]
    assert sorted(landing_partitions(tmp_path)["orders"]) == [DAY, date(2026, 3, 2)]


def test_every_reason_is_documented():
    # the loader's checks only ever produce reasons the catalog documents
    from orchestration.ingestion.loader import _checks
    from orchestration.catalog import get_source

    produced = {reason for s in SOURCES for reason, _c, _sql in _checks(get_source(s.name), DAY)}
    assert produced <= set(QUARANTINE_REASONS)


def test_header_only_csv_empties_the_day_but_a_zero_byte_csv_fails(con, tmp_path):
    write(tmp_path, "orders", "2026-03-01.csv", ORDER_HEADER + "\n")
    assert load_source_day(con, tmp_path, "orders", DAY).status == "loaded"
    write(tmp_path, "orders", "2026-03-02.csv", "")
    failed = load_source_day(con, tmp_path, "orders", date(2026, 3, 2))
    assert failed.status == "failed" and "empty file" in failed.error


def test_crlf_and_byte_order_mark(con, tmp_path):
    path = tmp_path / "orders" / "2026-03-01.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(("\ufeff" + ORDER_HEADER + "\r\no1,c1,2026-03-01T10:00:00Z,completed,web,EUR,5,0,1\r\n").encode())
    assert load_source_day(con, tmp_path, "orders", DAY).rows_loaded == 1
