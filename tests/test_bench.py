"""`cew bench` on tiny data: every stage runs and is reported with real figures.

The benchmark itself (`cew bench`) is not part of `make test`; this checks its machinery.
"""

import re

import pytest

from orchestration.bench import Stage, _generate, _node_name, _parameters, _reusable_generation, run_benchmark

CUSTOMERS, DAYS, SEED = 50, 3, 5
STAGES = ("generate", "ingest", "dbt build", "baseline", "ingest + dbt build")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    messages: list[str] = []
    result = run_benchmark(CUSTOMERS, DAYS, SEED, root / "work", root / "results.md", messages.append)
    return result, (root / "results.md").read_text(encoding="utf-8"), messages


def _stage_row(markdown: str, name: str) -> list[str]:
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row for stage {name!r} in:\n{markdown}")


def test_results_section_has_every_stage_with_figures(bench):
    result, markdown, _ = bench
    assert re.search(rf"^## .* {CUSTOMERS} customers × {DAYS} days \(seed {SEED}\)$", markdown, re.M)
    assert "cores" in markdown and "GiB RAM" in markdown and "DuckDB" in markdown and "dbt-core" in markdown
    for name in STAGES:
        seconds, rows, per_second, peak = (float(c.replace(",", "")) for c in _stage_row(markdown, name)[1:5])
        assert seconds > 0 and rows > 0 and per_second > 0 and peak > 0, name
    # ingestion and the baseline read the same files: with clean data, the same rows
    assert result.stages["ingest"].rows == result.stages["baseline"].rows == result.landing_rows > 0
    assert result.warehouse_mib > 0 and result.raw_tables[0][1] > 0
    for target in ("ingestion rows/s ÷ baseline rows/s", "ingest + dbt build time", "peak memory"):
        assert re.search(rf"^\| {re.escape(target)}.*\| (PASS|FAIL) \|$", markdown, re.M), target


def test_summary_is_logged(bench):
    _, _, messages = bench
    summary = next(m for m in messages if m.startswith("benchmark "))
    for name in ("generate", "ingest", "dbt build", "baseline"):
        assert name in summary
    assert re.search(r"(PASS|FAIL)  ingestion rows/s", summary)


def test_dbt_stage_is_reported_with_its_slowest_nodes(bench):
    result, markdown, _ = bench
    stage = result.stages["dbt build"]
    # a failing model must still leave a record saying so, not a missing row
    assert stage.ok or "FAILED" in _stage_row(markdown, "dbt build")[5]
    assert stage.ok, "dbt build failed: " + "; ".join(result.dbt_problems)
    assert "Slowest dbt nodes:" in markdown and 0 < len(result.slowest_nodes) <= 10
    assert all(seconds >= 0 for _, seconds, _ in result.slowest_nodes)


def test_generated_data_is_reused_for_the_same_parameters_only(bench):
    result, _, _ = bench
    messages: list[str] = []
    stage = Stage("generate")
    assert _generate(result.workdir, CUSTOMERS, DAYS, SEED, stage, messages.append)
    # reused data reports the figures recorded when it was generated
    assert "reusing" in messages[0] and stage.rows == result.stages["generate"].rows > 0
    assert _reusable_generation(result.workdir, _parameters(CUSTOMERS, DAYS, SEED + 1)) is None
    assert _reusable_generation(result.workdir, _parameters(CUSTOMERS, DAYS + 1, SEED)) is None
    changed_generator = {**_parameters(CUSTOMERS, DAYS, SEED), "generator": "0" * 16}
    assert _reusable_generation(result.workdir, changed_generator) is None


def test_node_names_drop_package_and_test_hash():
    assert _node_name("test.customer_engagement.unique_stg_x_id.40018f0422") == "test unique_stg_x_id"
    assert _node_name("model.customer_engagement.dim_customers") == "model dim_customers"
    assert _node_name("unit_test.customer_engagement.stg_x.stg_x_case") == "unit_test stg_x.stg_x_case"
