"""The bad-input corpus: one hand-written case per file under ``tests/bad_inputs/<rule>/``.

A rule folder holds the cases of one rule of ``../shared/spec/raw-sources.md`` ("What bad
input gets"). A case is a YAML file: the landing files of one source (their exact text, or
a recipe for bytes a text file cannot hold) and what the loader must make of them. Adding a
case is adding a file::

    about: what the case shows (one line)
    source: orders
    timezone: America/New_York            # optional: the loading connection's zone
    files:
      2026-03-01.csv: |                   # exact text, UTF-8
        order_id,customer_id,...
      2026-03-01_b.csv:                   # or a recipe
        text: "..."                       # optional: encoding (utf-16, latin-1, utf-8-sig),
        encoding: latin-1                 #   newline ("\\r\\n"), gzip: true, truncate: N bytes
      2026-03-01.parquet:
        parquet: {order_id: [string, [o1, o2]], ...}   # column: [arrow type, values]
    expect:
      days: {2026-03-01: loaded}          # loaded | failed | no_file per day loaded
      error: "line 3: it has 3 fields"    # failed day: text its error holds (it names the file too)
      ledger: {2026-03-01.csv: [3, 1, 1, 1]}   # read, loaded, quarantined, duplicates (or a status)
      quarantine: [[2026-03-01.csv, 2, "bad_timestamp: sent_at"]]  # file, line, reason: column
      loaded: {columns: [order_id, gross_amount], rows: [[o1, "5.0000"]]}  # values as text
      ignored: [[orders/2026-02-30.csv, "no such day: 2026-02-30"]]  # files no load reads, and why

Besides its own expectations every case is held to the invariants: each file is in the
ledger once; a loaded file balances (read = loaded + quarantined + duplicates) and its
counts are the rows in the raw and quarantine tables; a failed day names its file and
writes nothing; every quarantined row has a documented reason, a line and its raw text.
"""

from __future__ import annotations

import gzip
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from orchestration.catalog import QUARANTINE_REASONS, get_source
from orchestration.ingestion.loader import file_day, ignored_files, load_source_days

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = sorted(CORPUS.glob("*/*.yaml"))
ARROW_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamp_utc": pa.timestamp("us", tz="UTC"),
    "decimal": pa.decimal128(18, 4),
}


def _text(value) -> str | None:
    """A database value as the case writes it: text (timestamps ISO with a space)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _file_bytes(spec) -> bytes:
    if isinstance(spec, str):
        return spec.encode("utf-8")
    if "parquet" in spec:
        columns = {}
        for name, (type_name, values) in spec["parquet"].items():
            if type_name in ("date", "timestamp", "timestamp_utc"):
                values = [None if v is None else (date.fromisoformat if type_name == "date" else datetime.fromisoformat)(str(v)) for v in values]
            columns[name] = pa.array(values, None if type_name == "infer" else ARROW_TYPES[type_name])
        sink = pa.BufferOutputStream()
        pq.write_table(pa.table(columns), sink)
        data = sink.getvalue().to_pybytes()
    else:
        text = spec["text"]
        if "newline" in spec:
            text = text.replace("\n", spec["newline"])
        data = text.encode(spec.get("encoding", "utf-8"))
    if spec.get("gzip"):
        data = gzip.compress(data, mtime=0)
    if "truncate" in spec:
        data = data[: spec["truncate"]]
    return data


def _rows(con, sql):
    return con.execute(sql).fetchall()


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_bad_input_case(path, tmp_path):
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    source = get_source(case["source"])
    expect = case["expect"]
    folder = tmp_path / "landing" / source.name
    folder.mkdir(parents=True)
    for name, spec in case["files"].items():
        (folder / name).write_bytes(_file_bytes(spec))
    days = sorted(date.fromisoformat(str(d)) for d in expect["days"])
    con = duckdb.connect()  # in memory: the loader is the same, the case faster
    if "timezone" in case:
        con.execute(f"SET TimeZone = '{case['timezone']}'")
    results = {r.partition_date: r for r in load_source_days(con, tmp_path / "landing", source.name, days, load_id="case")}

    assert {d.isoformat(): r.status for d, r in results.items()} == {str(d): s for d, s in expect["days"].items()}
    ledger = {
        r[0]: r[1:]
        for r in _rows(con, "SELECT coalesce(file_name, 'no file ' || partition_date), status, rows_read, rows_loaded, "
                            "rows_quarantined, rows_duplicate, error FROM raw.load_ledger WHERE load_id = 'case'")
    }  # fmt: skip
    landed = {p.name for p in folder.iterdir() if file_day(p.name) in days}
    assert {f for f in ledger if not f.startswith("no file")} == landed
    # a file no load reads is reported, never passed over in silence
    unread = {f"{source.name}/{p.name}" for p in folder.iterdir() if file_day(p.name) is None and not p.name.startswith(".")}
    assert [list(i) for i in ignored_files(tmp_path / "landing", source.name)] == expect.get("ignored", [])
    assert {name for name, _why in expect.get("ignored", [])} == unread
    for day, result in results.items():
        if result.status == "failed":
            culprit = [f.file_name for f in result.files if f.status == "failed"]
            assert len(culprit) == 1 and culprit[0] in result.error, result.error
            assert expect["error"] in result.error, result.error
            for f in result.files:
                assert ledger[f.file_name][0] in ("failed", "not_loaded") and ledger[f.file_name][5], f
    for name, (status, read, loaded, quarantined, duplicate, _error) in ledger.items():
        if status != "loaded":
            continue
        assert read == loaded + quarantined + duplicate, name  # the ledger balances, file by file
        assert _rows(con, f"SELECT count(*) FROM raw.{source.raw_table} WHERE _source_file = '{name}'") == [(loaded,)]
        assert _rows(con, f"SELECT count(*) FROM raw.{source.quarantine_table} WHERE _source_file = '{name}'") == [
            (quarantined,)
        ]
    failed_days = ", ".join(f"DATE '{d}'" for d, r in results.items() if r.status == "failed") or "NULL"
    for table in (source.raw_table, source.quarantine_table):
        assert _rows(con, f"SELECT count(*) FROM raw.{table} WHERE _partition_date IN ({failed_days})") == [(0,)]

    want_ledger = {
        name: (tuple(v) if isinstance(v, list) else v) for name, v in expect.get("ledger", {}).items()
    }
    got_ledger = {
        name: (row[0] if isinstance(want_ledger.get(name), str) else tuple(row[1:5])) for name, row in ledger.items()
    }
    assert got_ledger == want_ledger
    quarantine = _rows(
        con,
        f"SELECT _source_file, _source_line, reason_detail, reason, raw_text FROM raw.{source.quarantine_table} ORDER BY 1, 2",
    )
    assert [list(q[:3]) for q in quarantine] == expect.get("quarantine", [])
    for _file, line, _detail, reason, raw_text in quarantine:
        assert reason in QUARANTINE_REASONS and line >= 1 and raw_text
    if "loaded" in expect:
        columns = expect["loaded"]["columns"]
        got = _rows(con, f"SELECT {', '.join(columns)} FROM raw.{source.raw_table} ORDER BY ALL")
        assert [[_text(v) for v in row] for row in got] == [
            [None if v is None else str(v) for v in row] for row in expect["loaded"]["rows"]
        ]
    con.close()


def test_every_rule_of_the_contract_has_cases():
    # one folder per rule of the spec's "What bad input gets"; each quarantine reason is produced by a case
    rules = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert rules >= {
        "missing_key", "missing_value", "wrong_types", "unknown_enum", "out_of_range", "negative_amount",
        "future_timestamp", "offsets", "duplicates", "malformed_records", "empty_files", "truncated_files",
        "encodings", "header_drift", "wrong_format", "file_names",
    }  # fmt: skip
    produced = set()
    for path in CASES:
        for _file, _line, detail in yaml.safe_load(path.read_text(encoding="utf-8"))["expect"].get("quarantine", []):
            produced.add(detail.split(":")[0])
    assert produced == set(QUARANTINE_REASONS)
