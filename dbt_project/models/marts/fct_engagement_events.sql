{%- set streamed_sources = ['web', 'app', 'email', 'social'] %}
{%- set streamed_list = "('" ~ streamed_sources | join("', '") ~ "')" %}
{{ config(**replace_by_key_config('event_id', also_replace='source not in ' ~ streamed_list)) }}
-- Every interaction of a known customer_id from every source, one row per event, with its
-- engagement weight. customer_id is kept as delivered; dim_customer_id points at dim_customers
-- and falls back to the unknown-customer member while the customer is not (yet) in the CRM.
-- Incremental (docs/incremental-models.md): a nightly run replaces, by event_id, the events of
-- the four event streams (web, app, email, social: nearly all rows) that its days delivered,
-- that the table holds from its days, or whose customer's CRM row its days delivered (so
-- late-arriving customers re-link); the events derived from entity sources (orders, tickets,
-- surveys, referrals, registrations: a new version may withdraw one) are small and are all
-- rebuilt (also_replace: deleted, then inserted). A seed weight change needs --full-refresh.
{%- set run_start = incremental_run_start() %}
with events as (
    select * from {{ ref('int_engagement_events__unioned') }}
    {%- if run_start %}
    where source not in {{ streamed_list }}
        or delivered_date >= {{ run_start }}
        or event_id in (select event_id from {{ this }} where delivered_date >= {{ run_start }})
        or customer_id in (select customer_id from {{ source('crm', 'crm_customers') }} where _partition_date >= {{ run_start }})
    {%- endif %}
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
