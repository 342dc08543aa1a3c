"""Build a warehouse from a few hand-written landing rows: the fixture of the metric tests.

Rows are written as the landing contract's CSV files, loaded by the real loader and turned into
marts by the real dbt project, so a test's expected numbers check the whole path (staging,
facts, observation models, segment roll-up, CI) and not a copy of the SQL.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Mapping, Sequence

import duckdb

from orchestration.catalog import get_source
from orchestration.ingestion.loader import load_source_day
from tests.support.postgres import run_dbt


def write_landing(landing: Path, files: Mapping[tuple[str, str], Sequence[Mapping[str, object]]]) -> None:
    """files: (source, 'YYYY-MM-DD') -> rows; columns missing from a row are left empty."""
    for (source_name, day), rows in files.items():
        source = get_source(source_name)
        folder = landing / source_name
        folder.mkdir(parents=True, exist_ok=True)
        names = [c.name for c in source.columns]
        with open(folder / f"{day}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=names)
            writer.writeheader()
            for row in rows:
                unknown = set(row) - set(names)
                assert not unknown, f"{source_name}: no such column(s) {unknown}"
                writer.writerow({k: ("" if v is None else v) for k, v in row.items()})


def build_tiny_warehouse(
    root: Path,
    files: Mapping[tuple[str, str], Sequence[Mapping[str, object]]],
    run_date: date,
    select: str,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Load the rows and `dbt seed` + `dbt run --select <select>`; returns the warehouse path."""
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    write_landing(landing, files)
    with duckdb.connect(str(warehouse)) as con:
        for source_name, day in files:
            result = load_source_day(con, landing, source_name, date.fromisoformat(day))
            assert result.status == "loaded" and not result.rows_quarantined, (source_name, day, result)
    dbt_env = {
        "CEW_WAREHOUSE_PATH": str(warehouse), "CEW_ENGINE": "duckdb", "CEW_RUN_DATE": run_date.isoformat(),
        **(env or {}),
    }  # fmt: skip
    common = {"target_path": root / "target", "log_path": root / "logs"}
    for args in (["seed"], ["run", "--select", select]):
        done = run_dbt(args, dbt_env, **common)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return warehouse
