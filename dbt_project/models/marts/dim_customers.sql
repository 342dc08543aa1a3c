-- One row per CRM customer (current version, pseudonymised) plus one "unknown customer" member
-- that facts link to while their customer is not (yet) in the CRM.
-- Order figures use completed orders only, net of discount, in the reporting currency.
-- Durations are measured to as_of_date() (var run_date, else today); everything loaded counts.
{%- set string = dbt.type_string() %}
{%- set bigint = dbt.type_bigint() %}
{%- set double = type_double() %}
{%- set ts = dbt.type_timestamp() %}

with customers as (
    select * from {{ ref('stg_crm__customers') }}
),

completed_orders as (
    select
        customer_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        min(ordered_date) as first_order_date,
        max(ordered_date) as last_order_date,
        count(*) as orders_count,
        sum(net_amount_reporting) as revenue
    from {{ ref('stg_shop__orders') }}
    where status = 'completed'
    group by customer_id
),

last_activity as (
    select customer_id, max(occurred_at) as last_activity_at
    from {{ ref('fct_engagement_events') }}
    where counts_as_activity
    group by customer_id
),

subscription_events as (
    select customer_id, subscription_event_id, occurred_at, plan, event_type
    from {{ ref('stg_billing__subscription_events') }}
),

latest_subscription_event as (
    {{ latest_per_key('subscription_events', 'customer_id', ['occurred_at', 'subscription_event_id']) }}
),

support_tickets as (
    select customer_id, count(*) as support_tickets_count
    from {{ ref('stg_helpdesk__tickets') }}
    where is_valid_ticket
    group by customer_id
),

survey_responses as (
    select customer_id, survey_type, invitation_id, responded_at, score
    from {{ ref('stg_surveys__responses') }}
    where is_response
),

latest_response_per_type as (
    {{ latest_per_key('survey_responses', ['customer_id', 'survey_type'], ['responded_at', 'invitation_id']) }}
),

latest_scores as (
    select
        customer_id,
        max(case when survey_type = 'nps' then score end) as latest_nps_score,
        max(case when survey_type = 'csat' then score end) as latest_csat_score,
        max(case when survey_type = 'ces' then score end) as latest_ces_score
    from latest_response_per_type
    group by customer_id
),

engagement as (
    select customer_id, score, band, score_drop_alert, is_pql
    from {{ ref('customer_engagement_current') }}
),

crm_customer_rows as (
    select
        customers.customer_id,
        customers.customer_key,
        customers.email_masked,
        customers.name_masked,
        customers.phone_masked,
        customers.email_hash,
        customers.is_erased,
        false as is_unknown_member,
        customers.signup_at,
        customers.signup_date,
        customers.country,
        customers.city,
        customers.birth_year,
        {{ age_band('customers.birth_year', as_of_date()) }} as age_band,
        customers.gender,
        customers.income_band,
        customers.persona,
        customers.acquisition_channel,
        customers.marketing_opt_in,
        {{ dbt.datediff('customers.signup_date', as_of_date(), 'day') }} as tenure_days,
        completed_orders.first_order_at,
        completed_orders.last_order_at,
        coalesce(completed_orders.orders_count, 0) as orders_count,
        coalesce(completed_orders.revenue, 0) as revenue,
        completed_orders.revenue / nullif(completed_orders.orders_count, 0) as avg_order_value,
        -- orders per year over the observed life (signup or first order, whichever is earlier,
        -- to as_of_date, both days counted), at least 30 days so brand-new customers do not
        -- get absurd yearly rates
        coalesce(completed_orders.orders_count, 0) * 365.25 / greatest(
            {{ dbt.datediff(
                'coalesce(least(customers.signup_date, completed_orders.first_order_date), customers.signup_date)',
                as_of_date(), 'day') }} + 1,
            30
        ) as purchase_frequency_per_year,
        {{ dbt.datediff('completed_orders.last_order_date', as_of_date(), 'day') }} as recency_days,
        last_activity.last_activity_at,
        latest_subscription_event.plan as current_plan,
        latest_subscription_event.event_type as latest_subscription_event_type,
        coalesce(support_tickets.support_tickets_count, 0) as support_tickets_count,
        latest_scores.latest_nps_score,
        latest_scores.latest_csat_score,
        latest_scores.latest_ces_score,
        engagement.score as engagement_score,
        engagement.band as engagement_band,
        engagement.is_pql,
        customers.updated_at as crm_updated_at
    from customers
    left join completed_orders on completed_orders.customer_id = customers.customer_id
    left join last_activity on last_activity.customer_id = customers.customer_id
    left join latest_subscription_event on latest_subscription_event.customer_id = customers.customer_id
    left join support_tickets on support_tickets.customer_id = customers.customer_id
    left join latest_scores on latest_scores.customer_id = customers.customer_id
    left join engagement on engagement.customer_id = customers.customer_id
),

unknown_member_row as (
    -- the member facts link to when their customer_id is not in the CRM; it describes nobody
    select
        {{ sql_literal(var('unknown_customer_id')) }} as customer_id,
        {{ hash_pii(sql_literal(var('unknown_customer_id'))) }} as customer_key,
        cast(null as {{ string }}) as email_masked,
        cast(null as {{ string }}) as name_masked,
        cast(null as {{ string }}) as phone_masked,
        cast(null as {{ string }}) as email_hash,
        false as is_erased,
        true as is_unknown_member,
        cast(null as {{ ts }}) as signup_at,
        cast(null as date) as signup_date,
        cast(null as {{ string }}) as country,
        cast(null as {{ string }}) as city,
        cast(null as {{ bigint }}) as birth_year,
        'unknown' as age_band,
        cast(null as {{ string }}) as gender,
        cast(null as {{ string }}) as income_band,
        cast(null as {{ string }}) as persona,
        cast(null as {{ string }}) as acquisition_channel,
        cast(null as boolean) as marketing_opt_in,
        cast(null as {{ bigint }}) as tenure_days,
        cast(null as {{ ts }}) as first_order_at,
        cast(null as {{ ts }}) as last_order_at,
        cast(null as {{ bigint }}) as orders_count,
        cast(null as {{ double }}) as revenue,
        cast(null as {{ double }}) as avg_order_value,
        cast(null as {{ double }}) as purchase_frequency_per_year,
        cast(null as {{ bigint }}) as recency_days,
        cast(null as {{ ts }}) as last_activity_at,
        cast(null as {{ string }}) as current_plan,
        cast(null as {{ string }}) as latest_subscription_event_type,
        cast(null as {{ bigint }}) as support_tickets_count,
        cast(null as {{ bigint }}) as latest_nps_score,
        cast(null as {{ bigint }}) as latest_csat_score,
        cast(null as {{ bigint }}) as latest_ces_score,
        cast(null as {{ double }}) as engagement_score,
        cast(null as {{ string }}) as engagement_band,
        cast(null as boolean) as is_pql,
        cast(null as {{ ts }}) as crm_updated_at
),

all_members as (
    select * from crm_customer_rows
    union all
    select * from unknown_member_row
)


select
    cast(customer_id as {{ string }}) as customer_id,
    cast(customer_key as {{ string }}) as customer_key,
    cast(email_masked as {{ string }}) as email_masked,
    cast(name_masked as {{ string }}) as name_masked,
    cast(phone_masked as {{ string }}) as phone_masked,
    cast(email_hash as {{ string }}) as email_hash,
    cast(is_erased as boolean) as is_erased,
    cast(is_unknown_member as boolean) as is_unknown_member,
    cast(signup_at as {{ ts }}) as signup_at,
    cast(signup_date as date) as signup_date,
    cast(country as {{ string }}) as country,
    cast(city as {{ string }}) as city,
    cast(birth_year as {{ bigint }}) as birth_year,
    cast(age_band as {{ string }}) as age_band,
    cast(gender as {{ string }}) as gender,
    cast(income_band as {{ string }}) as income_band,
    cast(persona as {{ string }}) as persona,
    cast(acquisition_channel as {{ string }}) as acquisition_channel,
    cast(marketing_opt_in as boolean) as marketing_opt_in,
    cast(tenure_days as {{ bigint }}) as tenure_days,
    cast(first_order_at as {{ ts }}) as first_order_at,
    cast(last_order_at as {{ ts }}) as last_order_at,
    cast(orders_count as {{ bigint }}) as orders_count,
    cast(revenue as {{ double }}) as revenue,
    cast(avg_order_value as {{ double }}) as avg_order_value,
    cast(purchase_frequency_per_year as {{ double }}) as purchase_frequency_per_year,
    cast(recency_days as {{ bigint }}) as recency_days,
    cast(last_activity_at as {{ ts }}) as last_activity_at,
    cast(current_plan as {{ string }}) as current_plan,
    cast(latest_subscription_event_type as {{ string }}) as latest_subscription_event_type,
    cast(support_tickets_count as {{ bigint }}) as support_tickets_count,
    cast(latest_nps_score as {{ bigint }}) as latest_nps_score,
    cast(latest_csat_score as {{ bigint }}) as latest_csat_score,
    cast(latest_ces_score as {{ bigint }}) as latest_ces_score,
    cast(engagement_score as {{ double }}) as engagement_score,
    cast(engagement_band as {{ string }}) as engagement_band,
    cast(is_pql as boolean) as is_pql,
    cast(crm_updated_at as {{ ts }}) as crm_updated_at
from all_members
