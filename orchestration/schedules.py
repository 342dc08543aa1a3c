"""Nightly schedule: 02:00 in the reporting time zone, materialising yesterday's partition."""

import dagster as dg

from orchestration.jobs import nightly_job
from orchestration.settings import load_settings

_settings = load_settings()

# A schedule built from a daily-partitioned job targets the last complete day: yesterday.
nightly_schedule = dg.build_schedule_from_partitioned_job(
    nightly_job,
    name="nightly_schedule",
    hour_of_day=2,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING
    if _settings.schedule_enabled
    else dg.DefaultScheduleStatus.STOPPED,
)
