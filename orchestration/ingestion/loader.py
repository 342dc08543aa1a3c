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


# --------------------------------------------------------------------------- reading


def _file_relation(con: duckdb.DuckDBPyConnection, source: Source, path: Path) -> tuple[str, list[str]]:
    """SQL for one file as text: ``_source_line``, ``_raw_line``, ``_malformed`` and one
    VARCHAR column per contract column (NULL when the file lacks it), plus the file's
    column names. Raises SourceFileError when the file cannot be read.

    CSV and JSONL are first copied into the temp table ``_file`` (a parallel scan that keeps
    file order), whose rowid numbers the records: a row_number() window would force every
    later step onto one thread."""
    fmt = path.suffix.lstrip(".")
    p = _sql_str(str(path))
    names = [c.name for c in source.columns]
    if fmt == "csv" and path.stat().st_size == 0:
        raise SourceFileError(path, "empty file: a CSV needs at least its header row")
    try:
        if fmt == "jsonl":
            # Lines are read as text so that a malformed line is quarantined, not fatal.
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _file AS SELECT line FROM read_csv({p}, columns={{'line': 'VARCHAR'}}, "
                "header=false, delim=chr(1), quote='', escape='', auto_detect=false, strict_mode=false)"
            )
            struct = "{" + ", ".join(f'"{c}": "VARCHAR"' for c in names) + "}"
            # blank lines are no records; trimming only the invalid lines keeps this cheap
            lines = (
                "SELECT * FROM (SELECT rowid + 1 AS _source_line, line, "
                "coalesce(json_valid(line) AND left(ltrim(line), 1) = '{', false) AS _ok FROM _file) "
                "WHERE _ok OR trim(coalesce(line, '')) <> ''"
            )
            # unnest() expands the parsed record into columns with a single parse
            relation = (
                "SELECT _source_line, line AS _raw_line, NOT _ok AS _malformed, "
                f"unnest(from_json(CASE WHEN _ok THEN line ELSE '{{}}' END, '{struct}')) FROM ({lines})"
            )
            return relation, names
        if fmt == "csv":
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _file AS SELECT * FROM read_csv({p}, all_varchar=true, header=true, "
                "delim=',', quote='\"', escape='\"')"
            )
            reader, line = "_file", "rowid + 1"
        else:
            reader, line = f"read_parquet({p}, file_row_number=true)", "file_row_number + 1"
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()}
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0]
        raise SourceFileError(path, f"unreadable {fmt} file ({message})") from exc
    header = [c for c in types if c != "file_row_number"]

    def as_text(name: str) -> str:
        if name not in types:
            return "NULL::VARCHAR"
        typ = types[name].upper()
        if typ.startswith(("STRUCT", "MAP")) or typ.endswith("]"):
            return f"to_json({_q(name)})::VARCHAR"
        return f"{_q(name)}::VARCHAR"

    text_cols = ", ".join(f"{as_text(c)} AS {_q(c)}" for c in names)
    relation = f"SELECT {line} AS _source_line, NULL::VARCHAR AS _raw_line, false AS _malformed, {text_cols} FROM {reader}"
    return relation, header


# --------------------------------------------------------------------------- rules


def _raw_name(name: str) -> str:
    return _q(f"r__{name}")


def _typed_name(name: str) -> str:
    return _q(f"t__{name}")


def _typed_sql(name: str, col: Column) -> str:
    """The typed value from the trimmed text ``r__<name>``: NULL when it does not parse."""
    raw = _raw_name(name)
    if col.type == "timestamp":
        return f"timezone('UTC', TRY_CAST({raw} AS TIMESTAMPTZ))"
    if col.type == "date":
        return f"TRY_CAST({raw} AS DATE)"
    if col.type == "money":
        return f"TRY_CAST({raw} AS DECIMAL(18,4))"
    if col.type == "decimal" and col.integer:
        return f"CASE WHEN TRY_CAST({raw} AS DOUBLE) = floor(TRY_CAST({raw} AS DOUBLE)) THEN TRY_CAST({raw} AS DOUBLE)::BIGINT END"
    if col.type == "decimal":
        return f"TRY_CAST({raw} AS DOUBLE)"
    if col.type == "integer":
        return f"TRY_CAST({raw} AS BIGINT)"
    if col.type == "boolean":
        return (
            f"CASE WHEN lower({raw}) IN ({', '.join(map(_sql_str, TRUE_WORDS))}) THEN true "
            f"WHEN lower({raw}) IN ({', '.join(map(_sql_str, FALSE_WORDS))}) THEN false END"
        )
    if col.type == "enum":
        return f"lower({raw})"
    if col.type == "json":
        return f"CASE WHEN json_valid({raw}) AND left({raw}, 1) IN ('{{', '[') THEN {raw} END"
    return raw


def _checks(source: Source, partition_date: date) -> list[tuple[str, str, str]]:
    """(reason, column, SQL condition true when the row breaks the rule), in check order.

    Conditions read the ``r__``/``t__`` columns of :func:`_validation_sql`."""
    flat = _flat_columns(source)
    checks: list[tuple[str, str, str]] = [("malformed_record", "record", "_malformed")]
    for name in source.primary_key:
        checks.append(("missing_key", name, f"{_raw_name(name)} IS NULL"))
    for name, col, parent in flat:
        if col.nullable or name in source.primary_key:
            continue
        condition = f"{_raw_name(name)} IS NULL"
        if parent is not None and parent.nullable:
            # a required field inside an optional object is required only when the object is there
            condition = f"{_raw_name(parent.name)} IS NOT NULL AND {condition}"
        checks.append(("missing_value", name, condition))
    parse_reason = {
        "json": "malformed_record",
        "timestamp": "bad_timestamp",
        "date": "bad_date",
        "money": "bad_number",
        "decimal": "bad_number",
        "integer": "bad_number",
        "boolean": "bad_boolean",
    }
    for reason in ("malformed_record", "bad_timestamp", "bad_date", "bad_number", "bad_boolean"):
        for name, col, _parent in flat:
            if parse_reason.get(col.type) == reason:
                checks.append((reason, name, f"{_raw_name(name)} IS NOT NULL AND {_typed_name(name)} IS NULL"))
    for name, col, _parent in flat:
        if col.type == "enum":
            values = ", ".join(_sql_str(v) for v in col.values)
            checks.append(("unknown_enum", name, f"{_raw_name(name)} IS NOT NULL AND {_typed_name(name)} NOT IN ({values})"))
    for name, col, _parent in flat:
        if col.min is not None:
            checks.append(("out_of_range", name, f"{_typed_name(name)} < {col.min}"))
        if col.max is not None:
            checks.append(("out_of_range", name, f"{_typed_name(name)} > {col.max}"))
    for rule in source.range_by:
        value, by = _typed_name(rule.column), _typed_name(rule.by)
        cond = " OR ".join(
            f"({by} = {_sql_str(k)} AND ({value} < {lo} OR {value} > {hi}))" for k, (lo, hi) in rule.ranges.items()
        )
        checks.append(("out_of_range", rule.column, f"({cond})"))
    for name, col, _parent in flat:
        if col.type == "money":
            checks.append(("negative_amount", name, f"{_typed_name(name)} < 0"))
    # "More than one day after the file's date": on or after the start of day D+2.
    horizon = f"DATE {_sql_str(partition_date.isoformat())} + INTERVAL 2 DAY"
    for name, col, _parent in flat:
        if col.type == "timestamp":
            checks.append(("future_timestamp", name, f"{_typed_name(name)} >= {horizon}"))
    return checks


def _validation_sql(source: Source, partition_date: date, relation: str, file_order: int) -> str:
    """Typed columns, ``_reason``/``_reason_column`` (NULL = valid) and raw text of bad rows.

    Layered projections compute every trim, cast and JSON parse once per row; the checks
    then only compare the results."""
    top = list(source.columns)
    nested = [(name, col, parent) for name, col, parent in _flat_columns(source) if parent is not None]
    layer1 = ", ".join(
        # free text keeps its exact content (leading spaces, newlines); only emptiness is NULL
        f"nullif({'' if c.free_text else 'trim'}({_q(c.name)}), '') AS {_raw_name(c.name)}"
        for c in top
    )
    layer2 = ", ".join(f"{_typed_sql(c.name, c)} AS {_typed_name(c.name)}" for c in top)
    # t__<json column> is the object's text when it is valid JSON, else NULL: safe to extract from
    layer3 = ", ".join(
        f"nullif(trim(json_extract_string({_typed_name(parent.name)}, {_sql_str('$.' + col.name)})), '') AS {_raw_name(name)}"
        for name, col, parent in nested
    )
    layer3b = ", ".join(f"{_typed_sql(name, col)} AS {_typed_name(name)}" for name, col, _parent in nested)
    checks = _checks(source, partition_date)
    # one CASE finds the first broken rule: "<reason>:<column>"
    failure = "CASE " + " ".join(f"WHEN {cond} THEN {_sql_str(f'{r}:{c}')}" for r, c, cond in checks) + " END"
    raw_fields = "to_json(struct_pack(" + ", ".join(f"{_q(c.name)} := {_q(c.name)}" for c in top) + "))::VARCHAR"
    typed_out = ", ".join(
        f"{_typed_name(name)}::{col.warehouse_type} AS {_q(name)}" for name, col, _parent in _flat_columns(source)
    )
    sql = f"SELECT *, {layer1} FROM ({relation})"
    sql = f"SELECT *, {layer2} FROM ({sql})"
    if nested:
        sql = f"SELECT *, {layer3} FROM ({sql})"
        sql = f"SELECT *, {layer3b} FROM ({sql})"
    sql = f"SELECT *, {failure} AS _failure FROM ({sql})"
    sql = f"SELECT *, split_part(_failure, ':', 1) AS _reason, split_part(_failure, ':', 2) AS _reason_column FROM ({sql})"
    return f"""
        SELECT {file_order} AS _file_order, _source_line, _reason, _reason_column, false AS _duplicate,
               CASE WHEN _reason IS NOT NULL THEN coalesce(_raw_line, {raw_fields}) END AS _raw_text,
               {typed_out}
        FROM ({sql})"""


# --------------------------------------------------------------------------- load


def _mark_duplicates(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Flag all but the winning row of each repeated key among the valid rows of the day.

    The ordering window only runs over keys that repeat, which are few."""
    keys = ", ".join(_q(k) for k in source.primary_key)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _dup_keys AS SELECT {keys} FROM _checked WHERE _reason IS NULL "
        f"GROUP BY {keys} HAVING count(*) > 1"
    )
    if not con.execute("SELECT count(*) FROM _dup_keys").fetchone()[0]:
        return
    order_by = (f"{_q(source.version_column)} DESC NULLS LAST, " if source.version_column else "") + (
        "_file_order DESC, _source_line DESC"
    )
    con.execute(
        f"""UPDATE _checked SET _duplicate = true
        FROM (SELECT _file_order AS f, _source_line AS l,
                     row_number() OVER (PARTITION BY {keys} ORDER BY {order_by}) AS rank
              FROM _checked SEMI JOIN _dup_keys USING ({keys}) WHERE _reason IS NULL) AS ranked
        WHERE ranked.rank > 1 AND _checked._file_order = ranked.f AND _checked._source_line = ranked.l"""
    )


def _missing_json_keys(con: duckdb.DuckDBPyConnection, source: Source, file_order: int) -> list[str]:
    """JSONL has no header: a required key absent from every record is a missing column."""
    row = con.execute(
        f"""SELECT count(*) FILTER (WHERE _reason IS DISTINCT FROM 'malformed_record'),
                   list_distinct(list(_reason_column) FILTER (WHERE _reason IN ('missing_key', 'missing_value'))),
                   count(*) FILTER (WHERE _reason IN ('missing_key', 'missing_value'))
            FROM _checked WHERE _file_order = {file_order}"""
    ).fetchone()
    records, columns, missing = row
    if records and missing == records and columns and len(columns) == 1:
        return columns
    return []


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

    extra_by_file: dict[str, list[str]] = {}
    contract = [c.name for c in source.columns]
    try:
        for order, path in enumerate(files):
            relation, header = _file_relation(con, source, path)
            missing = [c for c in source.required_columns if c not in header]
            if missing:
                raise SourceFileError(
                    path, f"missing required column(s) {', '.join(missing)}; header has {', '.join(header)}"
                )
            extra_by_file[path.name] = [c for c in header if c not in contract]
            select = _validation_sql(source, partition_date, relation, order)
            try:
                if order == 0:
                    con.execute(f"CREATE OR REPLACE TEMP TABLE _checked AS {select}")
                else:
                    con.execute(f"INSERT INTO _checked {select}")
            except duckdb.Error as exc:
                raise SourceFileError(path, f"unreadable {path.suffix.lstrip('.')} file ({str(exc).splitlines()[0]})")
            if path.suffix == ".jsonl":
                absent = _missing_json_keys(con, source, order)
                if absent:
                    raise SourceFileError(path, f"missing required column(s) {', '.join(absent)} in every record")
    except SourceFileError as exc:
        result.status = "failed"
        result.error = f"{source.name} {partition_date}: {exc.path.name}: {exc.problem}"
        result.files = [
            FileResult(
                f.name,
                f.suffix.lstrip("."),
                "failed" if f == exc.path else "not_loaded",
                error=exc.problem if f == exc.path else f"not loaded: {exc.path.name} failed",
            )
            for f in files
        ]
        result.seconds = time.perf_counter() - started
        con.execute("DROP TABLE IF EXISTS _checked; DROP TABLE IF EXISTS _file")
        _write_ledger(con, load_id, result, loaded_at, result.seconds)
        return result

    _mark_duplicates(con, source)
    names = [n for n, _c, _p in _flat_columns(source)]
    day = _sql_str(partition_date.isoformat())
    stamp = f"TIMESTAMP {_sql_str(loaded_at.isoformat(sep=' '))}"
    file_names = "[" + ", ".join(_sql_str(f.name) for f in files) + "]"
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM raw.{source.raw_table} WHERE _partition_date = {day}")
        con.execute(f"DELETE FROM raw.{source.quarantine_table} WHERE _partition_date = {day}")
        con.execute(
            f"""INSERT INTO raw.{source.raw_table} ({', '.join(map(_q, names + list(LINEAGE_COLUMNS)))})
            SELECT {', '.join(map(_q, names))}, DATE {day}, {file_names}[_file_order + 1], _source_line, {stamp}
            FROM _checked WHERE _reason IS NULL AND NOT _duplicate"""
        )
        con.execute(
            f"""INSERT INTO raw.{source.quarantine_table}
            SELECT DATE {day}, {file_names}[_file_order + 1], _source_line, _reason,
                   _reason || ': ' || _reason_column, _raw_text, {stamp}, {_sql_str(load_id)}
            FROM _checked WHERE _reason IS NOT NULL"""
        )
        counts = con.execute(
            """SELECT _file_order, count(*), count(*) FILTER (WHERE _reason IS NULL AND NOT _duplicate),
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
        con.execute("DROP TABLE IF EXISTS _checked; DROP TABLE IF EXISTS _dup_keys; DROP TABLE IF EXISTS _file")
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
