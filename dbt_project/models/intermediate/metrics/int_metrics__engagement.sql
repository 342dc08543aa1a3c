-- The per-customer definition, a view for drill-down and the reference of
-- int_metrics__engagement_by_segment, which the marts read (it sums the same parts per segment
-- combination in one pass; tests/test_e2e.py checks that the two agree).
{{ config(materialized='view') }}
-- Observations of the engagement score metrics: each scored customer's score on the last day of
-- each period (the run date for the period still running). A state at the period end, so each
-- grain is emitted from its own end date, never summed over days.
{%- set double = type_double() %}

-- a plain scan read by several CTEs: inlined, not stored (inline_cte)
with daily as {{ inline_cte() }} (
    select customer_id, score_date, score, band, week_ago_score
    from {{ ref('customer_engagement_daily') }}
    where score_date <= {{ as_of_date() }}
),

period_ends as (
    {{ engagement_period_ends('daily') | indent(4) }}
),

observations as (
    select 'engagement_score_mean' as metric_name, customer_id, period_grain, period_start, score as x from period_ends
    union all
    select 'pct_at_risk', customer_id, period_grain, period_start, case when band = 'at_risk' then 1.0 else 0.0 end from period_ends
    union all
    select 'pct_power_users', customer_id, period_grain, period_start, case when band = 'power_user' then 1.0 else 0.0 end from period_ends
    union all
    select 'pct_score_drops', customer_id, period_grain, period_start, dropped from period_ends
)

select
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(period_start as date) as period_start,
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(null as {{ dbt.type_string() }}) as channel,
    cast(null as {{ dbt.type_string() }}) as touchpoint,
    cast(x as {{ double }}) as numerator,
    cast(1 as {{ double }}) as denominator,
    cast(1 as {{ dbt.type_bigint() }}) as sample_size,
    cast(x * x as {{ double }}) as sum_squares
from observations
