"""The ``published/marts`` asset: the read-only copy of the public marts BI tools read.

Downstream of every dbt mart and every ML asset, so it is the nightly job's last step and runs
only when they all materialised: a failed dbt build or ML step, or a failed blocking check
(which keeps ``customer_360`` from being rebuilt), skips it and the previous copy stays.
"""

import warnings

import dagster as dg

from orchestration.dbt.assets import customer_360_dbt_assets, latest_loaded_day, warehouse_dbt_assets
from orchestration.ml.assets import ml_assets
from orchestration.ml.common import run_as_of_date
from orchestration.partitions import daily_partitions
from orchestration.resources import WarehouseResource
from orchestration.serving.publish import PUBLIC_SCHEMAS, publish
from orchestration.settings import load_settings

warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `asset`", category=dg.BetaWarning)

PUBLISHED_KEY = dg.AssetKey(["published", "marts"])

# every dbt model of schema marts (the translator keys them marts/<model>) and every ML table
PUBLISHED_DEPS = sorted(
    {
        key
        for assets in (warehouse_dbt_assets, customer_360_dbt_assets, *ml_assets)
        for key in assets.keys
        if key.path[0] in PUBLIC_SCHEMAS
    },
    key=lambda k: k.to_user_string(),
)
# the same tables as "schema.table", as the engines name them
PUBLISHED_TABLES = [f"{key.path[0]}.{key.path[-1]}" for key in PUBLISHED_DEPS]


@dg.asset(
    key=PUBLISHED_KEY,
    deps=PUBLISHED_DEPS,
    group_name="serving",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"python", "duckdb"},
    description="Read-only copy of schemas marts and ml for BI tools and the dashboard (CEW_PUBLISHED_PATH), "
    "rebuilt in a temporary file and swapped in whole after a successful run; meta.published_tables "
    "names the run and each table's row count.",
)
def published_marts(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    as_of = run_as_of_date(context, latest_loaded_day(warehouse))
    destination = load_settings().published_path
    # on DuckDB the warehouse file itself; on PostgreSQL and Spark a DuckDB copy of their marts
    with warehouse.working_copy(reads=PUBLISHED_TABLES, writes=[]) as con:
        done = publish(con, destination, context.run.run_id, as_of)
    rows = sum(done.tables.values())
    context.log.info(f"published {len(done.tables)} tables ({rows:,} rows) to {destination} in {done.seconds:.1f} s")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(destination)),
            "tables": dg.MetadataValue.int(len(done.tables)),
            "rows": dg.MetadataValue.int(rows),
            "as_of_date": as_of.isoformat(),
            "seconds": round(done.seconds, 2),
        }
    )
