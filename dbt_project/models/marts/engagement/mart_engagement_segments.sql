-- Engagement by segment and week (ISO, Monday start), from each scored customer's score on the
-- week's last day (the run date for the running week): customers, mean and median score, the
-- share in each band, and the movement against the previous week (mean score change of the
-- customers scored in both). Segments: all and the customer segments of metric_values (plan =
-- plan held at the week's start). The engagement index of the same segments is in
-- mart_engagement_index.
{%- set double = type_double() %}
{%- set segments = customer_segment_names() %}
{%- set fixed_segments = segments | reject('equalto', 'plan') | list %}

with week_end_scores as (
    select customer_id, period_start as week_start, score, band
    from (
        select
            daily.customer_id,
            {{ period_start("'week'", 'daily.score_date') }} as period_start,
            daily.score_date,
            daily.score,
            daily.band
        from {{ ref('customer_engagement_daily') }} as daily
    ) as scored
    where score_date = least({{ dbt.dateadd('day', 6, 'period_start') }}, {{ as_of_date() }})
),

with_previous as (
    select
        current_week.*,
        previous_week.score as previous_score
    from week_end_scores as current_week
    left join week_end_scores as previous_week
        on previous_week.customer_id = current_week.customer_id
        and previous_week.week_start = {{ dbt.dateadd('day', -7, 'current_week.week_start') }}
),

attributed as (
    select
        with_previous.*,
        {%- for segment in fixed_segments %}
        coalesce(cast(customers.{{ segment }} as {{ dbt.type_string() }}), 'unknown') as {{ segment }},
        {%- endfor %}
        coalesce(cast(coalesce(plan_periods.plan, 'none') as {{ dbt.type_string() }}), 'unknown') as plan
    from with_previous
    inner join {{ ref('dim_customers') }} as customers
        on customers.customer_id = with_previous.customer_id
    left join {{ ref('int_subscriptions__plan_periods') }} as plan_periods
        on plan_periods.customer_id = with_previous.customer_id
        and plan_periods.from_date < with_previous.week_start
        and with_previous.week_start <= plan_periods.to_date
)

-- one pass, a grouping set per segment (no segment value is null here)
select
    cast(week_start as date) as week_start,
    cast({{ grouping_set_segment_name(segments) }} as {{ dbt.type_string() }}) as segment_name,
    cast({{ grouping_set_segment_value(segments) }} as {{ dbt.type_string() }}) as segment_value,
    cast(count(*) as {{ dbt.type_bigint() }}) as customers,
    cast(avg(score) as {{ double }}) as score_mean,
    cast({{ median('score') }} as {{ double }}) as score_median,
    {%- for band in ['at_risk', 'very_disengaged', 'somewhat_engaged', 'highly_engaged', 'power_user'] %}
    cast(100.0 * sum(case when band = '{{ band }}' then 1 else 0 end) / count(*) as {{ double }}) as pct_{{ band }},
    {%- endfor %}
    cast(count(previous_score) as {{ dbt.type_bigint() }}) as customers_both_weeks,
    cast(avg(case when previous_score is not null then score - previous_score end) as {{ double }}) as score_change_wow
from attributed
group by {{ segment_grouping_sets(['week_start'], segments) }}
