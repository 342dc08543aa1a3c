"""The engagement score on hand-made events: window edges, no events, negative events only,
decay on and off, incremental runs equal to a full refresh, and a weights file with an unknown
event type failing the build. Weights are the project's defaults (seeds/engagement_event_weights.csv),
read below as OPEN, CLICK, UNSUBSCRIBE and SPAM so that a recalibration of the defaults does not
change what is tested; the expected scores are written as sums of them."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import csv

import duckdb
import pytest
from pytest import approx

from tests.support.postgres import REPO_ROOT, dbt_executable, run_dbt
from orchestration.ingestion.loader import load_source_day
from tests.support.tiny_warehouse import build_tiny_warehouse, write_landing

SELECT = "+customer_engagement_current"
_WEIGHTS = {(r["source"], r["event_type"]): float(r["weight"])
            for r in csv.DictReader(open(REPO_ROOT / "seeds" / "engagement_event_weights.csv", encoding="utf-8"))}
OPEN, CLICK = _WEIGHTS[("email", "open")], _WEIGHTS[("email", "click")]
UNSUBSCRIBE, SPAM = _WEIGHTS[("email", "unsubscribe")], _WEIGHTS[("email", "spam_report")]
assert OPEN > 0 and CLICK > OPEN and SPAM < UNSUBSCRIBE < 0  # the orders the tests below rely on


def _customer(customer_id):
    return {
        "customer_id": customer_id, "email": f"{customer_id.lower()}@example.com", "full_name": "A B",
        "signup_at": "2026-03-01T08:00:00Z", "country": "TR", "acquisition_channel": "email",
        "marketing_opt_in": "true", "updated_at": "2026-03-01T08:00:00Z",
    }


def _email(event_id, customer_id, event_type, day):
    return {"event_id": event_id, "customer_id": customer_id, "campaign_id": "K1", "email_type": "newsletter",
            "event_type": event_type, "occurred_at": f"{day}T12:00:00Z"}


def _registration(customer_id, cancelled):
    return {"registration_id": f"R-{customer_id}", "event_id": "EV-1", "event_name": "Webinar", "event_type": "webinar",
            "event_date": "2026-04-20", "capacity": "100", "customer_id": customer_id,
            "registered_at": "2026-03-10T09:00:00Z", "attended": None, "cancelled": cancelled}


FILES = {
    ("crm_customers", "2026-03-01"): [_customer("W"), _customer("N"), _customer("Z"), _customer("L")],
    # L's open on Feb 15, before the signup: in the score of Mar 14 (window Feb 13..Mar 14), so in
    # week_ago_score of Mar 21, the incremental run's first day (37 days after it)
    ("email_events", "2026-02-15"): [_email("e0", "L", "open", "2026-02-15")],
    # W registers on Mar 10 for an event (in the full build to Mar 20), then cancels (LATE_FILES)
    ("event_registrations", "2026-03-10"): [_registration("W", cancelled="false")],
    ("email_events", "2026-03-01"): [_email("e1", "W", "open", "2026-03-01")],
    ("email_events", "2026-03-02"): [_email("e2", "W", "click", "2026-03-02")],
    ("email_events", "2026-03-25"): [_email("e3", "W", "open", "2026-03-25")],
    ("email_events", "2026-03-30"): [_email("e4", "N", "unsubscribe", "2026-03-30")],
    ("email_events", "2026-03-31"): [_email("e5", "N", "spam_report", "2026-03-31")],
}


# delivered after the full build, before the incremental run: the cancellation withdraws the
# registration's event of Mar 10, a day before the run's first one
LATE_FILES = {("event_registrations", "2026-03-25"): [_registration("W", cancelled="true")]}


def _dbt(root: Path, warehouse: Path, args: list[str], env: dict | None = None):
    done = run_dbt(args, {"CEW_WAREHOUSE_PATH": str(warehouse), **(env or {})},
                   target_path=root / "target", log_path=root / "logs")
    assert done.returncode == 0, done.stdout[-4000:]


def _scores(warehouse: Path) -> dict[tuple[str, str], tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT * FROM marts.customer_engagement_daily ORDER BY customer_id, score_date"
        ).fetchall()
    return {(r[0], r[1].isoformat()): r[2:] for r in rows}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Built in two nightly-like steps: full history to Mar 20, then, after LATE_FILES arrived,
    Mar 21..31 incrementally."""
    root = tmp_path_factory.mktemp("engagement")
    warehouse = build_tiny_warehouse(root, FILES, date(2026, 3, 20), SELECT)
    with duckdb.connect(str(warehouse)) as con:
        assert con.execute("SELECT count(*) FROM marts.customer_engagement_daily "
                           "WHERE customer_id = 'W' AND score_date = '2026-03-10' AND score_brand_events > 0").fetchone()[0]
    write_landing(root / "landing", LATE_FILES)
    with duckdb.connect(str(warehouse)) as con:
        for source_name, day in LATE_FILES:
            assert load_source_day(con, root / "landing", source_name, date.fromisoformat(day)).status == "loaded"
    _dbt(root, warehouse, ["run", "--select", SELECT],
         env={"CEW_RUN_START_DATE": "2026-03-21", "CEW_RUN_DATE": "2026-03-31"})
    return root, warehouse


def score(scores, customer, day):
    value, band = scores[(customer, day)][:2]
    return value, band


def test_window_edge_no_events_and_negative_events_only(world):
    _, warehouse = world
    scores = _scores(warehouse)
    # W: open Mar 1 + click Mar 2: on Mar 30 both are in the 30-day window (Mar 1..30)
    assert score(scores, "W", "2026-03-30") == (approx(OPEN + CLICK + OPEN), "very_disengaged")  # + open Mar 25
    # on Mar 31 the Mar 1 open is exactly 30 days back: out of the window (Mar 2..31)
    assert score(scores, "W", "2026-03-31") == (approx(CLICK + OPEN), "very_disengaged")
    # N: only negative events: the unsubscribe on Mar 30, then + the spam report on Mar 31
    assert score(scores, "N", "2026-03-30") == (approx(UNSUBSCRIBE), "at_risk")
    assert score(scores, "N", "2026-03-31") == (approx(UNSUBSCRIBE + SPAM), "at_risk")
    # Z: no events at all: 0 (very_disengaged includes 0), every day since signup
    assert {scores[("Z", f"2026-03-{d:02d}")][:2] for d in range(1, 32)} == {(0.0, "very_disengaged")}
    # sub-scores add up to the score; all of W's points are e-mail points
    columns = _sub_score_columns(warehouse)
    row = dict(zip(["score", "band", "band_rank", *columns], scores[("W", "2026-03-31")]))
    assert row["score_email"] == approx(CLICK + OPEN) and sum(row[c] for c in columns) == approx(row["score"])


def _sub_score_columns(warehouse: Path) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [r[0] for r in con.execute("DESCRIBE marts.customer_engagement_daily").fetchall()]
    return [n for n in names if n.startswith("score_") and n != "score_date"]


def test_current_score_change_drop_alert_and_top_contributors(world):
    _, warehouse = world
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = {r[0]: r for r in con.execute(
            "SELECT customer_id, score, score_7d_ago, score_change_7d, score_drop_alert, top_event_1, top_event_1_points, "
            "top_event_2, is_pql FROM marts.customer_engagement_current").fetchall()}
    # W on Mar 24 (7 days back): open Mar 1 + click Mar 2; on Mar 31: click + open Mar 25: the same
    assert rows["W"][1:5] == (approx(OPEN + CLICK), approx(OPEN + CLICK), approx(0.0), False)
    # the click contributes most, then the open
    assert rows["W"][5:8] == ("email:click", approx(CLICK), "email:open")
    # N: 0 a week ago -> no drop alert (only a positive score can fall by a share)
    assert rows["N"][4] is False and rows["N"][5:7] == ("email:spam_report", approx(SPAM))
    assert not any(r[8] for r in rows.values())  # nobody holds a free plan or a trial


def test_incremental_runs_equal_a_full_refresh(world):
    root, warehouse = world
    incremental = _scores(warehouse)
    _dbt(root, warehouse, ["run", "--select", "customer_engagement_daily", "--full-refresh"],
         env={"CEW_RUN_DATE": "2026-03-31"})
    assert _scores(warehouse) == incremental
    assert len(incremental) == 3 * 31 + (14 + 31)  # L from its first event, Feb 15
    # the cancelled registration's event (Mar 10) is in no score, also of the days before the run
    assert [incremental[("W", f"2026-03-{d:02d}")][0] for d in range(10, 21)] == [approx(OPEN + CLICK)] * 11


def test_week_ago_score_of_an_incremental_run_reads_the_week_before_its_window(world):
    """The incremental run (Mar 21..31) rescored Mar 21 from the days before it: its
    week_ago_score is the score of Mar 14, whose window reaches back to Feb 13."""
    _, warehouse = world
    scores = _scores(warehouse)
    week_ago = -1  # the last column
    assert scores[("L", "2026-03-14")][0] == approx(OPEN)
    assert scores[("L", "2026-03-21")][week_ago] == approx(OPEN)
    assert scores[("L", "2026-03-23")][week_ago] == approx(OPEN)  # Mar 16: window Feb 15..Mar 16
    assert scores[("L", "2026-03-24")][week_ago] == 0.0  # Mar 17: the open left the window
    assert scores[("L", "2026-02-21")][week_ago] is None  # 6 days after the first day
    assert scores[("L", "2026-02-22")][week_ago] == approx(OPEN)


def test_decay_halves_a_weight_per_half_life(world, tmp_path):
    root, warehouse = world
    copy = Path(shutil.copy(warehouse, tmp_path / "decay.duckdb"))
    _dbt(root, copy, ["run", "--select", "customer_engagement_daily", "--full-refresh"],
         env={"CEW_RUN_DATE": "2026-03-31", "CEW_ENGAGEMENT_DECAY_HALF_LIFE_DAYS": "2"})
    scores = _scores(copy)
    # half-life 2 days: N on Mar 31 = spam report (age 0) + unsubscribe x 0.5^(1/2)
    # (scores are stored rounded to 6 decimals)
    assert scores[("N", "2026-03-31")][0] == pytest.approx(SPAM + UNSUBSCRIBE * 0.5 ** 0.5, abs=5e-7)
    # W on Mar 31: click Mar 2 (age 29) x 0.5^14.5 + open Mar 25 (age 6) x 0.5^3
    assert scores[("W", "2026-03-31")][0] == pytest.approx(CLICK * 0.5 ** 14.5 + OPEN * 0.5 ** 3, abs=5e-7)
    assert scores[("Z", "2026-03-31")][0] == 0.0


def test_decayed_incremental_runs_equal_a_full_refresh(world, tmp_path):
    """With a half-life, the days an incremental run scores from the events (the customers it
    rescores from its first day: L, N, Z) and by the window (W, whose registration was
    withdrawn) equal a full refresh."""
    root, warehouse = world
    copy = Path(shutil.copy(warehouse, tmp_path / "decay_incremental.duckdb"))
    decay = {"CEW_ENGAGEMENT_DECAY_HALF_LIFE_DAYS": "2"}
    _dbt(root, copy, ["run", "--select", "customer_engagement_daily", "--full-refresh"],
         env={"CEW_RUN_DATE": "2026-03-20", **decay})
    _dbt(root, copy, ["run", "--select", "customer_engagement_daily"],
         env={"CEW_RUN_START_DATE": "2026-03-21", "CEW_RUN_DATE": "2026-03-31", **decay})
    incremental = _scores(copy)
    _dbt(root, copy, ["run", "--select", "customer_engagement_daily", "--full-refresh"],
         env={"CEW_RUN_DATE": "2026-03-31", **decay})
    assert _scores(copy) == incremental
    # decayed, not the plain sum: N on Mar 31 as in test_decay_halves_a_weight_per_half_life
    assert incremental[("N", "2026-03-31")][0] == pytest.approx(SPAM + UNSUBSCRIBE * 0.5 ** 0.5, abs=5e-7)


def test_a_weight_for_an_unknown_event_type_fails_the_build(tmp_path, dbt_manifest):
    # a copy of the project whose weights seed has a typo: page_veiw
    project = tmp_path / "project"
    shutil.copytree(REPO_ROOT / "dbt_project", project / "dbt_project", ignore=shutil.ignore_patterns("target", "logs"))
    shutil.copytree(REPO_ROOT / "seeds", project / "seeds")
    shutil.copy(REPO_ROOT / "profiles.yml", project / "profiles.yml")
    # start from the project's parse: dbt re-parses only the changed seed
    (project / "dbt_project" / "target").mkdir()
    shutil.copy(REPO_ROOT / "dbt_project" / "target" / "partial_parse.msgpack", project / "dbt_project" / "target")
    with open(project / "seeds" / "engagement_event_weights.csv", "a", encoding="utf-8") as handle:
        handle.write("web,page_veiw,1\n")
    done = subprocess.run(
        [str(dbt_executable()), "build", "--select", "engagement_event_weights", "--profiles-dir", str(project),
         "--project-dir", str(project / "dbt_project")],
        env={**os.environ, "CEW_WAREHOUSE_PATH": str(tmp_path / "w.duckdb"), "DBT_USE_COLORS": "false"},
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode != 0
    assert "FAIL 1 engagement_weights_have_known_event_types" in done.stdout
    assert "Failure in test engagement_weights_have_known_event_types" in done.stdout


def test_roc_auc_by_hand():
    from orchestration.evaluation.engagement import roc_auc

    # positives score 0.9 and 0.4, negatives 0.7, 0.4 and 0.1: of the 6 pairs the positive is higher
    # in (0.9,0.7) (0.9,0.4) (0.9,0.1) (0.4,0.1), tied in (0.4,0.4) -> (4 + 0.5) / 6 = 0.75
    assert roc_auc([0.9, 0.4, 0.7, 0.4, 0.1], [True, True, False, False, False]) == pytest.approx(0.75)
    assert roc_auc([1, 2, 3], [False, False, False]) != roc_auc([1, 2, 3], [False, False, False])  # nan


def test_calibration_from_observed_churn_raises_the_weight_that_carries_the_signal(tmp_path):
    """A hand-made warehouse, no truth file: every customer holds a paid plan (active on every
    snapshot, spec); the churners' plan ends on 2026-04-15, so they are "not active 90 days
    later" on every snapshot from mid-January. Churners view fewer pages (4 a month against 10);
    e-mail opens are noise; an unsubscribe (declared negative) comes more often from customers
    who stay. The fit on the warehouse's own labels must move weight to page views, keep the
    unsubscribe negative and the sent e-mail at 0, and beat the seed out of time. The command
    writes a proposal and its review as new files and refuses to overwrite them."""
    import numpy as np
    import pandas as pd
    from click.testing import CliRunner

    from orchestration.cli import cli
    from orchestration.evaluation.engagement import calibrate_weights

    rng = np.random.default_rng(3)
    n, first, as_of = 400, date(2026, 1, 1), date(2026, 6, 30)
    days = (as_of - first).days + 1
    churner = rng.random(n) < 0.3
    ids = [f"C{i:04d}" for i in range(n)]
    seed = [("web", "page_view", 1.0), ("email", "open", 1.0), ("email", "unsubscribe", -10.0), ("email", "sent", 0.0)]
    events = []
    for i, cid in enumerate(ids):  # test data only
        for (source, event_type, _w), per_day in zip(seed, (4 / 30 if churner[i] else 10 / 30, 6 / 30,
                                                            0.002 if churner[i] else 0.012, 0.1)):
            for d in rng.choice(days, rng.poisson(per_day * days)):
                events.append((cid, source, event_type, first + timedelta(days=int(d))))
    ends = [date(2026, 4, 15) if c else date(9999, 12, 31) for c in churner]
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA marts; CREATE SCHEMA seeds; CREATE SCHEMA staging; CREATE SCHEMA intermediate")
        con.execute("CREATE TABLE seeds.engagement_event_weights (source VARCHAR, event_type VARCHAR, weight DOUBLE)")
        con.executemany("INSERT INTO seeds.engagement_event_weights VALUES (?, ?, ?)", seed)
        con.execute("CREATE TABLE seeds.engagement_score_bands AS SELECT * FROM (VALUES "
                    "('at_risk', 1, NULL, NULL, 0, false), ('very_disengaged', 2, 0, true, 40, true), "
                    "('power_user', 3, 40, false, NULL, NULL)) AS t(band, band_rank, lower_bound, "
                    "lower_inclusive, upper_bound, upper_inclusive)")
        con.execute("CREATE TABLE marts.fct_engagement_events (customer_id VARCHAR, source VARCHAR, "
                    "event_type VARCHAR, occurred_date DATE)")
        # one frame, not executemany: DuckDB inserts row by row there (minutes for these 47,000 rows)
        con.register("events", pd.DataFrame(events, columns=["customer_id", "source", "event_type", "occurred_date"]))
        con.execute("INSERT INTO marts.fct_engagement_events SELECT * FROM events")
        con.execute("CREATE TABLE marts.customer_engagement_current (customer_id VARCHAR, score_date DATE, score DOUBLE)")
        con.executemany("INSERT INTO marts.customer_engagement_current VALUES (?, ?, 0)", [(c, as_of) for c in ids])
        con.execute("CREATE TABLE marts.dim_customers (customer_id VARCHAR, is_unknown_member BOOLEAN, signup_date DATE)")
        con.executemany("INSERT INTO marts.dim_customers VALUES (?, false, DATE '2025-12-01')", [(c,) for c in ids])
        con.execute("CREATE TABLE staging.stg_shop__orders (customer_id VARCHAR, ordered_date DATE, status VARCHAR)")
        con.execute("CREATE TABLE intermediate.int_subscriptions__plan_periods (customer_id VARCHAR, is_paid BOOLEAN, "
                    "from_date DATE, to_date DATE)")
        con.executemany("INSERT INTO intermediate.int_subscriptions__plan_periods VALUES (?, true, DATE '2025-12-01', ?)",
                        list(zip(ids, ends)))
    calibration = calibrate_weights(warehouse, window_days=30, horizon_days=90, active_window_days=90, step_days=7)
    proposed = calibration.weights
    assert calibration.eval_snapshot == "2026-04-01" and calibration.customers == n
    assert calibration.churners == int(churner.sum())  # the plan ends before 2026-04-01 + 90
    # weekly back from 2026-04-01, at most 8 before it (the default cap; 2026-01-30 would be the
    # first with 30 days of events)
    assert calibration.fit_snapshots == [str(date(2026, 2, 4) + timedelta(days=7 * k)) for k in range(8)]
    assert proposed[("web", "page_view")] > 3 * proposed[("email", "open")] > 0
    assert proposed[("email", "unsubscribe")] <= -0.1 and proposed[("email", "sent")] == 0
    assert calibration.auc["fitted_oot"] > calibration.auc["seed"] + 0.05
    assert abs(sum(calibration.band_shares["proposed"].values()) - 100) < 1e-9

    out = tmp_path / "proposal.csv"
    runner = CliRunner()
    done = runner.invoke(cli, ["engagement-calibrate", "--warehouse", str(warehouse), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert out.read_text().splitlines()[0] == "source,event_type,weight" and out.with_suffix(".md").exists()
    again = runner.invoke(cli, ["engagement-calibrate", "--warehouse", str(warehouse), "--out", str(out)])
    assert again.exit_code != 0 and "exists" in again.output
