-- Observations of the support metrics (docs/metrics-framework.md), channel = ticket channel.
-- Readings (also in the README): a ticket is "resolved in the period" when its current
-- version's resolved_at falls in it; AHT counts the resolved tickets that carry a
-- handle_time_seconds (a ticket without one is not "handled" time we know); FCR = resolved
-- with contacts_count = 1 and not reopened; both exclude status spam/duplicate. First
-- response time averages tickets opened in the period that have a first response; the spec
-- names no exclusion there, so spam/duplicate tickets with a response count.
{%- set double = type_double() %}

with tickets as (
    select
        customer_id, channel, opened_date, resolved_date, first_response_seconds,
        handle_time_seconds, contacts_count, reopened, is_valid_ticket
    from {{ ref('stg_helpdesk__tickets') }}
),

resolved as (
    select * from tickets
    where is_valid_ticket and resolved_date is not null
),

observations as (
    select 'aht_seconds' as metric_name, customer_id, channel, cast(null as {{ dbt.type_string() }}) as touchpoint,
        resolved_date as observed_date,
        cast(handle_time_seconds as {{ double }}) as x
    from resolved
    where handle_time_seconds is not null
    union all
    select 'fcr', customer_id, channel, null, resolved_date,
        case when contacts_count = 1 and not coalesce(reopened, false) then 1.0 else 0.0 end
    from resolved
    union all
    select 'first_response_seconds', customer_id, channel, null, opened_date,
        cast(first_response_seconds as {{ double }})
    from tickets
    where first_response_seconds is not null
)

{{ additive_observations('observations') }}
