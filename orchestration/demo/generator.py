"""Deterministic, realistic demo exports of all 14 raw sources (see shared/spec/raw-sources.md).

Customers carry latent traits (engagement propensity, purchase rate, order value, churn
hazard) that drive every source coherently; chunks of customers are simulated and written
one after the other with vectorised numpy/pyarrow/DuckDB code, so memory stays bounded.
Same arguments -> byte-identical files: every random draw comes from a stream seeded by
(seed, purpose, chunk).

Output:
- ``<out_dir>/<source>/<YYYY-MM-DD>[_cNN].<csv|jsonl|parquet>``: one file per source and UTC
  business day (of the row's event-time column; re-sent versions on the day they are re-sent),
  one per customer chunk when there are several chunks.
  CSV (RFC 4180, JSON columns as JSON text), JSONL (JSON columns as nested objects) or Parquet
  (natural types; timestamps as ISO 8601 strings with offsets, JSON columns as JSON text).
- ``<meta_dir>/manifest.json``: parameters, and per file its rows, injected bad rows per
  quarantine reason and exact duplicates, so that a loader can be checked against it.
- ``<meta_dir>/truth_customers.parquet``: the latent traits and future outcomes per customer
  (never in the landing folder).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow.parquet as pq

from orchestration.catalog import SOURCES
from orchestration.demo import commerce, company, digital, population, service
from orchestration.demo.commerce import ChunkContext
from orchestration.demo.core import Calendar
from orchestration.demo.mess import REASONS
from orchestration.demo.writer import Writer

FORMAT_CHOICES = ("default", "csv", "jsonl", "parquet", "mixed")
MANIFEST = "manifest.json"
TRUTH = "truth_customers.parquet"


@dataclass
class GenerationReport:
    out_dir: Path
    meta_dir: Path
    manifest_path: Path
    truth_path: Path
    rows_by_source: dict[str, int]
    total_rows: int
    files_written: int
    seconds: float
    rows_per_second: float


def generate(
    out_dir: Path,
    customers: int,
    days: int,
    start: date,
    seed: int = 42,
    fmt: str = "default",
    messiness: float = 0.0,
    meta_dir: Path | None = None,
    chunk_customers: int = 100_000,
    progress: Callable[[str], None] | None = None,
) -> GenerationReport:
    """Write demo landing files for `customers` customers over `days` days from `start`.

    fmt: "default" (each source's default format), "csv", "jsonl", "parquet" or "mixed"
    (format drawn per source and day). messiness: share of extra bad rows per file (plus
    half as many exact duplicates)."""
    if customers < 1 or days < 1 or chunk_customers < 1:
        raise ValueError("customers, days and chunk_customers must be positive")
    if fmt not in FORMAT_CHOICES:
        raise ValueError(f"fmt must be one of {', '.join(FORMAT_CHOICES)}")
    if not 0.0 <= messiness <= 1.0:
        raise ValueError("messiness must be between 0 and 1")
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    meta_dir = Path(meta_dir) if meta_dir is not None else out_dir.parent / f"{out_dir.name}_meta"
    if meta_dir.resolve().is_relative_to(out_dir.resolve()):
        raise ValueError(f"meta_dir {meta_dir} must not be inside the landing folder {out_dir}")
    _remove_previous(out_dir, meta_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta_dir.mkdir(parents=True, exist_ok=True)

    cal = Calendar(start, days)
    n_chunks = math.ceil(customers / chunk_customers)
    width = max(2, len(str(n_chunks - 1)))
    writer = Writer(out_dir, cal, fmt, messiness, seed)
    rows = dict.fromkeys((s.name for s in SOURCES), 0)

    def write(name, frame, chunk: int | None) -> None:
        suffix = f"_c{chunk:0{width}d}" if chunk is not None and n_chunks > 1 else ""
        rows[name] += writer.write(name, frame, suffix, chunk or 0)

    fx, rates = company.fx_rates(seed, cal)
    write("fx_rates", fx, None)
    write("marketing_spend", company.marketing_spend(seed, cal, customers, rates), None)
    posts = company.posts(seed, cal)
    write("social_account_daily", company.social_account_daily(seed, cal, customers, posts), None)
    events = company.brand_events(seed, cal, customers)

    truth_path = meta_dir / TRUTH
    truth_writer = None
    try:
        for chunk in range(n_chunks):
            first = chunk * chunk_customers
            cust = population.make_customers(seed, chunk, first, min(chunk_customers, customers - first), customers, cal)
            ctx = ChunkContext(seed, chunk, cal, cust, rates, posts, events, customers)
            write("crm_customers", population.crm_frame(seed, chunk, cust, cal), chunk)
            plan = commerce.plan_referrals(ctx)
            order_frame, orders = commerce.orders(ctx, plan.friend_code)
            write("orders", order_frame, chunk)
            del order_frame
            write("referrals", commerce.referrals(ctx, plan, orders), chunk)
            write("subscription_events", commerce.subscriptions(ctx), chunk)
            web, *sessions = digital.web_events(ctx, orders)
            write("web_events", web, chunk)
            del web
            app, *opens = digital.app_events(ctx)
            write("app_events", app, chunk)
            del app
            write("email_events", digital.email_events(ctx, orders), chunk)
            write("social_interactions", digital.social_interactions(ctx), chunk)
            tickets, *resolved = service.support_tickets(ctx)
            write("support_tickets", tickets, chunk)
            write("survey_responses", service.survey_responses(ctx, orders, resolved, sessions, opens), chunk)
            write("event_registrations", service.event_registrations(ctx), chunk)

            completed = orders.status == commerce.ORDER_STATUS.index("completed")
            truth = population.truth_table(
                cust, cal,
                np.bincount(orders.cust, minlength=cust.n),
                np.bincount(orders.cust, weights=orders.net_usd * completed, minlength=cust.n),
                *commerce.future_orders(ctx),
            )
            if truth_writer is None:
                truth_writer = pq.ParquetWriter(truth_path, truth.schema)
            truth_writer.write_table(truth)
            total = sum(rows.values())
            elapsed = time.perf_counter() - started
            say(f"chunk {chunk + 1}/{n_chunks}: {first + cust.n:,} customers, {total:,} rows, "
                f"{total / max(elapsed, 1e-9):,.0f} rows/s")
    finally:
        if truth_writer is not None:
            truth_writer.close()

    manifest_path = meta_dir / MANIFEST
    manifest_path.write_text(json.dumps(_manifest(writer.files, customers, days, start, seed, fmt, messiness,
                                                  chunk_customers), indent=1) + "\n")
    seconds = time.perf_counter() - started
    total = sum(rows.values())
    return GenerationReport(out_dir, meta_dir, manifest_path, truth_path, rows, total, len(writer.files), seconds,
                            total / max(seconds, 1e-9))


def _manifest(files: list[dict], customers: int, days: int, start: date, seed: int, fmt: str, messiness: float,
              chunk_customers: int) -> dict:
    files = sorted(files, key=lambda f: (f["source"], f["partition_date"], f["file"]))
    per_source = {}
    for s in SOURCES:
        mine = [f for f in files if f["source"] == s.name]
        per_source[s.name] = {
            "files": len(mine),
            "rows": sum(f["rows"] for f in mine),
            "bad_rows": {r: n for r in REASONS if (n := sum(f["bad_rows"].get(r, 0) for f in mine))},
            "duplicates": sum(f["duplicates"] for f in mine),
        }
    return {
        "generator": "orchestration.demo",
        "parameters": {"customers": customers, "days": days, "start": start.isoformat(), "seed": seed,
                       "format": fmt, "messiness": messiness, "chunk_customers": chunk_customers},
        "totals": {
            "files": len(files),
            "rows": sum(f["rows"] for f in files),
            "bad_rows": {r: n for r in REASONS if (n := sum(f["bad_rows"].get(r, 0) for f in files))},
            "duplicates": sum(f["duplicates"] for f in files),
        },
        "sources": per_source,
        "files": files,
    }


def _remove_previous(out_dir: Path, meta_dir: Path) -> None:
    """Delete the files a previous run listed in its manifest (and only those), so that a
    re-run with other parameters leaves no stale days behind."""
    manifest = meta_dir / MANIFEST
    if not manifest.exists():
        return
    for f in json.loads(manifest.read_text()).get("files", []):
        (out_dir / f["source"] / f["file"]).unlink(missing_ok=True)
    manifest.unlink()
