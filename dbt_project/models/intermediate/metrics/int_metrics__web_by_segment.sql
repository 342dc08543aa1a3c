-- The web metrics' parts per segment (segment_name, segment_value: 'all', each customer segment
-- and the channel), read by mart_web__metrics with by_segment='rolled_up'. The same sums as
-- observations_by_segment(int_metrics__web) rolled up, the per-customer definition
-- (tests/test_e2e.py checks that they agree), but summed while they are a few wide rows per
-- customer and day (parts_by_segment): the metrics multiply only the rolled-up rows. At 1M
-- customers the observation rows were 110M, written as a table and then grouped into 25M
-- combinations (benchmarks/results.md).
-- Web-only parts (pages, bounces, referral sessions, and web_sessions, their sample) are null on
-- app rows, so the channel 'app' and the segments without a web session get no row of a
-- web-only metric, as they get no observation row.
{%- set double = type_double() %}

with {{ web_observation_parts() }},

{{ segment_attribution_ctes() }},

session_parts as (
    select
        grains.period_grain,
        {{ period_start('grains.period_grain', 'session_days.session_date') }} as period_start,
        session_days.customer_id,
        session_days.source as channel,
        session_days.sessions,
        session_days.duration_sum,
        session_days.duration_squares,
        case when session_days.source = 'web' then session_days.sessions end as web_sessions,
        case when session_days.source = 'web' then session_days.page_views end as page_views,
        case when session_days.source = 'web' then session_days.bounces end as bounces,
        case when session_days.source = 'web' then session_days.referral_sessions end as referral_sessions
    from session_days
    cross join grains
),

visitor_parts as (
    select period_grain, period_start, customer_id, 'web' as channel, converted, returning_visitors, visitors
    from visitor_customer_periods
),

{{ parts_by_segment(
    'session_segments', 'session_parts', ['period_grain', 'period_start'],
    ['sessions', 'duration_sum', 'duration_squares', 'web_sessions', 'page_views', 'bounces', 'referral_sessions'],
    dimensions=['channel'],
) }},

{{ parts_by_segment(
    'visitor_segments', 'visitor_parts', ['period_grain', 'period_start'],
    ['converted', 'returning_visitors', 'visitors'],
    dimensions=['channel'],
) }},

session_metrics as (
    select 'sessions' as metric_name, false as web_only union all
    select 'avg_session_seconds', false union all
    select 'pages_per_session', true union all
    select 'bounce_rate', true union all
    select 'referral_traffic_share', true
),

visitor_metrics as (
    select 'conversion_rate' as metric_name union all
    select 'returning_visitor_rate'
),

rolled_up as (
    select
        session_metrics.metric_name,
        session_segments.period_grain,
        session_segments.period_start,
        session_segments.segment_name,
        session_segments.segment_value,
        case session_metrics.metric_name
            when 'sessions' then session_segments.sessions
            when 'avg_session_seconds' then session_segments.duration_sum
            when 'pages_per_session' then session_segments.page_views
            when 'bounce_rate' then session_segments.bounces
            when 'referral_traffic_share' then session_segments.referral_sessions
        end as numerator,
        case
            when session_metrics.metric_name = 'sessions' then null
            when session_metrics.web_only then session_segments.web_sessions
            else session_segments.sessions
        end as denominator,
        case when session_metrics.web_only then session_segments.web_sessions else session_segments.sessions end as sample_size,
        case when session_metrics.metric_name = 'avg_session_seconds' then session_segments.duration_squares end as sum_squares
    from session_segments
    cross join session_metrics
    where (case when session_metrics.web_only then session_segments.web_sessions else session_segments.sessions end) > 0
    union all
    select
        visitor_metrics.metric_name,
        visitor_segments.period_grain,
        visitor_segments.period_start,
        visitor_segments.segment_name,
        visitor_segments.segment_value,
        case visitor_metrics.metric_name
            when 'conversion_rate' then visitor_segments.converted
            else visitor_segments.returning_visitors
        end as numerator,
        visitor_segments.visitors as denominator,
        visitor_segments.visitors as sample_size,
        cast(null as {{ double }}) as sum_squares
    from visitor_segments
    cross join visitor_metrics
)

{{ select_rolled_up_parts('rolled_up') }}
