-- The per-customer definition, a view for drill-down and the reference of
-- int_metrics__retention_by_segment, which the marts read (it counts the same rows without a
-- row per customer and day; tests/test_e2e.py checks that the two agree).
{{ config(materialized='view') }}
-- Observations of the retention metrics (docs/metrics-framework.md), one row per metric, grain,
-- period and customer with 0/1 parts; each grain is emitted here (period states are not
-- additive over time). A(d) = active at the END of day d (int_customers__active_spells).
--   S = customers with A(period start - 1 day), E = customers with A(period end),
--   N = E members not in S (new or returning).
--   customer_retention_rate: numerator = in S and in E (= E - N), denominator = in S.
--   churn_rate:              numerator = in S and not in E, denominator = in S.
--   So CRR + churn = 100 exactly. Rows of E-only customers carry 0/0, so a period with
--   members but S = 0 gets a null value (sample_size 0) instead of no row.
--   active_customers  = E members; churned_customers = S members not in E (0 rows for the rest
--   of S, so a period with S > 0 and no churn shows 0).
--   new_customers: signup_date (dim_customers, reporting time zone) in the period, one row per
--   customer and grain.
-- Periods up to as_of_date(); the period still running ends at as_of_date() (E and
-- active_customers are "so far"). A period where nobody is in S or E and nobody signed up has
-- no row.
{%- set double = type_double() %}

with {{ retention_calendar() }},

grains as (
    {{ metric_grains() }}
),

periods as (
    select distinct
        grains.period_grain,
        {{ period_start('grains.period_grain', 'calendar.calendar_date') }} as period_start
    from calendar
    cross join grains
),

period_bounds as (
    select
        period_grain,
        period_start,
        cast({{ dbt.dateadd('day', -1, 'period_start') }} as date) as start_state_date,
        case
            when {{ period_end('period_grain', 'period_start') }} > {{ as_of_date() }} then {{ as_of_date() }}
            else {{ period_end('period_grain', 'period_start') }}
        end as end_state_date
    from periods
    where period_start <= {{ as_of_date() }}
),

-- customer x day for the active days only (the days of the spells up to as_of_date)
active_days as (
    select spells.customer_id, calendar.calendar_date
    from spells
    inner join calendar
        on calendar.calendar_date >= spells.from_date
        and calendar.calendar_date < spells.to_date
),

memberships as (
    select period_grain, period_start, customer_id, max(in_s) as in_s, max(in_e) as in_e
    from (
        select period_bounds.period_grain, period_bounds.period_start, active_days.customer_id, 1 as in_s, 0 as in_e
        from period_bounds
        inner join active_days
            on active_days.calendar_date = period_bounds.start_state_date
        union all
        select period_bounds.period_grain, period_bounds.period_start, active_days.customer_id, 0 as in_s, 1 as in_e
        from period_bounds
        inner join active_days
            on active_days.calendar_date = period_bounds.end_state_date
    ) as states
    group by period_grain, period_start, customer_id
),

signups as (
    select grains.period_grain, {{ period_start('grains.period_grain', 'customers.signup_date') }} as period_start, customers.customer_id
    from {{ ref('dim_customers') }} as customers
    cross join grains
    where not customers.is_unknown_member
        and customers.signup_date <= {{ as_of_date() }}
),

observations as (
    select 'customer_retention_rate' as metric_name, period_grain, period_start, customer_id,
        in_s * in_e as numerator, in_s as denominator, in_s as sample_size
    from memberships
    union all
    select 'churn_rate', period_grain, period_start, customer_id,
        in_s * (1 - in_e), in_s, in_s
    from memberships
    union all
    select 'active_customers', period_grain, period_start, customer_id, 1, null, 1
    from memberships
    where in_e = 1
    union all
    select 'churned_customers', period_grain, period_start, customer_id, 1 - in_e, null, 1
    from memberships
    where in_s = 1
    union all
    select 'new_customers', period_grain, period_start, customer_id, 1, null, 1
    from signups
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
