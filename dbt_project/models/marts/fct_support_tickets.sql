-- One row per support ticket, current version (latest updated_at), with the flags the support
-- metrics read: valid (not spam/duplicate), resolved, first-contact resolution.
with tickets as (
    select * from {{ ref('stg_helpdesk__tickets') }}
),

crm_customers as (
    select customer_id from {{ ref('stg_crm__customers') }}
)

select
    cast(tickets.ticket_id as {{ dbt.type_string() }}) as ticket_id,
    cast(tickets.customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(
        case when crm_customers.customer_id is not null then tickets.customer_id else {{ sql_literal(var('unknown_customer_id')) }} end
        as {{ dbt.type_string() }}
    ) as dim_customer_id,
    cast(tickets.channel as {{ dbt.type_string() }}) as channel,
    cast(tickets.category as {{ dbt.type_string() }}) as category,
    cast(tickets.agent_id as {{ dbt.type_string() }}) as agent_id,
    cast(tickets.status as {{ dbt.type_string() }}) as status,
    cast(tickets.opened_at as {{ dbt.type_timestamp() }}) as opened_at,
    cast(tickets.opened_date as date) as opened_date,
    cast(tickets.first_response_at as {{ dbt.type_timestamp() }}) as first_response_at,
    cast(tickets.resolved_at as {{ dbt.type_timestamp() }}) as resolved_at,
    cast(tickets.resolved_date as date) as resolved_date,
    cast(tickets.reopened_at as {{ dbt.type_timestamp() }}) as reopened_at,
    cast(tickets.first_response_seconds as {{ dbt.type_bigint() }}) as first_response_seconds,
    cast(tickets.resolution_seconds as {{ dbt.type_bigint() }}) as resolution_seconds,
    cast(tickets.handle_time_seconds as {{ dbt.type_bigint() }}) as handle_time_seconds,
    cast(tickets.contacts_count as {{ dbt.type_bigint() }}) as contacts_count,
    cast(tickets.reopened as boolean) as reopened,
    cast(tickets.is_valid_ticket as boolean) as is_valid_ticket,
    cast(tickets.is_valid_ticket and tickets.resolved_at is not null as boolean) as is_resolved,
    cast(
        tickets.is_valid_ticket and tickets.resolved_at is not null
        and tickets.contacts_count = 1 and not coalesce(tickets.reopened, false)
        as boolean
    ) as is_first_contact_resolution,
    cast(tickets.updated_at as {{ dbt.type_timestamp() }}) as updated_at
from tickets
left join crm_customers
    on crm_customers.customer_id = tickets.customer_id
