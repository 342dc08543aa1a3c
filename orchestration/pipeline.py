"""Run the nightly job in-process for a list of days: what `cew run` and the tests call."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG


@dataclass
class PipelineOutcome:
    success: bool
    seconds: float
    problems: list[str] = field(default_factory=list)
    ingestion: dict[str, dict] = field(default_factory=dict)  # source -> materialization metadata
    failed_checks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # checks failed with severity WARN: reported, not failing
    run_id: str | None = None


# Which process runs a `cew run`: a run whose process is gone (SIGKILL, power cut) would show
# as started in the UI for ever; the next `cew run` on the machine marks it failed.
HOST_TAG, PID_TAG = "cew/host", "cew/pid"


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs `cew run` started on this machine that are still in progress
    although their process is gone (a pid now used by a younger process counts as gone).
    Returns their run ids."""
    import psutil

    failed = []
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags={HOST_TAG: socket.gethostname()})
    )
    for run in runs:
        record = instance.get_run_record_by_id(run.run_id)
        pid = int(run.tags.get(PID_TAG, "0"))
        try:
            alive = psutil.Process(pid).create_time() <= record.create_timestamp.timestamp() + 1
        except (psutil.NoSuchProcess, ValueError):
            alive = False
        if not alive:
            instance.report_run_failed(run, message=f"its process (pid {pid}) ended without finishing the run: killed or crashed")
            failed.append(run.run_id)
    return failed


def _instance() -> dg.DagsterInstance:
    # With DAGSTER_HOME (as `make dev` sets) runs are recorded where the UI shows them.
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def run_pipeline(days: list[date], log: Callable[[str], None] = print, full_refresh: bool = False,
                 retrain_churn: bool = False) -> PipelineOutcome:
    from orchestration.dbt.project import prepare_manifest

    started = time.perf_counter()
    log("preparing dbt manifest (dbt parse) ...")
    prepare_manifest()
    from orchestration.dbt.assets import customer_360_dbt_assets, warehouse_dbt_assets
    from orchestration.ml.assets import churn_assets
    from orchestration.definitions import defs
    from orchestration.partitions import daily_partitions

    keys = [d.isoformat() for d in sorted(days)]
    valid = set(daily_partitions.get_partition_keys())
    outside = [k for k in keys if k not in valid]
    if outside:
        return PipelineOutcome(
            False,
            time.perf_counter() - started,
            [
                f"day(s) {outside[0]}..{outside[-1]} are outside the daily partitions "
                f"(they start at CEW_START_DATE and end yesterday): set CEW_START_DATE earlier"
            ],
        )
    from orchestration.catalog import SOURCES_BY_NAME
    from orchestration.ingestion.loader import ignored_files
    from orchestration.settings import load_settings

    # files outside every source folder (the ingestion assets report those inside theirs)
    for name, why in ignored_files(load_settings().landing_dir):
        if name.split("/")[0] not in SOURCES_BY_NAME:
            log(f"WARNING: ignored landing file {name}: {why}")
    job = defs.resolve_job_def("nightly")
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    partition_key = None
    if len(keys) == 1:
        partition_key = keys[0]
    else:
        tags.update({ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]})
    log(f"running job 'nightly' for {keys[0]}..{keys[-1]} ({len(keys)} day(s)){', dbt full refresh' if full_refresh else ''}")
    with _instance() as instance:
        for run_id in fail_dead_runs(instance):
            log(f"marked run {run_id} failed: its process was killed or crashed before it finished")
        result = job.execute_in_process(
            instance=instance,
            partition_key=partition_key,
            tags=tags,
            raise_on_error=False,
            run_config={
                "loggers": {"console": {"config": {"log_level": "INFO"}}},
                "ops": {
                    **{op: {"config": {"full_refresh": full_refresh}} for op in (warehouse_dbt_assets.op.name, customer_360_dbt_assets.op.name)},
                    # a full refresh also retrains the churn model (new data or seeds: a saved model is stale)
                    churn_assets.op.name: {"config": {"retrain": full_refresh or retrain_churn}},
                },
            },
        )
    outcome = PipelineOutcome(result.success, time.perf_counter() - started, run_id=result.run_id)
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            message = error.message.strip() if error else "unknown error"
            outcome.problems.append(f"step {event.step_key} failed: {message}")
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            mat = event.step_materialization_data.materialization
            if mat.asset_key.path[0] == "raw":
                outcome.ingestion[mat.asset_key.path[-1]] = {k: v.value for k, v in mat.metadata.items()}
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                detail = evaluation.description or ""
                if evaluation.severity == dg.AssetCheckSeverity.WARN:
                    # a degraded but usable result (e.g. an ML fallback on thin data): said, not fatal
                    outcome.warnings.append(f"check {name} warns: {detail}".strip())
                    continue
                outcome.failed_checks.append(name)
                outcome.problems.append(f"check {name} failed {detail}".strip())
    if outcome.failed_checks:
        outcome.success = False
    for warning in outcome.warnings:
        log(f"WARNING: {warning}")
    log(f"run {'succeeded' if outcome.success else 'FAILED'} in {outcome.seconds:.1f} s (run id {result.run_id})")
    return outcome
