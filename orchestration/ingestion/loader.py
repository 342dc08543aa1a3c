"""Set-based loader: landing files of one source and day -> ``raw.<source>``.

Every file is read by DuckDB's native readers as text, validated by one generated SQL
statement (rules come from :mod:`orchestration.catalog`), and split into loaded rows and
quarantined rows. A source-day is replaced atomically in one transaction, so re-running
or re-delivering a day is idempotent. No Python loop ever touches a row.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb

from orchestration.catalog import (
    FORMATS,
    LINEAGE_COLUMNS,
    SOURCES,
    Column,
    Source,
    get_source,
)

FILE_NAME = re.compile(r"^(?P<day>\d{4}-\d{2}-\d{2})(?:_[^/]*)?\.(?P<ext>csv|jsonl|parquet)$")
TRUE_WORDS = ("true", "t", "1", "yes", "y")
FALSE_WORDS = ("false", "f", "0", "no", "n")

LEDGER_COLUMNS = {
    "load_id": "VARCHAR",
    "source": "VARCHAR",
    "partition_date": "DATE",
    "file_name": "VARCHAR",
    "file_format": "VARCHAR",
    "status": "VARCHAR",  # loaded | failed | not_loaded (another file of the day failed) | no_file
    "rows_read": "BIGINT",
    "rows_loaded": "BIGINT",
    "rows_quarantined": "BIGINT",
    "rows_duplicate": "BIGINT",
    "extra_columns": "VARCHAR",
    "error": "VARCHAR",
    "loaded_at": "TIMESTAMP",
    "seconds": "DOUBLE",
}

QUARANTINE_COLUMNS = {
    "_partition_date": "DATE",
    "_source_file": "VARCHAR",
    "_source_line": "BIGINT",
    "reason": "VARCHAR",
    "reason_detail": "VARCHAR",
    "raw_text": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
    "load_id": "VARCHAR",
}


class SourceFileError(Exception):
    """A landing file that cannot be loaded at all (unreadable, missing columns)."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass
class FileResult:
    file_name: str
    file_format: str
    status: str
    rows_read: int | None = None
    rows_loaded: int | None = None
    rows_quarantined: int | None = None
    rows_duplicate: int | None = None
    extra_columns: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class SourceDayResult:
    source: str
    partition_date: date
    status: str  # loaded | failed | no_file
    files: list[FileResult] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) or 0 for f in self.files)

    @property
    def rows_read(self) -> int:
        return self.total("rows_read")

    @property
    def rows_loaded(self) -> int:
        return self.total("rows_loaded")

    @property
    def rows_quarantined(self) -> int:
        return self.total("rows_quarantined")

    @property
    def rows_duplicate(self) -> int:
        return self.total("rows_duplicate")


# --------------------------------------------------------------------------- DDL


def _ddl_columns(columns: dict[str, str] | list[tuple[str, str, str]]) -> str:
    items = columns.items() if isinstance(columns, dict) else [(n, t) for n, t, _ in columns]
    return ", ".join(f'"{name}" {typ}' for name, typ in items)


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema, every source table, quarantine table and the ledger.

    Tables exist even for sources that never deliver, so every dbt model builds.
    """
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for source in SOURCES:
        con.execute(f"CREATE TABLE IF NOT EXISTS raw.{source.raw_table} ({_ddl_columns(source.raw_columns())})")
        con.execute(
            f"CREATE TABLE IF NOT EXISTS raw.{source.quarantine_table} ({_ddl_columns(QUARANTINE_COLUMNS)})"
        )
    con.execute(f"CREATE TABLE IF NOT EXISTS raw.load_ledger ({_ddl_columns(LEDGER_COLUMNS)})")


# --------------------------------------------------------------------------- files


def day_files(landing_dir: Path, source: str, day: date) -> list[Path]:
    """The files of one source and day, in load order (name order: later wins)."""
    folder = Path(landing_dir) / source
    if not folder.is_dir():
        return []
    wanted = day.isoformat()
    out = []
    for path in folder.iterdir():
        match = FILE_NAME.match(path.name)
        if match and match["day"] == wanted and path.is_file():
            out.append(path)
    return sorted(out, key=lambda p: p.name)


def landing_partitions(landing_dir: Path) -> dict[str, dict[date, float]]:
    """source -> {day: newest modification time of that day's files}."""
    out: dict[str, dict[date, float]] = {}
    for source in SOURCES:
        folder = Path(landing_dir) / source.name
        days: dict[date, float] = {}
        if folder.is_dir():
            for path in folder.iterdir():
                match = FILE_NAME.match(path.name)
                if match:
                    day = date.fromisoformat(match["day"])
                    days[day] = max(days.get(day, 0.0), path.stat().st_mtime)
        out[source.name] = days
    return out


def _sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _flat_columns(source: Source) -> list[tuple[str, Column, Column | None]]:
    """(raw column name, column, parent json column) for every loaded column."""
    out: list[tuple[str, Column, Column | None]] = []
    for col in source.columns:
        out.append((col.name, col, None))
        for sub in col.fields:
            out.append((f"{col.name}_{sub.name}", sub, col))
    return out


def _describe(con: duckdb.DuckDBPyConnection, relation_sql: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation_sql}").fetchall()
    return {r[0]: r[1] for r in rows}


def _read_file_as_text(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, file_order: int, target: str
) -> list[str]:
    """Append one file's records to temp table ``target`` as text columns.

    Returns the columns the file has beyond the contract. Raises SourceFileError when the
    file cannot be read or lacks a required column.
    """
    fmt = path.suffix.lstrip(".")
    p = _sql_str(str(path))
    top_columns = [c.name for c in source.columns]
    extra: list[str] = []
    try:
        if fmt == "jsonl":
            struct = "{" + ", ".join(f'"{c}": "VARCHAR"' for c in top_columns) + "}"
            lines = (
                f"read_csv({p}, columns={{'line': 'VARCHAR'}}, header=false, delim=chr(1), quote='', "
                "escape='', auto_detect=false, strict_mode=false)"
            )
            select = f"""
                SELECT {file_order} AS _file_order, row_number() OVER () AS _source_line, line AS _raw_text,
                       NOT coalesce(json_valid(line) AND left(ltrim(line), 1) = '{{', false) AS _malformed,
                       from_json(CASE WHEN json_valid(line) AND left(ltrim(line), 1) = '{{' THEN line ELSE '{{}}' END,
                                 '{struct}') AS _rec
                FROM {lines} WHERE line IS NOT NULL AND trim(line) <> ''"""
            text_cols = ", ".join(f"_rec.{_q(c)} AS {_q(c)}" for c in top_columns)
            body = f"SELECT _file_order, _source_line, _raw_text, _malformed, {text_cols} FROM ({select})"
            # A JSONL file has no header: a required key absent from every record is a missing column.
            con.execute(f"CREATE OR REPLACE TEMP TABLE _file AS {body}")
            present = con.execute(
                "SELECT " + ", ".join(f"count({_q(c)}) > 0" for c in top_columns) + ", count(*) FROM _file"
            ).fetchone()
            header = [c for c, has in zip(top_columns, present[:-1]) if has] if present[-1] else top_columns
        else:
            if fmt == "csv":
                relation = f"read_csv({p}, all_varchar=true, header=true, delim=',', quote='\"', escape='\"')"
            elif fmt == "parquet":
                relation = f"read_parquet({p}, file_row_number=true)"
            else:  # pragma: no cover - FILE_NAME only admits known formats
                raise SourceFileError(path, f"unsupported format {fmt!r}")
            types = _describe(con, relation)
            header = [c for c in types if c != "file_row_number"]

            def as_text(name: str) -> str:
                typ = types[name].upper()
                if typ.startswith(("STRUCT", "MAP")) or typ.endswith("[]"):
                    return f"to_json({_q(name)})::VARCHAR"
                return f"{_q(name)}::VARCHAR"

            present_cols = [c for c in top_columns if c in types]
            text_cols = ", ".join(
                (f"{as_text(c)} AS {_q(c)}" if c in types else f"NULL::VARCHAR AS {_q(c)}") for c in top_columns
            )
            line = "file_row_number + 1" if fmt == "parquet" else "row_number() OVER ()"
            raw = "to_json(struct_pack(" + ", ".join(f"{_q(c)} := {as_text(c)}" for c in present_cols) + "))::VARCHAR"
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _file AS SELECT {file_order} AS _file_order, {line} AS _source_line, "
                f"{raw} AS _raw_text, false AS _malformed, {text_cols} FROM {relation}"
            )
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0]
        raise SourceFileError(path, f"unreadable {fmt} file ({message})") from exc

    missing = [c for c in source.required_columns if c not in header]
    if missing:
        raise SourceFileError(path, f"missing required column(s) {', '.join(missing)}; header has {', '.join(header)}")
    extra = [c for c in header if c not in top_columns]
    con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM _file")
    return extra


# --------------------------------------------------------------------------- rules


@dataclass
class _ColumnSql:
    raw: str  # text value, NULL when empty
    typed: str  # typed value, NULL when unparseable


def _column_sql(name: str, col: Column, parent: Column | None) -> _ColumnSql:
    if parent is None:
        raw = f"nullif(trim({_q(name)}), '')"
    else:
        src = _q(parent.name)
        raw = f"nullif(trim(CASE WHEN json_valid({src}) THEN json_extract_string({src}, '$.{col.name}') END), '')"
    if col.type == "timestamp":
        typed = f"timezone('UTC', TRY_CAST({raw} AS TIMESTAMPTZ))"
    elif col.type == "date":
        typed = f"TRY_CAST({raw} AS DATE)"
    elif col.type == "money":
        typed = f"TRY_CAST({raw} AS DECIMAL(18,4))"
    elif col.type == "decimal" and col.integer:
        typed = f"CASE WHEN TRY_CAST({raw} AS DOUBLE) = floor(TRY_CAST({raw} AS DOUBLE)) THEN TRY_CAST({raw} AS DOUBLE)::BIGINT END"
    elif col.type == "decimal":
        typed = f"TRY_CAST({raw} AS DOUBLE)"
    elif col.type == "integer":
        typed = f"TRY_CAST({raw} AS BIGINT)"
    elif col.type == "boolean":
        typed = (
            f"CASE WHEN lower({raw}) IN ({', '.join(map(_sql_str, TRUE_WORDS))}) THEN true "
            f"WHEN lower({raw}) IN ({', '.join(map(_sql_str, FALSE_WORDS))}) THEN false END"
        )
    elif col.type == "enum":
        typed = f"lower({raw})"
    elif col.type == "json":
        typed = f"CASE WHEN json_valid({raw}) THEN {raw} END"
    else:
        # free text keeps its exact content (leading spaces, newlines); only emptiness is NULL
        typed = f"nullif({_q(name)}, '')" if parent is None else raw
    return _ColumnSql(raw=raw, typed=typed)


def _checks(source: Source, partition_date: date) -> list[tuple[str, str, str]]:
    """(reason, column, SQL condition that is true when the row breaks the rule), in order."""
    cols = {name: (col, parent, _column_sql(name, col, parent)) for name, col, parent in _flat_columns(source)}
    checks: list[tuple[str, str, str]] = [("malformed_record", "record", "_malformed")]
    for name in source.primary_key:
        checks.append(("missing_key", name, f"{cols[name][2].raw} IS NULL"))
    for name, (col, parent, sql) in cols.items():
        if col.nullable or name in source.primary_key:
            continue
        if parent is not None and parent.nullable:
            # a required field inside an optional object is required only when the object is there
            checks.append(("missing_value", name, f"{cols[parent.name][2].raw} IS NOT NULL AND {sql.raw} IS NULL"))
        else:
            checks.append(("missing_value", name, f"{sql.raw} IS NULL"))
    parse_reason = {
        "timestamp": "bad_timestamp",
        "date": "bad_date",
        "money": "bad_number",
        "decimal": "bad_number",
        "integer": "bad_number",
        "boolean": "bad_boolean",
        "json": "malformed_record",
    }
    for reason in ("malformed_record", "bad_timestamp", "bad_date", "bad_number", "bad_boolean"):
        for name, (col, _parent, sql) in cols.items():
            if parse_reason.get(col.type) == reason:
                checks.append((reason, name, f"{sql.raw} IS NOT NULL AND {sql.typed} IS NULL"))
    for name, (col, _parent, sql) in cols.items():
        if col.type == "enum":
            values = ", ".join(_sql_str(v) for v in col.values)
            checks.append(("unknown_enum", name, f"{sql.raw} IS NOT NULL AND {sql.typed} NOT IN ({values})"))
    for name, (col, _parent, sql) in cols.items():
        if col.min is not None:
            checks.append(("out_of_range", name, f"{sql.typed} < {col.min}"))
        if col.max is not None:
            checks.append(("out_of_range", name, f"{sql.typed} > {col.max}"))
    for rule in source.range_by:
        value = cols[rule.column][2].typed
        by = cols[rule.by][2].typed
        cond = " OR ".join(
            f"({by} = {_sql_str(k)} AND ({value} < {lo} OR {value} > {hi}))" for k, (lo, hi) in rule.ranges.items()
        )
        checks.append(("out_of_range", rule.column, f"({cond})"))
    for name, (col, _parent, sql) in cols.items():
        if col.type == "money":
            checks.append(("negative_amount", name, f"{sql.typed} < 0"))
    # "More than one day after the file's date": on or after the start of day D+2.
    horizon = f"DATE {_sql_str(partition_date.isoformat())} + INTERVAL 2 DAY"
    for name, (col, _parent, sql) in cols.items():
        if col.type == "timestamp":
            checks.append(("future_timestamp", name, f"{sql.typed} >= {horizon}"))
    return checks


def _validation_sql(source: Source, partition_date: date, text_table: str) -> str:
    checks = _checks(source, partition_date)
    reason = "CASE " + " ".join(f"WHEN {cond} THEN {_sql_str(r)}" for r, _c, cond in checks) + " END"
    detail = "CASE " + " ".join(f"WHEN {cond} THEN {_sql_str(c)}" for _r, c, cond in checks) + " END"
    typed = ", ".join(
        f"{_column_sql(name, col, parent).typed}::{col.warehouse_type} AS {_q(name)}"
        for name, col, parent in _flat_columns(source)
    )
    return f"""
        SELECT _file_order, _source_line, _raw_text, {reason} AS _reason, {detail} AS _reason_column, {typed}
        FROM {text_table}"""


# --------------------------------------------------------------------------- load


def load_source_day(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    source_name: str,
    partition_date: date,
    load_id: str | None = None,
) -> SourceDayResult:
    """Load every file of one source and day, replacing what that day held before."""
    source = get_source(source_name)
    load_id = load_id or uuid.uuid4().hex
    started = time.perf_counter()
    loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
    files = day_files(landing_dir, source.name, partition_date)
    result = SourceDayResult(source=source.name, partition_date=partition_date, status="loaded")
    ensure_raw_schema(con)

    if not files:
        result.status = "no_file"
        _write_ledger(con, load_id, result, loaded_at, time.perf_counter() - started)
        return result

    text_cols = ", ".join(f"{_q(c.name)} VARCHAR" for c in source.columns)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _text (_file_order INTEGER, _source_line BIGINT, _raw_text VARCHAR, "
        f"_malformed BOOLEAN, {text_cols})"
    )
    extra_by_file: dict[str, list[str]] = {}
    for order, path in enumerate(files):
        try:
            extra_by_file[path.name] = _read_file_as_text(con, source, path, order, "_text")
        except SourceFileError as exc:
            result.status = "failed"
            result.error = f"{source.name} {partition_date}: {exc.path.name}: {exc.problem}"
            result.files = [
                FileResult(
                    f.name,
                    f.suffix.lstrip("."),
                    "failed" if f == path else "not_loaded",
                    error=exc.problem if f == path else f"not loaded: {path.name} failed",
                )
                for f in files
            ]
            result.seconds = time.perf_counter() - started
            _write_ledger(con, load_id, result, loaded_at, result.seconds)
            return result

    order_by = (f"{_q(source.version_column)} DESC NULLS LAST, " if source.version_column else "") + (
        "_file_order DESC, _source_line DESC"
    )
    partition_by = ", ".join(_q(k) for k in source.primary_key)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _checked AS
        SELECT *, CASE WHEN _reason IS NULL
                       THEN row_number() OVER (PARTITION BY _reason IS NULL, {partition_by} ORDER BY {order_by}) = 1
                  END AS _keep
        FROM ({_validation_sql(source, partition_date, '_text')})"""
    )
    names = [n for n, _c, _p in _flat_columns(source)]
    day = _sql_str(partition_date.isoformat())
    file_names = "[" + ", ".join(_sql_str(f.name) for f in files) + "]"
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM raw.{source.raw_table} WHERE _partition_date = {day}")
        con.execute(f"DELETE FROM raw.{source.quarantine_table} WHERE _partition_date = {day}")
        con.execute(
            f"""INSERT INTO raw.{source.raw_table} ({', '.join(map(_q, names + list(LINEAGE_COLUMNS)))})
            SELECT {', '.join(map(_q, names))}, DATE {day}, {file_names}[_file_order + 1], _source_line,
                   TIMESTAMP {_sql_str(loaded_at.isoformat(sep=' '))}
            FROM _checked WHERE _keep"""
        )
        con.execute(
            f"""INSERT INTO raw.{source.quarantine_table}
            SELECT DATE {day}, {file_names}[_file_order + 1], _source_line, _reason,
                   _reason || ': ' || _reason_column, _raw_text, TIMESTAMP {_sql_str(loaded_at.isoformat(sep=' '))},
                   {_sql_str(load_id)}
            FROM _checked WHERE _reason IS NOT NULL"""
        )
        counts = con.execute(
            """SELECT _file_order, count(*), count(*) FILTER (WHERE _keep),
                      count(*) FILTER (WHERE _reason IS NOT NULL)
               FROM _checked GROUP BY _file_order"""
        ).fetchall()
        by_order = {row[0]: row[1:] for row in counts}
        for order, path in enumerate(files):
            read, loaded, quarantined = by_order.get(order, (0, 0, 0))
            result.files.append(
                FileResult(
                    path.name,
                    path.suffix.lstrip("."),
                    "loaded",
                    rows_read=read,
                    rows_loaded=loaded,
                    rows_quarantined=quarantined,
                    rows_duplicate=read - loaded - quarantined,
                    extra_columns=extra_by_file.get(path.name, []),
                )
            )
        result.quarantined_by_reason = dict(
            con.execute("SELECT _reason, count(*) FROM _checked WHERE _reason IS NOT NULL GROUP BY 1").fetchall()
        )
        result.seconds = time.perf_counter() - started
        _write_ledger(con, load_id, result, loaded_at, result.seconds)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("DROP TABLE IF EXISTS _text; DROP TABLE IF EXISTS _checked; DROP TABLE IF EXISTS _file")
    return result


def _write_ledger(
    con: duckdb.DuckDBPyConnection, load_id: str, result: SourceDayResult, loaded_at: datetime, seconds: float
) -> None:
    rows = [
        (
            load_id,
            result.source,
            result.partition_date,
            f.file_name,
            f.file_format,
            f.status,
            f.rows_read,
            f.rows_loaded,
            f.rows_quarantined,
            f.rows_duplicate,
            ",".join(f.extra_columns) or None,
            f.error,
            loaded_at,
            seconds,
        )
        for f in result.files
    ] or [
        (load_id, result.source, result.partition_date, None, None, result.status, 0, 0, 0, 0, None, None,
         loaded_at, seconds)
    ]
    placeholders = ", ".join("?" for _ in LEDGER_COLUMNS)
    con.executemany(f"INSERT INTO raw.load_ledger VALUES ({placeholders})", rows)
