"""Erasure of customers (`cew erase`): remove every row of a customer from the warehouse and
keep them out of later loads.

What one erasure does, in one transaction:

* ``raw.<source>``: deletes the rows whose customer column (``customer_id``, or a column ending
  in ``_customer_id``: a referral's referrer or referred friend) is the customer;
* ``raw.<source>__quarantine``: deletes the bad rows whose raw text or reason names the customer
  (the id, or an e-mail or phone of theirs in ``raw.crm_customers``, as a quoted JSON string: the
  raw text stores every field as JSON);
* every table of the other schemas but ``seeds`` (staging, intermediate, marts, ml; the
  incremental models included) with such a column, or with ``customer_key`` (the keyed hash the
  marts carry): deletes the customer's rows. Views read those tables; the tables the next run
  rebuilds in full (the metric marts, whose rows are aggregates) are rebuilt from raw without
  the customer;
* ``raw.erased_customers`` gets the customer's keyed hash: the loader quarantines a row of an
  erased customer arriving later (a late or re-delivered landing file; a valid row, or a bad one
  naming them) with reason ``erased_customer`` and no raw text, so the customer never comes back
  and the ledger still balances;
* ``ops.erasure_log``: one row per table touched (and one ``(none)`` row when nothing was found):
  erasure id, the customer's keyed hash (= their ``customer_key``), time, table, rows removed.
  No clear id, name or e-mail.

The hash is the dbt macro ``hash_pii``'s: SHA-256 (hex) of ``CEW_PII_HASH_KEY`` || id. Changing
the key later makes the list unmatchable: erase again with the new key. Not touched: the landing
files (the source systems' exports: erase there too; re-loading them is safe), the trained churn
model files (trees of split thresholds, no rows), ``seeds.pii_erasure_requests`` (the lighter
path: it masks a customer's PII in staging and keeps their activity).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from orchestration.catalog import SOURCES, Source

ERASED_TABLE = "raw.erased_customers"
LOG_TABLE = "ops.erasure_log"
ERASED_REASON = "erased_customer"
SKIPPED_SCHEMAS = ("raw", "ops", "seeds", "information_schema", "pg_catalog")


def customer_hash(customer_id: str, key: str) -> str:
    """The keyed hash of a customer id: equal to the marts' ``customer_key`` (macro ``hash_pii``)."""
    return hashlib.sha256((key + customer_id).encode("utf-8")).hexdigest()


def is_customer_column(name: str) -> bool:
    return name == "customer_id" or name.endswith("_customer_id")


def customer_columns(source: Source) -> list[str]:
    return [c.name for c in source.columns if is_customer_column(c.name)]


def ensure_erasure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(f"CREATE TABLE IF NOT EXISTS {ERASED_TABLE} (customer_hash VARCHAR PRIMARY KEY, erased_at TIMESTAMP)")
    con.execute("CREATE SCHEMA IF NOT EXISTS ops")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {LOG_TABLE} (erasure_id VARCHAR, customer_hash VARCHAR, erased_at TIMESTAMP, "
        "table_name VARCHAR, rows_removed BIGINT)"
    )


def mark_erased_rows(con: duckdb.DuckDBPyConnection, source: Source, table: str, key: str) -> bool:
    """In the loader's checked rows ``table``: every row of an erased customer, valid or bad, is
    quarantined with reason ``erased_customer`` and without its raw text. A row is theirs when a
    customer column hashes to the list or, for a bad row (whose columns may not parse), when any
    quoted string of its raw text does. Returns whether anyone is erased (False: nothing done)."""
    if not con.execute(f"SELECT count(*) FROM {ERASED_TABLE}").fetchone()[0]:
        return False
    erased = f"(SELECT list(customer_hash) FROM {ERASED_TABLE})"
    by_column = [(f'list_contains({erased}, sha256($key || "{c}"))', c) for c in customer_columns(source)]
    in_text = (f"_raw_text IS NOT NULL AND list_has_any({erased}, "
               f"list_transform(regexp_extract_all(_raw_text, '\"([^\"]*)\"', 1), lambda t: sha256($key || t)))")
    conditions = [*by_column, (in_text, "raw_text")]
    column = " ".join(f"WHEN {cond} THEN '{name}'" for cond, name in conditions)
    con.execute(
        f"""UPDATE {table} SET _reason = '{ERASED_REASON}', _reason_column = CASE {column} END, _raw_text = NULL
        WHERE NOT _blank AND _reason IS DISTINCT FROM '{ERASED_REASON}' AND ({" OR ".join(c for c, _ in conditions)})""",
        {"key": key},
    )
    return True


@dataclass
class ErasureReport:
    customer_hash: str
    erasure_id: str
    erased_at: datetime
    rows_removed: dict[str, int] = field(default_factory=dict)  # table -> rows

    @property
    def total(self) -> int:
        return sum(self.rows_removed.values())


def _model_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, list[str], bool]]:
    """(schema, table, customer columns, has customer_key) of the base tables outside raw/ops/seeds."""
    rows = con.execute(
        """SELECT c.table_schema, c.table_name, list(c.column_name ORDER BY c.ordinal_position)
        FROM information_schema.columns AS c
        JOIN information_schema.tables AS t USING (table_catalog, table_schema, table_name)
        WHERE t.table_type = 'BASE TABLE' AND c.table_catalog = current_database()
        GROUP BY 1, 2 ORDER BY 1, 2"""
    ).fetchall()
    out = []
    for schema, table, columns in rows:
        if schema in SKIPPED_SCHEMAS:
            continue
        ids = [c for c in columns if is_customer_column(c)]
        if ids or "customer_key" in columns:
            out.append((schema, table, ids, "customer_key" in columns))
    return out


def _deleted(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> int:
    row = con.execute(sql, params).fetchone()  # DuckDB answers a DELETE with its row count
    return int(row[0]) if row else 0


def erase_customer(con: duckdb.DuckDBPyConnection, customer_id: str, key: str) -> ErasureReport:
    """Erase one customer (module docstring); idempotent: a second erasure removes 0 rows."""
    customer_id = customer_id.strip()
    if not customer_id:
        raise ValueError("empty customer id")
    from orchestration.ingestion.loader import ensure_raw_schema

    ensure_raw_schema(con)
    ensure_erasure_tables(con)
    digest = customer_hash(customer_id, key)
    report = ErasureReport(digest, uuid.uuid4().hex[:16], datetime.now(timezone.utc).replace(tzinfo=None))
    # the customer's id, e-mails and phones as JSON string values: a quarantined row stores its
    # fields as JSON text, and a bad CRM row may lack the id but still carry the e-mail
    contacts = con.execute(
        "SELECT list(DISTINCT email) FILTER (WHERE email IS NOT NULL), list(DISTINCT phone) FILTER (WHERE phone IS NOT NULL) "
        "FROM raw.crm_customers WHERE customer_id = ?", [customer_id]).fetchone()
    needles = [customer_id, *(contacts[0] or []), *(contacts[1] or [])]
    quoted = [f'"{v}"' for v in dict.fromkeys(needles) if v]
    in_text = " OR ".join("contains(raw_text, ?) OR contains(reason_detail, ?)" for _ in quoted)
    con.execute("BEGIN TRANSACTION")
    try:
        for source in SOURCES:
            columns = customer_columns(source)
            if columns:
                where = " OR ".join(f'"{c}" = ?' for c in columns)
                n = _deleted(con, f"DELETE FROM raw.{source.raw_table} WHERE {where}", [customer_id] * len(columns))
                if n:
                    report.rows_removed[f"raw.{source.raw_table}"] = n
            n = _deleted(con, f"DELETE FROM raw.{source.quarantine_table} WHERE {in_text}",
                         [v for q in quoted for v in (q, q)])
            if n:
                report.rows_removed[f"raw.{source.quarantine_table}"] = n
        for schema, table, columns, has_key in _model_tables(con):
            conditions = [f'"{c}" = ?' for c in columns] + (["customer_key = ?"] if has_key else [])
            params = [customer_id] * len(columns) + ([digest] if has_key else [])
            n = _deleted(con, f'DELETE FROM "{schema}"."{table}" WHERE {" OR ".join(conditions)}', params)
            if n:
                report.rows_removed[f"{schema}.{table}"] = n
        con.execute(
            f"INSERT INTO {ERASED_TABLE} VALUES (?, ?) ON CONFLICT DO NOTHING", [digest, report.erased_at]
        )
        log_rows = sorted(report.rows_removed.items()) or [("(none)", 0)]
        con.executemany(
            f"INSERT INTO {LOG_TABLE} VALUES (?, ?, ?, ?, ?)",
            [[report.erasure_id, digest, report.erased_at, table, n] for table, n in log_rows],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return report


def erase_customers(warehouse: Path, customer_ids: list[str], key: str) -> list[ErasureReport]:
    """Erase each customer in turn, then checkpoint, so the deleted rows leave the file's blocks."""
    with duckdb.connect(str(warehouse)) as con:
        reports = [erase_customer(con, cid, key) for cid in dict.fromkeys(c.strip() for c in customer_ids if c.strip())]
        con.execute("CHECKPOINT")
    return reports


def read_id_file(path: Path) -> list[str]:
    """One customer id per line; blank lines and lines starting with # are skipped."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
