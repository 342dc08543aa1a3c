"""The alert notifier: new breaches of marts.metric_alerts go to the log, a JSON webhook and SMTP
e-mail (a local HTTP server and a local SMTP server on loopback, started here), each once."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import duckdb
import pytest
from aiosmtpd.controller import Controller

from orchestration.alerts.assets import alert_notifications
from orchestration.resources import AlertChannelsResource, WarehouseResource

ALERT_COLUMNS = """alert_id VARCHAR, metric_name VARCHAR, period_grain VARCHAR, period_start DATE, period_end DATE,
    segment_name VARCHAR, segment_value VARCHAR, value DOUBLE, sample_size BIGINT, ci_low DOUBLE, ci_high DOUBLE,
    comparison VARCHAR, threshold DOUBLE, warning_value DOUBLE, critical_value DOUBLE, severity VARCHAR, note VARCHAR"""

NPS_WARNING = ("a1", "nps", "week", "2026-03-02", "2026-03-08", "all", "all", 20.0, 40, 1.0, 39.0, "below", 30.0, 30.0, 0.0, "warning", "NPS of the week")
CHURN_CRITICAL = ("a2", "churn_rate", "month", "2026-02-01", "2026-02-28", "plan", "pro", 16.0, 120, 10.0, 23.0, "above", 15.0, 8.0, 15.0, "critical", None)
FCR_WARNING = ("a3", "fcr", "week", "2026-03-02", "2026-03-08", "all", "all", 65.0, 80, 54.0, 75.0, "below", 70.0, 70.0, 50.0, "warning", None)


class _Webhook(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def webhook():
    _Webhook.received, _Webhook.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, _Webhook
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp():
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute(f"CREATE TABLE marts.metric_alerts ({ALERT_COLUMNS})")
        con.executemany(f"INSERT INTO marts.metric_alerts VALUES ({', '.join('?' * 17)})", [NPS_WARNING, CHURN_CRITICAL])
    return path


def _materialize(warehouse, channels: AlertChannelsResource):
    return dg.materialize(
        [alert_notifications],
        resources={"warehouse": WarehouseResource(path=str(warehouse)), "alert_channels": channels},
        partition_key="2026-03-08",
        raise_on_error=False,
    )


def _channels(webhook, smtp) -> AlertChannelsResource:
    server, _ = webhook
    controller, _ = smtp
    return AlertChannelsResource(
        webhook_url=f"http://127.0.0.1:{server.server_address[1]}/alerts",
        smtp_host="127.0.0.1",
        smtp_port=controller.port,
        email_from="warehouse@example.com",
        email_to="cx-team@example.com, ops@example.com",
    )


def test_new_alerts_go_to_webhook_and_email_once(warehouse, webhook, smtp):
    _, handler = webhook
    _, inbox = smtp
    result = _materialize(warehouse, _channels(webhook, smtp))
    assert result.success

    assert len(handler.received) == 1
    content_type, payload = handler.received[0]
    assert content_type == "application/json"
    # critical first
    assert [a["alert_id"] for a in payload["alerts"]] == ["a2", "a1"]
    assert payload["alerts"][1]["metric_name"] == "nps" and payload["alerts"][1]["threshold"] == 30.0

    assert len(inbox.messages) == 1
    sender, recipients, message = inbox.messages[0]
    assert sender == "warehouse@example.com" and recipients == ["cx-team@example.com", "ops@example.com"]
    assert message["Subject"] == "[customer engagement] 2 metric alert(s), 1 critical"
    body = message.get_payload()
    assert "CRITICAL: churn_rate [plan=pro] month of 2026-02-01 = 16 (above 15; n=120)" in body
    assert "WARNING: nps week of 2026-03-02 = 20 (below 30; n=40) - NPS of the week" in body

    with duckdb.connect(str(warehouse), read_only=True) as con:
        sent = con.execute("SELECT alert_id, channels FROM ops.alert_notifications ORDER BY alert_id").fetchall()
    assert sent == [("a1", "log,webhook,email"), ("a2", "log,webhook,email")]

    # the next run has nothing new: nothing is sent again
    assert _materialize(warehouse, _channels(webhook, smtp)).success
    assert len(handler.received) == 1 and len(inbox.messages) == 1

    # a new breach appears: only it is sent
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"INSERT INTO marts.metric_alerts VALUES ({', '.join('?' * 17)})", FCR_WARNING)
    assert _materialize(warehouse, _channels(webhook, smtp)).success
    assert [a["alert_id"] for a in handler.received[1][1]["alerts"]] == ["a3"]
    assert "fcr week of 2026-03-02 = 65 (below 70; n=80)" in inbox.messages[1][2].get_payload()


def test_a_failed_delivery_fails_the_asset_and_keeps_the_alerts_for_the_next_run(warehouse, webhook, smtp):
    _, handler = webhook
    handler.status = 500
    result = _materialize(warehouse, _channels(webhook, smtp))
    assert not result.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ops.alert_notifications").fetchone()[0] == 0
    handler.status = 200
    assert _materialize(warehouse, _channels(webhook, smtp)).success
    assert [a["alert_id"] for a in handler.received[-1][1]["alerts"]] == ["a2", "a1"]


def test_log_is_the_default_channel(warehouse):
    result = _materialize(warehouse, AlertChannelsResource())
    assert result.success
    (materialization,) = result.get_asset_materialization_events()
    metadata = materialization.step_materialization_data.materialization.metadata
    assert metadata["channels"].value == "log" and metadata["new_alerts"].value == 2
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ops.alert_notifications").fetchone()[0] == 2


def test_log_notifier_writes_one_warning_per_alert():
    from orchestration.alerts.notifiers import LogNotifier

    class Recorder:
        lines: list = []

        def warning(self, line):
            self.lines.append(line)

    names = [c.split()[0] for c in ALERT_COLUMNS.replace("\n", " ").split(",")]
    LogNotifier(Recorder()).send([dict(zip(names, CHURN_CRITICAL))])
    assert Recorder.lines == ["CRITICAL: churn_rate [plan=pro] month of 2026-02-01 = 16 (above 15; n=120)"]
