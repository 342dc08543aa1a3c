-- The parts of the retention metrics per metric, grain, period and segment (segment_name,
-- segment_value), rolled up before anything is expanded per day: the rows of metric_rollup over
-- observations_by_segment(int_metrics__retention), the per-customer definition (a view kept for
-- drill-down; tests/test_e2e.py checks that the two agree), without its row per customer and
-- day (193M at 1M customers × 120 days, out of memory: benchmarks/results.md).
-- A(d) = active at the END of day d: a spell [from_date, to_date).
--   Day grain (S = A(d - 1), E = A(d)): a spell puts its customer in S on from + 1 .. to, in E
--   on from .. to - 1 and in both on from + 1 .. to - 1. Those ranges, cut where the plan held
--   at the day's start changes, give +1/-1 deltas (customer_range_deltas) that are rolled up to the
--   segments (segment_rollup) and summed day by day (running_day_counts).
--   Week and month grains: per customer, the spells holding the day before the period and its
--   (capped) last day; new_customers: one row per customer and grain. Both summed per
--   attribute set and plan, then rolled up.
{{ config(materialized='table') }}
{%- set double = type_double() %}

with {{ retention_calendar() }},

customers as (
    {{ segment_customers() | indent(4) }}
),

{{ customer_attribute_sets('customers') }},

plan_intervals as (
    {{ plan_at_day_start_intervals() | indent(4) }}
),

-- day grain: the days each spell puts its customer in S, E or both (up to the as-of date)
state_ranges as (
    select customer_id, 's' as state, cast({{ dbt.dateadd('day', 1, 'from_date') }} as date) as first_day, to_date as last_day
    from spells
    union all
    select customer_id, 'e' as state, from_date as first_day, cast({{ dbt.dateadd('day', -1, 'to_date') }} as date) as last_day
    from spells
    union all
    select customer_id, 'both' as state, cast({{ dbt.dateadd('day', 1, 'from_date') }} as date) as first_day, cast({{ dbt.dateadd('day', -1, 'to_date') }} as date) as last_day
    from spells
),

clipped_ranges as (
    select
        customer_id,
        state,
        first_day,
        case when last_day > {{ as_of_date() }} then {{ as_of_date() }} else last_day end as last_day
    from state_ranges
    -- from the as-of date on nothing counts; a one-day spell has no day in both
    where first_day <= {{ as_of_date() }}
        and first_day <= last_day
),

-- +1/-1 per range, cut where the plan changes, per attribute set and plan
{{ customer_range_deltas('day_deltas', 'clipped_ranges', ['state']) }},

segment_day_deltas as (
    {{ segment_rollup('day_deltas', ['state', 'change_date'], ['delta']) | indent(4) }}
),

{{ running_day_counts('day_counts', 'segment_day_deltas', ['state', 'segment_name', 'segment_value'], '(select calendar_date as period_day from calendar)') }},

day_states as (
    select
        'day' as period_grain,
        counted_date as period_start,
        segment_name,
        segment_value,
        sum(case when state = 's' then customers else 0 end) as in_s,
        sum(case when state = 'e' then customers else 0 end) as in_e,
        sum(case when state = 'both' then customers else 0 end) as in_both
    from day_counts
    group by counted_date, segment_name, segment_value
),

-- week and month: per customer, in S (active the day before the period) and in E (active on
-- its capped last day)
period_bounds as (
    select
        period_grain,
        period_start,
        cast({{ dbt.dateadd('day', -1, 'period_start') }} as date) as start_state_date,
        case
            when {{ period_end('period_grain', 'period_start') }} > {{ as_of_date() }} then {{ as_of_date() }}
            else {{ period_end('period_grain', 'period_start') }}
        end as end_state_date
    from (
        select distinct grains.period_grain, {{ period_start('grains.period_grain', 'calendar.calendar_date') }} as period_start
        from calendar
        cross join (select 'week' as period_grain union all select 'month' as period_grain) as grains
    ) as periods
    where period_start <= {{ as_of_date() }}
),

memberships as (
    select period_grain, period_start, customer_id, max(in_s) as in_s, max(in_e) as in_e
    from (
        select period_bounds.period_grain, period_bounds.period_start, spells.customer_id, 1 as in_s, 0 as in_e
        from period_bounds
        inner join spells
            on spells.from_date <= period_bounds.start_state_date
            and period_bounds.start_state_date < spells.to_date
        union all
        select period_bounds.period_grain, period_bounds.period_start, spells.customer_id, 0 as in_s, 1 as in_e
        from period_bounds
        inner join spells
            on spells.from_date <= period_bounds.end_state_date
            and period_bounds.end_state_date < spells.to_date
    ) as states
    group by period_grain, period_start, customer_id
),

period_states as (
    select
        period_grain,
        period_start,
        attribute_set_id,
        plan,
        sum(in_s) as in_s,
        sum(in_e) as in_e,
        sum(in_s * in_e) as in_both
    from (
        {{ with_segment_keys('memberships', 'period_start') | indent(8) }}
    ) as keyed
    group by period_grain, period_start, attribute_set_id, plan
),

segment_period_states as (
    {{ segment_rollup('period_states', ['period_grain', 'period_start'], ['in_s', 'in_e', 'in_both']) | indent(4) }}
),

signed_up as (
    select grains.period_grain, {{ period_start('grains.period_grain', 'dim.signup_date') }} as period_start, dim.customer_id
    from {{ ref('dim_customers') }} as dim
    cross join ({{ metric_grains() }}) as grains
    where not dim.is_unknown_member
        and dim.signup_date <= {{ as_of_date() }}
),

states as (
    select period_grain, period_start, segment_name, segment_value, in_s, in_e, in_both
    from day_states
    union all
    select period_grain, period_start, segment_name, segment_value, in_s, in_e, in_both
    from segment_period_states
),

signups as (
    select period_grain, period_start, attribute_set_id, plan, count(*) as customers
    from (
        {{ with_segment_keys('signed_up', 'period_start') | indent(8) }}
    ) as keyed
    group by period_grain, period_start, attribute_set_id, plan
),

segment_signups as (
    {{ segment_rollup('signups', ['period_grain', 'period_start'], ['customers']) | indent(4) }}
),

-- CRR and churn rate: a row wherever S or E has members (E-only: 0/0); the counts: a row
-- wherever they count someone
rolled_up as (
    select 'customer_retention_rate' as metric_name, period_grain, period_start, segment_name, segment_value,
        in_both as numerator, in_s as denominator, in_s as sample_size, cast(null as {{ double }}) as sum_squares
    from states
    union all
    select 'churn_rate', period_grain, period_start, segment_name, segment_value,
        in_s - in_both, in_s, in_s, null
    from states
    union all
    select 'active_customers', period_grain, period_start, segment_name, segment_value,
        in_e, null, in_e, null
    from states
    where in_e > 0
    union all
    select 'churned_customers', period_grain, period_start, segment_name, segment_value,
        in_s - in_both, null, in_s, null
    from states
    where in_s > 0
    union all
    select 'new_customers', period_grain, period_start, segment_name, segment_value,
        customers, null, customers, null
    from segment_signups
)

{{ select_rolled_up_parts('rolled_up') }}
