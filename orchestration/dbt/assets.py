"""The dbt project as Dagster assets: staging, intermediate, marts and seeds.

dbt sources map to the ingestion assets (``raw/<source>``), so Dagster's lineage runs
from landing files to marts; the dbt source ``ml`` maps to the Python ML assets
(``ml/customer_clv`` ...). dbt tests load as asset checks. The assets share the daily
partitions: a run passes its days to dbt as env vars ``CEW_RUN_START_DATE``/``CEW_RUN_DATE``.

The project is two ``@dbt_assets`` definitions so that one nightly run can go dbt marts ->
Python ML assets -> ``customer_360``: ``warehouse_dbt_assets`` (everything but
``customer_360`` and what depends on it) and ``customer_360_dbt_assets`` (``customer_360+``).
"""

import os
import time
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orchestration.dbt.project import AFTER_ML_SELECTION, BUILD_ARGS, dbt_project, run_env
from orchestration.ingestion.assets import raw_asset_key
from orchestration.ingestion.loader import ensure_raw_schema
from orchestration.partitions import daily_partitions
from orchestration.resources import WarehouseResource
from orchestration.settings import REPO_ROOT, Settings, load_settings

ML_SOURCE = "ml"

# Under `dagster dev` the manifest is re-parsed on load; elsewhere it must exist already.
dbt_project.prepare_if_dev()


class WarehouseDbtTranslator(DagsterDbtTranslator):
    """Asset keys by layer (``staging/stg_...``, ``marts/dim_customers``); sources are raw assets."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            if dbt_resource_props.get("source_name") == ML_SOURCE:
                # tables the Python ML assets write (orchestration/ml)
                return dg.AssetKey([ML_SOURCE, dbt_resource_props["name"]])
            # dbt source tables are named as the landing folders / ingestion assets
            return raw_asset_key(dbt_resource_props["name"])
        layer = dbt_resource_props.get("config", {}).get("schema") or "main"
        return dg.AssetKey([layer, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        return dbt_resource_props.get("config", {}).get("schema") or "dbt"


translator = WarehouseDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def latest_loaded_day(warehouse: WarehouseResource) -> date | None:
    with warehouse.connect() as con:
        ensure_raw_schema(con)
        return con.execute("SELECT max(partition_date) FROM raw.load_ledger WHERE status = 'loaded'").fetchone()[0]


# One row per finished build of the incremental models (warehouse_dbt_assets): when it started.
BUILDS_TABLE = "ops.dbt_builds"


def unbuilt_from(warehouse: WarehouseResource) -> date | None:
    """The earliest landing day loaded since the last finished build of the incremental
    models started (None when every load was built): what an interrupted run left behind."""
    with warehouse.connect() as con:
        ensure_raw_schema(con)
        con.execute("CREATE SCHEMA IF NOT EXISTS ops")
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {BUILDS_TABLE} (run_id VARCHAR, window_start DATE, run_date DATE, "
            "started_at TIMESTAMP, finished_at TIMESTAMP)"
        )
        return con.execute(
            f"""SELECT min(partition_date) FROM raw.load_ledger
            WHERE status = 'loaded' AND loaded_at >= (SELECT coalesce(max(started_at), TIMESTAMP '1970-01-01') FROM {BUILDS_TABLE})"""
        ).fetchone()[0]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)  # the ledger's loaded_at clock


class DbtBuildConfig(dg.Config):
    """Run config of the dbt assets: ``full_refresh`` rebuilds the incremental models from all
    history (after a seed change such as new engagement weights, or to repair a table)."""

    full_refresh: bool = False


def _dbt_build(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, config: DbtBuildConfig,
    record_build: bool = False,
):
    settings = load_settings()
    days = [date.fromisoformat(key) for key in context.partition_keys]
    build_started = _utc_now()
    pending = unbuilt_from(warehouse) if record_build else None
    window = run_env(days, latest_loaded_day(warehouse), pending)
    if pending and pending < min(days):
        context.log.warning(f"days from {pending} were loaded but never built (an interrupted run): rebuilding them too")
    # dbt runs as a subprocess and reads its settings and the run's days through env_var()
    os.environ.update({**settings.dbt_env(), **window, **warehouse.engine().dbt_env()})
    dbt_args = [*BUILD_ARGS, "--full-refresh"] if config.full_refresh else BUILD_ARGS
    started = time.perf_counter()
    built = checks = failed_checks = 0
    for event in dbt.cli(dbt_args, context=context).stream():
        if isinstance(event, (dg.Output, dg.AssetMaterialization)):
            built += 1
        elif isinstance(event, dg.AssetCheckResult):
            checks += 1
            failed_checks += not event.passed
        yield event
    if record_build:  # reached only when dbt succeeded (a failed build raises)
        with warehouse.connect() as con:
            con.execute(
                f"INSERT INTO {BUILDS_TABLE} VALUES (?, ?, ?, ?, ?)",
                [context.run_id, window["CEW_RUN_START_DATE"], window["CEW_RUN_DATE"], build_started, _utc_now()],
            )
    context.log.info(
        f"dbt build: {built} models/seeds, {checks} tests ({failed_checks} failed), "
        f"{time.perf_counter() - started:.1f} s"
    )


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    exclude=AFTER_ML_SELECTION,
)
def warehouse_dbt_assets(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, config: DbtBuildConfig
):
    yield from _dbt_build(context, dbt, warehouse, config, record_build=True)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    select=AFTER_ML_SELECTION,
    name="customer_360_dbt_assets",
)
def customer_360_dbt_assets(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, config: DbtBuildConfig
):
    yield from _dbt_build(context, dbt, warehouse, config)


def dbt_cli_resource(settings: Settings) -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(REPO_ROOT), target=settings.dbt_target)
