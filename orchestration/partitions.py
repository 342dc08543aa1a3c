"""The daily partitioning every partitioned asset shares: one partition per business day."""

import dagster as dg

from orchestration.settings import load_settings

_settings = load_settings()

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=_settings.start_date,
    timezone=_settings.reporting_timezone,
)
