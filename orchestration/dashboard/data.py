"""What the dashboard reads: queries on the published read-only marts (never the warehouse).

Every query opens its own read-only connection, so it reads one complete run and never holds
the file between page loads (the nightly run replaces it whole). Results are cached per
published file version (path, size, modification time): a new publication shows on the next
page load.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from orchestration.settings import load_settings

# Metrics where a fall is good news: their period-over-period change is shown green when negative.
LOWER_IS_BETTER = {
    "churn_rate", "churned_customers", "dsat", "aht_seconds", "first_response_seconds", "bounce_rate",
    "email_unsubscribe_rate", "app_uninstall_rate", "app_uninstalls", "cac", "pct_at_risk",
}


def published_path() -> Path:
    return load_settings().published_path


def version(path: Path | None = None) -> tuple[str, int, int] | None:
    """Identity of the published file's current version, or None when nothing is published yet."""
    path = path or published_path()
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (str(path), st.st_size, st.st_mtime_ns)


def query(sql: str, params: list | None = None, path: Path | None = None) -> pd.DataFrame:
    with duckdb.connect(str(path or published_path()), read_only=True) as con:
        return con.execute(sql, params or []).df()


def publication(path: Path | None = None) -> dict:
    """Run id, as-of date, publication time and table count of the published copy."""
    row = query(
        "SELECT any_value(run_id) AS run_id, max(run_date) AS run_date, max(published_at) AS published_at, "
        "count(*) AS tables FROM meta.published_tables",
        path=path,
    ).iloc[0]
    return row.to_dict()


def metric_catalog(path: Path | None = None) -> pd.DataFrame:
    return query("SELECT metric_name, domain, kind, unit, ci_method, description FROM marts.dim_metrics", path=path)


def metric_series(metrics: list[str], grain: str, segment_name: str = "all", path: Path | None = None) -> pd.DataFrame:
    """metric_values rows of some metrics at one grain and segment, oldest first, with each
    period's last day (to tell a running period from a complete one)."""
    marks = ", ".join("?" for _ in metrics)
    return query(
        f"""SELECT metric_name, period_start,
                   CAST(CASE period_grain WHEN 'day' THEN period_start
                        WHEN 'week' THEN period_start + INTERVAL 6 DAY
                        ELSE period_start + INTERVAL 1 MONTH - INTERVAL 1 DAY END AS DATE) AS period_end,
                   segment_value, value, ci_low, ci_high, sample_size, numerator, denominator
            FROM marts.metric_values
            WHERE metric_name IN ({marks}) AND period_grain = ? AND segment_name = ?
            ORDER BY metric_name, segment_value, period_start""",
        [*metrics, grain, segment_name],
        path=path,
    )


def segment_names(metrics: list[str], path: Path | None = None) -> list[str]:
    marks = ", ".join("?" for _ in metrics)
    names = query(
        f"SELECT DISTINCT segment_name FROM marts.metric_values WHERE metric_name IN ({marks}) ORDER BY 1",
        metrics, path=path,
    )["segment_name"].tolist()
    return ["all"] + [n for n in names if n != "all"]


def period_over_period(series: pd.DataFrame, run_date: date) -> pd.DataFrame:
    """Per metric: the latest complete period (ending on or before the run date) and the one
    before, with the change. A metric with no complete period uses its latest ones."""
    out = []
    for metric, rows in series.groupby("metric_name", sort=False):
        rows = rows.sort_values("period_start")
        complete = rows[pd.to_datetime(rows["period_end"]).dt.date <= run_date]
        pick = complete if len(complete) else rows
        current = pick.iloc[-1]
        previous = pick.iloc[-2] if len(pick) > 1 else None
        change = None
        if previous is not None and pd.notna(current["value"]) and pd.notna(previous["value"]):
            change = current["value"] - previous["value"]
        out.append({
            "metric_name": metric, "period_start": current["period_start"], "value": current["value"],
            "ci_low": current["ci_low"], "ci_high": current["ci_high"], "sample_size": current["sample_size"],
            "previous": None if previous is None else previous["value"], "change": change,
        })
    return pd.DataFrame(out)


def engagement_bands(segment_name: str = "all", path: Path | None = None) -> pd.DataFrame:
    return query(
        """SELECT week_start, segment_value, customers, score_mean, score_median,
                  pct_at_risk, pct_very_disengaged, pct_somewhat_engaged, pct_highly_engaged, pct_power_user
           FROM marts.mart_engagement_segments WHERE segment_name = ? ORDER BY week_start, segment_value""",
        [segment_name], path=path,
    )


def engagement_segment_names(path: Path | None = None) -> list[str]:
    names = query("SELECT DISTINCT segment_name FROM marts.mart_engagement_segments ORDER BY 1", path=path)
    return ["all"] + [n for n in names["segment_name"] if n != "all"]


def band_movement(days_back: int = 28, path: Path | None = None) -> pd.DataFrame:
    """Customers by band now and ``days_back`` days earlier (scored on both days)."""
    return query(
        """WITH latest AS (SELECT max(score_date) AS d FROM marts.customer_engagement_daily)
           SELECT b.band AS band_before, b.band_rank AS rank_before, a.band AS band_now, a.band_rank AS rank_now,
                  count(*) AS customers
           FROM marts.customer_engagement_daily AS a
           JOIN marts.customer_engagement_daily AS b
             ON b.customer_id = a.customer_id AND b.score_date = a.score_date - ? * INTERVAL 1 DAY
           WHERE a.score_date = (SELECT d FROM latest)
           GROUP BY ALL ORDER BY rank_before, rank_now""",
        [days_back], path=path,
    )


def activity_cohorts(path: Path | None = None) -> pd.DataFrame:
    """Signup-week cohorts of the customers who signed up since the first complete week of events:
    share of the cohort with any activity event in each week since signup (week 0 = the signup
    week), up to the last complete week."""
    return query(
        """WITH daily AS (SELECT occurred_date, count(*) AS n FROM marts.fct_engagement_events GROUP BY 1),
           -- the history's start: the first day with at least half the median day's events (a few
           -- early stragglers, such as backdated rows, do not make a week observed)
           first_week AS (
               SELECT date_trunc('week', min(occurred_date) + INTERVAL 6 DAY) AS w FROM daily
               WHERE n >= 0.5 * (SELECT median(n) FROM daily)),
           customers AS (
               SELECT customer_id, date_trunc('week', signup_date) AS cohort_week
               FROM marts.dim_customers
               WHERE NOT is_unknown_member AND signup_date >= (SELECT w FROM first_week)),
           last_day AS (SELECT max(occurred_date) AS d FROM marts.fct_engagement_events),
           activity AS (
               SELECT DISTINCT e.customer_id, date_trunc('week', e.occurred_date) AS week
               FROM marts.fct_engagement_events AS e WHERE e.counts_as_activity AND e.is_known_customer),
           sizes AS (SELECT cohort_week, count(*) AS cohort_size FROM customers GROUP BY 1)
           SELECT c.cohort_week, s.cohort_size,
                  CAST(date_diff('week', c.cohort_week, a.week) AS INTEGER) AS weeks_since_signup,
                  count(DISTINCT a.customer_id) AS active,
                  100.0 * count(DISTINCT a.customer_id) / s.cohort_size AS pct_active
           FROM customers AS c
           JOIN activity AS a ON a.customer_id = c.customer_id AND a.week >= c.cohort_week
           JOIN sizes AS s USING (cohort_week)
           WHERE a.week + INTERVAL 6 DAY <= (SELECT d FROM last_day)
           GROUP BY 1, 2, 3 ORDER BY 1, 3""",
        path=path,
    )


def at_risk_customers(path: Path | None = None) -> pd.DataFrame:
    return query(
        """SELECT c.customer_id, c.country, c.persona, c.acquisition_channel, c.age_band, c.current_plan,
                  c.tenure_days, c.orders_count, c.revenue, c.recency_days, c.engagement_score, c.engagement_band,
                  e.score_change_30d, e.score_drop_alert,
                  c.simple_clv, c.clv_12m, c.p_alive, c.churn_probability, c.churn_risk_band,
                  c.churn_driver_1, c.churn_driver_2, c.churn_driver_3, c.latest_nps_score
           FROM marts.customer_360 AS c
           LEFT JOIN marts.customer_engagement_current AS e USING (customer_id)""",
        path=path,
    )


def alerts(path: Path | None = None) -> pd.DataFrame:
    return query(
        """SELECT severity, metric_name, period_grain, period_start, period_end, segment_name, segment_value,
                  value, comparison, threshold, warning_value, critical_value, sample_size, ci_low, ci_high, note
           FROM marts.metric_alerts
           ORDER BY severity = 'critical' DESC, period_start DESC, metric_name, segment_name, segment_value""",
        path=path,
    )


def channel_metrics(path: Path | None = None) -> pd.DataFrame:
    """Digital metrics per channel segment (web/app, e-mail type, social platform, app platform)."""
    return query(
        """SELECT v.metric_name, m.domain, m.unit, v.period_grain, v.period_start, v.segment_value AS channel,
                  v.value, v.ci_low, v.ci_high, v.sample_size
           FROM marts.metric_values AS v JOIN marts.dim_metrics AS m USING (metric_name)
           WHERE v.segment_name = 'channel' AND m.domain IN ('web', 'email', 'social', 'app', 'events')
           ORDER BY v.metric_name, v.period_start, channel""",
        path=path,
    )


def web_funnel(since: date, path: Path | None = None) -> pd.DataFrame:
    """Web sessions since a day: all, more than one page, with a purchase."""
    return query(
        """SELECT count(*) AS sessions,
                  count(*) FILTER (WHERE page_views > 1) AS multi_page,
                  count(*) FILTER (WHERE customer_id IS NOT NULL) AS signed_in,
                  count(*) FILTER (WHERE purchases > 0) AS purchased
           FROM marts.fct_sessions WHERE source = 'web' AND session_date >= ?""",
        [since], path=path,
    )
