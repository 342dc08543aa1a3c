-- One row per subscription lifecycle event (latest delivered version), with the plan after the
-- event and MRR in the reporting currency (converted in staging at the rate of occurred_date).
-- is_paid_state says whether the event leaves the customer holding a paid subscription (the
-- reading of int_subscriptions__plan_periods: trial_converted, subscribed, upgraded,
-- downgraded, renewed on a plan other than free). dim_customer_id falls back to the
-- unknown-customer member while the customer is not (yet) in the CRM.
{%- set string = dbt.type_string() %}
{%- set double = type_double() %}

with events as (
    select * from {{ ref('stg_billing__subscription_events') }}
),

crm_customers as (
    select customer_id from {{ ref('stg_crm__customers') }}
)

select
    cast(events.subscription_event_id as {{ string }}) as subscription_event_id,
    cast(events.subscription_id as {{ string }}) as subscription_id,
    cast(events.customer_id as {{ string }}) as customer_id,
    cast(
        case when crm_customers.customer_id is not null then events.customer_id else {{ sql_literal(var('unknown_customer_id')) }} end
        as {{ string }}
    ) as dim_customer_id,
    crm_customers.customer_id is not null as is_known_customer,
    cast(events.event_type as {{ string }}) as event_type,
    cast(events.plan as {{ string }}) as plan,
    events.is_paid_plan,
    events.event_type in ('trial_converted', 'subscribed', 'upgraded', 'downgraded', 'renewed') and events.plan <> 'free' as is_paid_state,
    cast(events.occurred_at as {{ dbt.type_timestamp() }}) as occurred_at,
    cast(events.occurred_date as date) as occurred_date,
    cast(events.currency as {{ string }}) as currency,
    cast(events.mrr as {{ double }}) as mrr,
    cast(events.fx_rate_to_reporting as {{ double }}) as fx_rate_to_reporting,
    cast(events.mrr_reporting as {{ double }}) as mrr_reporting,
    cast(events.cancel_reason as {{ string }}) as cancel_reason
from events
left join crm_customers
    on crm_customers.customer_id = events.customer_id
