-- The parts of dau, wau, mau and stickiness per metric, grain, period and segment (segment_name,
-- segment_value: each customer segment, plus 'all'), rolled up before anything is expanded per
-- day: the rows of metric_rollup over observations_by_segment(int_metrics__active_users), the
-- per-customer definition (a view kept for drill-down; tests/test_e2e.py checks that the two
-- agree), without its row per customer and covered day (about 217M at 1M customers × 120
-- days: benchmarks/results.md).
--   Day grain: each active day a covers the days a .. a + window - 1 up to the customer's next
--   active day (disjoint ranges), merged where they touch (active_user_islands: 45.6M ranges
--   are 12.8M islands at 1M customers; model 33.5 -> 25.7 s, peak memory 6.0 -> 3.6 GiB), cut
--   where the plan held at the day's start changes. A range
--   adds +1 on its first day and -1 after its last (customer_range_deltas); the deltas are summed
--   per attribute set and plan, rolled up to the segments (segment_rollup), and the running
--   sum per segment is the count of each day (running_day_counts). Stickiness of a day = dau
--   over mau of the same segment.
--   Week and month grains: the islands that hold the period's (capped) last day, per customer
--   (a few rows per customer), and the active days per period for stickiness, summed per
--   attribute set and plan, then rolled up.
{{ config(materialized='table') }}
{%- set double = type_double() %}

with {{ active_user_days() }},

customers as (
    {{ segment_customers() | indent(4) }}
),

{{ customer_attribute_sets('customers') }},

plan_intervals as (
    {{ plan_at_day_start_intervals() | indent(4) }}
),

-- a customer's covered days per metric as islands (first_day .. last_day): the same days as
-- activity_ranges in a third of the rows, so a third of the deltas and range joins below
{{ active_user_islands() }},

days as (
    select period_start as period_day
    from {{ ref('int_metric_periods') }}
    where period_grain = 'day'
),

-- day grain: +1/-1 per range, cut where the plan changes, per attribute set and plan
{{ customer_range_deltas('day_deltas', 'activity_islands', ['metric_name']) }},

segment_day_deltas as (
    {{ segment_rollup('day_deltas', ['metric_name', 'change_date'], ['delta']) | indent(4) }}
),

{{ running_day_counts('day_counts', 'segment_day_deltas', ['metric_name', 'segment_name', 'segment_value'], 'days') }},

day_rows as (
    select
        metric_name,
        'day' as period_grain,
        counted_date as period_start,
        segment_name,
        segment_value,
        cast(customers as {{ double }}) as numerator,
        cast(null as {{ double }}) as denominator,
        customers as sample_size
    from day_counts
    union all
    -- stickiness of a day: the customers active that day over those in the MAU
    select
        'stickiness' as metric_name,
        'day' as period_grain,
        counted_date as period_start,
        segment_name,
        segment_value,
        cast(sum(case when metric_name = 'dau' then customers else 0 end) as {{ double }}) as numerator,
        cast(sum(case when metric_name = 'mau' then customers else 0 end) as {{ double }}) as denominator,
        sum(case when metric_name = 'mau' then customers else 0 end) as sample_size
    from day_counts
    group by counted_date, segment_name, segment_value
),

-- week and month: each period's (capped) last day, and its length in days
period_last_days as (
    select
        period_grain,
        period_start,
        cast(least({{ period_end('period_grain', 'period_start') }}, {{ as_of_date() }}) as date) as last_day
    from {{ ref('int_metric_periods') }}
    where period_grain in ('week', 'month')
),

-- customers counted at a period's last day: their range holding that day
period_counts as (
    select
        activity_islands.metric_name,
        period_last_days.period_grain,
        period_last_days.period_start,
        activity_islands.customer_id
    from activity_islands
    inner join period_last_days
        on period_last_days.last_day >= activity_islands.first_day
        and period_last_days.last_day <= activity_islands.last_day
),

-- stickiness parts: active days in the period and MAU membership at its end
period_parts as (
    select
        metric_name, period_grain, period_start, customer_id,
        1 as counted, 0 as active_days
    from period_counts
    union all
    select
        'stickiness' as metric_name, period_grain, period_start, customer_id,
        1 as counted, 0 as active_days
    from period_counts
    where metric_name = 'mau'
    union all
    select
        'stickiness' as metric_name,
        grains.period_grain,
        {{ period_start('grains.period_grain', 'activity_days.activity_date') }} as period_start,
        activity_days.customer_id,
        0 as counted,
        1 as active_days
    from activity_days
    cross join (select 'week' as period_grain union all select 'month' as period_grain) as grains
),

period_sums as (
    select metric_name, period_grain, period_start, attribute_set_id, plan, sum(counted) as counted, sum(active_days) as active_days
    from (
        {{ with_segment_keys('period_parts', 'period_start') | indent(8) }}
    ) as keyed
    group by metric_name, period_grain, period_start, attribute_set_id, plan
),

segment_period_sums as (
    {{ segment_rollup('period_sums', ['metric_name', 'period_grain', 'period_start'], ['counted', 'active_days']) | indent(4) }}
),

-- stickiness = active days / days in the period (summed over customers: the average DAU),
-- over the MAU at its end
period_rows as (
    select
        metric_name,
        period_grain,
        period_start,
        segment_name,
        segment_value,
        case
            when metric_name = 'stickiness' then cast(active_days as {{ double }}) / (
                {{ dbt.datediff('period_start', 'least(' ~ period_end('period_grain', 'period_start') ~ ', ' ~ as_of_date() ~ ')', 'day') }} + 1)
            else cast(counted as {{ double }})
        end as numerator,
        case when metric_name = 'stickiness' then cast(counted as {{ double }}) end as denominator,
        counted as sample_size
    from segment_period_sums
),

rolled_up as (
    select *, cast(null as {{ double }}) as sum_squares from day_rows
    union all
    select *, cast(null as {{ double }}) as sum_squares from period_rows
)

{{ select_rolled_up_parts('rolled_up') }}
