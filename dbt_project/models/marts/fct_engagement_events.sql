-- Every interaction of a known customer_id from every source, one row per event, with its
-- engagement weight. customer_id is kept as delivered; dim_customer_id points at dim_customers
-- and falls back to the unknown-customer member while the customer is not (yet) in the CRM.
-- The table is rebuilt every run, so late-arriving customers re-link by themselves.
with events as (
    select * from {{ ref('int_engagement_events__unioned') }}
),

weights as (
    select source, event_type, weight
    from {{ ref('engagement_event_weights') }}
),

crm_customers as (
    select customer_id from {{ ref('stg_crm__customers') }}
)

select
    cast(events.event_id as {{ dbt.type_string() }}) as event_id,
    cast(events.customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(
        case when crm_customers.customer_id is not null then events.customer_id else {{ sql_literal(var('unknown_customer_id')) }} end
        as {{ dbt.type_string() }}
    ) as dim_customer_id,
    crm_customers.customer_id is not null as is_known_customer,
    cast(events.source as {{ dbt.type_string() }}) as source,
    cast(events.event_type as {{ dbt.type_string() }}) as event_type,
    cast(events.occurred_at as {{ dbt.type_timestamp() }}) as occurred_at,
    cast(events.occurred_date as date) as occurred_date,
    -- a pair missing from the seed weighs 0 (test engagement_weights_cover_every_event warns)
    cast(coalesce(weights.weight, 0) as {{ type_double() }}) as weight,
    events.counts_as_activity,
    cast(events.delivered_date as date) as delivered_date
from events
left join weights
    on weights.source = events.source
    and weights.event_type = events.event_type
left join crm_customers
    on crm_customers.customer_id = events.customer_id
