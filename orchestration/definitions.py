"""The one Dagster ``Definitions`` object: `dagster dev -m orchestration.definitions`."""

import dagster as dg

from orchestration.alerts.assets import alert_notifications
from orchestration.dbt.assets import customer_360_dbt_assets, warehouse_dbt_assets
from orchestration.ingestion.assets import ingestion_assets
from orchestration.jobs import nightly_job
from orchestration.ml.assets import ml_assets
from orchestration.resources import build_resources
from orchestration.schedules import nightly_schedule
from orchestration.sensors import landing_sensor
from orchestration.dbt.project import dbt_project
from orchestration.serving.assets import published_marts
from orchestration.serving.exposures import dashboard_specs
from orchestration.settings import load_settings

defs = dg.Definitions(
    assets=[*ingestion_assets, warehouse_dbt_assets, *ml_assets, customer_360_dbt_assets, alert_notifications,
            published_marts, *dashboard_specs(dbt_project.manifest_path)],
    jobs=[nightly_job],
    schedules=[nightly_schedule],
    sensors=[landing_sensor],
    resources=build_resources(load_settings()),
    # DuckDB allows one writer per file: steps run one after another in one process.
    executor=dg.in_process_executor,
)
