"""Dagster resources, configured from settings (environment variables)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dagster as dg
import duckdb

from orchestration.settings import Settings


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. One writer at a time: connections are short-lived."""

    path: str

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.path)
        try:
            # Timestamps are compared and stored in UTC whatever the machine's zone.
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()


class LandingZoneResource(dg.ConfigurableResource):
    """The folder users export their systems into (see docs/landing-contract.md)."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    from orchestration.dbt.assets import dbt_cli_resource

    return {
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        "landing": LandingZoneResource(path=str(settings.landing_dir)),
        "dbt": dbt_cli_resource(settings),
    }
