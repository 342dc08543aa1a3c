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
{%- set segments = customer_segment_names() %}
{%- set fixed_segments = segments | reject('equalto', 'plan') | list %}

with weeks as (
    select period_start as week_start
    from {{ ref('int_metric_periods') }}
    where period_grain = 'week'
),

customers as (
    select
        customer_id,
        signup_date,
        {%- for segment in fixed_segments %}
        coalesce(cast({{ segment }} as {{ dbt.type_string() }}), 'unknown') as {{ segment }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('dim_customers') }}
    where not is_unknown_member and signup_date is not null
),

-- Every measure is a count, so the customer-week rows are summed per attribute set (a number
-- per combination of the fixed segments) and plan before the segments are rolled up.
{{ customer_attribute_sets('customers') }},

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

-- The measures meet the customer-weeks in one aggregation rather than in joins: at 1M customers
-- the three hash joins of 9-17M rows each ran out of 6 GiB, where an aggregation spills.
customer_week_parts as (
    select customer_id, week_start, 1 as is_member, 0 as participated, 0 as left_a_channel, 0 as outreach_sent, 0 as outreach_answered
    from customer_weeks
    union all
    select customer_id, week_start, 0, participated, left_a_channel, 0, 0
    from activity
    union all
    select customer_id, week_start, 0, 0, 0, sent, answered
    from outreach
),

per_customer_week as (
    select
        customer_id,
        week_start,
        max(participated) as participated,
        max(left_a_channel) as left_a_channel,
        sum(outreach_sent) as outreach_sent,
        sum(outreach_answered) as outreach_answered
    from customer_week_parts
    group by customer_id, week_start
    having max(is_member) = 1
),

per_attribute_set as (
    select
        per_customer_week.week_start,
        customer_attribute_sets.attribute_set_id,
        coalesce(plan_periods.plan, 'none') as plan,
        count(*) as customers,
        sum(per_customer_week.participated) as participating_customers,
        sum(per_customer_week.left_a_channel) as leaving_customers,
        sum(per_customer_week.outreach_sent) as outreach_sent,
        sum(per_customer_week.outreach_answered) as outreach_answered
    from per_customer_week
    inner join customer_attribute_sets
        on customer_attribute_sets.customer_id = per_customer_week.customer_id
    left join {{ ref('int_subscriptions__plan_periods') }} as plan_periods
        on plan_periods.customer_id = per_customer_week.customer_id
        and plan_periods.from_date < per_customer_week.week_start
        and per_customer_week.week_start <= plan_periods.to_date
    group by 1, 2, 3
),

attributed as (
    select
        per_attribute_set.*,
        {%- for segment in fixed_segments %}
        attribute_sets.{{ segment }}{{ ',' if not loop.last }}
        {%- endfor %}
    from per_attribute_set
    inner join attribute_sets
        on attribute_sets.attribute_set_id = per_attribute_set.attribute_set_id
),

-- one pass, a grouping set per segment (no segment value is null here)
segment_sums as (
    select
        week_start,
        {{ grouping_set_segment_name(segments) }} as segment_name,
        {{ grouping_set_segment_value(segments) }} as segment_value,
        sum(customers) as customers,
        sum(participating_customers) as participating_customers,
        sum(outreach_sent) as outreach_sent,
        sum(outreach_answered) as outreach_answered,
        sum(leaving_customers) as leaving_customers
    from attributed
    group by {{ segment_grouping_sets(['week_start'], segments) }}
),

shares as (
    select
        segment_sums.*,
        100.0 * participating_customers / customers as participation_pct,
        100.0 * outreach_answered / nullif(outreach_sent, 0) as response_pct,
        100.0 * leaving_customers / customers as leave_pct
    from segment_sums
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
