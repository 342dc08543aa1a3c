"""Landing sensor: start a run for a day whose landing files appear or change."""


import json
import time
from datetime import date

import dagster as dg

from orchestration.ingestion.loader import landing_partitions
from orchestration.jobs import nightly_job
from orchestration.partitions import daily_partitions
from orchestration.resources import LandingZoneResource
from orchestration.settings import load_settings

# Exports are written file by file: wait until a day has been quiet this long.
SETTLE_SECONDS = 120


def changed_days(
    landing: dict[str, dict[date, float]], cursor: dict[str, float], now: float, settle_seconds: float
) -> tuple[list[date], dict[str, float]]:
    """Days with new or changed files since the cursor, once their files have settled.

    The cursor maps ``<source>/<day>`` to the newest file time already handled.
    """
    latest: dict[date, float] = {}
    for days in landing.values():
        for day, mtime in days.items():
            latest[day] = max(latest.get(day, 0.0), mtime)
    due = sorted(day for day, mtime in latest.items() if now - mtime >= settle_seconds)
    changed = []
    new_cursor = dict(cursor)
    for day in due:
        changed_here = False
        for source, days in landing.items():
            if day in days and cursor.get(f"{source}/{day}", -1.0) < days[day]:
                new_cursor[f"{source}/{day}"] = days[day]
                changed_here = True
        if changed_here:
            changed.append(day)
    return changed, new_cursor


@dg.sensor(
    job=nightly_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING
    if load_settings().schedule_enabled
    else dg.DefaultSensorStatus.STOPPED,
    description="Starts a run for every day whose landing files appeared or changed (after a quiet period).",
)
def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingZoneResource):
    cursor = json.loads(context.cursor) if context.cursor else {}
    days, new_cursor = changed_days(landing_partitions(landing.root), cursor, time.time(), SETTLE_SECONDS)
    valid = set(daily_partitions.get_partition_keys())
    requests = []
    for day in days:
        key = day.isoformat()
        if key not in valid:
            context.log.warning(f"landing files for {key} are outside the partitions (CEW_START_DATE?): skipped")
            continue
        stamp = max(v for k, v in new_cursor.items() if k.endswith(f"/{key}"))
        requests.append(dg.RunRequest(partition_key=key, run_key=f"landing-{key}-{stamp:.0f}"))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(new_cursor, sort_keys=True))
