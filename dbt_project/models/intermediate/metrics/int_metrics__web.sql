-- a table, not a view like the other big observation models: as a view, its own aggregation and
-- int_metrics__web_by_segment's ran in one query and out of DuckDB's 6 GiB at 1M customers
-- (110M rows here; benchmarks/results.md, 2026-12-03 13:53)
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

with sessions as (
    select
        session_id, source, anonymous_id, customer_id, session_date, duration_seconds,
        page_views, purchases, is_bounce, traffic_source, visitor_session_number
    from {{ ref('fct_sessions') }}
    where session_date <= {{ as_of_date() }}
),

grains as (
    {{ metric_grains() }}
),

-- one pass over the sessions: the additive parts per day, customer and source
session_days as (
    select
        session_date,
        customer_id,
        source,
        count(*) as sessions,
        sum(cast(duration_seconds as {{ double }})) as duration_sum,
        sum(cast(duration_seconds as {{ double }}) * cast(duration_seconds as {{ double }})) as duration_squares,
        sum(page_views) as page_views,
        sum(case when is_bounce then 1 else 0 end) as bounces,
        sum(case when traffic_source = 'referral' then 1 else 0 end) as referral_sessions
    from sessions
    group by session_date, customer_id, source
),

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

web_sessions as (
    select * from sessions where source = 'web'
),

first_sessions as (
    select anonymous_id, session_date as first_session_date
    from web_sessions
    where visitor_session_number = 1
),

-- one row per visitor and period, per grain (distinct counts are not additive over time)
visitor_periods as (
    select
        web_sessions.anonymous_id,
        grains.period_grain,
        {{ period_start('grains.period_grain', 'web_sessions.session_date') }} as period_start,
        max(web_sessions.customer_id) as customer_id,
        max(case when web_sessions.purchases > 0 then 1 else 0 end) as converted,
        min(first_sessions.first_session_date) as first_session_date
    from web_sessions
    cross join grains
    left join first_sessions
        on first_sessions.anonymous_id = web_sessions.anonymous_id
    group by 1, 2, 3
),

visitor_metrics as (
    select 'conversion_rate' as metric_name union all
    select 'returning_visitor_rate'
),

-- visitors counted per customer and period, then one row per metric
visitor_customer_periods as (
    select
        period_grain,
        period_start,
        customer_id,
        sum(converted) as converted,
        sum(case when first_session_date < period_start then 1 else 0 end) as returning_visitors,
        count(*) as visitors
    from visitor_periods
    group by period_grain, period_start, customer_id
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
