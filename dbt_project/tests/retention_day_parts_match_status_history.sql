-- The daily status history and the day grain of the retention metrics tell the same story:
-- on each of the last 7 days up to the run date, S = active + churned, E = new + returning +
-- active and E - N = active customers of int_customers__status_history (segment all).
{%- set as_of = as_of_date() %}
with days as (
    select distinct period_start as status_date
    from {{ ref('mart_retention__metrics') }}
    where period_grain = 'day'
        and period_start <= {{ as_of }}
        and period_start > cast({{ dbt.dateadd('day', -7, as_of) }} as date)
),

from_history as (
    select
        days.status_date,
        sum(case when history.status in ('active', 'churned') then 1 else 0 end) as s_members,
        sum(case when history.is_active then 1 else 0 end) as e_members,
        sum(case when history.status = 'active' then 1 else 0 end) as retained
    from days
    inner join {{ ref('int_customers__status_history') }} as history
        on history.from_date <= days.status_date
        and days.status_date < history.to_date
    group by days.status_date
),

from_metrics as (
    select
        period_start as status_date,
        max(case when metric_name = 'customer_retention_rate' then denominator end) as s_members,
        max(case when metric_name = 'active_customers' then numerator end) as e_members,
        max(case when metric_name = 'customer_retention_rate' then numerator end) as retained
    from {{ ref('mart_retention__metrics') }}
    where period_grain = 'day'
        and segment_name = 'all'
    group by period_start
)

select
    days.status_date,
    from_history.s_members as history_s, from_metrics.s_members as metrics_s,
    from_history.e_members as history_e, from_metrics.e_members as metrics_e,
    from_history.retained as history_retained, from_metrics.retained as metrics_retained
from days
left join from_history on from_history.status_date = days.status_date
left join from_metrics on from_metrics.status_date = days.status_date
where coalesce(from_history.s_members, 0) <> coalesce(from_metrics.s_members, 0)
    or coalesce(from_history.e_members, 0) <> coalesce(from_metrics.e_members, 0)
    or coalesce(from_history.retained, 0) <> coalesce(from_metrics.retained, 0)
