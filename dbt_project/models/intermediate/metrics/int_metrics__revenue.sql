-- a view (drill-down, and the definition tests/test_e2e.py checks int_metrics__revenue_by_segment
-- against): int_metrics__revenue_by_segment sums the parts per segment itself
{{ config(materialized='view') }}
-- Observations of the revenue metrics (docs/metrics-framework.md): completed orders only, by
-- ordered_date (reporting time zone), money in the reporting currency (fct_orders). One row per
-- metric, grain, period, customer and sales channel (the `channel` segment: web, app, store,
-- phone); every part is additive over time, so day rows are expanded to week and month and the
-- week/month value is the ratio of the summed parts of its days.
--   revenue       = sum of net_revenue (gross - discount)
--   gross_margin  = sum of margin (net_revenue - cost)
--   orders        = count of completed orders
--   avg_order_value = sum of net_revenue / completed orders with a known net_revenue
--   referral_rate = 100 x completed orders with a referral code / completed orders
-- An order whose currency has no rate yet (net_revenue null) counts in orders and
-- referral_rate but adds nothing to revenue / gross_margin and is left out of avg_order_value
-- (both parts), so AOV stays the mean of the known amounts.
{%- set double = type_double() %}

with {{ revenue_observation_parts() }},

observations as (
    select 'revenue' as metric_name, customer_id, channel, ordered_date,
        coalesce(net_revenue, 0) as numerator, cast(null as {{ double }}) as denominator,
        case when net_revenue is not null then 1 else 0 end as sample_size
    from orders
    union all
    select 'gross_margin', customer_id, channel, ordered_date,
        coalesce(margin, 0), cast(null as {{ double }}), case when margin is not null then 1 else 0 end
    from orders
    union all
    select 'orders', customer_id, channel, ordered_date, 1, cast(null as {{ double }}), 1
    from orders
    union all
    select 'avg_order_value', customer_id, channel, ordered_date,
        net_revenue, 1, 1
    from orders
    where net_revenue is not null
    union all
    select 'referral_rate', customer_id, channel, ordered_date,
        case when is_referral_order then 1 else 0 end, 1, 1
    from orders
)

select
    cast(observations.metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(grains.period_grain as {{ dbt.type_string() }}) as period_grain,
    {{ period_start('grains.period_grain', 'observations.ordered_date') }} as period_start,
    cast(observations.customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(observations.channel as {{ dbt.type_string() }}) as channel,
    cast(null as {{ dbt.type_string() }}) as touchpoint,
    cast(sum(observations.numerator) as {{ double }}) as numerator,
    cast(sum(observations.denominator) as {{ double }}) as denominator,
    cast(sum(observations.sample_size) as {{ dbt.type_bigint() }}) as sample_size,
    cast(null as {{ double }}) as sum_squares
from observations
cross join grains
group by 1, 2, 3, 4, 5, 6
