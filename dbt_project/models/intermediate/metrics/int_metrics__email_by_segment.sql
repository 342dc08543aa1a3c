-- The e-mail metrics' parts per segment (segment_name, segment_value: 'all', each customer
-- segment and the channel), read by mart_email__metrics with by_segment='rolled_up'. The same
-- sums as observations_by_segment(int_metrics__email) rolled up, the per-customer
-- definition (tests/test_e2e.py checks that they agree), but the delivered pairs are summed per
-- segment while they are one wide row per customer, e-mail type and delivery day
-- (parts_by_segment), and the three rates multiply only the rolled-up rows: at 1M customers the
-- observation rows were 100M, grouped into 31M customer periods and then 13M combinations
-- (benchmarks/results.md).
{%- set double = type_double() %}

with {{ email_observation_parts() }},

{{ segment_attribution_ctes() }},

delivered_parts as (
    select
        grains.period_grain,
        {{ period_start('grains.period_grain', 'delivered_days.delivered_date') }} as period_start,
        delivered_days.customer_id,
        delivered_days.email_type as channel,
        delivered_days.opened,
        delivered_days.clicked,
        delivered_days.unsubscribed,
        delivered_days.pairs
    from delivered_days
    cross join grains
),

-- channel null: a customer engaged with two e-mail types counts once in segment all
engaged_parts as (
    select period_grain, period_start, customer_id, cast(null as {{ dbt.type_string() }}) as channel, 1 as customers
    from engaged_customers
),

{{ parts_by_segment(
    'delivered_segments', 'delivered_parts', ['period_grain', 'period_start'],
    ['opened', 'clicked', 'unsubscribed', 'pairs'], dimensions=['channel'],
) }},

{{ parts_by_segment(
    'engaged_segments', 'engaged_parts', ['period_grain', 'period_start'],
    ['customers'], dimensions=['channel'],
) }},

rate_metrics as (
    select 'email_open_rate' as metric_name union all
    select 'email_click_rate' union all
    select 'email_unsubscribe_rate'
),

rolled_up as (
    select
        rate_metrics.metric_name,
        delivered_segments.period_grain,
        delivered_segments.period_start,
        delivered_segments.segment_name,
        delivered_segments.segment_value,
        case rate_metrics.metric_name
            when 'email_open_rate' then delivered_segments.opened
            when 'email_click_rate' then delivered_segments.clicked
            else delivered_segments.unsubscribed
        end as numerator,
        delivered_segments.pairs as denominator,
        delivered_segments.pairs as sample_size,
        cast(null as {{ double }}) as sum_squares
    from delivered_segments
    cross join rate_metrics
    union all
    select
        'email_engaged_customers' as metric_name,
        period_grain,
        period_start,
        segment_name,
        segment_value,
        customers as numerator,
        cast(null as {{ double }}) as denominator,
        customers as sample_size,
        cast(null as {{ double }}) as sum_squares
    from engaged_segments
)

{{ select_rolled_up_parts('rolled_up') }}
