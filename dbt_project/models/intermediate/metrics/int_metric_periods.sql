-- Every period (day, ISO week, month) from the first day with any customer interaction to the
-- run's as-of date. Domain marts give each of their metrics a segment-'all' row for every one
-- of these periods, so an empty period reads as value null (ratios) or 0 (counts) with
-- sample_size 0 instead of a missing row. Days come from a portable 0..9999 offset series
-- (27 years), no engine-specific generate_series.
with bounds as (
    select min(occurred_date) as first_day
    from {{ ref('fct_engagement_events') }}
),

digits as (
    select 0 as d union all select 1 union all select 2 union all select 3 union all select 4
    union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
),

offsets as (
    select ones.d + 10 * tens.d + 100 * hundreds.d + 1000 * thousands.d as day_offset
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
    cross join digits as thousands
),

days as (
    select cast({{ dbt.dateadd('day', 'offsets.day_offset', 'bounds.first_day') }} as date) as period_day
    from bounds
    cross join offsets
    where bounds.first_day is not null
        and offsets.day_offset <= {{ dbt.datediff('bounds.first_day', as_of_date(), 'day') }}
),

grains as (
    {{ metric_grains() }}
)

select distinct
    cast(grains.period_grain as {{ dbt.type_string() }}) as period_grain,
    {{ period_start('grains.period_grain', 'days.period_day') }} as period_start
from days
cross join grains
