-- The revenue metrics' parts per segment (segment_name, segment_value: 'all', each customer
-- segment and the sales channel), read by mart_revenue__metrics with by_segment='rolled_up'.
-- The same sums as observations_by_segment(int_metrics__revenue) rolled up, the per-customer
-- definition (tests/test_e2e.py checks that they agree), but summed while they are one wide row
-- per customer, channel and day (parts_by_segment): the five metrics multiply only the
-- rolled-up rows.
-- avg_order_value has a row only where an order has a known amount (as in the definition);
-- the other four wherever there is a completed order.
{%- set double = type_double() %}

with {{ revenue_observation_parts() }},

{{ segment_attribution_ctes() }},

order_parts as (
    select
        grains.period_grain,
        {{ period_start('grains.period_grain', 'order_days.ordered_date') }} as period_start,
        order_days.customer_id,
        order_days.channel,
        order_days.revenue,
        order_days.revenue_orders,
        order_days.margin,
        order_days.margin_orders,
        order_days.orders,
        order_days.referral_orders
    from order_days
    cross join grains
),

{{ parts_by_segment(
    'order_segments', 'order_parts', ['period_grain', 'period_start'],
    ['revenue', 'revenue_orders', 'margin', 'margin_orders', 'orders', 'referral_orders'],
    dimensions=['channel'],
) }},

order_metrics as (
    select 'revenue' as metric_name union all
    select 'gross_margin' union all
    select 'orders' union all
    select 'avg_order_value' union all
    select 'referral_rate'
),

rolled_up as (
    select
        order_metrics.metric_name,
        order_segments.period_grain,
        order_segments.period_start,
        order_segments.segment_name,
        order_segments.segment_value,
        case order_metrics.metric_name
            when 'revenue' then order_segments.revenue
            when 'gross_margin' then order_segments.margin
            when 'orders' then order_segments.orders
            when 'avg_order_value' then order_segments.revenue
            else order_segments.referral_orders
        end as numerator,
        case order_metrics.metric_name
            when 'avg_order_value' then order_segments.revenue_orders
            when 'referral_rate' then order_segments.orders
        end as denominator,
        case order_metrics.metric_name
            when 'revenue' then order_segments.revenue_orders
            when 'gross_margin' then order_segments.margin_orders
            when 'avg_order_value' then order_segments.revenue_orders
            else order_segments.orders
        end as sample_size,
        cast(null as {{ double }}) as sum_squares
    from order_segments
    cross join order_metrics
    where order_metrics.metric_name <> 'avg_order_value' or order_segments.revenue_orders > 0
)

{{ select_rolled_up_parts('rolled_up') }}
