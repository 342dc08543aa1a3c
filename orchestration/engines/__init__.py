"""The engine the marts are built on (setting ``CEW_ENGINE``): duckdb, postgres or spark.

Whatever the engine, ingestion validates, deduplicates and quarantines in the DuckDB warehouse
file (its ``raw`` schema and ``raw.load_ledger`` stay there), then :meth:`Engine.publish_raw`
copies the raw tables where the engine reads them. dbt builds on the engine (the profiles.yml
target of the same name). The Python steps (CLV, churn, alerts) run their DuckDB SQL on a
:meth:`Engine.working_copy`: the tables they read, copied from the engine into a scratch
DuckDB, and the tables they write, copied back to the engine when they succeed. On DuckDB
both are the warehouse file itself: nothing is copied.
"""

from __future__ import annotations

import contextlib
from datetime import date
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import duckdb

if TYPE_CHECKING:
    from orchestration.settings import Settings

Connect = Callable[[], contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]]


def split_name(name: str) -> tuple[str, str]:
    schema, _, table = name.partition(".")
    if not table:
        raise ValueError(f"table {name!r}: expected schema.table")
    return schema, table


def days_filter(column: str, days: Sequence[date]) -> str:
    """``column IN (DATE '...', ...)``: valid SQL in DuckDB, PostgreSQL and Spark."""
    return f"{column} IN ({', '.join(f'DATE {d.isoformat()!r}' for d in sorted(set(days)))})"


class Engine:
    """DuckDB: the warehouse file is the engine."""

    name = "duckdb"

    def __init__(self, settings: Settings):
        self.settings = settings

    def dbt_env(self) -> dict[str, str]:
        """Environment the dbt build needs besides the settings (Spark: its external tables)."""
        return {}

    def publish_raw(self, duck: duckdb.DuckDBPyConnection, tables: Sequence[str], days: Sequence[date]) -> dict[str, int]:
        """Copy raw tables of the DuckDB file to the engine. ``tables``: names in schema ``raw``;
        a table with a ``_partition_date`` column is replaced for ``days`` only (all of it when
        the engine does not have it yet), the others in full. Returns rows copied per table."""
        return {}

    @contextlib.contextmanager
    def working_copy(
        self, connect: Connect, reads: Sequence[str], writes: Sequence[str]
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection holding ``reads`` (``schema.table``; those the engine lacks are
        left out); on success the tables ``writes`` are copied to the engine."""
        with connect() as con:
            yield con

    def _scratch(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(config=self.settings.duckdb_config())
        con.execute("SET TimeZone = 'UTC'")
        return con


def partitioned(duck: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        duck.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = ? "
            "AND table_name = ? AND column_name = '_partition_date'",
            [schema, table],
        ).fetchone()[0]
    )


class PostgresEngine(Engine):
    """PostgreSQL (``CEW_PG_*``, else libpq's ``PG*``): tables travel by bulk COPY."""

    name = "postgres"

    @property
    def connection(self) -> dict:
        s = self.settings
        return {"host": s.pg_host, "port": s.pg_port, "user": s.pg_user, "password": s.pg_password,
                "dbname": s.pg_database}

    def publish_raw(self, duck, tables, days):
        from orchestration.engines.postgres import TableCopy, copy_to_postgres

        items = [
            TableCopy("raw", t, days_filter("_partition_date", days) if days and partitioned(duck, "raw", t) else None)
            for t in tables
        ]
        return copy_to_postgres(duck, self.connection, items)

    @contextlib.contextmanager
    def working_copy(self, connect, reads, writes):
        from orchestration.engines.postgres import TableCopy, copy_from_postgres, copy_to_postgres

        con = self._scratch()
        try:
            copy_from_postgres(self.connection, con, [TableCopy(*split_name(n)) for n in reads], missing_ok=True)
            yield con
            copy_to_postgres(con, self.connection, [TableCopy(*split_name(n)) for n in writes])
        finally:
            con.close()


def engine_for(settings: Settings) -> Engine:
    if settings.engine == "postgres":
        return PostgresEngine(settings)
    if settings.engine == "spark":
        from orchestration.engines.spark import SparkEngine

        return SparkEngine(settings)
    return Engine(settings)
