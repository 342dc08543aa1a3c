"""BI serving: the published read-only copy of the marts, read while the nightly run writes,
and the dashboard on top of it in a real browser.

One module-scoped world: a first `cew run` publishes, then two reader processes query the
published file in a loop (one holding a connection open throughout, one opening a fresh one
per round) while a second `cew run` builds and republishes. The dashboard then serves that
copy and headless Chromium loads every page (screenshots in test-artifacts/dashboard/).
"""

import json
import os
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from orchestration.serving.publish import publish, read_publication

START = date(2026, 2, 1)
DAYS, SPLIT = 36, 34  # five weeks: every dashboard page has data (band movement looks 28 days back)
CEW = str(Path(sys.executable).parent / "cew")
READER = Path(__file__).parent / "support" / "published_reader.py"
REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "test-artifacts" / "dashboard"
# charts each page draws on this world's data (all must show marks; a page may add more)
MIN_CHARTS = {"overview": 12, "surveys": 5, "retention": 4, "digital": 9, "engagement": 3, "at-risk": 2, "alerts": 0}


def _day(i: int) -> str:
    return (START + timedelta(days=i)).isoformat()


def _run_id(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return re.search(r"run succeeded in [\d.]+ s \(run id ([0-9a-f-]+)\)", result.stderr).group(1)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from orchestration.demo.generator import generate

    root = tmp_path_factory.mktemp("serving")
    generate(out_dir=root / "landing", customers=400, days=DAYS, start=START, seed=5, messiness=0.0)
    published = root / "bi" / "cew_marts.duckdb"
    env = {
        **{k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
        "CEW_LANDING_DIR": str(root / "landing"),
        "CEW_WAREHOUSE_PATH": str(root / "warehouse.duckdb"),
        "CEW_PUBLISHED_PATH": str(published),
        "CEW_START_DATE": "2025-01-01",
    }

    def cew(*args):
        return subprocess.run([CEW, "run", *args], env=env, capture_output=True, text=True, timeout=900)

    first = _run_id(cew("--from", _day(0), "--to", _day(SPLIT - 1)))
    stop = root / "stop"
    readers = {
        mode: subprocess.Popen([sys.executable, str(READER), mode, str(published), str(stop), str(root / f"{mode}.json")])
        for mode in ("held", "fresh")
    }
    time.sleep(1)
    second = _run_id(cew("--from", _day(SPLIT), "--to", _day(DAYS - 1)))
    stop.touch()
    for reader in readers.values():
        assert reader.wait(timeout=120) == 0
    return {
        "root": root, "env": env, "published": published, "first": first, "second": second,
        "readers": {mode: json.loads((root / f"{mode}.json").read_text()) for mode in readers},
    }


@pytest.mark.e2e
def test_readers_are_never_blocked_and_read_whole_runs(served):
    fresh, held = served["readers"]["fresh"], served["readers"]["held"]
    assert fresh["errors"] == [] and held["errors"] == []
    # they kept querying through the run (a round takes milliseconds; the run takes tens of seconds)
    assert fresh["rounds"] >= 50 and held["rounds"] >= 50, (fresh["rounds"], held["rounds"])
    # new connections saw the first run's copy, then the second's, never anything between
    assert fresh["run_ids"] == [served["first"], served["second"]]
    # a connection held open across the swap keeps reading the copy it opened
    assert held["run_ids"] == [served["first"]]


@pytest.mark.e2e
def test_published_file_records_the_run_and_matches_the_warehouse(served):
    rows = read_publication(served["published"])
    assert {r["run_id"] for r in rows} == {served["second"]}
    assert {r["run_date"] for r in rows} == {START + timedelta(days=DAYS - 1)}
    published = {f"{r['table_schema']}.{r['table_name']}": r["row_count"] for r in rows}
    with duckdb.connect(served["env"]["CEW_WAREHOUSE_PATH"], read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('marts', 'ml')"
        ).fetchall()
        expected = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for (t,) in tables}
    assert published == expected
    assert {"marts.metric_values", "marts.customer_360", "marts.dim_customers", "ml.customer_clv"} <= set(published)
    assert published["marts.metric_values"] > 0 and published["marts.dim_customers"] > 0
    # nothing but the published file is left in its folder (no temp file, no WAL)
    assert [p.name for p in served["published"].parent.iterdir()] == ["cew_marts.duckdb"]


def test_published_asset_is_downstream_of_every_mart_and_ml_table(dbt_manifest):
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.serving.assets import PUBLISHED_KEY

    manifest = json.loads(Path(dbt_manifest).read_text())
    marts = {
        f"marts/{n['name']}" for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["config"].get("schema") == "marts"
    }
    assert "marts/customer_360" in marts and "marts/metric_values" in marts
    parents = {k.to_user_string() for k in defs.resolve_asset_graph().get(PUBLISHED_KEY).parent_keys}
    ml = {"ml/customer_clv", "ml/clv_segments", "ml/clv_model_runs", "ml/customer_churn_scores", "ml/churn_model_runs",
          "ml/model_metrics"}
    assert parents == marts | ml
    # the dashboard's pages (dbt exposures) are its children, each with the marts it reads
    graph = defs.resolve_asset_graph()
    pages = {k.to_user_string() for k in graph.get(PUBLISHED_KEY).child_keys}
    assert pages == {f"dashboard/{p}" for p in
                     ("overview", "cx_surveys", "retention", "digital", "engagement", "at_risk", "alerts")}
    at_risk = {k.to_user_string() for k in graph.get(dg.AssetKey(["dashboard", "at_risk"])).parent_keys}
    assert at_risk == {"published/marts", "marts/customer_360", "marts/customer_engagement_current"}
    assert not graph.get(dg.AssetKey(["dashboard", "at_risk"])).is_materializable


def test_a_failed_publication_leaves_the_previous_copy(tmp_path):
    warehouse = duckdb.connect(str(tmp_path / "w.duckdb"))
    destination = tmp_path / "pub" / "cew_marts.duckdb"
    warehouse.execute("CREATE SCHEMA marts; CREATE TABLE marts.t AS SELECT 1 AS x UNION ALL SELECT 2")
    publish(warehouse, destination, "run-1", date(2026, 3, 1))
    assert [(r["run_id"], r["table_name"], r["row_count"]) for r in read_publication(destination)] == [("run-1", "t", 2)]
    # a view that fails when read stops the second publication half-way
    warehouse.execute("CREATE TABLE marts.gone AS SELECT 1 AS x; CREATE VIEW marts.v AS SELECT * FROM marts.gone")
    warehouse.execute("DROP TABLE marts.gone")
    warehouse.execute("INSERT INTO marts.t VALUES (3)")
    with pytest.raises(duckdb.Error):
        publish(warehouse, destination, "run-2", date(2026, 3, 2))
    assert [(r["run_id"], r["row_count"]) for r in read_publication(destination)] == [("run-1", 2)]
    assert sorted(p.name for p in destination.parent.iterdir()) == ["cew_marts.duckdb"]
    # without marts there is nothing to publish: a clear error, the copy stays
    empty = duckdb.connect(str(tmp_path / "empty.duckdb"))
    with pytest.raises(RuntimeError, match="no marts to publish"):
        publish(empty, destination, "run-3")
    assert read_publication(destination)[0]["run_id"] == "run-1"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.e2e
def test_dashboard_pages_render_with_data_in_chromium(served):
    import urllib.request

    from tests.support.dashboard_browser import CHROMIUM, visit

    assert Path(CHROMIUM).exists(), "Chromium is missing: `make chromium` installs Debian's package"
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "orchestration" / "dashboard" / "app.py"),
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"],
        env=served["env"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.5)
        report = visit(f"http://127.0.0.1:{port}", SCREENSHOTS)
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0]
    assert set(report) == set(MIN_CHARTS)
    for name, page in report.items():
        assert page["errors"] == [] and page["problems"] == [], (name, page)
        assert page["charts"] >= MIN_CHARTS[name] and page["blank_charts"] == [], (name, page)
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 20_000
    assert report["overview"]["metrics"] == 12
    assert report["at-risk"]["tables"] == 1
    with duckdb.connect(str(served["published"]), read_only=True) as con:
        alerts = con.execute("SELECT count(*) FROM marts.metric_alerts").fetchone()[0]
    if alerts:
        assert report["alerts"]["charts"] == 1 and report["alerts"]["tables"] == 1
    else:
        assert "No metric breaches its alert rule" in report["alerts"]["text"]
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.e2e
def test_semantic_layer_metrics_equal_metric_values(served):
    """`mf query` on the dbt semantic layer gives the monthly values of metric_values (segment all)."""
    import csv

    metrics = ["revenue", "orders", "avg_order_value", "nps", "csat", "ces"]
    out = served["root"] / "mf.csv"
    env = {**served["env"], "DBT_PROFILES_DIR": str(REPO)}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mf"), "query", "--metrics", ",".join(metrics),
         "--group-by", "metric_time__month", "--csv", str(out), "--quiet"],
        cwd=REPO / "dbt_project", env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = list(csv.DictReader(out.open()))
    got = {(r["metric_time__month"][:10], m): float(r[m]) for r in rows for m in metrics if r[m] not in ("", None)}
    with duckdb.connect(served["env"]["CEW_WAREHOUSE_PATH"], read_only=True) as con:
        expected = {
            (str(d), m): v
            for m, d, v in con.execute(
                "SELECT metric_name, period_start, value FROM marts.metric_values WHERE period_grain = 'month' "
                f"AND segment_name = 'all' AND metric_name IN ({', '.join(repr(m) for m in metrics)}) "
                "AND sample_size > 0"
            ).fetchall()
        }
    assert {k for k in got if k[1] == "revenue"} == {k for k in expected if k[1] == "revenue"}
    assert len({k[0] for k in got}) >= 2
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key


def test_chart_check_tells_marks_from_axes():
    """The browser test's check for a drawn chart: axes, grid and text (greys) are no marks."""
    import io

    from PIL import Image, ImageDraw

    from tests.support.dashboard_browser import colored_pixels

    def png(draw_marks: bool) -> bytes:
        image = Image.new("RGB", (400, 300), "white")
        pen = ImageDraw.Draw(image)
        pen.line([(40, 10), (40, 260), (390, 260)], fill="#888888", width=2)  # axes
        pen.text((10, 270), "Feb 08  March", fill="#31333f")
        if draw_marks:
            pen.ellipse([(200, 100), (210, 110)], fill="#4c78a8")  # one dot of a dot plot
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()

    assert colored_pixels(png(False)) == 0
    assert colored_pixels(png(True)) >= 40
