"""`cew bench` on tiny data: every stage runs and is reported with real figures.

The benchmark itself (`cew bench`) is not part of `make test`; this checks its machinery.
"""

import json
import re
from datetime import date

import click
import pytest

from orchestration import bench as bench_module
from orchestration.bench import (
    DAY_STAGES,
    FULL_STAGES,
    Stage,
    _generate,
    _node_name,
    _parameters,
    _reusable_generation,
    run_benchmark,
)
from orchestration.cli import FORMAT_OPTION
from orchestration.demo.generator import FORMAT_CHOICES

CUSTOMERS, DAYS, SEED, FORMAT = 50, 3, 5, "parquet"
STAGES = ("generate", "ingest", "dbt build", "full nightly", "day D ingest", "day D dbt build", "incremental day D",
          "baseline")  # fmt: skip
# The two dbt builds of the tiny run build only what the ML reads (and its tests), not the metric
# marts, which keeps this module fast: the bench's machinery is under test here, the models in
# test_e2e.py.
TINY_SELECTION = [
    "--select", "+dim_customers +customer_engagement_daily +fct_engagement_events +fct_support_tickets "
    "+fct_survey_responses +int_subscriptions__plan_periods",
    "--indirect-selection", "cautious",  # no relationship test of an unbuilt model
]  # fmt: skip


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    messages: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bench_module, "BUILD_ARGS", [*bench_module.BUILD_ARGS, *TINY_SELECTION])
        result = run_benchmark(CUSTOMERS, DAYS, SEED, root / "work", root / "results.md", messages.append, FORMAT)
    return result, (root / "results.md").read_text(encoding="utf-8"), messages


def _stage_row(markdown: str, name: str) -> list[str]:
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row for stage {name!r} in:\n{markdown}")


def test_results_section_has_every_stage_with_figures(bench):
    result, markdown, _ = bench
    assert re.search(rf"^## .* {CUSTOMERS} customers × {DAYS} days \(seed {SEED}, format {FORMAT}\)$", markdown, re.M)
    assert "cores" in markdown and "GiB RAM" in markdown and "DuckDB" in markdown and "dbt-core" in markdown
    for name in STAGES:
        rows, per_second, peak = (float(c.replace(",", "")) for c in _stage_row(markdown, name)[2:5])
        # seconds from the result: the baseline of a few hundred Parquet rows shows as 0.0 s
        seconds = {**result.stages, "full nightly": result.full, "incremental day D": result.day}[name].seconds
        assert seconds > 0 and rows > 0 and per_second > 0 and peak > 0, name
    # the two ingestions and the baseline read the same files: with clean data, the same rows
    full, day = result.stages["ingest"].rows, result.stages["day D ingest"].rows
    assert full + day == result.stages["baseline"].rows == result.landing_rows and full > 0 and day > 0
    assert result.warehouse_mib > 0 and result.raw_tables[0][1] > 0
    for target in ("ingestion rows/s ÷ baseline rows/s", "full nightly time", "peak memory", "incremental day"):
        assert re.search(rf"^\| {re.escape(target)}.*\| (PASS|FAIL) \|$", markdown, re.M), target
    assert re.search(r"^Full nightly ÷ bare baseline: [\d.,]+× ", markdown, re.M)


def test_full_nightly_and_incremental_day_sum_their_stages(bench):
    result, markdown, _ = bench
    assert (result.first_day, result.previous_day, result.last_day) == (
        date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3))  # fmt: skip
    for total, names in (("full nightly", FULL_STAGES), ("incremental day D", DAY_STAGES)):
        seconds = float(_stage_row(markdown, total)[1].replace(",", ""))
        parts = sum(float(_stage_row(markdown, name)[1].replace(",", "")) for name in names)
        assert seconds == pytest.approx(parts, abs=0.25), total
    assert result.day_share == pytest.approx(result.day.seconds / result.full.seconds)
    assert result.projected_seconds == pytest.approx(result.full.seconds * 100_000_000 / result.full.rows)


def test_incremental_dbt_build_runs_day_d_alone(bench):
    result, _, messages = bench
    full = next(m for m in messages if m.startswith("dbt build: "))
    day = next(m for m in messages if m.startswith("day D dbt build: "))
    assert "CEW_RUN_START_DATE=2026-01-01, CEW_RUN_DATE=2026-01-02" in full
    assert "CEW_RUN_START_DATE=2026-01-03, CEW_RUN_DATE=2026-01-03" in day
    # the ML of each run is as of its last day: the day D run scores customers who signed up on D
    assert result.stages["day D clv fit"].rows >= result.stages["clv fit"].rows > 0


def test_churn_retrains_as_the_nightly_asset_does(bench, monkeypatch):
    """The bench passes CEW_CHURN_RETRAIN_DAYS on, so day D reuses the full nightly's model as a
    real nightly run does (the asset's default: retrain weekly)."""
    from orchestration.ml import churn as churn_module

    result, _, _ = bench
    seen = {}

    def record(con, as_of, **kwargs):
        seen.update(kwargs, as_of=as_of)
        raise RuntimeError("recorded")

    monkeypatch.setattr(churn_module, "train_and_score", record)
    monkeypatch.setenv("CEW_CHURN_RETRAIN_DAYS", "5")
    churn = Stage("churn train + score")
    bench_module._ml(result.workdir / "warehouse.duckdb", result.last_day, Stage("clv fit"), churn, lambda _: None)
    assert seen["retrain_days"] == 5 and seen["models_dir"] == result.workdir / "models"
    assert seen["as_of"] == result.last_day and not churn.ok and "recorded" in churn.note


def test_summary_is_logged(bench):
    _, _, messages = bench
    summary = next(m for m in messages if m.startswith("benchmark "))
    for name in STAGES:
        assert name in summary
    assert re.search(r"(PASS|FAIL)  ingestion rows/s", summary)
    assert re.search(r"(PASS|FAIL)  incremental day ÷ full nightly time: \d+%", summary)


@pytest.mark.parametrize("name", ["dbt build", "day D dbt build"])
def test_dbt_stages_are_reported_with_their_slowest_nodes(bench, name):
    result, markdown, _ = bench
    stage = result.stages[name]
    # a failing model must still leave a record saying so, not a missing row
    assert stage.ok or "FAILED" in _stage_row(markdown, name)[5]
    assert stage.ok, f"{name} failed: " + "; ".join(result.dbt_problems)
    slowest = result.dbt_runs[name].slowest_nodes
    assert f"Slowest dbt nodes, {name}:" in markdown and 0 < len(slowest) <= 10
    assert all(seconds >= 0 for _, seconds, _ in slowest)
    # the nodes are those of this build: its own run_results.json, read before the next build
    run_results = json.loads((result.workdir / "dbt_target" / "run_results.json").read_text())["results"]
    if name == "day D dbt build":
        assert {_node_name(n["unique_id"]) for n in run_results} >= {node for node, _, _ in slowest}


def test_generated_data_is_reused_for_the_same_parameters_only(bench):
    result, _, _ = bench
    messages: list[str] = []
    stage = Stage("generate")
    assert _generate(result.workdir, CUSTOMERS, DAYS, SEED, FORMAT, stage, messages.append)
    # reused data reports the figures recorded when it was generated
    assert "reusing" in messages[0] and stage.rows == result.stages["generate"].rows > 0
    assert _reusable_generation(result.workdir, _parameters(CUSTOMERS, DAYS, SEED + 1, FORMAT)) is None
    assert _reusable_generation(result.workdir, _parameters(CUSTOMERS, DAYS + 1, SEED, FORMAT)) is None
    assert _reusable_generation(result.workdir, _parameters(CUSTOMERS, DAYS, SEED, "csv")) is None
    changed_generator = {**_parameters(CUSTOMERS, DAYS, SEED, FORMAT), "generator": "0" * 16}
    assert _reusable_generation(result.workdir, changed_generator) is None


def test_format_is_passed_to_the_generator(bench):
    result, _, _ = bench
    landing = result.workdir / "landing"
    assert {p.suffix for p in landing.rglob("*.*")} == {".parquet"}


def test_cli_offers_the_generators_formats():
    @FORMAT_OPTION
    def command(fmt):
        pass

    assert tuple(command.__click_params__[0].type.choices) == FORMAT_CHOICES


def test_node_names_drop_package_and_test_hash():
    assert _node_name("test.customer_engagement.unique_stg_x_id.40018f0422") == "test unique_stg_x_id"
    assert _node_name("model.customer_engagement.dim_customers") == "model dim_customers"
    assert _node_name("unit_test.customer_engagement.stg_x.stg_x_case") == "unit_test stg_x.stg_x_case"
