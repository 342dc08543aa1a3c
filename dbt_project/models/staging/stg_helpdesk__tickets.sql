-- Current version of every support ticket: the latest updated_at wins, then the later delivery.
with source_rows as (
    select * from {{ source('helpdesk', 'support_tickets') }}
),

versions as (
    -- the source has no reopen time: the first version that shows the ticket reopened dates it
    select
        source_rows.*,
        min(case when reopened then updated_at end) over (partition by ticket_id) as first_seen_reopened_at
    from source_rows
),

current_version as (
    {{ latest_per_key('versions', 'ticket_id', ['updated_at', '_partition_date', '_source_file', '_source_line']) }}
)

select
    ticket_id,
    customer_id,
    channel,
    category,
    agent_id,
    opened_at,
    {{ to_reporting_date('opened_at') }} as opened_date,
    first_response_at,
    resolved_at,
    {{ to_reporting_date('resolved_at') }} as resolved_date,
    cast({{ dbt.datediff('opened_at', 'first_response_at', 'second') }} as {{ dbt.type_bigint() }}) as first_response_seconds,
    cast({{ dbt.datediff('opened_at', 'resolved_at', 'second') }} as {{ dbt.type_bigint() }}) as resolution_seconds,
    handle_time_seconds,
    contacts_count,
    reopened,
    -- only when the current version still says reopened
    case when reopened then coalesce(first_seen_reopened_at, updated_at) end as reopened_at,
    status,
    status not in ('spam', 'duplicate') as is_valid_ticket,
    updated_at,
    _partition_date,
    _source_file,
    _source_line,
    _loaded_at
from current_version
