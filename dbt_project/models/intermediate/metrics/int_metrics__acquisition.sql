-- Observations of the acquisition metrics (docs/metrics-framework.md); all parts are additive
-- over time: day rows expanded to week and month (week/month = ratio of summed day parts).
--   cac           = marketing spend (reporting currency, by spend_date) / new customers
--                   (signup_date in the period). Spend rows have no customer: they carry the
--                   spend's channel in column acquisition_channel, which the mart uses as the
--                   acquisition_channel segment (metric_mart segment_overrides); new-customer
--                   rows carry the customer's own acquisition channel. Null when no customer
--                   signed up (0 new customers).
--   clv_cac_ratio = mean simple CLV of the customers acquired in the period / cac
--                 = (sum CLV / N) / (spend / N) = sum of simple CLV of the new customers / spend
--                   (int_customers__simple_clv). Null when there is no spend; with spend but no
--                   new customer it is 0 (the ratio of sums; cac is null then).
--   trial_to_paid = 100 x trial_converted / (trial_converted + trial_expired), by the event's
--                   occurred_date: trials that ended in the period. A trial still running (only
--                   trial_started) counts in neither part.
-- Spend without an fx rate adds 0; a period with signups but no spend row has cac 0.
{%- set double = type_double() %}
{%- set string = dbt.type_string() %}

with spend as (
    select spend_date, channel, spend_amount_reporting
    from {{ ref('stg_marketing__spend') }}
    where spend_date <= {{ as_of_date() }}
),

new_customers as (
    select customer_id, signup_date, acquisition_channel, simple_clv
    from {{ ref('int_customers__simple_clv') }}
    where signup_date <= {{ as_of_date() }}
),

trial_ends as (
    select customer_id, occurred_date, event_type
    from {{ ref('fct_subscription_events') }}
    where event_type in ('trial_converted', 'trial_expired')
        and occurred_date <= {{ as_of_date() }}
),

observations as (
    select 'cac' as metric_name, cast(null as {{ string }}) as customer_id, channel as acquisition_channel,
        spend_date as observed_date, coalesce(spend_amount_reporting, 0) as numerator, 0 as denominator, 0 as sample_size
    from spend
    union all
    select 'cac', customer_id, acquisition_channel, signup_date, 0, 1, 1
    from new_customers
    union all
    select 'clv_cac_ratio', cast(null as {{ string }}), channel, spend_date, 0, coalesce(spend_amount_reporting, 0), 0
    from spend
    union all
    select 'clv_cac_ratio', customer_id, acquisition_channel, signup_date, coalesce(simple_clv, 0), 0, 1
    from new_customers
    union all
    select 'trial_to_paid', customer_id, cast(null as {{ string }}), occurred_date,
        case when event_type = 'trial_converted' then 1 else 0 end, 1, 1
    from trial_ends
),

grains as (
    {{ metric_grains() }}
)

select
    cast(observations.metric_name as {{ string }}) as metric_name,
    cast(grains.period_grain as {{ string }}) as period_grain,
    {{ period_start('grains.period_grain', 'observations.observed_date') }} as period_start,
    cast(observations.customer_id as {{ string }}) as customer_id,
    cast(null as {{ string }}) as channel,
    cast(null as {{ string }}) as touchpoint,
    cast(sum(observations.numerator) as {{ double }}) as numerator,
    cast(sum(observations.denominator) as {{ double }}) as denominator,
    cast(sum(observations.sample_size) as {{ dbt.type_bigint() }}) as sample_size,
    cast(null as {{ double }}) as sum_squares,
    cast(observations.acquisition_channel as {{ string }}) as acquisition_channel
from observations
cross join grains
group by 1, 2, 3, 4, 5, 6, 11
