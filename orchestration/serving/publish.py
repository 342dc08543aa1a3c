"""Publish the public marts to a separate DuckDB file that BI tools read while the nightly runs.

A DuckDB file open for writing cannot be opened by another process, so BI tools never read the
warehouse itself. After each successful run the public tables (schemas ``marts`` and ``ml``)
are copied into a new file in the published file's folder, which then replaces the published
file in one ``os.replace``. A reader that opened the file before keeps reading the old,
complete copy (its open file still points at it); the next connection sees the new one. So a
reader never waits for the writer and never sees a half-built mart, and every connection reads
the tables of one run, which ``meta.published_tables`` names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb

PUBLIC_SCHEMAS = ("marts", "ml")
META_TABLE = "meta.published_tables"

META_DDL = """
CREATE SCHEMA {db}.meta;
CREATE TABLE {db}.meta.published_tables (
    run_id VARCHAR NOT NULL,
    run_date DATE,
    published_at TIMESTAMP NOT NULL,
    table_schema VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    row_count BIGINT NOT NULL
)"""


@dataclass
class Publication:
    path: Path
    run_id: str
    tables: dict[str, int]  # "schema.table" -> rows
    seconds: float


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def public_tables(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> list[tuple[str, str]]:
    """(schema, table) of every table and view of the public schemas, sorted."""
    placeholders = ", ".join("?" for _ in PUBLIC_SCHEMAS)
    where = "table_catalog = current_database()" if catalog is None else "table_catalog = ?"
    params = ([] if catalog is None else [catalog]) + list(PUBLIC_SCHEMAS)
    return [
        (s, t)
        for s, t in con.execute(
            f"SELECT table_schema, table_name FROM information_schema.tables "
            f"WHERE {where} AND table_schema IN ({placeholders}) ORDER BY 1, 2",
            params,
        ).fetchall()
    ]


def publish(
    con: duckdb.DuckDBPyConnection, destination: Path, run_id: str, run_date: date | None = None
) -> Publication:
    """Copy the public tables the connection's database holds into ``destination``, atomically.

    ``con`` is a connection to the warehouse (the writer's own: no second process opens it)."""
    started = datetime.now(timezone.utc)
    destination = Path(destination)
    if destination.stem in (*PUBLIC_SCHEMAS, "meta"):
        # DuckDB names a file's catalog after it: `marts.metric_values` would be ambiguous to readers
        raise ValueError(f"published file {destination}: its name must not be a schema name ({destination.stem})")
    destination.parent.mkdir(parents=True, exist_ok=True)
    # same folder: os.replace is an atomic rename only within one file system
    temp = destination.with_name(f".{destination.name}.{run_id}.tmp")
    _remove(temp)
    tables = public_tables(con)
    if not any(s == "marts" for s, _ in tables):
        raise RuntimeError("the warehouse has no marts to publish: the dbt build did not produce schema marts")
    counts: dict[str, int] = {}
    alias = "cew_published"
    con.execute("ATTACH '" + str(temp).replace("'", "''") + f"' AS {alias}")
    try:
        for schema in sorted({s for s, _ in tables}):
            con.execute(f"CREATE SCHEMA {alias}.{schema}")
        for schema, table in tables:
            name = f"{schema}.{_quote(table)}"
            con.execute(f"CREATE TABLE {alias}.{name} AS SELECT * FROM {name}")
            counts[f"{schema}.{table}"] = con.execute(f"SELECT count(*) FROM {alias}.{name}").fetchone()[0]
        con.execute(META_DDL.format(db=alias))
        published_at = started.replace(tzinfo=None)
        con.executemany(
            f"INSERT INTO {alias}.{META_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
            [(run_id, run_date, published_at, *key.split(".", 1), n) for key, n in counts.items()],
        )
        con.execute(f"CHECKPOINT {alias}")
    except BaseException:
        con.execute(f"DETACH {alias}")
        _remove(temp)
        raise
    con.execute(f"DETACH {alias}")
    os.replace(temp, destination)
    seconds = (datetime.now(timezone.utc) - started).total_seconds()
    return Publication(destination, run_id, counts, seconds)


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def read_publication(path: Path) -> list[dict]:
    """The rows of ``meta.published_tables`` of a published file (read-only)."""
    with duckdb.connect(str(path), read_only=True) as con:
        cursor = con.execute(f"SELECT * FROM {META_TABLE} ORDER BY table_schema, table_name")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
