"""The PII hash key: every run refuses the public demo key (or none) outside demo mode
(CEW_DEMO_MODE=true, which `make run`, `make dev`, `cew bench` and the test suite set)."""

import dagster as dg
import pytest
from click.testing import CliRunner

from orchestration.cli import cli
from orchestration.resources import WarehouseResource
from orchestration.settings import PiiKeyError, load_settings, require_pii_key


@pytest.mark.parametrize(
    "demo, key, allowed",
    [("true", None, True), ("true", "change-me", True), ("false", None, False), ("false", "change-me", False),
     ("false", "", False), (None, None, False), ("false", "a-real-secret", True), ("1", None, True), ("no", None, False)],
)
def test_demo_key_only_in_demo_mode(monkeypatch, demo, key, allowed):
    for name, value in (("CEW_DEMO_MODE", demo), ("CEW_PII_HASH_KEY", key)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    if allowed:
        require_pii_key(load_settings())
    else:
        with pytest.raises(PiiKeyError, match="CEW_PII_HASH_KEY .*CEW_DEMO_MODE=true"):
            require_pii_key(load_settings())


def test_a_dagster_run_refuses_to_start_with_the_demo_key(monkeypatch, tmp_path):
    """UI, schedule and sensor runs go through the warehouse resource: its set-up refuses."""
    monkeypatch.setenv("CEW_DEMO_MODE", "false")
    monkeypatch.delenv("CEW_PII_HASH_KEY", raising=False)
    touched = []

    @dg.asset
    def needs_warehouse(warehouse: WarehouseResource):
        touched.append(True)

    result = dg.materialize([needs_warehouse], resources={"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb"))},
                            raise_on_error=False)
    assert not result.success and not touched and not (tmp_path / "w.duckdb").exists()
    monkeypatch.setenv("CEW_PII_HASH_KEY", "a-real-secret")
    assert dg.materialize([needs_warehouse], resources={"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb"))}).success


def test_cew_run_refuses_before_touching_anything(monkeypatch, tmp_path):
    monkeypatch.setenv("CEW_DEMO_MODE", "false")
    monkeypatch.setenv("CEW_PII_HASH_KEY", "change-me")
    # `cew run --landing/--warehouse` set these: restored after
    monkeypatch.setenv("CEW_LANDING_DIR", str(tmp_path))
    monkeypatch.setenv("CEW_WAREHOUSE_PATH", str(tmp_path / "w.duckdb"))
    (tmp_path / "landing").mkdir()
    result = CliRunner().invoke(cli, ["run", "--landing", str(tmp_path / "landing"),
                                      "--warehouse", str(tmp_path / "w.duckdb")])
    assert result.exit_code == 1 and "refusing to start" in result.output and "demo key" in result.output
    assert not (tmp_path / "w.duckdb").exists()
