"""Spark (dbt-spark, ``session`` method): every table is Parquet files under ``CEW_SPARK_DIR``.

* ``raw/<table>/``: the raw tables, written here by ingestion (DuckDB ``COPY ... (FORMAT
  parquet)``): one file per landing day (``<day>.parquet``), replaced when a run reloads that
  day, and an empty ``empty.parquet`` that carries the schema of a table with no rows.
* ``ml/<table>/`` and ``ops/<table>/``: the tables the Python ML and alert steps write (the
  alert ledger ``ops.alert_notifications``).
* ``warehouse/<schema>.db/<table>/``: the tables dbt builds (Spark managed tables).
* ``metastore_db/``: Spark's embedded Derby catalog, used only by dbt's Spark session.

The Python side never starts Spark (the embedded catalog allows one process at a time, and a
JVM costs seconds): it reads and writes the Parquet files with DuckDB. dbt registers the raw, ml
and ops folders as external tables at the start of each build (macro
``spark_register_external_tables``), from the list :meth:`SparkEngine.dbt_env` passes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

from orchestration.engines import Engine, partitioned, split_name
from orchestration.engines.postgres import qi, sql_str

# the schemas Python writes (ingestion, ML, the alert ledger); dbt builds every other one
EXTERNAL_SCHEMAS = ("raw", "ml", "ops")
SCHEMA_FILE = "empty.parquet"


def _parquet_files(folder: Path) -> list[Path]:
    # Spark and Hadoop skip names starting with "_" or "." (_SUCCESS, .crc files, our temp files)
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(("_", ".")))


def _replace_folder(folder: Path, filled: Path) -> None:
    """Put the folder ``filled`` in the place of ``folder`` (renames: no half-written table)."""
    old = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
    if folder.exists():
        folder.rename(old)
    filled.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


class SparkEngine(Engine):
    name = "spark"

    @property
    def root(self) -> Path:
        return self.settings.spark_dir

    def table_dir(self, name: str) -> Path:
        schema, table = split_name(name)
        if schema in EXTERNAL_SCHEMAS:
            return self.root / schema / table
        return self.root / "warehouse" / f"{schema}.db" / table.lower()

    def dbt_env(self) -> dict[str, str]:
        """``CEW_SPARK_EXTERNAL_TABLES``: the raw and ml tables that have files, for dbt to register."""
        found = [
            f"{schema}.{folder.name}"
            for schema in EXTERNAL_SCHEMAS
            if (self.root / schema).is_dir()
            for folder in sorted((self.root / schema).iterdir())
            if folder.is_dir() and not folder.name.startswith(".") and _parquet_files(folder)
        ]
        return {"CEW_SPARK_EXTERNAL_TABLES": ",".join(found)}

    # ------------------------------------------------------------------ writes

    def _write(self, duck, name: str, select: str, path: Path) -> int:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        rows = duck.execute(f"COPY ({select}) TO {sql_str(str(tmp))} (FORMAT parquet)").fetchone()[0]
        os.replace(tmp, path)
        return rows

    def _write_full(self, duck, schema: str, table: str, by_day: bool) -> int:
        folder = self.table_dir(f"{schema}.{table}")
        source = f"{qi(schema)}.{qi(table)}"
        filling = folder.with_name(f".{table}.new-{uuid.uuid4().hex[:8]}")
        filling.mkdir(parents=True)
        self._write(duck, table, f"SELECT * FROM {source} LIMIT 0", filling / SCHEMA_FILE)
        rows = 0
        if by_day:
            days = [r[0] for r in duck.execute(f"SELECT DISTINCT _partition_date FROM {source} ORDER BY 1").fetchall()]
            for day in days:
                rows += self._write(duck, table, f"SELECT * FROM {source} WHERE _partition_date = DATE '{day}'",
                                    filling / f"{day}.parquet")
        else:
            rows = self._write(duck, table, f"SELECT * FROM {source}", filling / "data.parquet")
        _replace_folder(folder, filling)
        return rows

    def _schema_matches(self, duck, schema: str, table: str) -> bool:
        schema_file = self.table_dir(f"{schema}.{table}") / SCHEMA_FILE
        if not schema_file.exists():
            return False
        written = duck.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_str(str(schema_file))})").fetchall()
        now = duck.execute(f"DESCRIBE SELECT * FROM {qi(schema)}.{qi(table)}").fetchall()
        return [r[:2] for r in written] == [r[:2] for r in now]

    def publish_raw(self, duck, tables, days):
        copied = {}
        for table in tables:
            by_day = partitioned(duck, "raw", table)
            if not (by_day and days and self._schema_matches(duck, "raw", table)):
                # new to Spark, not partitioned by day, or its columns changed: all of it
                copied[f"raw.{table}"] = self._write_full(duck, "raw", table, by_day)
                continue
            folder = self.table_dir(f"raw.{table}")
            rows = 0
            for day in sorted(set(days)):
                path = folder / f"{day.isoformat()}.parquet"
                n = duck.execute(f"SELECT count(*) FROM raw.{qi(table)} WHERE _partition_date = DATE '{day}'").fetchone()[0]
                if n:
                    rows += self._write(duck, table, f"SELECT * FROM raw.{qi(table)} WHERE _partition_date = DATE '{day}'", path)
                else:
                    path.unlink(missing_ok=True)
            copied[f"raw.{table}"] = rows
        return copied

    # ------------------------------------------------------------------ working copy

    @contextlib.contextmanager
    def working_copy(self, connect, reads, writes):
        con = self._scratch()
        try:
            for name in reads:
                files = _parquet_files(self.table_dir(name))
                if not files:
                    continue  # not built (yet): left out, as on the other engines
                schema, table = split_name(name)
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {qi(schema)}")
                listing = "[" + ", ".join(sql_str(str(f)) for f in files) + "]"
                con.execute(f"CREATE TABLE {qi(schema)}.{qi(table)} AS SELECT * FROM read_parquet({listing})")
            yield con
            for name in writes:
                schema, table = split_name(name)
                if schema not in EXTERNAL_SCHEMAS:
                    raise ValueError(f"{name}: Python steps write only to schemas {EXTERNAL_SCHEMAS} on Spark")
                self._write_full(con, schema, table, by_day=False)
        finally:
            con.close()
