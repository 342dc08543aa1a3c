-- a view: int_metrics__email_by_segment sums its rows per segment combination, so the
-- per-customer rows (hundreds of millions at 1M customers) are never written
{{ config(materialized='view') }}
-- Observations of the e-mail metrics (docs/metrics-framework.md), from stg_email__events up to
-- as_of_date(). Rates count distinct (campaign, customer) pairs: a pair belongs to the period
-- of its first `delivered` event's date (reporting time zone) and is in the denominator;
-- the numerator counts pairs with an open / a click / an unsubscribe event at any time up to
-- as_of_date() (a click without an open event is not an open). Pairs never delivered (bounced,
-- only sent) are in no rate. Being one pair, one date, the parts are additive over time.
-- channel = email_type of the campaign. email_engaged_customers = distinct customers with an
-- open or click event dated in the period (emitted per grain; channel null, because a customer
-- engaged with two e-mail types must count once in segment all).
{%- set double = type_double() %}

with {{ email_observation_parts() }},

rate_metrics as (
    select 'email_open_rate' as metric_name union all
    select 'email_click_rate' union all
    select 'email_unsubscribe_rate'
),

delivered_periods as (
    select
        grains.period_grain,
        {{ period_start('grains.period_grain', 'delivered_days.delivered_date') }} as period_start,
        delivered_days.customer_id,
        delivered_days.email_type as channel,
        sum(delivered_days.opened) as opened,
        sum(delivered_days.clicked) as clicked,
        sum(delivered_days.unsubscribed) as unsubscribed,
        sum(delivered_days.pairs) as pairs
    from delivered_days
    cross join grains
    group by 1, 2, 3, 4
),

rate_observations as (
    select
        rate_metrics.metric_name,
        delivered_periods.period_grain,
        delivered_periods.period_start,
        delivered_periods.customer_id,
        delivered_periods.channel,
        case rate_metrics.metric_name
            when 'email_open_rate' then delivered_periods.opened
            when 'email_click_rate' then delivered_periods.clicked
            else delivered_periods.unsubscribed
        end as numerator,
        delivered_periods.pairs as denominator,
        delivered_periods.pairs as sample_size
    from delivered_periods
    cross join rate_metrics
),

engaged_observations as (
    select
        'email_engaged_customers' as metric_name,
        period_grain,
        period_start,
        customer_id,
        cast(null as {{ dbt.type_string() }}) as channel,
        1 as numerator,
        cast(null as {{ dbt.type_bigint() }}) as denominator,
        1 as sample_size
    from engaged_customers
),

observations as (
    select * from rate_observations
    union all
    select * from engaged_observations
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
    cast(null as {{ double }}) as sum_squares
from observations
