"""Set-based loader: landing files of one source and a range of days -> ``raw.<source>``.

All files of the range are read together by DuckDB's native multi-file readers as text
(one scan per format and header), validated by one generated SQL statement (rules come
from :mod:`orchestration.catalog`; the future-timestamp rule uses each row's own file
date), deduplicated per day and split into loaded rows and quarantined rows. The days are
replaced atomically in one transaction, so re-running or re-delivering a day is
idempotent. Cheap per-file checks (header, schema) run first, and a scan that fails is
redone file by file, so a broken file fails its own source-day only. A large range loads
in several passes of at most ``PASS_BYTES`` of input, which bounds memory. No Python loop
ever touches a row.
"""

from __future__ import annotations

import csv
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
    SOURCES_BY_NAME,
    Column,
    Source,
    get_source,
)
from orchestration.erasure import ensure_erasure_tables, mark_erased_rows
from orchestration.settings import load_settings

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
    "seconds": "DOUBLE",  # of the load pass that loaded the day (all days of a range load in one pass)
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
    ensure_erasure_tables(con)


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


def file_day(name: str) -> date | None:
    """The business day of a landing file name, None when the name is no landing file's
    (other pattern, or a day that does not exist such as 2026-02-30)."""
    match = FILE_NAME.match(name)
    if not match:
        return None
    try:
        return date.fromisoformat(match["day"])
    except ValueError:
        return None


def ignored_files(landing_dir: Path, source: str | None = None) -> list[tuple[str, str]]:
    """(path under the landing folder, why) of the files no load reads: names off the layout,
    days that do not exist, folders that are no source. Of one source's folder when given,
    else of the whole landing folder. Hidden files (a leading dot) are left out."""
    root = Path(landing_dir)
    layout = "<YYYY-MM-DD>[_<anything>].<csv|jsonl|parquet>"
    out: list[tuple[str, str]] = []
    folders = [root / source] if source else sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not source and root.is_dir():
        out += [(p.name, "not in a source folder") for p in sorted(root.iterdir()) if p.is_file() and not p.name.startswith(".")]
    for folder in folders:
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        known = folder.name in SOURCES_BY_NAME
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            name = f"{folder.name}/{path.name}"
            if not known:
                out.append((name, f"{folder.name} is no source (known: {', '.join(SOURCES_BY_NAME)})"))
            elif not FILE_NAME.match(path.name):
                out.append((name, f"not named {layout}"))
            elif file_day(path.name) is None:
                out.append((name, f"no such day: {path.name[:10]}"))
    return out


def landing_partitions(landing_dir: Path) -> dict[str, dict[date, float]]:
    """source -> {day: newest modification time of that day's files}."""
    out: dict[str, dict[date, float]] = {}
    for source in SOURCES:
        folder = Path(landing_dir) / source.name
        days: dict[date, float] = {}
        if folder.is_dir():
            for path in folder.iterdir():
                day = file_day(path.name)
                if day is not None:  # a name like 2026-02-30.csv is reported by ignored_files
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
#
# A load pass reads all files of a range of days at once: one native scan per group of
# files that share a format and a header (DuckDB's multi-file readers, ``file_index`` tells
# the file). Its rows are materialised in file order (``preserve_insertion_order``), so a
# row's ``rowid`` minus the first rowid of its file is its record number in the file.


@dataclass
class _LandingFile:
    """One file of a load pass: its id (position in (day, name) order), day and header."""

    file_id: int
    path: Path
    day: date
    fmt: str
    header: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)  # Parquet: column -> DuckDB type

    @property
    def group_key(self) -> tuple:
        """Files read by one scan: same format and the same columns (and Parquet types)."""
        if self.fmt == "jsonl":
            return ("jsonl",)
        if self.fmt == "parquet":
            return ("parquet", tuple(self.types.items()))
        return ("csv", tuple(self.header))


# What DuckDB's CSV reader says, in the contract's words (its own hints name reader options)
_CSV_PROBLEMS = (
    (re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)"), r"it has \2 fields where the header has \1"),
    (re.compile(r"unterminated quote", re.I), "a quoted value is never closed (a truncated file?)"),
    (re.compile(r"Invalid unicode", re.I), "it is not UTF-8 text (export the file as UTF-8)"),
)


def _error_message(exc: BaseException) -> str:
    """The first line of a DuckDB error; for a CSV error, the line number and what is wrong
    (not the line itself: it may hold personal data)."""
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    first = lines[0] if lines else type(exc).__name__
    where = re.search(r"CSV Error on Line: (\d+)", first)
    if not where:
        return first
    text = "\n".join(lines[1:])
    for pattern, meaning in _CSV_PROBLEMS:
        found = pattern.search(text)
        if found:
            return f"line {where[1]}: {found.expand(meaning)}"
    detail = next((x for x in lines[1:] if x and not x.startswith(("Original Line", "Possible", "*")) and " = " not in x), "")
    return f"line {where[1]}: {detail or first}"


# First bytes of files that are not what a .csv/.jsonl/.parquet name promises.
_FOREIGN_FORMATS = (
    (b"PAR1", "a Parquet file"),
    (b"\x1f\x8b", "gzip-compressed (the contract takes uncompressed files)"),
    (b"PK\x03\x04", "a zip archive (an Excel workbook?)"),
    (b"\xff\xfe", "UTF-16 text (export the file as UTF-8)"),
    (b"\xfe\xff", "UTF-16 text (export the file as UTF-8)"),
)


def _check_format(item: "_LandingFile") -> None:
    """Fail a file whose first bytes say it is not the format its extension says. Raises
    SourceFileError naming what the file is."""
    with open(item.path, "rb") as handle:
        head = handle.read(64)
    if item.fmt == "parquet":
        if head and not head.startswith(b"PAR1"):
            text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
            what = "JSON lines" if text.startswith(b"{") else "text" if b"\0" not in head else "binary data"
            raise SourceFileError(item.path, f"not a Parquet file: it starts with {what} (name it by its format)")
        return
    for magic, what in _FOREIGN_FORMATS:
        if head.startswith(magic):
            raise SourceFileError(item.path, f"not a {item.fmt} file: it is {what}")
    if b"\0" in head:
        raise SourceFileError(item.path, f"not a {item.fmt} file: it holds NUL bytes (binary, or UTF-16 text)")
    if item.fmt == "csv" and head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        raise SourceFileError(item.path, "not a csv file: it holds JSON lines (name it .jsonl)")


def _csv_header(path: Path) -> list[str]:
    """The header record of a CSV file (the first line: header names hold no newline).

    Raises SourceFileError for an empty or undecodable file."""
    if path.stat().st_size == 0:
        raise SourceFileError(path, "empty file: a CSV needs at least its header row")
    with open(path, "rb") as handle:
        first = handle.readline(1 << 20)
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceFileError(path, f"unreadable csv file (header is not UTF-8: {exc.reason})") from exc
    # spaces around a name ("order_id, customer_id") are layout, not part of the name
    names = [name.strip() for name in next(csv.reader([text.rstrip("\r\n")]), [])]
    out: list[str] = []
    for name in names:  # a repeated name gets DuckDB's suffix, as its sniffer would
        unique, n = name, 0
        while unique in out:
            n += 1
            unique = f"{name}_{n}"
        out.append(unique)
    if not out or out == [""]:
        raise SourceFileError(path, "unreadable csv file (no header row)")
    return out


def _inspect(con: duckdb.DuckDBPyConnection, source: Source, item: _LandingFile) -> None:
    """Cheap per-file checks before the bulk scan: readable header (CSV) or schema
    (Parquet) holding every required column, each once. Raises SourceFileError."""
    _check_format(item)
    if item.fmt == "csv":
        item.header = _csv_header(item.path)
        known = {c.name for c in source.columns}
        repeated = [n for n in item.header if n in known and f"{n}_1" in item.header]
        if repeated:  # which of the two values is meant? No guess.
            raise SourceFileError(item.path, f"the header repeats column(s) {', '.join(repeated)}")
    elif item.fmt == "parquet":
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM read_parquet({_sql_str(str(item.path))})").fetchall()
        except duckdb.Error as exc:
            raise SourceFileError(item.path, f"unreadable parquet file ({_error_message(exc)})") from exc
        item.types = {r[0]: r[1] for r in described}
        item.header = list(item.types)
    else:
        return  # JSONL has no header: a key absent from every record is checked after the scan
    missing = [c for c in source.required_columns if c not in item.header]
    if missing:
        raise SourceFileError(
            item.path, f"missing required column(s) {', '.join(missing)}; header has {', '.join(item.header)}"
        )


_JSONL_LINES = "header=false, delim=chr(1), quote='', escape='', auto_detect=false, strict_mode=false"


def _group_relation(source: Source, files: list[_LandingFile]) -> str:
    """SQL reading ``files`` (one group) in one scan: ``_file_id``, ``_day``, ``_horizon``,
    ``_blank``, ``_raw_line``, ``_malformed`` and one VARCHAR column per contract column
    (NULL when the files lack it).

    JSONL is read line by line as text, so a malformed line is quarantined with its exact
    text and blank lines keep their place. (DuckDB's JSON reader, tried for files whose
    every line is an object, was no faster once the fields are validated and stored.)"""
    names = [c.name for c in source.columns]
    paths = "[" + ", ".join(_sql_str(str(f.path)) for f in files) + "]"
    ids = "[" + ", ".join(str(f.file_id) for f in files) + "]"
    days = "[" + ", ".join(f"DATE {_sql_str(f.day.isoformat())}" for f in files) + "]"
    # "More than one day after the file's date": on or after the start of day D+2.
    meta = (
        f"{ids}[file_index::BIGINT + 1] AS _file_id, {days}[file_index::BIGINT + 1] AS _day, "
        f"{days}[file_index::BIGINT + 1] + INTERVAL 2 DAY AS _horizon"
    )
    fmt = files[0].fmt
    if fmt == "jsonl":
        # Lines are read as text so that a malformed line is quarantined, not fatal; a blank
        # line is no record but keeps its place, so rowid numbers physical lines.
        struct = "{" + ", ".join(f'"{c}": "VARCHAR"' for c in names) + "}"
        # Only a line that starts as an object is parsed; _p is NULL for any other line.
        lines = (
            f"SELECT {meta}, line, CASE WHEN prefix(line, '{{') OR prefix(ltrim(line), '{{') "
            f"THEN try(from_json(line, '{struct}')) END AS _p FROM read_csv({paths}, "
            f"columns={{'line': 'VARCHAR'}}, {_JSONL_LINES})"
        )
        fields = ", ".join(f"_p.{_q(c)} AS {_q(c)}" for c in names)
        return (
            "SELECT _file_id, _day, _horizon, _blank, line AS _raw_line, _p IS NULL AND NOT _blank AS _malformed, "
            f"{fields} FROM (SELECT *, CASE WHEN _p IS NULL THEN line IS NULL OR trim(line) = '' ELSE false END "
            f"AS _blank FROM ({lines}))"
        )
    if fmt == "csv":
        header = files[0].header
        columns = "{" + ", ".join(f"{_sql_str(c)}: 'VARCHAR'" for c in header) + "}"
        reader = (
            f"read_csv({paths}, columns={columns}, header=true, delim=',', quote='\"', escape='\"', "
            "auto_detect=false)"
        )
        types = {c: "VARCHAR" for c in header}
    else:
        reader, types = f"read_parquet({paths})", files[0].types

    def as_text(name: str) -> str:
        if name not in types:
            return "NULL::VARCHAR"
        typ = types[name].upper()
        if typ.startswith(("STRUCT", "MAP")) or typ.endswith("]"):
            return f"to_json({_q(name)})::VARCHAR"
        return f"{_q(name)}::VARCHAR"

    text_cols = ", ".join(f"{as_text(c)} AS {_q(c)}" for c in names)
    return (
        f"SELECT {meta}, false AS _blank, NULL::VARCHAR AS _raw_line, false AS _malformed, {text_cols} FROM {reader}"
    )

# --------------------------------------------------------------------------- rules


def _trim(sql: str) -> str:
    """``trim(sql)`` (strips Unicode space separators), calling it only when it can change
    something: DuckDB's trim walks the whole string, ~30x the cost of these checks."""
    return f"CASE WHEN prefix({sql}, ' ') OR suffix({sql}, ' ') OR strlen({sql}) <> length({sql}) THEN trim({sql}) ELSE {sql} END"


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
        # NaN, infinities and numbers beyond BIGINT do not parse (a plain cast would fail the scan)
        number = f"TRY_CAST({raw} AS DOUBLE)"
        return f"CASE WHEN {number} = floor({number}) THEN TRY_CAST({number} AS BIGINT) END"
    if col.type == "decimal":
        # 'NaN' and 'inf' cast to DOUBLE but are no numbers a source can mean (an FX rate of NaN)
        return f"CASE WHEN isfinite(TRY_CAST({raw} AS DOUBLE)) THEN TRY_CAST({raw} AS DOUBLE) END"
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
        # the contract's JSON columns are objects
        return f"CASE WHEN left({raw}, 1) = '{{' AND json_valid({raw}) THEN {raw} END"
    return raw


def _bad_offset(raw: str, typed: str) -> str:
    """True when the text's UTC offset is no real one: beyond +-18:00 or not a multiple of 15
    minutes (DuckDB reads '+25:00' as 25 hours and '+03:99' as 4:39). The offset is the
    text's wall-clock part (its first 19 characters) minus the parsed UTC time; NULL (no
    verdict) when that part does not parse alone. Only texts with an offset are looked at."""
    offset = f"(epoch(TRY_CAST(left({raw}, 19) AS TIMESTAMP)) - epoch(date_trunc('second', {typed})))"
    return f"(strlen({raw}) > 20 AND NOT suffix({raw}, 'Z') AND (abs({offset}) > 64800 OR {offset} % 900 <> 0))"


def _checks(source: Source, partition_date: date | None = None) -> list[tuple[str, str, str]]:
    """(reason, column, SQL condition true when the row breaks the rule), in check order.

    Conditions read the ``r__``/``t__`` columns of :func:`_validation_sql`; the future
    timestamp rule compares with each row's own ``_horizon`` (start of its file's day + 2),
    or with ``partition_date``'s when given."""
    flat = _flat_columns(source)
    checks: list[tuple[str, str, str]] = [("malformed_record", "record", "_malformed")]
    for name in source.primary_key:
        checks.append(("missing_key", name, f"{_raw_name(name)} IS NULL"))
    for name, col, parent in flat:
        if col.nullable or name in source.primary_key:
            continue
        condition = f"{_raw_name(name)} IS NULL"
        if parent is not None:
            # a required field is required only inside an object: an absent object is the
            # object's own problem (if required), one that is no object is malformed
            condition = f"{_q('o__' + parent.name)} IS NOT NULL AND {condition}"
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
                unparsed = f"{_typed_name(name)} IS NULL"
                if col.type == "timestamp":
                    unparsed = f"({unparsed} OR {_bad_offset(_raw_name(name), _typed_name(name))})"
                checks.append((reason, name, f"{_raw_name(name)} IS NOT NULL AND {unparsed}"))
    for name, col, _parent in flat:
        if col.type == "enum":
            # a CASE, not NOT IN: DuckDB plans a long IN list (or list_contains) as a hash mark
            # join, which does not keep the scan order that line numbers are derived from
            known = " ".join(f"WHEN {_sql_str(v)} THEN false" for v in col.values)
            checks.append(
                ("unknown_enum", name, f"{_raw_name(name)} IS NOT NULL AND CASE {_typed_name(name)} {known} ELSE true END")
            )
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
    horizon = "_horizon" if partition_date is None else f"DATE {_sql_str(partition_date.isoformat())} + INTERVAL 2 DAY"
    for name, col, _parent in flat:
        if col.type == "timestamp":
            checks.append(("future_timestamp", name, f"{_typed_name(name)} >= {horizon}"))
    return checks


def _validation_sql(source: Source, relation: str) -> str:
    """Typed columns, ``_reason``/``_reason_column`` (NULL = valid) and raw text of bad rows,
    for the rows of a :func:`_group_relation`.

    Layered projections compute every trim, cast and JSON parse once per row (a JSON
    object's fields with one parse); the checks then only compare the results."""
    top = list(source.columns)
    flat = _flat_columns(source)
    parents = [c for c in top if c.fields]
    layer1 = ", ".join(
        # free text keeps its exact content (leading spaces, newlines); only emptiness is NULL
        f"nullif({_q(c.name) if c.free_text else _trim(_q(c.name))}, '') AS {_raw_name(c.name)}"
        for c in top
    )
    layer2 = ", ".join(f"{_typed_sql(c.name, c)} AS {_typed_name(c.name)}" for c in top)
    # t__<json column> is the object's text when it is valid JSON, else NULL: safe to parse
    layer3 = ", ".join(
        f"CASE WHEN left({_typed_name(p.name)}, 1) = '{{' THEN from_json({_typed_name(p.name)}, "
        + _sql_str("{" + ", ".join(f'"{sub.name}": "VARCHAR"' for sub in p.fields) + "}")
        + f") END AS {_q('o__' + p.name)}"
        for p in parents
    )
    layer3a = ", ".join(
        f"nullif({_trim(_q('o__' + parent.name) + '.' + _q(col.name))}, '') AS {_raw_name(name)}"
        for name, col, parent in flat
        if parent is not None
    )
    layer3b = ", ".join(
        f"{_typed_sql(name, col)} AS {_typed_name(name)}" for name, col, parent in flat if parent is not None
    )
    checks = _checks(source)
    # one CASE finds the first broken rule: "<reason>:<column>"
    failure = "CASE " + " ".join(f"WHEN {cond} THEN {_sql_str(f'{r}:{c}')}" for r, c, cond in checks) + " END"
    raw_fields = "to_json(struct_pack(" + ", ".join(f"{_q(c.name)} := {_q(c.name)}" for c in top) + "))::VARCHAR"
    typed_out = ", ".join(f"{_typed_name(name)}::{col.warehouse_type} AS {_q(name)}" for name, col, _parent in flat)
    sql = f"SELECT *, {layer1} FROM ({relation})"
    sql = f"SELECT *, {layer2} FROM ({sql})"
    if parents:
        sql = f"SELECT *, {layer3} FROM ({sql})"
        sql = f"SELECT *, {layer3a} FROM ({sql})"
        sql = f"SELECT *, {layer3b} FROM ({sql})"
    sql = f"SELECT *, {failure} AS _failure FROM ({sql})"
    sql = f"SELECT *, split_part(_failure, ':', 1) AS _reason, split_part(_failure, ':', 2) AS _reason_column FROM ({sql})"
    return f"""
        SELECT _file_id, _day, _blank, _reason, _reason_column, false AS _duplicate,
               CASE WHEN _reason IS NOT NULL THEN coalesce(_raw_line, {raw_fields}) END AS _raw_text,
               {typed_out}
        FROM ({sql})"""


# --------------------------------------------------------------------------- load

# Errors of the generated SQL itself, never of a file: raised, not blamed on a file.
_PROGRAMMING_ERRORS = (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException)

# Input bytes read by one load pass at most: bounds the memory of the checked rows (a
# range of days larger than this loads in several passes, each in its own transaction).
PASS_BYTES = 1 << 30


def _mark_duplicates(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Flag all but the winning row of each key repeated within a day among the valid rows.

    The ordering window only runs over keys that repeat, which are few. Files of a day
    have ids in name order and rowid follows the line, so later file, then later line."""
    keys = ", ".join(_q(k) for k in source.primary_key)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _dup_keys AS SELECT _day, {keys} FROM _checked "
        f"WHERE _reason IS NULL AND NOT _blank GROUP BY _day, {keys} HAVING count(*) > 1"
    )
    if not con.execute("SELECT count(*) FROM _dup_keys").fetchone()[0]:
        return
    order_by = (f"{_q(source.version_column)} DESC NULLS LAST, " if source.version_column else "") + (
        "_file_id DESC, rid DESC"
    )
    con.execute(
        f"""UPDATE _checked SET _duplicate = true
        FROM (SELECT rid, row_number() OVER (PARTITION BY _day, {keys} ORDER BY {order_by}) AS rank
              FROM (SELECT rowid AS rid, * FROM _checked WHERE _reason IS NULL AND NOT _blank)
              SEMI JOIN _dup_keys USING (_day, {keys})) AS ranked
        WHERE ranked.rank > 1 AND _checked.rowid = ranked.rid"""
    )


def _scan_into_checked(con: duckdb.DuckDBPyConnection, source: Source, files: list[_LandingFile], first: bool) -> None:
    select = _validation_sql(source, _group_relation(source, files))
    if first:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _checked AS {select}")
    else:
        con.execute(f"INSERT INTO _checked {select}")


def _passes(by_day: dict[date, list[Path]], limit: int) -> list[list[date]]:
    """Consecutive days grouped so that each pass reads at most ``limit`` bytes (or one day)."""
    out: list[list[date]] = []
    size = 0
    for day in sorted(by_day):
        day_bytes = sum(p.stat().st_size for p in by_day[day])
        if out and size + day_bytes <= limit:
            out[-1].append(day)
            size += day_bytes
        else:
            out.append([day])
            size = day_bytes
    return out


def source_day_files(landing_dir: Path, source: str, days: list[date] | None = None) -> dict[date, list[Path]]:
    """day -> the files of that day in load order (name order: later wins), listing the
    source's folder once. Only ``days`` when given."""
    folder = Path(landing_dir) / source
    wanted = None if days is None else set(days)
    out: dict[date, list[Path]] = {}
    if not folder.is_dir():
        return out
    for path in folder.iterdir():
        day = file_day(path.name)
        if day is None:
            continue
        if (wanted is None or day in wanted) and path.is_file():
            out.setdefault(day, []).append(path)
    return {day: sorted(paths, key=lambda p: p.name) for day, paths in out.items()}


def load_source_day(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    source_name: str,
    partition_date: date,
    load_id: str | None = None,
) -> SourceDayResult:
    """Load every file of one source and day, replacing what that day held before."""
    return load_source_days(con, landing_dir, source_name, [partition_date], load_id=load_id)[0]


def load_source_days(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    source_name: str,
    days: list[date],
    load_id: str | None = None,
    pass_bytes: int = PASS_BYTES,
) -> list[SourceDayResult]:
    """Load every file of one source for each of ``days``, replacing what those days held.

    All files of the days are read, validated, deduplicated (per day) and written in one
    set-based pass (several when they exceed ``pass_bytes``). A broken file fails its own
    source-day only: that day keeps what it held, the other days load. A day without a file
    is left untouched. One result per day, in the order of ``days``."""
    source = get_source(source_name)
    load_id = load_id or uuid.uuid4().hex
    days = list(dict.fromkeys(days))
    # naive timestamps are UTC by contract, whatever zone the caller's connection is in
    con.execute("SET TimeZone = 'UTC'")
    ensure_raw_schema(con)
    by_day = source_day_files(landing_dir, source.name, days)
    results: dict[date, SourceDayResult] = {}
    loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
    empty = [d for d in days if d not in by_day]
    if empty:
        for day in empty:
            results[day] = SourceDayResult(source=source.name, partition_date=day, status="no_file")
        _write_ledger(con, load_id, [results[d] for d in empty], loaded_at)
    for pass_days in _passes(by_day, pass_bytes):
        for result in _load_pass(con, source, {d: by_day[d] for d in pass_days}, load_id):
            results[result.partition_date] = result
    return [results[d] for d in days]


def _failed_result(source: Source, day: date, paths: list[Path], problems: dict[Path, str]) -> SourceDayResult:
    culprit = min(problems, key=lambda p: p.name)
    problem = problems[culprit]
    return SourceDayResult(
        source=source.name,
        partition_date=day,
        status="failed",
        error=f"{source.name} {day}: {culprit.name}: {problem}",
        files=[
            FileResult(
                p.name,
                p.suffix.lstrip("."),
                "failed" if p == culprit else "not_loaded",
                error=problem if p == culprit else f"not loaded: {culprit.name} failed",
            )
            for p in paths
        ],
    )


def _load_pass(
    con: duckdb.DuckDBPyConnection, source: Source, by_day: dict[date, list[Path]], load_id: str
) -> list[SourceDayResult]:
    """One set-based pass over the files of some days (see :func:`load_source_days`)."""
    started = time.perf_counter()
    loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
    problems: dict[date, dict[Path, str]] = {}
    items: list[_LandingFile] = []
    for day in sorted(by_day):
        for path in by_day[day]:
            item = _LandingFile(len(items), path, day, path.suffix.lstrip("."))
            items.append(item)
            try:
                _inspect(con, source, item)
            except SourceFileError as exc:
                problems.setdefault(day, {})[path] = exc.problem

    # One scan per group of files with the same format and header; a scan that fails (an
    # unreadable file) is redone file by file to find the file and fail its day only.
    first = True
    groups: dict[tuple, list[_LandingFile]] = {}
    for item in items:
        if item.day not in problems:
            groups.setdefault(item.group_key, []).append(item)
    try:
        for group in groups.values():
            try:
                _scan_into_checked(con, source, group, first)
                first = False
            except duckdb.Error:
                for item in group:
                    try:
                        _scan_into_checked(con, source, [item], first)
                        first = False
                    except _PROGRAMMING_ERRORS:
                        raise  # the loader's SQL is wrong: no file is to blame
                    except duckdb.Error as exc:
                        problem = f"unreadable {item.fmt} file ({_error_message(exc)})"
                        problems.setdefault(item.day, {})[item.path] = problem
        if first:  # nothing readable: an empty table of the right shape
            con.execute(f"CREATE OR REPLACE TEMP TABLE _checked AS {_validation_sql(source, _empty_relation(source))}")
        stats = _file_stats(con, source, items)
        for item in items:
            if item.fmt != "jsonl" or item.file_id not in stats:
                continue
            if stats[item.file_id]["absent"]:
                absent = ", ".join(stats[item.file_id]["absent"])
                problems.setdefault(item.day, {})[item.path] = f"missing required column(s) {absent} in every record"
            elif stats[item.file_id]["read"] and not stats[item.file_id]["records"]:
                # not one JSON object: another format under a .jsonl name, which must not
                # replace the day with nothing (its lines would all be quarantined)
                problems.setdefault(item.day, {})[item.path] = (
                    f"not a jsonl file: none of its {stats[item.file_id]['read']} non-blank line(s) is a JSON object"
                )
        # rows of erased customers (`cew erase`) are quarantined without their text: they never come back
        if mark_erased_rows(con, source, "_checked", load_settings().pii_hash_key):
            stats = _file_stats(con, source, items)
        return _write_pass(con, source, by_day, items, problems, stats, load_id, loaded_at, started)
    finally:
        con.execute("DROP TABLE IF EXISTS _checked; DROP TABLE IF EXISTS _dup_keys")


def _empty_relation(source: Source) -> str:
    text_cols = ", ".join(f"NULL::VARCHAR AS {_q(c.name)}" for c in source.columns)
    return (
        "SELECT NULL::BIGINT AS _file_id, NULL::DATE AS _day, NULL::TIMESTAMP AS _horizon, false AS _blank, "
        f"NULL::VARCHAR AS _raw_line, false AS _malformed, {text_cols} WHERE false"
    )


def _file_stats(con: duckdb.DuckDBPyConnection, source: Source, items: list[_LandingFile]) -> dict[int, dict]:
    """Per file: first rowid (its line numbering), records, valid and quarantined rows and,
    for JSONL, a required key absent from every record (JSONL has no header)."""
    rows = con.execute(
        """SELECT _file_id, min(rowid), count(*) FILTER (WHERE NOT _blank),
                  count(*) FILTER (WHERE NOT _blank AND _reason IS NULL),
                  count(*) FILTER (WHERE NOT _blank AND _reason IS NOT NULL),
                  count(*) FILTER (WHERE NOT _blank AND _reason IS DISTINCT FROM 'malformed_record'),
                  count(*) FILTER (WHERE NOT _blank AND _reason IN ('missing_key', 'missing_value')),
                  list_distinct(list(_reason_column) FILTER (WHERE NOT _blank AND _reason IN ('missing_key', 'missing_value')))
           FROM _checked GROUP BY _file_id"""
    ).fetchall()
    out: dict[int, dict] = {}
    for file_id, first_rowid, read, valid, quarantined, records, missing, columns in rows:
        absent = columns if records and missing == records and columns and len(columns) == 1 else []
        out[file_id] = {"first": first_rowid, "read": read, "valid": valid, "quarantined": quarantined,
                        "records": records, "absent": absent}  # fmt: skip
    return out


def _write_pass(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    by_day: dict[date, list[Path]],
    items: list[_LandingFile],
    problems: dict[date, dict[Path, str]],
    stats: dict[int, dict],
    load_id: str,
    loaded_at: datetime,
    started: float,
) -> list[SourceDayResult]:
    """Deduplicate the loadable days and replace them in one transaction, with the ledger."""
    results: dict[date, SourceDayResult] = {
        day: _failed_result(source, day, by_day[day], problems[day]) for day in problems
    }
    good = [day for day in sorted(by_day) if day not in problems]
    if good:
        # failed days' rows play no part in deduplication or in what is written
        bad_ids = [i.file_id for i in items if i.day in problems]
        if bad_ids:
            con.execute(f"DELETE FROM _checked WHERE _file_id IN ({', '.join(map(str, bad_ids))})")
        _mark_duplicates(con, source)
        good_items = [i for i in items if i.day not in problems]
        duplicates = dict(
            con.execute("SELECT _file_id, count(*) FROM _checked WHERE _duplicate GROUP BY 1").fetchall()
        )
        reasons: dict[date, dict[str, int]] = {}
        for day, reason, n in con.execute(
            "SELECT _day, _reason, count(*) FROM _checked WHERE NOT _blank AND _reason IS NOT NULL GROUP BY 1, 2"
        ).fetchall():
            reasons.setdefault(day, {})[reason] = n
        for day in good:
            result = SourceDayResult(source=source.name, partition_date=day, status="loaded")
            result.quarantined_by_reason = reasons.get(day, {})
            results[day] = result
        for item in good_items:
            s = stats.get(item.file_id, {"read": 0, "valid": 0, "quarantined": 0})
            dup = duplicates.get(item.file_id, 0)
            extra = [c for c in item.header if c not in {c.name for c in source.columns}]
            results[item.day].files.append(
                FileResult(item.path.name, item.fmt, "loaded", rows_read=s["read"], rows_loaded=s["valid"] - dup,
                           rows_quarantined=s["quarantined"], rows_duplicate=dup, extra_columns=extra)  # fmt: skip
            )
    names = [n for n, _c, _p in _flat_columns(source)]
    stamp = f"TIMESTAMP {_sql_str(loaded_at.isoformat(sep=' '))}"
    day_list = ", ".join(f"DATE {_sql_str(d.isoformat())}" for d in good)
    # file name and first rowid by file id: constant lists, no join (file ids are 0..n-1)
    file_name = "[" + ", ".join(_sql_str(i.path.name) for i in items) + "][c._file_id + 1]"
    line = "c.rowid - [" + ", ".join(str(stats.get(i.file_id, {}).get("first", 0)) for i in items) + "][c._file_id + 1] + 1"
    con.execute("BEGIN TRANSACTION")
    try:
        if good:
            con.execute(f"DELETE FROM raw.{source.raw_table} WHERE _partition_date IN ({day_list})")
            con.execute(f"DELETE FROM raw.{source.quarantine_table} WHERE _partition_date IN ({day_list})")
            con.execute(
                f"""INSERT INTO raw.{source.raw_table} ({', '.join(map(_q, names + list(LINEAGE_COLUMNS)))})
                SELECT {', '.join('c.' + _q(n) for n in names)}, c._day, {file_name}, {line}, {stamp}
                FROM _checked AS c WHERE c._reason IS NULL AND NOT c._duplicate AND NOT c._blank"""
            )
            con.execute(
                f"""INSERT INTO raw.{source.quarantine_table}
                SELECT c._day, {file_name}, {line}, c._reason, c._reason || ': ' || c._reason_column, c._raw_text,
                       {stamp}, {_sql_str(load_id)}
                FROM _checked AS c WHERE c._reason IS NOT NULL AND NOT c._blank"""
            )
        ordered = [results[d] for d in sorted(results)]
        seconds = time.perf_counter() - started
        for result in ordered:  # the pass's time: its days were loaded together
            result.seconds = seconds
        _write_ledger(con, load_id, ordered, loaded_at)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return ordered


def _write_ledger(
    con: duckdb.DuckDBPyConnection, load_id: str, results: list[SourceDayResult], loaded_at: datetime
) -> None:
    """One INSERT for the ledger rows of ``results``: one per file, or one per day without files."""
    rows = []
    for result in results:
        rows += [
            (load_id, result.source, result.partition_date, f.file_name, f.file_format, f.status, f.rows_read,
             f.rows_loaded, f.rows_quarantined, f.rows_duplicate, ",".join(f.extra_columns) or None, f.error,
             loaded_at, result.seconds)
            for f in result.files
        ] or [
            (load_id, result.source, result.partition_date, None, None, result.status, 0, 0, 0, 0, None, None,
             loaded_at, result.seconds)
        ]  # fmt: skip
    if not rows:
        return
    one = "(" + ", ".join("?" for _ in LEDGER_COLUMNS) + ")"
    con.execute(
        f"INSERT INTO raw.load_ledger VALUES {', '.join(one for _ in rows)}", [v for row in rows for v in row]
    )
