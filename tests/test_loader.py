"""The landing contract's loader rules, one by one, on hand-written files."""

import json
import os
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.catalog import QUARANTINE_REASONS, SOURCES
from orchestration.ingestion.loader import day_files, ensure_raw_schema, landing_partitions, load_source_day, load_source_days

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
    assert result.status == "failed" and "2026-03-01.parquet" in result.error and "not a Parquet file: it starts with text" in result.error


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


# --------------------------------------------------------------------------- multi-day passes

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


def order_line(order_id: str, day: date, amount: str = "5") -> str:
    return f"{order_id},c1,{day}T10:00:00Z,completed,web,EUR,{amount},0,1"


def test_range_with_a_broken_file_in_the_middle_fails_only_that_day(con, tmp_path):
    from orchestration.ingestion.loader import load_source_days

    write(tmp_path, "orders", "2026-03-02.csv", f"{ORDER_HEADER}\n{order_line('old2', D2)}\n")
    assert load_source_day(con, tmp_path, "orders", D2).status == "loaded"
    write(tmp_path, "orders", "2026-03-01.csv", f"{ORDER_HEADER}\n{order_line('a1', D1)}\n")
    # day 2: a good file and, later in name order, one that lacks a required column
    write(tmp_path, "orders", "2026-03-02.csv", f"{ORDER_HEADER}\n{order_line('new2', D2)}\n")
    write(tmp_path, "orders", "2026-03-02_b.csv", "order_id,customer_id\no9,c1\n")
    write(tmp_path, "orders", "2026-03-03.csv", f"{ORDER_HEADER}\n{order_line('a3', D3)}\n")
    results = load_source_days(con, tmp_path, "orders", [D1, D2, D3], load_id="second")
    assert [r.status for r in results] == ["loaded", "failed", "loaded"]
    assert "2026-03-02_b.csv" in results[1].error and "ordered_at" in results[1].error
    # the broken day keeps what it held; the other days loaded
    assert rows(con, "SELECT _partition_date, order_id FROM raw.orders ORDER BY 1") == [
        (D1, "a1"), (D2, "old2"), (D3, "a3")
    ]
    ledger = rows(con, "SELECT partition_date, file_name, status FROM raw.load_ledger WHERE load_id = 'second' ORDER BY 1, 2")
    assert ledger == [
        (D1, "2026-03-01.csv", "loaded"),
        (D2, "2026-03-02.csv", "not_loaded"),
        (D2, "2026-03-02_b.csv", "failed"),
        (D3, "2026-03-03.csv", "loaded"),
    ]


def test_unreadable_file_among_readable_ones_of_the_same_header_fails_only_its_day(con, tmp_path):
    from orchestration.ingestion.loader import load_source_days

    write(tmp_path, "orders", "2026-03-01.csv", f"{ORDER_HEADER}\n{order_line('a1', D1)}\n")
    # same header, but a record with too many fields: the bulk scan fails, then file by file
    write(tmp_path, "orders", "2026-03-02.csv", f"{ORDER_HEADER}\n{order_line('a2', D2)},x,y,z\n")
    write(tmp_path, "orders", "2026-03-03.csv", f"{ORDER_HEADER}\n{order_line('a3', D3)}\n")
    results = load_source_days(con, tmp_path, "orders", [D1, D2, D3])
    assert [r.status for r in results] == ["loaded", "failed", "loaded"]
    assert "2026-03-02.csv" in results[1].error and "unreadable csv" in results[1].error
    assert rows(con, "SELECT order_id FROM raw.orders ORDER BY 1") == [("a1",), ("a3",)]


def test_jsonl_missing_key_in_every_record_fails_only_its_day_in_a_range(con, tmp_path):
    from orchestration.ingestion.loader import load_source_days

    def hit(i, day, **drop):
        row = {"event_id": f"e{i}", "anonymous_id": "a", "event_type": "click", "page_url": "/",
               "occurred_at": f"{day}T10:00:00Z", "context": {"device": "mobile"}}  # fmt: skip
        return json.dumps({k: v for k, v in row.items() if k not in drop})

    write(tmp_path, "web_events", "2026-03-01.jsonl", hit(1, D1) + "\n")
    write(tmp_path, "web_events", "2026-03-02.jsonl", "\n".join(hit(i, D2, page_url=1) for i in range(2, 5)) + "\n")
    write(tmp_path, "web_events", "2026-03-03.jsonl", hit(5, D3) + "\n")
    results = load_source_days(con, tmp_path, "web_events", [D1, D2, D3])
    assert [r.status for r in results] == ["loaded", "failed", "loaded"]
    assert "page_url in every record" in results[1].error
    assert rows(con, "SELECT event_id FROM raw.web_events ORDER BY 1") == [("e1",), ("e5",)]
    assert rows(con, "SELECT count(*) FROM raw.web_events__quarantine") == [(0,)]


def test_future_timestamp_rule_uses_each_files_own_date_across_a_range(con, tmp_path):
    from orchestration.ingestion.loader import load_source_days

    # the same timestamp is "more than one day after" day 1, but not after day 2 or 3
    stamp = "2026-03-03T00:00:00Z"
    for day in (D1, D2, D3):
        write(tmp_path, "survey_responses", f"{day}.csv",
              f"{SURVEY_HEADER}\ni{day.day},c1,nps,app,email,{stamp},,,\n")  # fmt: skip
    results = load_source_days(con, tmp_path, "survey_responses", [D1, D2, D3])
    assert [(r.rows_loaded, r.rows_quarantined) for r in results] == [(0, 1), (1, 0), (1, 0)]
    assert rows(con, "SELECT _partition_date, reason FROM raw.survey_responses__quarantine") == [
        (D1, "future_timestamp")
    ]
    assert rows(con, "SELECT invitation_id FROM raw.survey_responses ORDER BY 1") == [("i2",), ("i3",)]


def test_duplicates_are_removed_per_day_not_across_days_of_a_range(con, tmp_path):
    from orchestration.ingestion.loader import load_source_days

    write(tmp_path, "orders", "2026-03-01.csv", f"{ORDER_HEADER}\n{order_line('o1', D1, '1')}\n")
    write(tmp_path, "orders", "2026-03-02.csv", f"{ORDER_HEADER}\n{order_line('o1', D2, '2')}\n{order_line('o1', D2, '3')}\n")
    # a later file of day 2, in another format: it wins over both lines of the first file
    write(tmp_path, "orders", "2026-03-02_b.jsonl",
          json.dumps({"order_id": "o1", "customer_id": "c1", "ordered_at": "2026-03-02T10:00:00Z",
                      "status": "completed", "channel": "web", "currency": "EUR", "gross_amount": "4",
                      "discount_amount": "0", "cost_amount": "1"}) + "\n")  # fmt: skip
    results = load_source_days(con, tmp_path, "orders", [D1, D2])
    assert rows(con, "SELECT _partition_date, gross_amount, _source_file FROM raw.orders ORDER BY 1") == [
        (D1, 1, "2026-03-01.csv"), (D2, 4, "2026-03-02_b.jsonl")
    ]
    by_file = {f.file_name: (f.rows_read, f.rows_loaded, f.rows_duplicate) for r in results for f in r.files}
    assert by_file == {"2026-03-01.csv": (1, 1, 0), "2026-03-02.csv": (2, 0, 2), "2026-03-02_b.jsonl": (1, 1, 0)}


def test_a_day_without_file_in_a_range_is_left_untouched(con, tmp_path):
    from orchestration.ingestion.loader import load_source_days

    first = write(tmp_path, "orders", "2026-03-01.csv", f"{ORDER_HEADER}\n{order_line('a1', D1)}\n")
    load_source_day(con, tmp_path, "orders", D1)
    first.unlink()  # landing folders are often cleaned after loading
    write(tmp_path, "orders", "2026-03-02.csv", f"{ORDER_HEADER}\n{order_line('a2', D2)}\n")
    results = load_source_days(con, tmp_path, "orders", [D1, D2])
    assert [r.status for r in results] == ["no_file", "loaded"]
    assert rows(con, "SELECT order_id FROM raw.orders ORDER BY 1") == [("a1",), ("a2",)]


def test_line_numbers_are_exact_over_many_files_and_chunks(con, tmp_path):
    """Line numbers come from the scan order of several files read at once: check them on
    files bigger than DuckDB's scan chunks, with blank and malformed JSONL lines."""
    from orchestration.ingestion.loader import load_source_days

    n = 150_000
    for day in (D1, D2, D3):
        # the order id is the CSV record number; the amount quotes a newline every 1000 rows
        con.execute(
            f"COPY (SELECT 'o' || (range + 1) AS order_id, 'c1' AS customer_id, '{day}T10:00:00Z' AS ordered_at, "
            "'completed' AS status, 'web' AS channel, 'EUR' AS currency, '5' AS gross_amount, '0' AS discount_amount, "
            "'1' AS cost_amount, CASE WHEN range % 1000 = 0 THEN 'two' || chr(10) || 'lines' END AS referral_code "
            f"FROM range({n})) TO '{tmp_path / 'orders' / (day.isoformat() + '.csv')}' (HEADER)"
        ) if (tmp_path / "orders").mkdir(exist_ok=True) or True else None
        # JSONL: the event id is the physical line; every 997th line is blank, every 1009th malformed
        con.execute(
            f"""COPY (SELECT CASE WHEN line % 997 = 0 THEN '' WHEN line % 1009 = 0 THEN '{{broken ' || line
                      ELSE json_object('event_id', 'e' || line, 'anonymous_id', 'a', 'event_type', 'click',
                           'page_url', '/', 'occurred_at', '{day}T10:00:00Z', 'context', json_object('device', 'mobile'))::VARCHAR
                      END AS l FROM (SELECT range + 1 AS line FROM range({n})))
                TO '{tmp_path / 'web_events' / (day.isoformat() + '.jsonl')}' (FORMAT csv, HEADER false, QUOTE '', ESCAPE '')"""
        ) if (tmp_path / "web_events").mkdir(exist_ok=True) or True else None
    load_source_days(con, tmp_path, "orders", [D1, D2, D3])
    load_source_days(con, tmp_path, "web_events", [D1, D2, D3])
    assert rows(con, "SELECT count(*), count(*) FILTER (WHERE order_id <> 'o' || _source_line) FROM raw.orders") == [
        (3 * n, 0)
    ]
    blank, broken = n // 997, n // 1009 - n // (997 * 1009)
    assert rows(
        con, "SELECT count(*), count(*) FILTER (WHERE event_id <> 'e' || _source_line) FROM raw.web_events"
    ) == [(3 * (n - blank - broken), 0)]
    assert rows(
        con,
        "SELECT count(*), count(*) FILTER (WHERE raw_text <> '{broken ' || _source_line) FROM raw.web_events__quarantine",
    ) == [(3 * broken, 0)]


def test_a_range_split_into_several_passes_loads_the_same(con, tmp_path):
    from orchestration.ingestion.loader import load_source_days

    for day in (D1, D2, D3):
        write(tmp_path, "orders", f"{day}.csv", f"{ORDER_HEADER}\n{order_line('o1', day)}\n{order_line('o1', day)}\n"
              f"{order_line('o2', day, '-1')}\n")  # fmt: skip
    one = load_source_days(con, tmp_path, "orders", [D1, D2, D3])
    snapshot = rows(con, "SELECT * EXCLUDE (_loaded_at) FROM raw.orders ORDER BY ALL")
    quarantine = rows(con, "SELECT * EXCLUDE (_loaded_at, load_id) FROM raw.orders__quarantine ORDER BY ALL")
    several = load_source_days(con, tmp_path, "orders", [D1, D2, D3], pass_bytes=1)
    assert rows(con, "SELECT * EXCLUDE (_loaded_at) FROM raw.orders ORDER BY ALL") == snapshot
    assert rows(con, "SELECT * EXCLUDE (_loaded_at, load_id) FROM raw.orders__quarantine ORDER BY ALL") == quarantine
    counts = [[(f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_duplicate) for f in r.files] for r in one]
    assert counts == [[(f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_duplicate) for f in r.files] for r in several]
    assert counts == [[(3, 1, 1, 1)]] * 3


@pytest.mark.parametrize("source", [s.name for s in SOURCES])
def test_validation_plan_has_no_operator_that_reorders_rows(con, tmp_path, source):
    """Line numbers are derived from the order rows are written in: the validation must be
    scans and projections only (a long IN list, for one, would be planned as a hash join)."""
    from orchestration.catalog import get_source
    from orchestration.ingestion.loader import _LandingFile, _group_relation, _validation_sql

    src = get_source(source)
    path = write(tmp_path, source, "2026-03-01.csv", ",".join(c.name for c in src.columns) + "\n")
    for fmt in ("csv", "jsonl"):
        item = _LandingFile(0, path, DAY, fmt, header=[c.name for c in src.columns])
        plan = rows(con, f"EXPLAIN {_validation_sql(src, _group_relation(src, [item]))}")[0][1]
        assert not any(word in plan for word in ("JOIN", "ORDER", "AGGREGATE", "WINDOW")), plan


def test_files_no_load_reads_are_listed_and_do_not_break_discovery(tmp_path):
    from orchestration.ingestion.loader import ignored_files

    for name in ("orders/2026-03-01.csv", "orders/2026-02-30.csv", "orders/.hidden", "ordres/2026-03-01.csv", "notes.txt"):
        write(tmp_path, *name.rsplit("/", 1), "x") if "/" in name else (tmp_path / name).write_text("x")
    # a day that does not exist raised ValueError in the landing listing (sensor, `cew run` without dates)
    assert sorted(landing_partitions(tmp_path)["orders"]) == [DAY]
    got = dict(ignored_files(tmp_path))
    assert set(got) == {"notes.txt", "orders/2026-02-30.csv", "ordres/2026-03-01.csv"}
    assert got["orders/2026-02-30.csv"] == "no such day: 2026-02-30" and got["ordres/2026-03-01.csv"].startswith("ordres is no source")
    assert dict(ignored_files(tmp_path, "orders")) == {"orders/2026-02-30.csv": "no such day: 2026-02-30"}


def test_a_load_killed_inside_its_transaction_leaves_the_day_as_it_was(tmp_path):
    """SIGKILL after a re-delivered day's rows were replaced and its ledger written, before the
    commit: the warehouse reopens (its WAL replayed) with the day as it was, and loading the
    day again gives what a load that never crashed gives."""
    import signal
    import subprocess
    import sys

    warehouse = tmp_path / "w.duckdb"
    write(tmp_path, "orders", "2026-03-01.csv", f"{ORDER_HEADER}\n{order_line('old1', D1)}\n{order_line('old2', D1)}\n")
    write(tmp_path, "orders", "2026-03-02.csv", f"{ORDER_HEADER}\n{order_line('keep', D2)}\n")
    with duckdb.connect(str(warehouse)) as con:
        load_source_days(con, tmp_path, "orders", [D1, D2])
    write(tmp_path, "orders", "2026-03-01.csv", f"{ORDER_HEADER}\n{order_line('new1', D1)}\n{order_line('x', D1, '-1')}\n")
    child = (
        "import os, signal, sys, duckdb\n"
        "from datetime import date\n"
        "from orchestration.ingestion import loader\n"
        "write = loader._write_ledger\n"
        "def crash(*args):\n"
        "    write(*args)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "loader._write_ledger = crash\n"
        f"loader.load_source_days(duckdb.connect({str(warehouse)!r}), {str(tmp_path)!r}, 'orders', [date(2026, 3, 1)])\n"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    with duckdb.connect(str(warehouse)) as con:
        assert rows(con, "SELECT order_id FROM raw.orders ORDER BY 1") == [("keep",), ("old1",), ("old2",)]
        assert rows(con, "SELECT count(*) FROM raw.orders__quarantine") == [(0,)]
        assert rows(con, "SELECT count(*) FROM raw.load_ledger") == [(2,)]  # the killed load left no trace
        load_source_days(con, tmp_path, "orders", [D1])
        recovered = rows(con, "SELECT * EXCLUDE (_loaded_at) FROM raw.orders ORDER BY ALL")
        quarantined = rows(con, "SELECT * EXCLUDE (_loaded_at, load_id) FROM raw.orders__quarantine ORDER BY ALL")
    with duckdb.connect(str(tmp_path / "clean.duckdb")) as con:
        load_source_days(con, tmp_path, "orders", [D1, D2])
        assert rows(con, "SELECT * EXCLUDE (_loaded_at) FROM raw.orders ORDER BY ALL") == recovered
        assert rows(con, "SELECT * EXCLUDE (_loaded_at, load_id) FROM raw.orders__quarantine ORDER BY ALL") == quarantined
