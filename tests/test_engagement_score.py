"""The engagement score on hand-made events: window edges, no events, negative events only,
decay on and off, incremental runs equal to a full refresh, and a weights file with an unknown
event type failing the build. Weights are the project's defaults (seeds/engagement_event_weights.csv):
email open 1, click 3, unsubscribe -5, spam_report -12."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.support.postgres import REPO_ROOT, dbt_executable, run_dbt
from tests.support.tiny_warehouse import build_tiny_warehouse

SELECT = "+customer_engagement_current"


def _customer(customer_id):
    return {
        "customer_id": customer_id, "email": f"{customer_id.lower()}@example.com", "full_name": "A B",
        "signup_at": "2026-03-01T08:00:00Z", "country": "TR", "acquisition_channel": "email",
        "marketing_opt_in": "true", "updated_at": "2026-03-01T08:00:00Z",
    }


def _email(event_id, customer_id, event_type, day):
    return {"event_id": event_id, "customer_id": customer_id, "campaign_id": "K1", "email_type": "newsletter",
            "event_type": event_type, "occurred_at": f"{day}T12:00:00Z"}


FILES = {
    ("crm_customers", "2026-03-01"): [_customer("W"), _customer("N"), _customer("Z")],
    ("email_events", "2026-03-01"): [_email("e1", "W", "open", "2026-03-01")],
    ("email_events", "2026-03-02"): [_email("e2", "W", "click", "2026-03-02")],
    ("email_events", "2026-03-25"): [_email("e3", "W", "open", "2026-03-25")],
    ("email_events", "2026-03-30"): [_email("e4", "N", "unsubscribe", "2026-03-30")],
    ("email_events", "2026-03-31"): [_email("e5", "N", "spam_report", "2026-03-31")],
}


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
    """Built in two nightly-like steps: full history to Mar 20, then Mar 21..31 incrementally."""
    root = tmp_path_factory.mktemp("engagement")
    warehouse = build_tiny_warehouse(root, FILES, date(2026, 3, 20), SELECT)
    _dbt(root, warehouse, ["run", "--select", SELECT],
         env={"CEW_RUN_START_DATE": "2026-03-21", "CEW_RUN_DATE": "2026-03-31"})
    return root, warehouse


def score(scores, customer, day):
    value, band = scores[(customer, day)][:2]
    return value, band


def test_window_edge_no_events_and_negative_events_only(world):
    _, warehouse = world
    scores = _scores(warehouse)
    # W: open Mar 1 (1) + click Mar 2 (3): on Mar 30 both are in the 30-day window (Mar 1..30)
    assert score(scores, "W", "2026-03-30") == (5.0, "very_disengaged")  # + open Mar 25
    # on Mar 31 the Mar 1 open is exactly 30 days back: out of the window (Mar 2..31)
    assert score(scores, "W", "2026-03-31") == (4.0, "very_disengaged")
    # N: only negative events: -5 on Mar 30, -5 - 12 = -17 on Mar 31
    assert score(scores, "N", "2026-03-30") == (-5.0, "at_risk")
    assert score(scores, "N", "2026-03-31") == (-17.0, "at_risk")
    # Z: no events at all: 0 (very_disengaged includes 0), every day since signup
    assert {scores[("Z", f"2026-03-{d:02d}")][:2] for d in range(1, 32)} == {(0.0, "very_disengaged")}
    # sub-scores add up to the score; all of W's points are e-mail points
    columns = _sub_score_columns(warehouse)
    row = dict(zip(["score", "band", "band_rank", *columns], scores[("W", "2026-03-31")]))
    assert row["score_email"] == 4.0 and sum(row[c] for c in columns) == row["score"]


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
    # W on Mar 24 (7 days back): open Mar 1 + click Mar 2 = 4; on Mar 31: click + open Mar 25 = 4
    assert rows["W"][1:5] == (4.0, 4.0, 0.0, False)
    # the click (3 points) contributes most, then the open (1 point)
    assert rows["W"][5:8] == ("email:click", 3.0, "email:open")
    # N: 0 a week ago -> no drop alert (only a positive score can fall by a share)
    assert rows["N"][4] is False and rows["N"][5:7] == ("email:spam_report", -12.0)
    assert not any(r[8] for r in rows.values())  # nobody holds a free plan or a trial


def test_incremental_runs_equal_a_full_refresh(world):
    root, warehouse = world
    incremental = _scores(warehouse)
    _dbt(root, warehouse, ["run", "--select", "customer_engagement_daily", "--full-refresh"],
         env={"CEW_RUN_DATE": "2026-03-31"})
    assert _scores(warehouse) == incremental
    assert len(incremental) == 3 * 31


def test_decay_halves_a_weight_per_half_life(world, tmp_path):
    root, warehouse = world
    copy = Path(shutil.copy(warehouse, tmp_path / "decay.duckdb"))
    _dbt(root, copy, ["run", "--select", "customer_engagement_daily", "--full-refresh"],
         env={"CEW_RUN_DATE": "2026-03-31", "CEW_ENGAGEMENT_DECAY_HALF_LIFE_DAYS": "2"})
    scores = _scores(copy)
    # half-life 2 days: N on Mar 31 = -12 (age 0) + -5 x 0.5^(1/2) = -15.5355
    assert scores[("N", "2026-03-31")][0] == pytest.approx(-12 - 5 * 0.5 ** 0.5)
    # W on Mar 31: click Mar 2 (age 29) 3 x 0.5^14.5 + open Mar 25 (age 6) 1 x 0.5^3
    assert scores[("W", "2026-03-31")][0] == pytest.approx(3 * 0.5 ** 14.5 + 0.125)
    assert scores[("Z", "2026-03-31")][0] == 0.0


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
