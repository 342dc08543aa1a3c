"""One Dagster asset per raw source, partitioned by business day.

A run over a range of days loads them in one step (single-run backfill policy) and one
set-based pass of the loader: all files of the range are read together and the days are
replaced in one transaction. A broken file fails its source-day only: the day keeps what it
held, the ledger and the failed ``files_loaded`` check say why, and every other day and
source still loads, so the nightly marts are built on everything that was readable.
"""


import time
import uuid
import warnings
from datetime import date

import dagster as dg

from orchestration.catalog import SOURCES, Source
from orchestration.ingestion.loader import SourceDayResult, ignored_files, load_source_days
from orchestration.partitions import daily_partitions
from orchestration.resources import LandingZoneResource, WarehouseResource

INGESTION_GROUP = "ingestion"

# A range of days must load in one run (one dbt build after it, not one per day), which
# needs BackfillPolicy.single_run(); Dagster flags that parameter of @asset as beta.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `asset`", category=dg.BetaWarning)


def raw_asset_key(source_name: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", source_name])


def _partition_days(context: dg.AssetExecutionContext) -> list[date]:
    return [date.fromisoformat(key) for key in context.partition_keys]


def summarize(results: list[SourceDayResult]) -> dict[str, int]:
    return {
        "days": len(results),
        "days_failed": sum(r.status == "failed" for r in results),
        "days_without_file": sum(r.status == "no_file" for r in results),
        "files": sum(len(r.files) for r in results),
        "rows_read": sum(r.rows_read for r in results),
        "rows_loaded": sum(r.rows_loaded for r in results),
        "rows_quarantined": sum(r.rows_quarantined for r in results),
        "rows_duplicate": sum(r.rows_duplicate for r in results),
    }


def build_ingestion_asset(source: Source) -> dg.AssetsDefinition:
    key = raw_asset_key(source.name)

    @dg.asset(
        key=key,
        group_name=INGESTION_GROUP,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"duckdb", "python"},
        description=f"{source.description} Loaded from `<landing>/{source.name}/` into `raw.{source.raw_table}` "
        f"(bad rows to `raw.{source.quarantine_table}`). Grain: {source.grain}.",
        check_specs=[
            dg.AssetCheckSpec(
                "files_loaded", asset=key, description="Every landing file of the partitions was readable."
            ),
            dg.AssetCheckSpec(
                "ledger_balanced",
                asset=key,
                description="For every file: rows read = rows loaded + rows quarantined + duplicates removed.",
            ),
        ],
        metadata={"landing_folder": source.name, "primary_key": ", ".join(source.primary_key)},
    )
    def _ingest(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, landing: LandingZoneResource
    ):
        started = time.perf_counter()
        load_id = context.run_id or uuid.uuid4().hex
        with warehouse.connect() as con:
            # every day of the run in one set-based pass; a broken file fails its own day only
            results = load_source_days(con, landing.root, source.name, _partition_days(context), load_id=load_id)
            # then to the engine the marts are built on (PostgreSQL, Spark; nothing on DuckDB)
            warehouse.publish_raw(con, [source.raw_table, source.quarantine_table, "load_ledger"],
                                  _partition_days(context))
        for result in results:
            if result.status == "failed":
                context.log.error(f"load failed: {result.error}")
        ignored = ignored_files(landing.root, source.name)  # in the folder, but no load reads them
        for name, why in ignored:
            context.log.warning(f"ignored landing file {name}: {why}")
        totals = summarize(results)
        seconds = time.perf_counter() - started
        context.log.info(
            f"ingest {source.name}: {totals['days']} day(s), {totals['files']} file(s), "
            f"{totals['rows_read']:,} read, {totals['rows_loaded']:,} loaded, "
            f"{totals['rows_quarantined']:,} quarantined, {totals['rows_duplicate']:,} duplicates, {seconds:.1f} s"
        )
        failures = [r.error for r in results if r.status == "failed"]
        unbalanced = [
            f"{r.partition_date} {f.file_name}"
            for r in results
            for f in r.files
            if f.status == "loaded" and f.rows_read != f.rows_loaded + f.rows_quarantined + f.rows_duplicate
        ]
        reasons: dict[str, int] = {}
        for r in results:
            for reason, n in r.quarantined_by_reason.items():
                reasons[reason] = reasons.get(reason, 0) + n
        yield dg.MaterializeResult(
            metadata={
                **{k: dg.MetadataValue.int(v) for k, v in totals.items()},
                "seconds": dg.MetadataValue.float(round(seconds, 3)),
                "quarantined_by_reason": dg.MetadataValue.json(reasons),
                "failures": dg.MetadataValue.json(failures),
                "ignored_files": dg.MetadataValue.json([f"{name}: {why}" for name, why in ignored]),
            },
        )
        yield dg.AssetCheckResult(
            check_name="files_loaded",
            passed=not failures,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"failures": dg.MetadataValue.json(failures)},
            description="; ".join(failures) or None,
        )
        yield dg.AssetCheckResult(
            check_name="ledger_balanced",
            passed=not unbalanced,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"unbalanced_files": dg.MetadataValue.json(unbalanced)},
        )

    return _ingest


ingestion_assets = [build_ingestion_asset(source) for source in SOURCES]
