"""Survey and support metrics, and the metric framework's roll-up and intervals, on hand-made data.

Every expected number below is worked out by hand in the comment beside it. The data is one ISO
week, Monday 2026-03-02 .. Sunday 2026-03-08 (the run date), two customers:
C1 (TR, acquisition email, plan pro since Feb 10) and C2 (US, organic, no plan).
"""

from __future__ import annotations

import math
from datetime import date

import duckdb
import pytest

from tests.support.tiny_warehouse import build_tiny_warehouse

RUN_DATE = date(2026, 3, 8)
WEEK, MONTH = date(2026, 3, 2), date(2026, 3, 1)
Z = 1.959963985


def _customer(customer_id, country, channel, gender, birth_year):
    return {
        "customer_id": customer_id, "email": f"{customer_id.lower()}@example.com", "full_name": f"Name {customer_id}",
        "signup_at": "2026-01-05T10:00:00Z", "country": country, "birth_year": birth_year, "gender": gender,
        "income_band": "mid", "persona": "explorer", "acquisition_channel": channel, "marketing_opt_in": "true",
        "updated_at": "2026-01-05T10:00:00Z",
    }


def _invite(invitation_id, customer_id, survey_type, day, score, hour=12, channel="email", touchpoint="periodic"):
    sent = f"{day}T{hour - 1:02d}:00:00Z"
    return {
        "invitation_id": invitation_id, "customer_id": customer_id, "survey_type": survey_type,
        "touchpoint": touchpoint, "channel": channel, "sent_at": sent,
        "responded_at": None if score is None else f"{day}T{hour:02d}:00:00Z", "score": score,
    }


def _ticket(ticket_id, customer_id, channel, opened, first_response, resolved, handle, contacts, reopened, status, updated):
    return {
        "ticket_id": ticket_id, "customer_id": customer_id, "channel": channel, "category": "billing",
        "agent_id": "A1", "opened_at": opened, "first_response_at": first_response, "resolved_at": resolved,
        "handle_time_seconds": handle, "contacts_count": contacts, "reopened": reopened, "status": status,
        "updated_at": updated,
    }


FILES = {
    ("crm_customers", "2026-01-05"): [
        _customer("C1", "TR", "email", "female", 1995),
        _customer("C2", "US", "organic", "male", 1980),
    ],
    ("subscription_events", "2026-02-10"): [
        {"event_id": "E1", "subscription_id": "S1", "customer_id": "C1", "event_type": "subscribed", "plan": "pro",
         "mrr": "49.00", "currency": "USD", "occurred_at": "2026-02-10T08:00:00Z"},
    ],
    # NPS: Monday 6 / 7 / 8 / 9 (boundaries) + one unanswered; Tuesday only passives; Wednesday one
    # unanswered invitation and no response; Thursday 10, 10, 0, 10.
    ("survey_responses", "2026-03-02"): [
        _invite("N1", "C1", "nps", "2026-03-02", 6),
        _invite("N2", "C2", "nps", "2026-03-02", 7),
        _invite("N3", "C1", "nps", "2026-03-02", 8),
        _invite("N4", "C2", "nps", "2026-03-02", 9),
        _invite("N5", "C1", "nps", "2026-03-02", None),
        _invite("Q1", "C1", "csat", "2026-03-02", 3, channel="in_app", touchpoint="support_contact"),
        _invite("Q2", "C2", "csat", "2026-03-02", 4, channel="in_app", touchpoint="support_contact"),
        _invite("Q3", "C1", "csat", "2026-03-02", 5, channel="in_app", touchpoint="support_contact"),
        _invite("Q4", "C2", "csat", "2026-03-02", 1, channel="in_app", touchpoint="support_contact"),
        _invite("Q5", "C1", "csat", "2026-03-02", 2, channel="in_app", touchpoint="support_contact"),
    ],
    ("survey_responses", "2026-03-03"): [
        _invite("N6", "C1", "nps", "2026-03-03", 7),
        _invite("N7", "C2", "nps", "2026-03-03", 8),
        _invite("X1", "C1", "ces", "2026-03-03", 2),
        _invite("X2", "C2", "ces", "2026-03-03", 5),
        _invite("X3", "C1", "ces", "2026-03-03", 4),
    ],
    ("survey_responses", "2026-03-04"): [_invite("N8", "C2", "nps", "2026-03-04", None)],
    ("survey_responses", "2026-03-05"): [
        _invite("N9", "C1", "nps", "2026-03-05", 10),
        _invite("N10", "C2", "nps", "2026-03-05", 10),
        _invite("N11", "C1", "nps", "2026-03-05", 0),
        _invite("N12", "C2", "nps", "2026-03-05", 10),
    ],
    # Tickets: T4 spam and T5 duplicate are excluded from AHT/FCR; T3 was reopened (not FCR); T6 is
    # re-sent: open on Tuesday's file, resolved in Wednesday's (the later updated_at wins).
    ("support_tickets", "2026-03-02"): [
        _ticket("T1", "C1", "chat", "2026-03-02T09:00:00Z", "2026-03-02T09:10:00Z", "2026-03-02T10:00:00Z", 300, 1, "false", "resolved", "2026-03-02T10:00:00Z"),
        _ticket("T4", "C2", "email", "2026-03-02T11:00:00Z", "2026-03-02T11:02:00Z", "2026-03-02T11:05:00Z", 60, 1, "false", "spam", "2026-03-02T11:05:00Z"),
    ],
    ("support_tickets", "2026-03-03"): [
        _ticket("T2", "C2", "email", "2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z", "2026-03-03T09:00:00Z", 900, 2, "false", "resolved", "2026-03-03T09:00:00Z"),
        _ticket("T3", "C1", "chat", "2026-03-02T12:00:00Z", "2026-03-02T12:30:00Z", "2026-03-03T10:00:00Z", 600, 1, "true", "resolved", "2026-03-03T10:00:00Z"),
        _ticket("T5", "C1", "chat", "2026-03-03T08:00:00Z", None, "2026-03-03T08:30:00Z", 1000, 1, "false", "duplicate", "2026-03-03T08:30:00Z"),
        _ticket("T6", "C2", "chat", "2026-03-03T13:00:00Z", "2026-03-03T13:05:00Z", None, None, 1, "false", "open", "2026-03-03T13:05:00Z"),
    ],
    ("support_tickets", "2026-03-04"): [
        _ticket("T6", "C2", "chat", "2026-03-03T13:00:00Z", "2026-03-03T13:05:00Z", "2026-03-04T09:00:00Z", 1200, 1, "false", "resolved", "2026-03-04T09:00:00Z"),
    ],
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("survey_support")
    path = build_tiny_warehouse(root, FILES, RUN_DATE, "+metric_values +mart_survey_fatigue +fct_support_tickets +dim_metrics")
    return root, path


@pytest.fixture(scope="module")
def warehouse(built):
    con = duckdb.connect(str(built[1]), read_only=True)
    yield con
    con.close()


def metric(con, name, grain, start, segment=("all", "all")):
    row = con.execute(
        """SELECT numerator, denominator, value, sample_size, ci_low, ci_high FROM marts.metric_values
           WHERE metric_name = ? AND period_grain = ? AND period_start = ? AND segment_name = ? AND segment_value = ?""",
        [name, grain, start, *segment],
    ).fetchall()
    assert len(row) == 1, (name, grain, start, segment, row)
    return dict(zip(["numerator", "denominator", "value", "sample_size", "ci_low", "ci_high"], row[0]))


def day(d: int) -> date:
    return date(2026, 3, d)


def test_nps_boundaries_passives_only_and_no_responses(warehouse):
    # Monday: 6 detractor, 7 and 8 passive, 9 promoter -> 100 x (1 - 1) / 4 = 0
    monday = metric(warehouse, "nps", "day", day(2))
    assert (monday["numerator"], monday["denominator"], monday["value"]) == (0, 4, 0)
    # Tuesday: only passives -> 0, and the trinomial variance is 0, so the interval is [0, 0]
    tuesday = metric(warehouse, "nps", "day", day(3))
    assert (tuesday["value"], tuesday["sample_size"], tuesday["ci_low"], tuesday["ci_high"]) == (0, 2, 0, 0)
    # Wednesday: an invitation but no response -> null, not 0; sample size 0 says why
    wednesday = metric(warehouse, "nps", "day", day(4))
    assert wednesday["value"] is None and wednesday["sample_size"] == 0 and wednesday["ci_low"] is None
    # Friday: no survey activity at all -> still a row, null
    assert metric(warehouse, "nps", "day", day(6))["value"] is None


def test_nps_week_is_the_ratio_of_summed_days_with_the_trinomial_interval(warehouse):
    # week: promoters N4, N9, N10, N12 = 4; detractors N1, N11 = 2; passives N2, N3, N6, N7 = 4; n = 10
    # NPS = 100 x (4 - 2) / 10 = 20 (the mean of the daily values 0, 0, 50 would be 16.7)
    week = metric(warehouse, "nps", "week", WEEK)
    assert (week["numerator"], week["denominator"], week["sample_size"]) == (2, 10, 10)
    assert week["value"] == pytest.approx(20.0)
    # var = p+ + p- - (p+ - p-)^2 = 0.4 + 0.2 - 0.04 = 0.56; half-width = z sqrt(0.56 / 10) = 0.463811
    assert week["ci_low"] == pytest.approx(100 * (0.2 - Z * math.sqrt(0.056)))  # -26.381
    assert week["ci_high"] == pytest.approx(100 * (0.2 + Z * math.sqrt(0.056)))  # 66.381
    assert metric(warehouse, "nps", "month", MONTH)["value"] == pytest.approx(20.0)
    # Thursday: 10, 10, 0, 10 -> (3 - 1) / 4 = 50
    assert metric(warehouse, "nps", "day", day(5))["value"] == pytest.approx(50.0)


def test_nps_by_segment(warehouse):
    # C1 (TR, plan pro at the week's start): N1 6, N3 8, N6 7, N9 10, N11 0 -> (1 - 2) / 5 = -20
    assert metric(warehouse, "nps", "week", WEEK, ("country", "TR"))["value"] == pytest.approx(-20.0)
    assert metric(warehouse, "nps", "week", WEEK, ("plan", "pro"))["value"] == pytest.approx(-20.0)
    # C2 (US, no plan): N2 7, N4 9, N7 8, N10 10, N12 10 -> (3 - 0) / 5 = 60
    assert metric(warehouse, "nps", "week", WEEK, ("plan", "none"))["value"] == pytest.approx(60.0)
    assert metric(warehouse, "nps", "week", WEEK, ("gender", "male"))["value"] == pytest.approx(60.0)
    # age band on the run date: born 1995 -> 31 -> 25-34; 1980 -> 46 -> 45-54
    assert metric(warehouse, "nps", "week", WEEK, ("age_band", "25-34"))["value"] == pytest.approx(-20.0)
    assert metric(warehouse, "nps", "week", WEEK, ("age_band", "45-54"))["value"] == pytest.approx(60.0)
    # channel and touchpoint are segments of the survey metrics
    assert metric(warehouse, "nps", "week", WEEK, ("touchpoint", "periodic"))["value"] == pytest.approx(20.0)


def test_csat_dsat_and_mean_with_their_intervals(warehouse):
    # scores 3, 4, 5, 1, 2: CSAT counts 4 and 5 (not 3) -> 2 / 5 = 40; DSAT counts 1 and 2 -> 40
    csat = metric(warehouse, "csat", "day", day(2))
    assert (csat["numerator"], csat["denominator"], csat["value"]) == (2, 5, pytest.approx(40.0))
    # Wilson 2/5: centre (0.4 + z^2/10) / (1 + z^2/5), half z sqrt(0.048 + z^2/100) / (1 + z^2/5) -> [11.76, 76.93]
    assert csat["ci_low"] == pytest.approx(11.762, abs=1e-3)
    assert csat["ci_high"] == pytest.approx(76.928, abs=1e-3)
    assert metric(warehouse, "dsat", "day", day(2))["value"] == pytest.approx(40.0)
    # mean (3 + 4 + 5 + 1 + 2) / 5 = 3; s^2 = (0 + 1 + 4 + 4 + 1) / 4 = 2.5; half = z sqrt(2.5 / 5)
    mean = metric(warehouse, "csat_mean", "day", day(2))
    assert mean["value"] == pytest.approx(3.0)
    assert (mean["ci_low"], mean["ci_high"]) == (pytest.approx(3 - Z * math.sqrt(0.5)), pytest.approx(3 + Z * math.sqrt(0.5)))
    assert metric(warehouse, "csat", "week", WEEK, ("channel", "in_app"))["value"] == pytest.approx(40.0)


def test_ces_mean(warehouse):
    # Tuesday: 2, 5, 4 -> 11 / 3
    ces = metric(warehouse, "ces", "day", day(3))
    assert (ces["numerator"], ces["denominator"]) == (11, 3)
    assert ces["value"] == pytest.approx(11 / 3)


def test_survey_response_rate_by_sent_day(warehouse):
    # Monday: 10 invitations sent, N5 unanswered -> 90; Wednesday: 1 sent, none answered -> 0
    assert metric(warehouse, "survey_response_rate", "day", day(2))["value"] == pytest.approx(90.0)
    assert metric(warehouse, "survey_response_rate", "day", day(4))["value"] == pytest.approx(0.0)
    # week: 10 + 5 + 1 + 4 = 20 invitations; N5 and N8 unanswered -> 18 / 20 = 90
    week = metric(warehouse, "survey_response_rate", "week", WEEK)
    assert (week["numerator"], week["denominator"], week["value"]) == (18, 20, pytest.approx(90.0))


def test_aht_and_fcr_exclude_spam_and_duplicates_and_reopened_is_not_first_contact(warehouse):
    # resolved, valid: T1 Mon 300 s (1 contact), T2 Tue 900 s (2 contacts), T3 Tue 600 s (reopened),
    # T6 Wed 1200 s (1 contact, its later version); T4 spam and T5 duplicate are left out
    week_aht = metric(warehouse, "aht_seconds", "week", WEEK)
    assert (week_aht["numerator"], week_aht["denominator"], week_aht["value"]) == (3000, 4, 750)
    # FCR: T1 and T6 -> 2 / 4 = 50 (the mean of the daily values 100, 0, 100 would be 66.7)
    week_fcr = metric(warehouse, "fcr", "week", WEEK)
    assert (week_fcr["numerator"], week_fcr["denominator"], week_fcr["value"]) == (2, 4, 50)
    assert metric(warehouse, "fcr", "day", day(3))["value"] == 0
    assert metric(warehouse, "aht_seconds", "day", day(4))["value"] == 1200
    # a day without resolved tickets: null AHT, not 0
    assert metric(warehouse, "aht_seconds", "day", day(6))["value"] is None
    assert metric(warehouse, "fcr", "week", WEEK, ("channel", "chat"))["value"] == pytest.approx(200 / 3)


def test_first_response_time_of_tickets_opened_in_the_period(warehouse):
    # opened in the week with a first response: T1 600, T2 3600, T3 1800, T4 120, T6 300 -> 6420 / 5
    week = metric(warehouse, "first_response_seconds", "week", WEEK)
    assert (week["numerator"], week["denominator"]) == (6420, 5)
    assert week["value"] == pytest.approx(1284.0)


def test_survey_fatigue_flags_customers_above_the_setting(warehouse):
    rows = dict(
        warehouse.execute("SELECT customer_id, invitations_last_30d FROM marts.mart_survey_fatigue").fetchall()
    )
    # C1: N1 N3 N5 Q1 Q3 Q5 N6 X1 X3 N9 N11 = 11; C2: N2 N4 Q2 Q4 N7 X2 N8 N10 N12 = 9
    assert rows == {"C1": 11, "C2": 9}
    flagged = warehouse.execute("SELECT count(*) FROM marts.mart_survey_fatigue WHERE is_fatigued").fetchone()[0]
    assert flagged == 2  # default threshold 3


def test_every_metric_of_the_registry_is_documented(warehouse):
    names = {r[0] for r in warehouse.execute("SELECT metric_name FROM marts.dim_metrics").fetchall()}
    assert {"nps", "csat", "ces", "aht_seconds", "fcr", "churn_rate", "dau", "bounce_rate"} <= names


def test_dbt_docs_generate_works_offline_and_describes_the_kpi_store(built):
    """BI users read the column descriptions in dbt docs; generating them needs no network."""
    import json

    from tests.support.postgres import run_dbt

    import shutil

    root, path = built
    # the module's read-only connection holds the file; a DuckDB writer cannot open it beside that
    path = shutil.copy(path, root / "docs.duckdb")
    done = run_dbt(
        ["docs", "generate"],
        {"CEW_WAREHOUSE_PATH": str(path), "CEW_ENGINE": "duckdb", "CEW_RUN_DATE": RUN_DATE.isoformat()},
        target_path=root / "target", log_path=root / "logs",
    )
    assert done.returncode == 0, done.stdout[-3000:]
    catalog = json.loads((root / "target" / "catalog.json").read_text())
    manifest = json.loads((root / "target" / "manifest.json").read_text())
    node = "model.customer_engagement.metric_values"
    assert {"metric_name", "value", "ci_low", "ci_high"} <= {c.lower() for c in catalog["nodes"][node]["columns"]}
    assert all(col["description"] for col in manifest["nodes"][node]["columns"].values())
