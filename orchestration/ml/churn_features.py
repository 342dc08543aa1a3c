"""Churn features and labels as of snapshot dates, built in SQL (DuckDB) from the marts.

A snapshot S is the end of day S (reporting time zone). Every feature of S reads only rows that
happened on or before S: orders by ``ordered_date``, engagement events by ``occurred_date``,
subscription state from the plan period containing S, the engagement score of day S (and of
S-7, S-30; the score of a day only counts events up to that day), support tickets opened by S
(open = not resolved by S; first response only when it came by S), the latest survey answer
responded by S. ``tests/test_ml_churn.py`` proves it: features of S do not change when events
after S are added.

Population of S: CRM customers signed up by S who are **active** at S (spec: a paid
subscription on S, or a completed order in the ``active_window_days`` ending on S): churn is an
active customer's loss. Label (spec): ``churned`` = not active on S + ``churn_horizon_days``;
it is null while S + horizon is after the as-of date (not yet observed).

Three steps: the population and labels of every snapshot (a temp table), the training sample
(``build_features``: with a cap on labelled rows, whole customers by the MD5 of their id), then
the features of the rows kept. Sampling only drops rows: a kept row's features are the same.

Known limit: an order's ``status`` (and a ticket's resolution) is its latest known version
(staging keeps the latest delivery), so an order completed before S but returned after S counts
as not completed; features count only completed orders and order events, never returns' dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

NUMERIC_FEATURES = [
    "tenure_days",
    "recency_days",
    "orders_count",
    "purchase_days",
    "orders_30d",
    "orders_90d",
    "revenue",
    "revenue_90d",
    "avg_order_value",
    "is_paid",
    "is_trial",
    "days_in_plan_state",
    "subscription_events_90d",
    "cancellations_90d",
    "downgrades_90d",
    "engagement_score",
    "engagement_trend_7d",
    "engagement_trend_30d",
    "score_web",
    "score_app",
    "score_email",
    "score_social",
    "score_orders",
    "score_subscriptions",
    "score_support",
    "score_surveys",
    "days_since_last_activity",
    "activity_events_30d",
    "web_events_30d",
    "email_opens_clicks_30d",
    "email_unsubscribes_90d",
    "app_events_30d",
    "app_uninstalls_90d",
    "tickets_90d",
    "open_tickets",
    "first_response_hours_90d",
    "latest_nps",
    "latest_csat",
    "latest_ces",
]
CATEGORICAL_FEATURES = ["plan"]
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES

# Step 1: who is in each snapshot's population, and their label. A temp table: the sample
# (step 2) and every feature (step 3) read it.
POPULATION_SQL = """
CREATE OR REPLACE TEMP TABLE _churn_population AS
WITH snapshots AS (
    SELECT DISTINCT CAST(snapshot_date AS DATE) AS snapshot_date FROM _churn_snapshots
),
completed_order_days AS (
    SELECT DISTINCT customer_id, ordered_date
    FROM staging.stg_shop__orders
    WHERE status = 'completed' AND customer_id IS NOT NULL
),
-- active on day d: paid on d or a completed order in the window ending on d; the days are the
-- snapshots and, for the labelled ones, snapshot + horizon
active_on AS (
    SELECT d.customer_id, d.day,
           coalesce(bool_or(p.is_paid), false) OR count(o.customer_id) > 0 AS active
    FROM (
        SELECT c.customer_id, s.snapshot_date AS day
        FROM marts.dim_customers AS c CROSS JOIN snapshots AS s
        WHERE NOT c.is_unknown_member
        UNION
        SELECT c.customer_id, s.snapshot_date + {horizon} AS day
        FROM marts.dim_customers AS c CROSS JOIN snapshots AS s
        WHERE NOT c.is_unknown_member AND s.snapshot_date + {horizon} <= CAST($as_of AS DATE)
    ) AS d
    LEFT JOIN intermediate.int_subscriptions__plan_periods AS p
        ON p.customer_id = d.customer_id AND p.from_date <= d.day AND d.day < p.to_date
    LEFT JOIN completed_order_days AS o
        ON o.customer_id = d.customer_id AND o.ordered_date <= d.day AND o.ordered_date > d.day - {window}
    GROUP BY d.customer_id, d.day
)
SELECT c.customer_id, s.snapshot_date, c.signup_date,
       CASE WHEN s.snapshot_date + {horizon} <= CAST($as_of AS DATE) THEN NOT later.active END AS churned
FROM marts.dim_customers AS c
CROSS JOIN snapshots AS s
JOIN active_on AS a ON a.customer_id = c.customer_id AND a.day = s.snapshot_date AND a.active
LEFT JOIN active_on AS later ON later.customer_id = c.customer_id AND later.day = s.snapshot_date + {horizon}
WHERE NOT c.is_unknown_member AND c.signup_date <= s.snapshot_date
"""

# Step 2 (only when the labelled rows exceed the cap): whole customers in the order of the MD5 of
# their id (reproducible, independent of the data's order, nested as the cap grows) while their
# labelled rows add up to at most the cap.
SAMPLE_SQL = """
SELECT customer_id FROM (
    SELECT customer_id,
           sum(n) OVER (ORDER BY md5(customer_id), customer_id ROWS UNBOUNDED PRECEDING) AS cumulative
    FROM (SELECT customer_id, count(*) AS n FROM _churn_population WHERE churned IS NOT NULL GROUP BY customer_id)
)
WHERE cumulative <= $cap
"""

# the rows features are computed for: everyone on the latest labelled snapshot (evaluation) and
# on unlabelled ones (scoring); sampled customers only on the earlier labelled ones
ROWS_SQL = """
CREATE OR REPLACE TEMP TABLE _churn_rows AS
SELECT p.*, s.customer_id IS NOT NULL AS in_training_sample
FROM _churn_population AS p
LEFT JOIN _churn_sample AS s USING (customer_id)
WHERE s.customer_id IS NOT NULL OR p.churned IS NULL OR p.snapshot_date = CAST($eval AS DATE)
"""

# Step 3: features of the kept rows
FEATURES_SQL = """
WITH completed_orders AS (
    SELECT customer_id, ordered_date, net_amount_reporting AS amount
    FROM staging.stg_shop__orders
    WHERE status = 'completed' AND customer_id IS NOT NULL
),
plan_periods AS (
    SELECT customer_id, plan, is_paid, is_trial, from_date, to_date
    FROM intermediate.int_subscriptions__plan_periods
),
population AS (
    SELECT customer_id, snapshot_date, signup_date, churned, in_training_sample FROM _churn_rows
),
order_features AS (
    SELECT p.customer_id, p.snapshot_date,
           count(o.customer_id) AS orders_count,
           count(DISTINCT o.ordered_date) AS purchase_days,
           count(o.customer_id) FILTER (WHERE o.ordered_date > p.snapshot_date - 30) AS orders_30d,
           count(o.customer_id) FILTER (WHERE o.ordered_date > p.snapshot_date - 90) AS orders_90d,
           coalesce(sum(o.amount), 0) AS revenue,
           coalesce(sum(o.amount) FILTER (WHERE o.ordered_date > p.snapshot_date - 90), 0) AS revenue_90d,
           sum(o.amount) / nullif(count(o.customer_id), 0) AS avg_order_value,
           max(o.ordered_date) AS last_order_date
    FROM population AS p
    LEFT JOIN completed_orders AS o ON o.customer_id = p.customer_id AND o.ordered_date <= p.snapshot_date
    GROUP BY p.customer_id, p.snapshot_date
),
plan_state AS (
    SELECT p.customer_id, p.snapshot_date, pp.plan, pp.is_paid, pp.is_trial, pp.from_date
    FROM population AS p
    LEFT JOIN plan_periods AS pp
        ON pp.customer_id = p.customer_id AND pp.from_date <= p.snapshot_date AND p.snapshot_date < pp.to_date
),
subscription_features AS (
    SELECT p.customer_id, p.snapshot_date,
           count(e.customer_id) AS subscription_events_90d,
           count(e.customer_id) FILTER (WHERE e.event_type = 'cancelled') AS cancellations_90d,
           count(e.customer_id) FILTER (WHERE e.event_type = 'downgraded') AS downgrades_90d
    FROM population AS p
    LEFT JOIN staging.stg_billing__subscription_events AS e
        ON e.customer_id = p.customer_id AND e.occurred_date <= p.snapshot_date
        AND e.occurred_date > p.snapshot_date - 90
    GROUP BY p.customer_id, p.snapshot_date
),
engagement AS (
    SELECT p.customer_id, p.snapshot_date,
           max(d.score) FILTER (WHERE d.score_date = p.snapshot_date) AS engagement_score,
           max(d.score) FILTER (WHERE d.score_date = p.snapshot_date - 7) AS score_7d_ago,
           max(d.score) FILTER (WHERE d.score_date = p.snapshot_date - 30) AS score_30d_ago,
           max(d.score_web) FILTER (WHERE d.score_date = p.snapshot_date) AS score_web,
           max(d.score_app) FILTER (WHERE d.score_date = p.snapshot_date) AS score_app,
           max(d.score_email) FILTER (WHERE d.score_date = p.snapshot_date) AS score_email,
           max(d.score_social) FILTER (WHERE d.score_date = p.snapshot_date) AS score_social,
           max(d.score_orders) FILTER (WHERE d.score_date = p.snapshot_date) AS score_orders,
           max(d.score_subscriptions) FILTER (WHERE d.score_date = p.snapshot_date) AS score_subscriptions,
           max(d.score_support) FILTER (WHERE d.score_date = p.snapshot_date) AS score_support,
           max(d.score_surveys) FILTER (WHERE d.score_date = p.snapshot_date) AS score_surveys
    FROM population AS p
    LEFT JOIN marts.customer_engagement_daily AS d
        ON d.customer_id = p.customer_id
        AND d.score_date IN (p.snapshot_date, p.snapshot_date - 7, p.snapshot_date - 30)
    GROUP BY p.customer_id, p.snapshot_date
),
event_features AS (
    SELECT p.customer_id, p.snapshot_date,
           count(*) FILTER (WHERE e.counts_as_activity AND e.occurred_date > p.snapshot_date - 30) AS activity_events_30d,
           count(*) FILTER (WHERE e.source = 'web' AND e.occurred_date > p.snapshot_date - 30) AS web_events_30d,
           count(*) FILTER (WHERE e.source = 'email' AND e.event_type IN ('open', 'click')
                            AND e.occurred_date > p.snapshot_date - 30) AS email_opens_clicks_30d,
           count(*) FILTER (WHERE e.source = 'email' AND e.event_type IN ('unsubscribe', 'spam_report')
                            AND e.occurred_date > p.snapshot_date - 90) AS email_unsubscribes_90d,
           count(*) FILTER (WHERE e.source = 'app' AND e.event_type <> 'uninstall'
                            AND e.occurred_date > p.snapshot_date - 30) AS app_events_30d,
           count(*) FILTER (WHERE e.source = 'app' AND e.event_type = 'uninstall'
                            AND e.occurred_date > p.snapshot_date - 90) AS app_uninstalls_90d
    FROM population AS p
    LEFT JOIN marts.fct_engagement_events AS e
        ON e.customer_id = p.customer_id AND e.is_known_customer
        AND e.occurred_date <= p.snapshot_date AND e.occurred_date > p.snapshot_date - 90
    GROUP BY p.customer_id, p.snapshot_date
),
last_activity AS (
    SELECT p.customer_id, p.snapshot_date, max(e.occurred_date) AS last_activity_date
    FROM population AS p
    JOIN marts.fct_engagement_events AS e
        ON e.customer_id = p.customer_id AND e.is_known_customer AND e.counts_as_activity
        AND e.occurred_date <= p.snapshot_date
    GROUP BY p.customer_id, p.snapshot_date
),
support_features AS (
    SELECT p.customer_id, p.snapshot_date,
           count(t.ticket_id) FILTER (WHERE t.opened_date > p.snapshot_date - 90) AS tickets_90d,
           count(t.ticket_id) FILTER (WHERE t.resolved_date IS NULL OR t.resolved_date > p.snapshot_date) AS open_tickets,
           avg(t.first_response_seconds / 3600.0) FILTER (
               WHERE t.opened_date > p.snapshot_date - 90
               AND CAST(t.first_response_at AS DATE) <= p.snapshot_date) AS first_response_hours_90d
    FROM population AS p
    LEFT JOIN marts.fct_support_tickets AS t
        ON t.customer_id = p.customer_id AND t.is_valid_ticket AND t.opened_date <= p.snapshot_date
    GROUP BY p.customer_id, p.snapshot_date
),
survey_features AS (
    SELECT p.customer_id, p.snapshot_date,
           arg_max(r.score, r.responded_at) FILTER (WHERE r.survey_type = 'nps') AS latest_nps,
           arg_max(r.score, r.responded_at) FILTER (WHERE r.survey_type = 'csat') AS latest_csat,
           arg_max(r.score, r.responded_at) FILTER (WHERE r.survey_type = 'ces') AS latest_ces
    FROM population AS p
    LEFT JOIN marts.fct_survey_responses AS r
        ON r.customer_id = p.customer_id AND r.is_response AND r.responded_date <= p.snapshot_date
    GROUP BY p.customer_id, p.snapshot_date
)
SELECT
    p.customer_id,
    p.snapshot_date,
    datediff('day', p.signup_date, p.snapshot_date) AS tenure_days,
    datediff('day', o.last_order_date, p.snapshot_date) AS recency_days,
    o.orders_count, o.purchase_days, o.orders_30d, o.orders_90d, o.revenue, o.revenue_90d, o.avg_order_value,
    coalesce(ps.plan, 'none') AS plan,
    CAST(coalesce(ps.is_paid, false) AS INTEGER) AS is_paid,
    CAST(coalesce(ps.is_trial, false) AS INTEGER) AS is_trial,
    datediff('day', ps.from_date, p.snapshot_date) AS days_in_plan_state,
    sf.subscription_events_90d, sf.cancellations_90d, sf.downgrades_90d,
    coalesce(en.engagement_score, 0) AS engagement_score,
    coalesce(en.engagement_score, 0) - coalesce(en.score_7d_ago, 0) AS engagement_trend_7d,
    coalesce(en.engagement_score, 0) - coalesce(en.score_30d_ago, 0) AS engagement_trend_30d,
    coalesce(en.score_web, 0) AS score_web, coalesce(en.score_app, 0) AS score_app,
    coalesce(en.score_email, 0) AS score_email, coalesce(en.score_social, 0) AS score_social,
    coalesce(en.score_orders, 0) AS score_orders, coalesce(en.score_subscriptions, 0) AS score_subscriptions,
    coalesce(en.score_support, 0) AS score_support, coalesce(en.score_surveys, 0) AS score_surveys,
    datediff('day', la.last_activity_date, p.snapshot_date) AS days_since_last_activity,
    ev.activity_events_30d, ev.web_events_30d, ev.email_opens_clicks_30d, ev.email_unsubscribes_90d,
    ev.app_events_30d, ev.app_uninstalls_90d,
    su.tickets_90d, su.open_tickets, su.first_response_hours_90d,
    sv.latest_nps, sv.latest_csat, sv.latest_ces,
    p.churned,
    p.in_training_sample
FROM population AS p
JOIN order_features AS o USING (customer_id, snapshot_date)
JOIN plan_state AS ps USING (customer_id, snapshot_date)
JOIN subscription_features AS sf USING (customer_id, snapshot_date)
JOIN engagement AS en USING (customer_id, snapshot_date)
JOIN event_features AS ev USING (customer_id, snapshot_date)
LEFT JOIN last_activity AS la USING (customer_id, snapshot_date)
JOIN support_features AS su USING (customer_id, snapshot_date)
JOIN survey_features AS sv USING (customer_id, snapshot_date)
ORDER BY p.snapshot_date, p.customer_id
"""


@dataclass(frozen=True)
class TrainingSample:
    """What the cap on training rows did (see ``build_features``)."""

    labelled_rows: int  # labelled rows of all customers (before sampling)
    labelled_customers: int
    sampled_rows: int  # labelled rows of the sampled customers (= labelled_rows without sampling)
    sampled_customers: int
    max_train_rows: int | None

    @property
    def capped(self) -> bool:
        return self.sampled_rows < self.labelled_rows


def build_features(con, snapshots: list[date], as_of: date, *, horizon_days: int = 90,
                   active_window_days: int = 90, max_train_rows: int | None = None,
                   ) -> tuple[pd.DataFrame, TrainingSample]:
    """One row per (active customer, snapshot) with FEATURES, the label ``churned`` (null when
    ``snapshot + horizon_days`` is after ``as_of``) and ``in_training_sample``.

    Training sample: when ``max_train_rows`` is set and the labelled rows are more, whole
    customers are taken in the order of the MD5 of their ``customer_id`` while their labelled rows
    add up to at most ``max_train_rows``. The labelled snapshots before the latest one then keep
    only the sampled customers' rows (features are not computed for the others); the latest
    labelled snapshot (the churn model's evaluation snapshot) and the unlabelled ones keep
    everyone. Without sampling every row is ``in_training_sample``."""
    frame = pd.DataFrame({"snapshot_date": pd.to_datetime(sorted(set(snapshots)))})
    con.register("_churn_snapshots", frame)
    try:
        con.execute(POPULATION_SQL.format(horizon=int(horizon_days), window=int(active_window_days)),
                    {"as_of": as_of})
        rows, customers, s_eval = con.execute(
            "SELECT count(*), count(DISTINCT customer_id), max(snapshot_date) FROM _churn_population "
            "WHERE churned IS NOT NULL").fetchall()[0]
        if max_train_rows is not None and rows > max_train_rows:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _churn_sample AS {SAMPLE_SQL}", {"cap": int(max_train_rows)})
        else:  # everyone: the customers of the population
            con.execute("CREATE OR REPLACE TEMP TABLE _churn_sample AS SELECT DISTINCT customer_id FROM _churn_population")
        con.execute(ROWS_SQL, {"eval": s_eval})
        sampled_rows, sampled_customers = con.execute(
            "SELECT count(*), count(DISTINCT customer_id) FROM _churn_rows "
            "WHERE churned IS NOT NULL AND in_training_sample").fetchall()[0]
        out = con.execute(FEATURES_SQL).df()
    finally:
        con.unregister("_churn_snapshots")
        for table in ("_churn_rows", "_churn_sample", "_churn_population"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    out["snapshot_date"] = pd.to_datetime(out["snapshot_date"]).dt.date
    out["in_training_sample"] = out["in_training_sample"].astype(bool)
    return out, TrainingSample(int(rows), int(customers), int(sampled_rows), int(sampled_customers), max_train_rows)


def snapshot_features(con, snapshots: list[date], as_of: date, *, horizon_days: int = 90,
                      active_window_days: int = 90) -> pd.DataFrame:
    """Every row of ``build_features`` (no sampling)."""
    return build_features(con, snapshots, as_of, horizon_days=horizon_days, active_window_days=active_window_days)[0]


def snapshot_dates(first_day: date, as_of: date, step_days: int, min_history_days: int = 14) -> list[date]:
    """as_of, as_of - step, ... back to ``first_day + min_history_days`` (oldest first)."""
    from datetime import timedelta

    out = []
    day = as_of
    while day >= first_day + timedelta(days=min_history_days):
        out.append(day)
        day -= timedelta(days=step_days)
    return sorted(out)
