-- a view (drill-down, and the definition tests/test_e2e.py checks int_metrics__web_by_segment
-- against): int_metrics__web_by_segment sums the parts per segment itself before the metrics
-- multiply the rows, so the per-customer rows (110M at 1M customers) are never written
{{ config(materialized='view') }}
-- Observations of the web metrics (docs/metrics-framework.md), from fct_sessions (sessions
-- dated by their start, session_date, up to as_of_date()). customer_id = the customer seen in
-- the session (null for anonymous sessions: segment all and 'unknown' of customer segments).
-- Session metrics are additive over time (one row per session and day, expanded to the three
-- grains): sessions and avg_session_seconds over web + app sessions (channel = web / app);
-- pages_per_session, bounce_rate and referral_traffic_share over web sessions (channel web).
-- Visitor metrics are distinct counts of anonymous_id, emitted per grain: a visitor belongs to
-- a period when one of its web sessions started in it; conversion_rate: the visitor had a
-- purchase hit in one of those sessions; returning_visitor_rate: the visitor's first session
-- ever started before the period's first day. customer_id of a visitor row = the greatest
-- customer_id seen in the visitor's sessions of the period.
{%- set double = type_double() %}

with {{ web_observation_parts() }},

session_metrics as (
    select 'sessions' as metric_name union all
    select 'avg_session_seconds' union all
    select 'pages_per_session' union all
    select 'bounce_rate' union all
    select 'referral_traffic_share'
),

-- the parts summed per grain's period before the metrics multiply the rows
session_periods as (
    select
        grains.period_grain,
        {{ period_start('grains.period_grain', 'session_days.session_date') }} as period_start,
        session_days.customer_id,
        session_days.source,
        sum(session_days.sessions) as sessions,
        sum(session_days.duration_sum) as duration_sum,
        sum(session_days.duration_squares) as duration_squares,
        sum(session_days.page_views) as page_views,
        sum(session_days.bounces) as bounces,
        sum(session_days.referral_sessions) as referral_sessions
    from session_days
    cross join grains
    group by 1, 2, 3, 4
),

session_observations as (
    select
        session_metrics.metric_name,
        session_periods.period_grain,
        session_periods.period_start,
        session_periods.customer_id,
        session_periods.source as channel,
        case session_metrics.metric_name
            when 'sessions' then session_periods.sessions
            when 'avg_session_seconds' then session_periods.duration_sum
            when 'pages_per_session' then session_periods.page_views
            when 'bounce_rate' then session_periods.bounces
            when 'referral_traffic_share' then session_periods.referral_sessions
        end as numerator,
        case when session_metrics.metric_name <> 'sessions' then session_periods.sessions end as denominator,
        session_periods.sessions as sample_size,
        case when session_metrics.metric_name = 'avg_session_seconds' then session_periods.duration_squares end as sum_squares
    from session_periods
    cross join session_metrics
    where session_periods.source = 'web'
        or session_metrics.metric_name in ('sessions', 'avg_session_seconds')
),

visitor_metrics as (
    select 'conversion_rate' as metric_name union all
    select 'returning_visitor_rate'
),

visitor_observations as (
    select
        visitor_metrics.metric_name,
        visitor_customer_periods.period_grain,
        visitor_customer_periods.period_start,
        visitor_customer_periods.customer_id,
        'web' as channel,
        case visitor_metrics.metric_name
            when 'conversion_rate' then visitor_customer_periods.converted
            else visitor_customer_periods.returning_visitors
        end as numerator,
        visitor_customer_periods.visitors as denominator,
        visitor_customer_periods.visitors as sample_size,
        cast(null as {{ double }}) as sum_squares
    from visitor_customer_periods
    cross join visitor_metrics
),

observations as (
    select * from session_observations
    union all
    select * from visitor_observations
)

select
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(period_start as date) as period_start,
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(channel as {{ dbt.type_string() }}) as channel,
    cast(null as {{ dbt.type_string() }}) as touchpoint,
    cast(numerator as {{ double }}) as numerator,
    cast(denominator as {{ double }}) as denominator,
    cast(sample_size as {{ dbt.type_bigint() }}) as sample_size,
    cast(sum_squares as {{ double }}) as sum_squares
from observations
