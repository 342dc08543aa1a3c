"""Jobs: the nightly run materialises the whole asset graph for its days (daily partitions)."""

import dagster as dg


nightly_job = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.all(),
    description="Load the landing files of the partition's day(s) and rebuild every dbt model and Python asset.",
)
