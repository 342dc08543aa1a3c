"""Bulk copies between DuckDB and PostgreSQL, in both directions, never row by row.

DuckDB -> PostgreSQL (:func:`copy_to_postgres`): DuckDB ``COPY TO`` CSV with mapped column
types, then PostgreSQL ``COPY FROM STDIN``, all tables in one transaction. A table whose columns
already match is emptied (TRUNCATE, or DELETE of the rows a ``where`` selects) rather than
dropped, so the dbt views over it survive; one whose columns differ is dropped (CASCADE) and
created again.

PostgreSQL -> DuckDB (:func:`copy_from_postgres`): ``COPY (SELECT ...) TO STDOUT`` CSV, read by
DuckDB into a table of the mapped types.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

_SIMPLE_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "TINYINT": "smallint",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric(20,0)",
    "HUGEINT": "numeric(39,0)",
    "UHUGEINT": "numeric(39,0)",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIME": "time without time zone",
    "TIME WITH TIME ZONE": "time with time zone",
    "TIMESTAMP": "timestamp without time zone",
    "TIMESTAMP_S": "timestamp(0) without time zone",
    "TIMESTAMP_MS": "timestamp(3) without time zone",
    "TIMESTAMP_NS": "timestamp without time zone",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "JSON": "json",
    "BLOB": "bytea",
    "BIT": "bit varying",
}

# PostgreSQL type (as format_type() prints it) -> DuckDB type, for the way back
_DUCKDB_TYPES = {
    "text": "VARCHAR",
    "character varying": "VARCHAR",
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "double precision": "DOUBLE",
    "real": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMPTZ",
    "time without time zone": "TIME",
    "json": "JSON",
    "jsonb": "JSON",
    "uuid": "UUID",
    # no typmod: any precision; DuckDB's DECIMAL stops at 38 digits
    "numeric": "DOUBLE",
}

CSV_OPTIONS = "DELIMITER ',', QUOTE '\"', ESCAPE '\"'"


@dataclass(frozen=True)
class TableCopy:
    """One table to copy. ``where`` (SQL valid in DuckDB and PostgreSQL, e.g.
    ``_partition_date IN (DATE '2026-01-01')``) replaces only those rows of an existing table."""

    schema: str
    table: str
    where: str | None = None

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


def qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def postgres_column(name: str, duckdb_type: str) -> tuple[str, str]:
    """(PostgreSQL type, DuckDB expression to export) for one DuckDB column."""
    typ = duckdb_type.strip().upper()
    col = qi(name)
    if typ in _SIMPLE_TYPES:
        pg = _SIMPLE_TYPES[typ]
        if typ == "BLOB":
            return pg, f"'\\x' || hex({col})"  # bytea hex input format
        if typ == "TIMESTAMP_NS":
            return pg, f"{col}::TIMESTAMP"
        return pg, col
    decimal = re.fullmatch(r"(?:DECIMAL|NUMERIC)\((\d+),\s*(\d+)\)", typ)
    if decimal:
        return f"numeric({decimal[1]},{decimal[2]})", col
    if typ.endswith("]") or typ.startswith(("STRUCT", "MAP", "UNION")):
        return "jsonb", f"to_json({col})"  # lists, arrays and nested values travel as JSON
    if typ.startswith(("VARCHAR", "ENUM(")):
        return "text", f"{col}::VARCHAR"
    raise ValueError(f"column {name!r}: no PostgreSQL mapping for DuckDB type {duckdb_type}")


def duckdb_column(name: str, pg_type: str) -> str:
    """DuckDB type of a PostgreSQL column (``format_type`` spelling)."""
    if pg_type in _DUCKDB_TYPES:
        return _DUCKDB_TYPES[pg_type]
    numeric = re.fullmatch(r"numeric\((\d+),(\d+)\)", pg_type)
    if numeric and int(numeric[1]) <= 38:
        return f"DECIMAL({numeric[1]},{numeric[2]})"
    if pg_type.startswith(("character varying", "character(")):
        return "VARCHAR"
    if pg_type.startswith("timestamp(") and pg_type.endswith("without time zone"):
        return "TIMESTAMP"
    if numeric or pg_type.startswith("numeric"):
        return "DOUBLE"
    raise ValueError(f"column {name!r}: no DuckDB mapping for PostgreSQL type {pg_type}")


def connect(connection: Mapping[str, Any]):
    """A psycopg2 connection (UTF-8, UTC) from host/port/user/password/dbname."""
    import psycopg2

    con = psycopg2.connect(**dict(connection), client_encoding="UTF8", options="-c TimeZone=UTC")
    return con


def _pg_columns(cur, schema: str, table: str) -> list[tuple[str, str]] | None:
    cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a "
        "JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm') "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        [schema, table],
    )
    rows = cur.fetchall()
    return [(n, t) for n, t in rows] or None


def copy_to_postgres(duck, connection: Mapping[str, Any], tables: Sequence[TableCopy], *, analyze: bool = True) -> dict[str, int]:
    """Copy DuckDB tables (open connection ``duck``) to PostgreSQL, in one transaction.

    Returns ``{"schema.table": rows copied}``; raises when PostgreSQL took a different count."""
    copied: dict[str, int] = {}
    con = connect(connection)
    try:
        header = "HEADER MATCH" if con.server_version >= 150000 else "HEADER"
        with tempfile.TemporaryDirectory(prefix="cew-pgcopy-") as tmp, con, con.cursor() as cur:
            for schema in dict.fromkeys(t.schema for t in tables):
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {qi(schema)}")
            for i, item in enumerate(tables):
                columns = duck.execute(
                    "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
                    "AND schema_name = ? AND table_name = ? ORDER BY column_index",
                    [item.schema, item.table],
                ).fetchall()
                if not columns:
                    raise ValueError(f"DuckDB has no table {item.name}")
                mapped = [(name, *postgres_column(name, typ)) for name, typ in columns]
                wanted = [(name, pg) for name, pg, _expr in mapped]
                target = f"{qi(item.schema)}.{qi(item.table)}"
                same = _pg_columns(cur, item.schema, item.table) == wanted
                if same and item.where:
                    cur.execute(f"DELETE FROM {target} WHERE {item.where}")
                elif same:
                    cur.execute(f"TRUNCATE {target}")
                else:
                    cur.execute(f"DROP TABLE IF EXISTS {target} CASCADE")
                    cur.execute(f"CREATE TABLE {target} ({', '.join(f'{qi(n)} {t}' for n, t in wanted)})")
                # a new table gets every row, not only the replaced ones
                where = f" WHERE {item.where}" if same and item.where else ""
                csv_file = Path(tmp) / f"{i}.csv"
                select = ", ".join(f"{expr} AS {qi(name)}" for name, _pg, expr in mapped)
                # every non-NULL value quoted: an unquoted empty field is NULL, "" an empty string
                rows = duck.execute(
                    f"COPY (SELECT {select} FROM {qi(item.schema)}.{qi(item.table)}{where}) TO {sql_str(str(csv_file))} "
                    f"(FORMAT csv, HEADER true, {CSV_OPTIONS}, NULLSTR '', FORCE_QUOTE *)"
                ).fetchone()[0]
                column_list = ", ".join(qi(n) for n, _t in wanted)
                with open(csv_file, "rb") as f:
                    cur.copy_expert(
                        f"COPY {target} ({column_list}) FROM STDIN WITH (FORMAT csv, {header}, {CSV_OPTIONS}, "
                        "NULL '', ENCODING 'UTF8')",
                        f,
                        size=1 << 20,
                    )
                if cur.rowcount not in (-1, rows):
                    raise RuntimeError(f"{item.name}: DuckDB exported {rows} rows, PostgreSQL took {cur.rowcount}")
                if analyze:
                    cur.execute(f"ANALYZE {target}")
                copied[item.name] = rows
    finally:
        con.close()
    return copied


def copy_from_postgres(connection: Mapping[str, Any], duck, tables: Sequence[TableCopy], *, missing_ok: bool = False) -> dict[str, int]:
    """Copy PostgreSQL tables or views into DuckDB tables of the same names (recreated).

    A table PostgreSQL does not have is skipped with ``missing_ok``, else an error.
    Returns ``{"schema.table": rows}`` of the tables copied."""
    copied: dict[str, int] = {}
    con = connect(connection)
    try:
        with tempfile.TemporaryDirectory(prefix="cew-pgread-") as tmp, con.cursor() as cur:
            for i, item in enumerate(tables):
                columns = _pg_columns(cur, item.schema, item.table)
                if columns is None:
                    if missing_ok:
                        continue
                    raise ValueError(f"PostgreSQL has no table {item.name}")
                types = {name: duckdb_column(name, typ) for name, typ in columns}
                csv_file = Path(tmp) / f"{i}.csv"
                where = f" WHERE {item.where}" if item.where else ""
                select = ", ".join(qi(n) for n in types)
                with open(csv_file, "wb") as f:
                    cur.copy_expert(
                        f"COPY (SELECT {select} FROM {qi(item.schema)}.{qi(item.table)}{where}) TO STDOUT "
                        f"WITH (FORMAT csv, HEADER, {CSV_OPTIONS}, NULL '', FORCE_QUOTE *)",
                        f,
                        size=1 << 20,
                    )
                duck.execute(f"CREATE SCHEMA IF NOT EXISTS {qi(item.schema)}")
                ddl = ", ".join(f"{qi(n)} {t}" for n, t in types.items())
                duck.execute(f"CREATE OR REPLACE TABLE {qi(item.schema)}.{qi(item.table)} ({ddl})")
                spec = "{" + ", ".join(f"{sql_str(n)}: {sql_str(t)}" for n, t in types.items()) + "}"
                duck.execute(
                    f"INSERT INTO {qi(item.schema)}.{qi(item.table)} SELECT * FROM read_csv({sql_str(str(csv_file))}, "
                    f"header = true, delim = ',', quote = '\"', escape = '\"', nullstr = '', "
                    f"allow_quoted_nulls = false, columns = {spec}, auto_detect = false)"
                )
                copied[item.name] = duck.execute(f"SELECT count(*) FROM {qi(item.schema)}.{qi(item.table)}").fetchone()[0]
    finally:
        con.close()
    return copied
