"""The dbt project builds on PostgreSQL 15, not only on DuckDB.

A small raw warehouse is built in DuckDB (demo generator when available, else one
hand-written file per source), its ``raw`` schema is copied to a throwaway PostgreSQL
server, and ``dbt seed`` + ``dbt build`` run against the ``postgres`` target of
profiles.yml. Nothing is left behind: the server is stopped and every folder removed.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

_REPO_ROOT = Path(__file__).resolve().parents[1]
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from orchestration.catalog import SOURCES, Source  # noqa: E402
from orchestration.ingestion.loader import ensure_raw_schema, landing_partitions, load_source_day  # noqa: E402
from tests.support.postgres import (  # noqa: E402
    built_models,
    copy_duckdb_schemas_to_postgres,
    describe_dbt_run,
    manifest_models,
    postgres_server,
    run_dbt,
)

pytestmark = pytest.mark.postgres

START = date(2026, 1, 1)
DEMO_CUSTOMERS = 100
DEMO_DAYS = 4
DEMO_MESSINESS = 0.05  # some bad rows and duplicates: quarantine tables get rows too
TRICKY_TEXT = 'Ğülşen "Işık"\nÖzçelik, İstanbul; it\'s ğüşıöçİ'


@pytest.fixture(scope="module")
def workdir():
    """A temporary folder removed at the end of the module (pytest's tmp_path keeps old runs)."""
    folder = Path(tempfile.mkdtemp(prefix="cew-pgtest-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def timings():
    return {}


@pytest.fixture(scope="module")
def pg(timings):
    started = time.perf_counter()
    with postgres_server() as settings:
        timings["server start"] = time.perf_counter() - started
        yield settings


# --------------------------------------------------------------------------- copy round trip


def _pg_types(con, table: str) -> dict[str, str]:
    with con.cursor() as cur:
        cur.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [table],
        )
        return dict(cur.fetchall())


def test_copy_duckdb_schemas_round_trip(pg, workdir):
    path = workdir / "roundtrip.duckdb"
    texts = [
        "plain",
        None,
        "",
        "line1\nline2\r\nline3",
        'He said "hi", then \'bye\'; a\\backslash, a,comma',
        "ğüşıöçİ ĞÜŞIÖÇ",
        "  padded  ",
        "NULL",
        "\\N",
        '"',
    ]
    with duckdb.connect(str(path)) as duck:
        duck.execute("SET TimeZone = 'UTC'")
        duck.execute("CREATE SCHEMA raw; CREATE SCHEMA other")
        duck.execute(
            "CREATE TABLE raw.texts (id BIGINT, txt VARCHAR, amount DECIMAL(18,4), ratio DOUBLE, flag BOOLEAN, "
            "seen_at TIMESTAMP, day DATE, at_tz TIMESTAMPTZ, small INTEGER, tags VARCHAR[])"
        )
        rows = []
        for i, text in enumerate(texts):
            rows.append(
                (
                    i,
                    text,
                    None if text is None else Decimal("1234567.8912") * (-1) ** i,
                    None if text is None else 1 / (i + 3),
                    None if text is None else i % 2 == 0,
                    None if text is None else datetime(2026, 1, 1, 10, 0, 0, 123456) + timedelta(hours=i),
                    None if text is None else date(1999, 12, 31) + timedelta(days=i),
                    None if text is None else datetime(2026, 3, 29, 1, 30, i, tzinfo=timezone.utc),
                    None if text is None else -i,
                    None if text is None else ["a", text, None],
                )
            )
        duck.executemany("INSERT INTO raw.texts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        duck.execute("CREATE TABLE raw.empty_one (x VARCHAR, y DECIMAL(9,2))")
        duck.execute("CREATE TABLE other.numbers AS SELECT range AS n, range * 0.5 AS half FROM range(50000)")
        duck.execute("CREATE VIEW raw.not_copied AS SELECT 1 AS one")
        expected = duck.execute("SELECT * FROM raw.texts ORDER BY id").fetchall()

    admin = pg.connect()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE roundtrip")
    admin.close()
    target = {"host": pg.host, "port": pg.port, "user": pg.user, "password": pg.password, "database": "roundtrip"}

    counts = copy_duckdb_schemas_to_postgres(path, target, schemas=("raw", "other"))
    assert counts == {"raw.empty_one": 0, "raw.texts": len(texts), "other.numbers": 50000}
    # a second copy recreates the tables (no duplicates)
    assert copy_duckdb_schemas_to_postgres(path, target, schemas=("raw", "other")) == counts

    con = pg.connect("roundtrip")
    try:
        with con.cursor() as cur:
            cur.execute("SELECT * FROM raw.texts ORDER BY id")
            got = cur.fetchall()
            cur.execute("SELECT count(*), sum(n), sum(half) FROM other.numbers")
            assert cur.fetchone() == (50000, 1249975000, Decimal("624987500.0"))
            cur.execute("SELECT count(*) FROM raw.empty_one")
            assert cur.fetchone() == (0,)
            cur.execute("SELECT txt IS NULL, txt = '' FROM raw.texts WHERE id IN (1, 2) ORDER BY id")
            assert cur.fetchall() == [(True, None), (False, True)]
            cur.execute("SELECT to_regclass('raw.not_copied')")
            assert cur.fetchone() == (None,)
        assert _pg_types(con, "raw.texts") == {
            "id": "bigint",
            "txt": "text",
            "amount": "numeric(18,4)",
            "ratio": "double precision",
            "flag": "boolean",
            "seen_at": "timestamp without time zone",
            "day": "date",
            "at_tz": "timestamp with time zone",
            "small": "integer",
            "tags": "jsonb",
        }
    finally:
        con.close()
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected):
        assert mine == theirs, f"row {theirs[0]} differs after the copy:\n  duckdb:   {theirs!r}\n  postgres: {mine!r}"


# --------------------------------------------------------------------------- dbt build


def _value(source: Source, column, col_index: int, row: int, day: date):
    """A valid landing value for one column of a hand-written file."""
    name = column.name
    if column.nullable and row == 2:
        return None  # the third row leaves every optional column empty
    if column.type == "enum":
        return column.values[row % len(column.values)]
    if column.type == "timestamp":
        # later columns get later times: opened < first_response < resolved < updated
        return f"{day.isoformat()}T{8 + col_index:02d}:{row * 7:02d}:00Z"
    if column.type == "date":
        return day.isoformat()
    if column.type == "money":
        return {"discount_amount": "1.00", "cost_amount": "4.25"}.get(name, f"{19 + row}.90")
    if column.type == "boolean":
        return ("true", "false", "1")[row % 3]
    if column.type == "json":
        if column.fields:
            return {
                f.name: (f.values[row % len(f.values)] if f.type == "enum" else f"{f.name}-{row}")
                for f in column.fields
            }
        return {"feature": "search", "count": row}
    if column.type in ("decimal", "integer"):
        if name == "rate_to_usd":
            return ("1.0", "1.0853", "0.0291")[row % 3]
        if column.integer:
            if column.min is not None and column.max is not None:
                return str(int((column.min + column.max) // 2) + row)
            if column.min is not None:
                return str(int(column.min) + row + 1)
            return str(3 + row % 2)  # valid for every survey scale
        return f"{row + 1}.5"
    # strings
    if name.endswith("customer_id"):
        return f"C{row + 1:03d}"
    if name == "currency":
        return ("USD", "EUR", "TRY")[row % 3] if source.name == "fx_rates" else "USD"
    if name == "country":
        return "TR"
    if name in ("full_name", "city", "comment", "event_name") and row == 1:
        return TRICKY_TEXT
    if name.endswith("_id") or name == "referral_code":
        return f"{name}-{day:%Y%m%d}-{row}"
    if name == "email":
        return f"c{row + 1}@example.com"
    if name.endswith("_url"):
        return f"https://example.com/p/{row}"
    return f"{name} {row}"


def _write_hand_written_landing(landing: Path, days: list[date]) -> None:
    """One file per source and day: three valid rows and one with an empty key (quarantined)."""
    for day in days:
        for source in SOURCES:
            rows = []
            for row in range(3):
                rows.append(
                    {c.name: _value(source, c, i, row, day) for i, c in enumerate(source.columns)}
                )
            broken = dict(rows[0])
            for key in source.primary_key:
                broken[key] = None
            rows.append(broken)
            folder = landing / source.name
            folder.mkdir(parents=True, exist_ok=True)
            if source.default_format == "jsonl":
                text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
                (folder / f"{day.isoformat()}.jsonl").write_text(text, encoding="utf-8")
            else:
                with open(folder / f"{day.isoformat()}.csv", "w", newline="", encoding="utf-8") as f:
                    writer = csv.writer(f)
                    writer.writerow([c.name for c in source.columns])
                    for r in rows:
                        writer.writerow(
                            ["" if r[c.name] is None else (json.dumps(r[c.name]) if isinstance(r[c.name], dict)
                                                            else r[c.name]) for c in source.columns]
                        )


def _build_raw_warehouse(folder: Path) -> tuple[Path, list[date], str]:
    landing = folder / "landing"
    try:
        from orchestration.demo.generator import generate
    except ImportError:
        generate = None
    if generate is not None:
        generate(
            out_dir=landing,
            customers=DEMO_CUSTOMERS,
            days=DEMO_DAYS,
            start=START,
            seed=7,
            messiness=DEMO_MESSINESS,
            meta_dir=folder / "landing_meta",
        )
        origin = f"demo generator ({DEMO_CUSTOMERS} customers, {DEMO_DAYS} days, messiness {DEMO_MESSINESS})"
    else:
        _write_hand_written_landing(landing, [START, START + timedelta(days=1)])
        origin = "hand-written landing files (orchestration.demo.generator not importable)"

    warehouse = folder / "warehouse.duckdb"
    partitions = landing_partitions(landing)
    days = sorted({d for per_source in partitions.values() for d in per_source})
    assert days, f"no landing files were written under {landing}"
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("SET TimeZone = 'UTC'")
        ensure_raw_schema(con)
        failed = []
        for source in SOURCES:
            for day in sorted(partitions[source.name]):
                result = load_source_day(con, landing, source.name, day)
                if result.status == "failed":
                    failed.append(result.error)
        if generate is None:
            assert not failed, f"hand-written landing files did not load: {failed}"
    finally:
        con.close()
    return warehouse, days, origin


def test_dbt_builds_every_model_on_postgres(pg, workdir, timings, capsys):
    started = time.perf_counter()
    warehouse, days, origin = _build_raw_warehouse(workdir / "build")
    timings["raw warehouse (DuckDB)"] = time.perf_counter() - started

    started = time.perf_counter()
    copied = copy_duckdb_schemas_to_postgres(warehouse, pg, schemas=("raw",))
    timings["copy raw -> PostgreSQL"] = time.perf_counter() - started
    assert {f"raw.{s.raw_table}" for s in SOURCES} | {f"raw.{s.quarantine_table}" for s in SOURCES} <= set(copied)

    target_path = workdir / "dbt_target"
    env = {**pg.dbt_env(), "CEW_REPORTING_TIMEZONE": "UTC", "CEW_REPORTING_CURRENCY": "USD"}
    dbt_vars = json.dumps({"run_start_date": min(days).isoformat(), "run_date": max(days).isoformat()})
    common = {"target_path": target_path, "log_path": workdir / "dbt_logs"}

    started = time.perf_counter()
    seed = run_dbt(["seed", "--vars", dbt_vars], env, **common)
    timings["dbt seed"] = time.perf_counter() - started
    seeded = seed.returncode == 0  # (not the process in the assert: its repr would bury the report)
    assert seeded, describe_dbt_run(seed, target_path)

    started = time.perf_counter()
    build = run_dbt(["build", "--exclude-resource-type", "seed", "--vars", dbt_vars], env, **common)
    timings["dbt build"] = time.perf_counter() - started

    with capsys.disabled():
        print(
            f"\n[postgres build, {origin}, {sum(copied.values()):,} raw rows] "
            + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        )

    built_ok = build.returncode == 0
    assert built_ok, describe_dbt_run(build, target_path)
    expected = manifest_models(target_path)
    built = built_models(target_path)
    assert expected, "the manifest lists no models"
    missing = sorted(expected - built)
    assert not missing, (
        f"{len(missing)} of {len(expected)} models were not built on PostgreSQL: {missing}\n"
        + describe_dbt_run(build, target_path)
    )
