-- The parts of the engagement score metrics per metric, grain, period and segment (segment_name,
-- segment_value), straight from customer_engagement_daily: the rows of metric_rollup over
-- observations_by_segment(int_metrics__engagement), the per-customer definition (a view kept
-- for drill-down; tests/test_e2e.py checks that the two agree), from one aggregation of the
-- period-end rows per attribute set and plan, rolled up, instead of four observation rows per
-- customer and period (480M at 1M customers × 120 days).
-- x = score for engagement_score_mean; 0/1 for pct_at_risk, pct_power_users, pct_score_drops
-- (so their sum of squares is their sum).
{{ config(materialized='table') }}
{%- set double = type_double() %}
{%- set as_of = as_of_date() %}

-- a plain scan read by several CTEs: inlined, not stored (inline_cte)
with daily as {{ inline_cte() }} (
    select customer_id, score_date, score, band, week_ago_score
    from {{ ref('customer_engagement_daily') }}
    where score_date <= {{ as_of }}
),

customers as (
    {{ segment_customers() | indent(4) }}
),

{{ customer_attribute_sets('customers') }},

plan_intervals as (
    {{ plan_at_day_start_intervals() | indent(4) }}
),

period_ends as (
    {{ engagement_period_ends('daily') | indent(4) }}
),

parts as (
    select
        period_grain,
        period_start,
        attribute_set_id,
        plan,
        sum(score) as score_sum,
        sum(score * score) as score_squares,
        sum(case when band = 'at_risk' then 1.0 else 0.0 end) as at_risk,
        sum(case when band = 'power_user' then 1.0 else 0.0 end) as power_users,
        sum(dropped) as dropped,
        count(*) as customers
    from (
        {{ with_segment_keys('period_ends', 'period_start') | indent(8) }}
    ) as keyed
    group by period_grain, period_start, attribute_set_id, plan
),

segment_parts as (
    {{ segment_rollup('parts', ['period_grain', 'period_start'], ['score_sum', 'score_squares', 'at_risk', 'power_users', 'dropped', 'customers']) | indent(4) }}
),

unpivoted as (
    select 'engagement_score_mean' as metric_name, period_grain, period_start, segment_name, segment_value,
        score_sum as numerator, customers as denominator, customers as sample_size, score_squares as sum_squares
    from segment_parts
    union all
    select 'pct_at_risk', period_grain, period_start, segment_name, segment_value, at_risk, customers, customers, at_risk
    from segment_parts
    union all
    select 'pct_power_users', period_grain, period_start, segment_name, segment_value, power_users, customers, customers, power_users
    from segment_parts
    union all
    select 'pct_score_drops', period_grain, period_start, segment_name, segment_value, dropped, customers, customers, dropped
    from segment_parts
)

{{ select_rolled_up_parts('unpivoted') }}
