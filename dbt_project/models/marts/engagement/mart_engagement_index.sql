-- The engagement index per week (ISO) and segment, from three shares (our reading of the seed's
-- FAQ, documented in the README):
--   participation_pct = 100 x customers with any activity event (counts_as_activity) in the week
--                       / customers signed up by the week's end
--   response_pct      = 100 x outreach answered / outreach: e-mail (campaign, customer) pairs
--                       delivered in the week that were opened or clicked, plus survey
--                       invitations sent in the week that were answered
--   leave_pct         = 100 x customers who left a channel in the week (e-mail unsubscribe,
--                       app uninstall, subscription cancelled) / customers
--   engagement_index  = (participation_pct + response_pct + (100 - leave_pct)) / 3
-- Segments: all and the customer segments (current attributes; plan at the week's start).
{%- set double = type_double() %}
{%- set segments = ['country', 'acquisition_channel', 'plan', 'persona', 'age_band', 'income_band', 'gender'] %}

with weeks as (
    select period_start as week_start
    from {{ ref('int_metric_periods') }}
    where period_grain = 'week'
),

customers as (
    select customer_id, signup_date, country, acquisition_channel, persona, age_band, income_band, gender
    from {{ ref('dim_customers') }}
    where not is_unknown_member and signup_date is not null
),

customer_weeks as (
    select customers.customer_id, weeks.week_start
    from customers
    inner join weeks
        on customers.signup_date <= {{ dbt.dateadd('day', 6, 'weeks.week_start') }}
),

activity as (
    select
        customer_id,
        {{ period_start("'week'", 'occurred_date') }} as week_start,
        max(case when counts_as_activity then 1 else 0 end) as participated,
        max(case when (source = 'email' and event_type = 'unsubscribe')
                   or (source = 'app' and event_type = 'uninstall')
                   or (source = 'subscriptions' and event_type = 'cancelled') then 1 else 0 end) as left_a_channel
    from {{ ref('fct_engagement_events') }}
    where is_known_customer
    group by 1, 2
),

email_pairs as (
    select
        customer_id,
        campaign_id,
        min(case when event_type = 'delivered' then occurred_date end) as delivered_date,
        max(case when event_type in ('open', 'click') then 1 else 0 end) as answered
    from {{ ref('stg_email__events') }}
    group by customer_id, campaign_id
),

outreach as (
    select customer_id, {{ period_start("'week'", 'delivered_date') }} as week_start, count(*) as sent, sum(answered) as answered
    from email_pairs
    where delivered_date is not null
    group by 1, 2
    union all
    select customer_id, {{ period_start("'week'", 'sent_date') }}, count(*), sum(case when is_answered then 1 else 0 end)
    from {{ ref('fct_survey_responses') }}
    group by 1, 2
),

outreach_per_week as (
    select customer_id, week_start, sum(sent) as outreach_sent, sum(answered) as outreach_answered
    from outreach
    group by customer_id, week_start
),

per_customer as (
    select
        customer_weeks.customer_id,
        customer_weeks.week_start,
        coalesce(activity.participated, 0) as participated,
        coalesce(activity.left_a_channel, 0) as left_a_channel,
        coalesce(outreach_per_week.outreach_sent, 0) as outreach_sent,
        coalesce(outreach_per_week.outreach_answered, 0) as outreach_answered,
        customers.country, customers.acquisition_channel, customers.persona, customers.age_band,
        customers.income_band, customers.gender,
        coalesce(plan_periods.plan, 'none') as plan
    from customer_weeks
    inner join customers
        on customers.customer_id = customer_weeks.customer_id
    left join activity
        on activity.customer_id = customer_weeks.customer_id and activity.week_start = customer_weeks.week_start
    left join outreach_per_week
        on outreach_per_week.customer_id = customer_weeks.customer_id and outreach_per_week.week_start = customer_weeks.week_start
    left join {{ ref('int_subscriptions__plan_periods') }} as plan_periods
        on plan_periods.customer_id = customer_weeks.customer_id
        and plan_periods.from_date < customer_weeks.week_start
        and customer_weeks.week_start <= plan_periods.to_date
),

segmented as (
    select 'all' as segment_name, 'all' as segment_value, per_customer.* from per_customer
    {%- for segment in segments %}
    union all
    select '{{ segment }}', coalesce(cast({{ segment }} as {{ dbt.type_string() }}), 'unknown'), per_customer.* from per_customer
    {%- endfor %}
),

shares as (
    select
        week_start,
        segment_name,
        segment_value,
        count(*) as customers,
        sum(participated) as participating_customers,
        sum(outreach_sent) as outreach_sent,
        sum(outreach_answered) as outreach_answered,
        sum(left_a_channel) as leaving_customers,
        100.0 * sum(participated) / count(*) as participation_pct,
        100.0 * sum(outreach_answered) / nullif(sum(outreach_sent), 0) as response_pct,
        100.0 * sum(left_a_channel) / count(*) as leave_pct
    from segmented
    group by week_start, segment_name, segment_value
)

select
    cast(week_start as date) as week_start,
    cast(segment_name as {{ dbt.type_string() }}) as segment_name,
    cast(segment_value as {{ dbt.type_string() }}) as segment_value,
    cast(customers as {{ dbt.type_bigint() }}) as customers,
    cast(participating_customers as {{ dbt.type_bigint() }}) as participating_customers,
    cast(outreach_sent as {{ dbt.type_bigint() }}) as outreach_sent,
    cast(outreach_answered as {{ dbt.type_bigint() }}) as outreach_answered,
    cast(leaving_customers as {{ dbt.type_bigint() }}) as leaving_customers,
    cast(participation_pct as {{ double }}) as participation_pct,
    cast(response_pct as {{ double }}) as response_pct,
    cast(leave_pct as {{ double }}) as leave_pct,
    cast((participation_pct + response_pct + (100 - leave_pct)) / 3 as {{ double }}) as engagement_index
from shares
where week_start <= {{ as_of_date() }}
