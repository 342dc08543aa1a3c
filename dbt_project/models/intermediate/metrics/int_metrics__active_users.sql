-- The per-customer definition, a view for drill-down and the reference of
-- int_metrics__active_users_by_segment, which the marts read (it counts the same rows without a
-- row per customer and covered day; tests/test_e2e.py checks that the two agree).
{{ config(materialized='view') }}
-- Observations of dau, wau, mau and stickiness (docs/metrics-framework.md). Active = any event
-- of fct_engagement_events with counts_as_activity, on its occurred_date (reporting time zone),
-- by customer_id as delivered (a customer not yet in the CRM counts, as segment 'unknown').
-- The period's last day is capped at as_of_date(): the current week or month is read on the
-- run's day. dau / wau / mau of a period = customers active on / in the 7 / in the 30 days
-- ending on that last day (a day-grain row: that day). Count parts: one row per customer
-- counted, numerator 1.
-- Stickiness = 100 x average DAU over the period / MAU at its last day, as additive parts per
-- customer: numerator = active days in the period / days in the period (so the sum over
-- customers is the average DAU), denominator = 1 when the customer is in the MAU at the end.
-- Days in the period run from its first day to its (capped) last day.
-- No customer x day spine: each active day a "covers" the days a .. a + window - 1 up to the
-- customer's next active day (exclusive), so the covered ranges are disjoint and are expanded
-- by one inequality join to a 0..29 offset table; the output is exactly one row per counted
-- customer and day.
{%- set double = type_double() %}

with {{ active_user_ranges() }},

offsets as (
    select generated_number - 1 as day_offset
    from ({{ dbt.generate_series(30) }}) as series
),

-- (metric, customer, day) for every day the customer counts in the metric's window
covered as (
    select
        activity_ranges.metric_name,
        activity_ranges.customer_id,
        cast({{ dbt.dateadd('day', 'offsets.day_offset', 'activity_ranges.activity_date') }} as date) as covered_date
    from activity_ranges
    inner join offsets
        on offsets.day_offset < activity_ranges.covered_days
),

grains as (
    {{ metric_grains() }}
),

-- each period's (capped) last day: every day ends its day, a week or month ends on its last
-- day or on the run date while it is still running
period_last_days as (
    select
        period_grain,
        period_start,
        cast(least({{ period_end('period_grain', 'period_start') }}, {{ as_of_date() }}) as date) as last_day
    from {{ ref('int_metric_periods') }}
),

-- keep the covered days that are a period's (capped) last day: a join on the day, not each
-- covered day times every grain and a filter (the covered rows are the model's bulk)
period_counts as (
    select
        covered.metric_name,
        period_last_days.period_grain,
        period_last_days.period_start,
        covered.customer_id
    from covered
    inner join period_last_days
        on period_last_days.last_day = covered.covered_date
),

count_observations as (
    select
        metric_name, period_grain, period_start, customer_id,
        cast(1 as {{ double }}) as numerator,
        cast(null as {{ double }}) as denominator,
        1 as sample_size
    from period_counts
),

-- stickiness parts: active days per customer and period, and MAU membership at the end
stickiness_parts as (
    select
        grains.period_grain,
        {{ period_start('grains.period_grain', 'activity_days.activity_date') }} as period_start,
        activity_days.customer_id,
        1 as active_days,
        0 as in_mau
    from activity_days
    cross join grains
    union all
    select period_grain, period_start, customer_id, 0 as active_days, 1 as in_mau
    from period_counts
    where metric_name = 'mau'
),

stickiness_observations as (
    select
        'stickiness' as metric_name,
        period_grain,
        period_start,
        customer_id,
        cast(sum(active_days) as {{ double }}) / (
            {{ dbt.datediff('period_start', 'least(' ~ period_end('period_grain', 'period_start') ~ ', ' ~ as_of_date() ~ ')', 'day') }} + 1
        ) as numerator,
        cast(sum(in_mau) as {{ double }}) as denominator,
        sum(in_mau) as sample_size
    from stickiness_parts
    group by period_grain, period_start, customer_id
),

observations as (
    select * from count_observations
    union all
    select * from stickiness_observations
)

select
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(period_start as date) as period_start,
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(null as {{ dbt.type_string() }}) as channel,
    cast(null as {{ dbt.type_string() }}) as touchpoint,
    cast(numerator as {{ double }}) as numerator,
    cast(denominator as {{ double }}) as denominator,
    cast(sample_size as {{ dbt.type_bigint() }}) as sample_size,
    cast(null as {{ double }}) as sum_squares
from observations
