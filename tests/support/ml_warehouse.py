"""The tables the ML assets read (staging orders and subscription events, plan periods,
dim_customers, engagement events and daily scores, support tickets, survey responses), written
straight from data frames: the fixture of the fast ML tests (no dbt build of the marts).

Frames (any may be empty or None; the columns are the ones named here):

* ``orders``: customer_id, order_id, ordered_date, status, amount, cost
* ``customers``: customer_id, signup_date
* ``plan_periods``: customer_id, plan, is_paid, is_trial, last_event_type, from_date, to_date
* ``subscription_events``: customer_id, event_type, occurred_date
* ``events``: customer_id, event_id, event_type, occurred_date (app events, weight 2, uninstall -10)
* ``tickets``: customer_id, ticket_id, opened_date
* ``surveys``: customer_id, invitation_id, responded_date, score
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

COLUMNS = {
    "orders": ["customer_id", "order_id", "ordered_date", "status", "amount", "cost"],
    "customers": ["customer_id", "signup_date"],
    "plan_periods": ["customer_id", "plan", "is_paid", "is_trial", "last_event_type", "from_date", "to_date"],
    "subscription_events": ["customer_id", "event_type", "occurred_date"],
    "events": ["customer_id", "event_id", "event_type", "occurred_date"],
    "tickets": ["customer_id", "ticket_id", "opened_date"],
    "surveys": ["customer_id", "invitation_id", "responded_date", "score"],
}


def _frame(name: str, frame: pd.DataFrame | None) -> pd.DataFrame:
    if frame is None or not len(frame):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMNS[name]})
    return frame[COLUMNS[name]]


def write_ml_inputs(path: Path, start: date, end: date, *, orders=None, customers=None, plan_periods=None,
                    subscription_events=None, events=None, tickets=None, surveys=None) -> None:
    """Create the ML input tables in a new DuckDB file ``path``; engagement scores for start .. end."""
    o = _frame("orders", orders)
    cust = _frame("customers", customers)
    periods = _frame("plan_periods", plan_periods)
    sub_events = _frame("subscription_events", subscription_events)
    e = _frame("events", events)
    tickets = _frame("tickets", tickets)
    surveys = _frame("surveys", surveys)
    with duckdb.connect(str(path)) as con:
        for schema in ("staging", "marts", "intermediate"):
            con.execute(f"CREATE SCHEMA {schema}")
        con.register("o", o)
        con.execute("""CREATE TABLE staging.stg_shop__orders AS SELECT CAST(order_id AS VARCHAR) AS order_id,
                       CAST(customer_id AS VARCHAR) AS customer_id,
                       CAST(ordered_date AS TIMESTAMP) + INTERVAL 12 HOUR AS ordered_at, CAST(ordered_date AS DATE) AS ordered_date,
                       CAST(status AS VARCHAR) AS status, CAST(amount AS DOUBLE) AS net_amount_reporting,
                       CAST(cost AS DOUBLE) AS cost_amount_reporting FROM o""")
        con.register("cust", cust)
        con.execute("""CREATE TABLE marts.dim_customers AS SELECT CAST(customer_id AS VARCHAR) AS customer_id,
                       'k' || customer_id AS customer_key,
                       false AS is_unknown_member, CAST(signup_date AS DATE) AS signup_date, 'US' AS country,
                       'p' AS persona, true AS marketing_opt_in, 'organic' AS acquisition_channel, '25-34' AS age_band, 'mid' AS income_band, 'f' AS gender, CAST(0 AS BIGINT) AS tenure_days,
                       CAST(0 AS BIGINT) AS orders_count, 0.0 AS revenue, CAST(NULL AS DOUBLE) AS avg_order_value,
                       CAST(NULL AS BIGINT) AS recency_days, 'none' AS current_plan, CAST(0 AS BIGINT) AS support_tickets_count,
                       CAST(NULL AS BIGINT) AS latest_nps_score, CAST(NULL AS BIGINT) AS latest_csat_score,
                       CAST(NULL AS BIGINT) AS latest_ces_score, 0.0 AS engagement_score, 'x' AS engagement_band FROM cust""")
        con.register("periods", periods)
        con.execute("""CREATE TABLE intermediate.int_subscriptions__plan_periods AS SELECT CAST(customer_id AS VARCHAR) AS customer_id,
                       CAST(plan AS VARCHAR) AS plan, CAST(is_paid AS BOOLEAN) AS is_paid, CAST(is_trial AS BOOLEAN) AS is_trial,
                       CAST(last_event_type AS VARCHAR) AS last_event_type, CAST(from_date AS DATE) AS from_date,
                       CAST(to_date AS DATE) AS to_date FROM periods""")
        con.register("sub_events", sub_events)
        con.execute("""CREATE TABLE staging.stg_billing__subscription_events AS SELECT CAST(customer_id AS VARCHAR) AS customer_id,
                       CAST(event_type AS VARCHAR) AS event_type, CAST(occurred_date AS DATE) AS occurred_date FROM sub_events""")
        con.register("e", e)
        con.execute("""CREATE TABLE marts.fct_engagement_events AS SELECT CAST(event_id AS VARCHAR) AS event_id,
                       CAST(customer_id AS VARCHAR) AS customer_id, true AS is_known_customer,
                       'app' AS source, CAST(event_type AS VARCHAR) AS event_type, CAST(occurred_date AS TIMESTAMP) + INTERVAL 9 HOUR AS occurred_at,
                       CAST(occurred_date AS DATE) AS occurred_date, true AS counts_as_activity,
                       CASE WHEN event_type = 'uninstall' THEN -10.0 ELSE 2.0 END AS weight FROM e""")
        con.execute(f"""CREATE TABLE marts.customer_engagement_daily AS
                        WITH days AS (SELECT CAST(range AS DATE) AS score_date FROM range(DATE '{start}', DATE '{end}' + 1, INTERVAL 1 DAY))
                        SELECT c.customer_id, days.score_date, coalesce(sum(ev.weight), 0) AS score,
                               coalesce(sum(ev.weight), 0) AS score_app, 0.0 AS score_web, 0.0 AS score_email,
                               0.0 AS score_social, 0.0 AS score_orders, 0.0 AS score_subscriptions,
                               0.0 AS score_support, 0.0 AS score_surveys
                        FROM marts.dim_customers AS c CROSS JOIN days
                        LEFT JOIN marts.fct_engagement_events AS ev ON ev.customer_id = c.customer_id
                             AND ev.occurred_date <= days.score_date AND ev.occurred_date > days.score_date - 30
                        WHERE days.score_date >= c.signup_date
                        GROUP BY ALL""")
        con.register("tickets", tickets)
        con.execute("""CREATE TABLE marts.fct_support_tickets AS SELECT CAST(ticket_id AS VARCHAR) AS ticket_id,
                       CAST(customer_id AS VARCHAR) AS customer_id, true AS is_valid_ticket,
                       CAST(opened_date AS TIMESTAMP) + INTERVAL 10 HOUR AS opened_at, CAST(opened_date AS DATE) AS opened_date,
                       CAST(opened_date AS TIMESTAMP) + INTERVAL 14 HOUR AS first_response_at, 14400.0 AS first_response_seconds,
                       CAST(opened_date AS TIMESTAMP) + INTERVAL 3 DAY AS resolved_at,
                       CAST(opened_date AS DATE) + 3 AS resolved_date, CAST(1 AS BIGINT) AS contacts_count,
                       CAST(NULL AS TIMESTAMP) AS reopened_at FROM tickets""")
        con.register("surveys", surveys)
        con.execute("""CREATE TABLE marts.fct_survey_responses AS SELECT CAST(invitation_id AS VARCHAR) AS invitation_id,
                       CAST(customer_id AS VARCHAR) AS customer_id, true AS is_response,
                       'nps' AS survey_type, CAST(score AS BIGINT) AS score,
                       CAST(responded_date AS TIMESTAMP) + INTERVAL 11 HOUR AS responded_at,
                       CAST(responded_date AS DATE) AS responded_date, CAST(responded_date AS DATE) - 2 AS sent_date
                       FROM surveys""")
