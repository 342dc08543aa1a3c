-- One row per registration to a brand event, as it stands in the latest delivery (a
-- registration re-sent once attendance is known replaces the earlier row).
with source_rows as {{ inline_cte() }} (
    select * from {{ source('events', 'event_registrations') }}
),

latest_delivery as (
    {{ latest_per_key('source_rows', 'registration_id') }}
)

select
    registration_id,
    event_id,
    event_name,
    event_type,
    event_date,
    capacity,
    customer_id,
    registered_at,
    {{ to_reporting_date('registered_at') }} as registered_date,
    attended,
    cancelled,
    _partition_date,
    _source_file,
    _source_line,
    _loaded_at
from latest_delivery
