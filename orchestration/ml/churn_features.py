"""Churn features and labels as of snapshot dates, built in SQL (DuckDB) from the marts.

A snapshot S is the end of day S (reporting time zone). Every feature of S reads only rows that
happened on or before S: orders by ``ordered_date``, engagement events by ``occurred_date``,
subscription state from the plan period containing S, the engagement score of day S (and of
S-7, S-30; the score of a day only counts events up to that day), support tickets opened by S
(open = not resolved by S; first response only when it came by S), the latest survey answer
responded by S, survey invitations sent by S (answered = answered by S), tickets reopened by S.
``tests/test_ml_fast.py`` proves it: features of S do not change when events
after S are added.

Population of S: CRM customers signed up by S who are **active** at S (spec: a paid
subscription on S, or a completed order in the ``active_window_days`` ending on S): churn is an
active customer's loss. Label (spec): ``churned`` = not active on S + ``churn_horizon_days``;
it is null while S + horizon is after the as-of date (not yet observed).

Three steps: the population and labels of every snapshot (a temp table), the training sample
(``build_features``: with a cap on labelled rows, whole customers by the MD5 of their id), then
the features of the rows kept. Sampling only drops rows: a kept row's features are the same.
The per-channel features come from the kept customers' events per day: on a training night (many
snapshots) as running totals looked up on S, S-7, S-30 and S-90 by one ASOF join, so their cost
grows with the events, not with events x snapshots; on a scoring night (one or two snapshots) as
the daily rows up to S summed per snapshot, which skips the window pass. CRM attributes
(persona, opt-in) are the current CRM version: they describe who the customer is and are not
dated.

Known limit: an order's ``status`` (and a ticket's resolution and contact count) is its latest known version
(staging keeps the latest delivery), so an order completed before S but returned after S counts
as not completed; features count only completed orders and order events, never returns' dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

# activity channels of fct_engagement_events: name -> filter. Per channel and snapshot S: the
# days since its last event (all history up to S), its events in the 7/30/90 days ending on S,
# and its rate per observed day over all history up to S (a customer's usual level, against
# which a quiet spell means something)
CHANNELS = {
    "activity": "counts_as_activity",
    "web": "source = 'web'",
    "app": "source = 'app' AND event_type <> 'uninstall'",
    "email_engaged": "source = 'email' AND event_type IN ('open', 'click')",
    "social": "source = 'social' AND weight > 0",
    "support": "source = 'support'",
    "surveys": "source = 'surveys'",
    "community": "source IN ('brand_events', 'referrals')",
}
# counted per window but without their own recency
COUNTED = {
    "email_delivered": "source = 'email' AND event_type = 'delivered'",
    "negative": "weight < 0",
}
WINDOWS = (7, 30, 90)

CHANNEL_FEATURES = (
    [f"days_since_{c}" for c in CHANNELS]
    + [f"{c}_{w}d" for c in (*CHANNELS, *COUNTED) for w in WINDOWS]
    + [f"{c}_per_day" for c in CHANNELS]
    # (not the observed days themselves: for customers older than the data they only count the
    # days since the data began, which grows with the snapshot date and would make the run date,
    # later than every training snapshot, an extrapolation)
    + ["active_days_30d", "active_days_90d", "active_days_share",
       "silence_vs_usual", "activity_trend_7_30", "activity_trend_30_90", "web_trend_30_90",
       "email_open_rate_90d", "points_30d", "points_90d"]
)

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
    "revenue_per_year",
    "avg_days_between_purchases",
    "purchase_overdue",
    "is_paid",
    "is_trial",
    "days_in_plan_state",
    "subscription_events_90d",
    "cancellations_90d",
    "downgrades_90d",
    "upgrades_90d",
    "engagement_score",
    "engagement_trend_7d",
    "engagement_trend_30d",
    "engagement_trend_90d",
    "engagement_drop_from_peak",
    "score_web",
    "score_app",
    "score_email",
    "score_social",
    "score_orders",
    "score_subscriptions",
    "score_support",
    "score_surveys",
    "tickets_90d",
    "open_tickets",
    "first_response_hours_90d",
    "fcr_share",
    "reopened_tickets_90d",
    "latest_nps",
    "nps_change",
    "mean_nps",
    "latest_csat",
    "latest_ces",
    "survey_invitations_180d",
    "survey_response_rate_180d",
    "marketing_opt_in",
    *CHANNEL_FEATURES,
]
# CRM attributes (current state: dim_customers keeps the latest CRM version; they describe who
# the customer is, not what they did after S) and the plan held at S
CATEGORICAL_FEATURES = ["plan", "persona"]
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
# bumped whenever a feature's definition changes (not only the list): a saved model trained on
# other features must be retrained, not reused (see churn.py, "Retraining")
FEATURE_SET_VERSION = 2

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

# Step 3a: per customer (of the kept rows) and day, events per channel. Their totals up to each
# snapshot S come one of two ways, with the same columns (see ``_channel_features_sql``):
# - running (many snapshots, a training night): running totals and the last day of each channel
#   per customer and day, looked up (one ASOF join) on S, S-7, S-30 and S-90, instead of a range
#   join of every event to every snapshot it falls before;
# - direct (at most DIRECT_MAX_SNAPSHOTS, a scoring night): the daily rows up to S summed per
#   customer and snapshot. At 1M customers and one snapshot, 9 s instead of the running path's
#   23 s (all features: 43 -> 30 s). Counts are equal; ``points`` (float weights) may differ in
#   the last bits, being summed instead of a difference of two running sums.
DIRECT_MAX_SNAPSHOTS = 2


def _daily_sql() -> str:
    counts = ",\n    ".join(f"count(*) FILTER (WHERE {cond}) AS {name}"
                              for name, cond in {**CHANNELS, **COUNTED}.items())
    return f"""
CREATE OR REPLACE TEMP TABLE _churn_daily AS
SELECT customer_id, occurred_date AS day,
    {counts},
    sum(weight) AS points
FROM marts.fct_engagement_events
WHERE is_known_customer AND customer_id IN (SELECT DISTINCT customer_id FROM _churn_rows)
GROUP BY customer_id, occurred_date
"""


def _running_sql() -> str:
    # DOUBLE, not the HUGEINT (16 bytes) a sum of counts gives: half the memory of a table of
    # a row per customer and active day (whole numbers, exact in a double)
    sums = ",\n    ".join(f"CAST(sum({name}) OVER w AS DOUBLE) AS {name}" for name in (*CHANNELS, *COUNTED, "points"))
    lasts = ",\n    ".join(f"max(CASE WHEN {name} > 0 THEN day END) OVER w AS last_{name}" for name in CHANNELS)
    return f"""
CREATE OR REPLACE TEMP TABLE _churn_running AS
SELECT customer_id, day,
    {sums},
    CAST(sum(CASE WHEN activity > 0 THEN 1 ELSE 0 END) OVER w AS DOUBLE) AS active_days,
    {lasts}
FROM _churn_daily
WINDOW w AS (PARTITION BY customer_id ORDER BY day ROWS UNBOUNDED PRECEDING)
"""


_TOTALLED = (*CHANNELS, *COUNTED, "points", "active_days")


def _running_totals_sql() -> str:
    """The totals from the running totals: lookups on S and S - w (w in WINDOWS)."""
    lags = {0: "r0", **{w: f"r{w}" for w in WINDOWS}}
    cols = [f"r0.last_{name}" for name in CHANNELS]
    cols += [f"coalesce(r0.{name}, 0) AS {name}_all" for name in _TOTALLED]
    cols += [f"coalesce(r0.{name}, 0) - coalesce(r{w}.{name}, 0) AS {name}_{w}d" for name in _TOTALLED for w in WINDOWS]
    # one ASOF join for the four lookups of every row, then a plain join per lookup: four ASOF
    # joins sorted the running totals four times (at 1M: 58 s of the features' 100 s)
    lag_values = ", ".join(f"({lag})" for lag in lags)
    ctes = "".join(f",\n{alias} AS (SELECT * FROM lookups WHERE lag_days = {lag})" for lag, alias in lags.items())
    joins = "\n".join(
        f"LEFT JOIN {alias} ON {alias}.customer_id = p.customer_id AND {alias}.snapshot_date = p.snapshot_date"
        for alias in lags.values()
    )
    return f"""
WITH
-- materialized: read by the four lookups below; inlined, the ASOF join would run four times
lookups AS MATERIALIZED (
    SELECT k.customer_id, k.snapshot_date, k.lag_days, r.* EXCLUDE (customer_id, day)
    FROM (SELECT customer_id, snapshot_date, lag_days, snapshot_date - lag_days AS lookup_day
          FROM _churn_rows CROSS JOIN (VALUES {lag_values}) AS l (lag_days)) AS k
    ASOF LEFT JOIN _churn_running AS r ON r.customer_id = k.customer_id AND r.day <= k.lookup_day
){ctes}
SELECT p.customer_id, p.snapshot_date,
    {", ".join(cols)}
FROM _churn_rows AS p
{joins}
"""


def _direct_totals_sql() -> str:
    """The totals summed straight from the daily rows up to each snapshot."""
    value = {name: f"d.{name}" for name in (*CHANNELS, *COUNTED, "points")}
    value["active_days"] = "CASE WHEN d.activity > 0 THEN 1 ELSE 0 END"
    # CASE inside the aggregates, not FILTER clauses: the 52 filtered aggregates of 19.4M joined
    # rows took 13.5 s at 1M customers, the same sums as CASE 9.0 s (a window's rows outside it
    # add 0; points may differ in the last bits, as between any two runs of a parallel sum)
    cols = [f"max(CASE WHEN d.{name} > 0 THEN d.day END) AS last_{name}" for name in CHANNELS]
    cols += [f"CAST(coalesce(sum({value[name]}), 0) AS DOUBLE) AS {name}_all" for name in _TOTALLED]
    cols += [f"CAST(coalesce(sum(CASE WHEN d.day > p.snapshot_date - {w} THEN {value[name]} ELSE 0 END), 0) AS DOUBLE) "
             f"AS {name}_{w}d" for name in _TOTALLED for w in WINDOWS]
    return f"""
SELECT p.customer_id, p.snapshot_date,
    {", ".join(cols)}
FROM _churn_rows AS p
LEFT JOIN _churn_daily AS d ON d.customer_id = p.customer_id AND d.day <= p.snapshot_date
GROUP BY p.customer_id, p.snapshot_date
"""


def _channel_features_sql(totals_sql: str) -> str:
    """One row per kept (customer, snapshot) with CHANNEL_FEATURES, from ``totals_sql``: per
    (customer, snapshot S) last_<channel> (its last day up to S), <name>_all (the total up to S)
    and <name>_<w>d (the total of the w days ending on S), DOUBLE, 0 without events."""
    cols = []
    for name in CHANNELS:
        cols.append(f"datediff('day', t.last_{name}, p.snapshot_date) AS days_since_{name}")
    for name in (*CHANNELS, *COUNTED):
        for w in WINDOWS:
            cols.append(f"t.{name}_{w}d AS {name}_{w}d")
    for name in CHANNELS:
        cols.append(f"t.{name}_all / o.observed_days AS {name}_per_day")
    cols += [
        "t.active_days_30d",
        "t.active_days_90d",
        "t.active_days_all / o.observed_days AS active_days_share",
        "o.observed_days",
        # days without activity times the share of days the customer is usually active: the
        # active days a customer of that habit would have had in the silence (silence of a
        # daily user means more than the same silence of a monthly one)
        "coalesce(datediff('day', t.last_activity, p.snapshot_date), o.observed_days) "
        "* t.active_days_all / o.observed_days AS silence_vs_usual",
        "t.activity_7d / 7.0 / (t.activity_30d / 30.0 + 0.1) AS activity_trend_7_30",
        "t.activity_30d / 30.0 / (t.activity_90d / 90.0 + 0.1) AS activity_trend_30_90",
        "t.web_30d / 30.0 / (t.web_90d / 90.0 + 0.1) AS web_trend_30_90",
        "t.email_engaged_90d / nullif(t.email_delivered_90d, 0) AS email_open_rate_90d",
        "t.points_30d",
        "t.points_90d",
    ]
    return f"""
CREATE OR REPLACE TEMP TABLE _churn_channels AS
WITH observed AS (
    -- days of history the customer could have shown activity in: from signup or the first day
    -- of data, whichever is later, to S
    SELECT p.customer_id, p.snapshot_date,
           CAST(greatest(1, datediff('day', greatest(p.signup_date, f.first_day), p.snapshot_date) + 1) AS DOUBLE)
               AS observed_days
    FROM _churn_rows AS p
    -- the first day of all data, not of the kept customers' (sampling must not move a feature)
    CROSS JOIN (SELECT coalesce(min(occurred_date), DATE '1900-01-01') AS first_day
                FROM marts.fct_engagement_events) AS f
),
totals AS ({totals_sql})
SELECT p.customer_id, p.snapshot_date,
    {", ".join(cols)}
FROM _churn_rows AS p
JOIN observed AS o USING (customer_id, snapshot_date)
JOIN totals AS t USING (customer_id, snapshot_date)
"""


# Step 3b: features of the kept rows
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
           min(o.ordered_date) AS first_order_date,
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
           count(e.customer_id) FILTER (WHERE e.event_type = 'downgraded') AS downgrades_90d,
           count(e.customer_id) FILTER (WHERE e.event_type = 'upgraded') AS upgrades_90d
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
           max(d.score) FILTER (WHERE d.score_date = p.snapshot_date - 90) AS score_90d_ago,
           max(d.score) AS score_peak,
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
        -- the peak of the last 90 days, sampled weekly (a lookup, not a 90-day range join)
        AND d.score_date IN (p.snapshot_date, p.snapshot_date - 7, p.snapshot_date - 14, p.snapshot_date - 21,
                             p.snapshot_date - 30, p.snapshot_date - 45, p.snapshot_date - 60, p.snapshot_date - 90)
    GROUP BY p.customer_id, p.snapshot_date
),
support_features AS (
    SELECT p.customer_id, p.snapshot_date,
           count(t.ticket_id) FILTER (WHERE t.opened_date > p.snapshot_date - 90) AS tickets_90d,
           count(t.ticket_id) FILTER (WHERE t.resolved_date IS NULL OR t.resolved_date > p.snapshot_date) AS open_tickets,
           avg(t.first_response_seconds / 3600.0) FILTER (
               WHERE t.opened_date > p.snapshot_date - 90
               AND CAST(t.first_response_at AS DATE) <= p.snapshot_date) AS first_response_hours_90d,
           -- first-contact resolution (spec's FCR) of the tickets resolved by S: one contact, not
           -- reopened by S
           avg(CASE WHEN t.contacts_count = 1 AND (t.reopened_at IS NULL OR CAST(t.reopened_at AS DATE) > p.snapshot_date)
                    THEN 1.0 ELSE 0.0 END) FILTER (WHERE t.resolved_date <= p.snapshot_date) AS fcr_share,
           count(t.ticket_id) FILTER (WHERE CAST(t.reopened_at AS DATE) <= p.snapshot_date
                                      AND CAST(t.reopened_at AS DATE) > p.snapshot_date - 90) AS reopened_tickets_90d
    FROM population AS p
    LEFT JOIN marts.fct_support_tickets AS t
        ON t.customer_id = p.customer_id AND t.is_valid_ticket AND t.opened_date <= p.snapshot_date
    GROUP BY p.customer_id, p.snapshot_date
),
survey_answers AS (
    SELECT p.customer_id, p.snapshot_date, r.survey_type, r.score,
           row_number() OVER (PARTITION BY p.customer_id, p.snapshot_date, r.survey_type
                              ORDER BY r.responded_at DESC, r.invitation_id DESC) AS latest_rank
    FROM population AS p
    JOIN marts.fct_survey_responses AS r
        ON r.customer_id = p.customer_id AND r.is_response AND r.responded_date <= p.snapshot_date
),
survey_features AS (
    SELECT customer_id, snapshot_date,
           max(score) FILTER (WHERE survey_type = 'nps' AND latest_rank = 1) AS latest_nps,
           max(score) FILTER (WHERE survey_type = 'nps' AND latest_rank = 1)
               - max(score) FILTER (WHERE survey_type = 'nps' AND latest_rank = 2) AS nps_change,
           avg(score) FILTER (WHERE survey_type = 'nps') AS mean_nps,
           max(score) FILTER (WHERE survey_type = 'csat' AND latest_rank = 1) AS latest_csat,
           max(score) FILTER (WHERE survey_type = 'ces' AND latest_rank = 1) AS latest_ces
    FROM survey_answers
    GROUP BY customer_id, snapshot_date
),
survey_invitations AS (
    -- invitations sent in the 180 days to S, and the share answered by S
    SELECT p.customer_id, p.snapshot_date,
           count(r.customer_id) AS survey_invitations_180d,
           avg(CASE WHEN r.responded_date <= p.snapshot_date THEN 1.0 ELSE 0.0 END) AS survey_response_rate_180d
    FROM population AS p
    JOIN marts.fct_survey_responses AS r
        ON r.customer_id = p.customer_id AND r.sent_date <= p.snapshot_date AND r.sent_date > p.snapshot_date - 180
    GROUP BY p.customer_id, p.snapshot_date
)
SELECT
    p.customer_id,
    p.snapshot_date,
    datediff('day', p.signup_date, p.snapshot_date) AS tenure_days,
    datediff('day', o.last_order_date, p.snapshot_date) AS recency_days,
    o.orders_count, o.purchase_days, o.orders_30d, o.orders_90d, o.revenue, o.revenue_90d, o.avg_order_value,
    o.revenue * 365.0 / ch.observed_days AS revenue_per_year,
    datediff('day', o.first_order_date, o.last_order_date) / nullif(o.purchase_days - 1, 0) AS avg_days_between_purchases,
    -- days since the last purchase in units of the customer's usual gap between purchases
    datediff('day', o.last_order_date, p.snapshot_date)
        / nullif(datediff('day', o.first_order_date, o.last_order_date) / nullif(o.purchase_days - 1, 0), 0)
        AS purchase_overdue,
    coalesce(ps.plan, 'none') AS plan,
    CAST(coalesce(ps.is_paid, false) AS INTEGER) AS is_paid,
    CAST(coalesce(ps.is_trial, false) AS INTEGER) AS is_trial,
    datediff('day', ps.from_date, p.snapshot_date) AS days_in_plan_state,
    sf.subscription_events_90d, sf.cancellations_90d, sf.downgrades_90d, sf.upgrades_90d,
    coalesce(en.engagement_score, 0) AS engagement_score,
    coalesce(en.engagement_score, 0) - coalesce(en.score_7d_ago, 0) AS engagement_trend_7d,
    coalesce(en.engagement_score, 0) - coalesce(en.score_30d_ago, 0) AS engagement_trend_30d,
    coalesce(en.engagement_score, 0) - coalesce(en.score_90d_ago, 0) AS engagement_trend_90d,
    coalesce(en.score_peak, 0) - coalesce(en.engagement_score, 0) AS engagement_drop_from_peak,
    coalesce(en.score_web, 0) AS score_web, coalesce(en.score_app, 0) AS score_app,
    coalesce(en.score_email, 0) AS score_email, coalesce(en.score_social, 0) AS score_social,
    coalesce(en.score_orders, 0) AS score_orders, coalesce(en.score_subscriptions, 0) AS score_subscriptions,
    coalesce(en.score_support, 0) AS score_support, coalesce(en.score_surveys, 0) AS score_surveys,
    su.tickets_90d, su.open_tickets, su.first_response_hours_90d, su.fcr_share, su.reopened_tickets_90d,
    sv.latest_nps, sv.nps_change, sv.mean_nps, sv.latest_csat, sv.latest_ces,
    coalesce(si.survey_invitations_180d, 0) AS survey_invitations_180d, si.survey_response_rate_180d,
    CAST(c.marketing_opt_in AS INTEGER) AS marketing_opt_in,
    coalesce(c.persona, 'unknown') AS persona,
    coalesce(c.acquisition_channel, 'unknown') AS acquisition_channel,
    coalesce(c.income_band, 'unknown') AS income_band,
    coalesce(c.age_band, 'unknown') AS age_band,
    ch.* EXCLUDE (customer_id, snapshot_date),
    p.churned,
    p.in_training_sample
FROM population AS p
JOIN marts.dim_customers AS c USING (customer_id)
JOIN _churn_channels AS ch USING (customer_id, snapshot_date)
JOIN order_features AS o USING (customer_id, snapshot_date)
JOIN plan_state AS ps USING (customer_id, snapshot_date)
JOIN subscription_features AS sf USING (customer_id, snapshot_date)
JOIN engagement AS en USING (customer_id, snapshot_date)
JOIN support_features AS su USING (customer_id, snapshot_date)
LEFT JOIN survey_features AS sv USING (customer_id, snapshot_date)
LEFT JOIN survey_invitations AS si USING (customer_id, snapshot_date)
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
                   channel_totals: str | None = None) -> tuple[pd.DataFrame, TrainingSample]:
    """One row per (active customer, snapshot) with FEATURES, the label ``churned`` (null when
    ``snapshot + horizon_days`` is after ``as_of``) and ``in_training_sample``.

    Training sample: when ``max_train_rows`` is set and the labelled rows are more, whole
    customers are taken in the order of the MD5 of their ``customer_id`` while their labelled rows
    add up to at most ``max_train_rows``. ``channel_totals`` ('running' or 'direct', step 3a)
    defaults by the number of snapshots. The labelled snapshots before the latest one then keep
    only the sampled customers' rows (features are not computed for the others); the latest
    labelled snapshot (the churn model's evaluation snapshot) and the unlabelled ones keep
    everyone. Without sampling every row is ``in_training_sample``."""
    if channel_totals is None:
        channel_totals = "direct" if len(set(snapshots)) <= DIRECT_MAX_SNAPSHOTS else "running"
    if channel_totals not in ("running", "direct"):  # before any query runs
        raise ValueError(f"channel_totals must be 'running' or 'direct', not {channel_totals!r}")
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
        con.execute(_daily_sql())
        if channel_totals == "running":
            con.execute(_running_sql())
            con.execute(_channel_features_sql(_running_totals_sql()))
        else:
            con.execute(_channel_features_sql(_direct_totals_sql()))
        out = con.execute(FEATURES_SQL).df()
    finally:
        con.unregister("_churn_snapshots")
        for table in ("_churn_channels", "_churn_running", "_churn_daily", "_churn_rows", "_churn_sample",
                      "_churn_population"):
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
