"""Where alerts go. The log is the default; a JSON webhook and SMTP e-mail are settings.

Each notifier takes a batch of alerts (dicts, the columns of ``marts.metric_alerts``) and raises
on a delivery failure, so the asset fails loudly and the alerts stay unsent for the next run.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol, Sequence

Alert = dict[str, Any]


def describe(alert: Alert) -> str:
    segment = "" if alert["segment_name"] == "all" else f" [{alert['segment_name']}={alert['segment_value']}]"
    return (
        f"{alert['severity'].upper()}: {alert['metric_name']}{segment} {alert['period_grain']} of "
        f"{alert['period_start']} = {alert['value']:.4g} ({alert['comparison']} {alert['threshold']:g}; "
        f"n={alert['sample_size']})"
    )


class Notifier(Protocol):
    name: str

    def send(self, alerts: Sequence[Alert]) -> None: ...


@dataclass
class LogNotifier:
    logger: logging.Logger | Any
    name: str = "log"

    def send(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            self.logger.warning(describe(alert))


@dataclass
class WebhookNotifier:
    """POSTs ``{"alerts": [...]}`` as JSON; any non-2xx answer is a failure."""

    url: str
    timeout_seconds: float = 10.0
    name: str = "webhook"

    def send(self, alerts: Sequence[Alert]) -> None:
        body = json.dumps({"source": "customer-engagement-warehouse", "alerts": list(alerts)}, default=str)
        request = urllib.request.Request(
            self.url, data=body.encode("utf-8"), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"webhook {self.url} answered HTTP {response.status}")


@dataclass
class EmailNotifier:
    """One e-mail per batch, plain text, one line per alert."""

    host: str
    port: int
    sender: str
    recipients: list[str]
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_seconds: float = 10.0
    name: str = "email"

    def send(self, alerts: Sequence[Alert]) -> None:
        critical = sum(a["severity"] == "critical" for a in alerts)
        message = EmailMessage()
        message["Subject"] = f"[customer engagement] {len(alerts)} metric alert(s), {critical} critical"
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        lines = [describe(a) + (f" - {a['note']}" if a.get("note") else "") for a in alerts]
        message.set_content("\n".join(lines) + "\n")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)
