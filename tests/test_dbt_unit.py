"""The dbt unit tests: model SQL against hand-written input and expected rows.

They run here, in the test suite, and are excluded from the nightly `dbt build` (as dbt
recommends: they check logic, not data). dbt needs a model's direct parents to exist to read
their columns, so the project is first built empty (`dbt run --empty`) on an empty raw schema.
"""

import json

import duckdb
import pytest

from orchestration.dbt.project import AFTER_ML_SELECTION
from orchestration.ingestion.loader import ensure_raw_schema
from tests.support.postgres import dbt_run_results, run_dbt


@pytest.fixture(scope="module")
def empty_project(tmp_path_factory, dbt_manifest):
    root = tmp_path_factory.mktemp("dbt_unit")
    warehouse = root / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ensure_raw_schema(con)
    env = {"CEW_WAREHOUSE_PATH": str(warehouse), "CEW_ENGINE": "duckdb"}
    common = {"target_path": root / "target", "log_path": root / "logs"}
    # customer_360 reads the ML assets' tables, which no unit test needs
    for args in (["seed"], ["run", "--empty", "--exclude", AFTER_ML_SELECTION]):
        done = run_dbt(args, env, **common)
        assert done.returncode == 0, done.stdout[-4000:]
    return env, common


def test_every_dbt_unit_test_passes(empty_project, dbt_manifest):
    env, common = empty_project
    done = run_dbt(["test", "--select", "test_type:unit"], env, **common)
    results = dbt_run_results(common["target_path"])
    # the project's on-run-start/-end hooks (Spark's, no-ops elsewhere) are in the results too
    results = [r for r in results if r["unique_id"].startswith("unit_test.")]
    failed = [r["unique_id"] for r in results if r["status"] != "pass"]
    assert done.returncode == 0 and not failed, (failed, done.stdout[-6000:])
    declared = json.loads(dbt_manifest.read_text())["unit_tests"]
    assert {r["unique_id"] for r in results} == set(declared)
    assert len(declared) >= 39
