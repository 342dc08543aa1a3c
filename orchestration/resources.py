"""Dagster resources, configured from settings (environment variables)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Iterator, Sequence

import dagster as dg
import duckdb

from orchestration.engines import Engine, engine_for
from orchestration.settings import Settings, load_settings, require_pii_key


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file, and the engine the marts are built on (orchestration.engines).
    One writer at a time: connections are short-lived."""

    path: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # every run that touches the warehouse (UI, schedule, sensor, `cew run`) starts here
        require_pii_key()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.path, config=load_settings().duckdb_config())
        try:
            # Timestamps are compared and stored in UTC whatever the machine's zone.
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()

    def engine(self) -> Engine:
        return engine_for(load_settings())

    def publish_raw(self, con: duckdb.DuckDBPyConnection, tables: Sequence[str], days: Sequence[date]) -> dict[str, int]:
        """Copy tables of schema raw (of the open DuckDB file) to the engine (nothing on DuckDB)."""
        return self.engine().publish_raw(con, tables, days)

    @contextmanager
    def working_copy(self, reads: Sequence[str], writes: Sequence[str]) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection with the engine's tables ``reads``; ``writes`` go back to the engine
        on success (on DuckDB: the warehouse file itself)."""
        with self.engine().working_copy(self.connect, reads, writes) as con:
            yield con


class LandingZoneResource(dg.ConfigurableResource):
    """The folder users export their systems into (see docs/landing-contract.md)."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)


class AlertChannelsResource(dg.ConfigurableResource):
    """Where metric alerts go besides the log: a JSON webhook and/or SMTP e-mail (empty = off)."""

    webhook_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    email_from: str = "warehouse@localhost"
    email_to: str = ""  # comma-separated

    def notifiers(self) -> list:
        from orchestration.alerts.notifiers import EmailNotifier, WebhookNotifier

        out: list = []
        if self.webhook_url:
            out.append(WebhookNotifier(self.webhook_url))
        if self.smtp_host and self.email_to:
            out.append(
                EmailNotifier(
                    host=self.smtp_host,
                    port=self.smtp_port,
                    sender=self.email_from,
                    recipients=[r.strip() for r in self.email_to.split(",") if r.strip()],
                    username=self.smtp_user or None,
                    password=self.smtp_password or None,
                    starttls=self.smtp_starttls,
                )
            )
        return out


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    from orchestration.dbt.assets import dbt_cli_resource

    return {
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        "landing": LandingZoneResource(path=str(settings.landing_dir)),
        "dbt": dbt_cli_resource(settings),
        "alert_channels": AlertChannelsResource(
            webhook_url=settings.alert_webhook_url,
            smtp_host=settings.alert_smtp_host,
            smtp_port=settings.alert_smtp_port,
            smtp_user=settings.alert_smtp_user,
            smtp_password=settings.alert_smtp_password,
            smtp_starttls=settings.alert_smtp_starttls,
            email_from=settings.alert_email_from,
            email_to=settings.alert_email_to,
        ),
    }
