"""The alert_notifications asset: sends the breaches of ``marts.metric_alerts`` not sent before.

What was sent is recorded in ``ops.alert_notifications`` (alert_id, when, through which
channels), so each breach is notified once however often the nightly run repeats. A delivery
failure fails the asset and records nothing: the alerts go out on the next run.
"""


import warnings
from datetime import datetime, timezone

import dagster as dg

from orchestration.alerts.notifiers import LogNotifier
from orchestration.partitions import daily_partitions
from orchestration.resources import AlertChannelsResource, WarehouseResource

warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `asset`", category=dg.BetaWarning)

METRIC_ALERTS_KEY = dg.AssetKey(["marts", "metric_alerts"])

LEDGER_TABLE = "ops.alert_notifications"
LEDGER_DDL = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.alert_notifications (
    alert_id VARCHAR PRIMARY KEY,
    metric_name VARCHAR,
    period_grain VARCHAR,
    period_start DATE,
    segment_name VARCHAR,
    segment_value VARCHAR,
    severity VARCHAR,
    value DOUBLE,
    threshold DOUBLE,
    channels VARCHAR,
    notified_at TIMESTAMP
)"""


def pending_alerts(con) -> list[dict]:
    """Rows of marts.metric_alerts whose alert_id is not in the ledger, worst first."""
    con.execute(LEDGER_DDL)
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts' AND table_name = 'metric_alerts'"
    ).fetchone()[0]
    if not exists:
        raise RuntimeError("marts.metric_alerts does not exist: the dbt build did not produce it")
    cursor = con.execute(
        """SELECT a.* FROM marts.metric_alerts AS a
           ANTI JOIN ops.alert_notifications AS sent USING (alert_id)
           ORDER BY a.severity = 'critical' DESC, a.period_start, a.metric_name, a.segment_name, a.segment_value"""
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def record_sent(con, alerts: list[dict], channels: list[str]) -> None:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    con.executemany(
        "INSERT INTO ops.alert_notifications VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (a["alert_id"], a["metric_name"], a["period_grain"], a["period_start"], a["segment_name"],
             a["segment_value"], a["severity"], a["value"], a["threshold"], ",".join(channels), now)
            for a in alerts
        ],
    )


@dg.asset(
    key=dg.AssetKey(["ops", "alert_notifications"]),
    deps=[METRIC_ALERTS_KEY],
    group_name="alerts",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"python", "duckdb"},
    description="Sends the new breaches of marts.metric_alerts (log by default; JSON webhook and e-mail by "
    "setting) and records them in ops.alert_notifications so that each is sent once.",
)
def alert_notifications(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, alert_channels: AlertChannelsResource
) -> dg.MaterializeResult:
    notifiers = [LogNotifier(context.log), *alert_channels.notifiers()]
    with warehouse.working_copy(reads=["marts.metric_alerts", LEDGER_TABLE], writes=[LEDGER_TABLE]) as con:
        alerts = pending_alerts(con)
        if alerts:
            for notifier in notifiers:
                notifier.send(alerts)
            record_sent(con, alerts, [n.name for n in notifiers])
    critical = sum(a["severity"] == "critical" for a in alerts)
    context.log.info(f"alerts: {len(alerts)} new ({critical} critical) sent via {', '.join(n.name for n in notifiers)}")
    return dg.MaterializeResult(
        metadata={
            "new_alerts": dg.MetadataValue.int(len(alerts)),
            "critical": dg.MetadataValue.int(critical),
            "channels": dg.MetadataValue.text(", ".join(n.name for n in notifiers)),
        }
    )
