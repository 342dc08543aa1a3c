{{ config(**replace_by_key_config('event_id')) }}
-- A table, not a view: the events are the warehouse's biggest input and several models read
-- them; as a view each reader would repeat the dedup window over every row. Incremental: a
-- nightly run re-reads only the rows its days delivered (macro incremental_delivered_rows).
-- One row per web hit (a later delivery wins). Anonymous hits (no customer_id) are kept here:
-- visitor metrics need them; only the engagement stream drops them.
-- A full build reads the raw table where latest_per_key uses it, not a stored copy of it
-- (inline_cte); an incremental batch stores its few rows once.
with source_rows as {{ inline_cte(incremental_run_start() is none) }} (
    {{ incremental_delivered_rows(source('web', 'web_events'), 'event_id') | indent(4) }}
),

latest_delivery as (
    {{ latest_per_key('source_rows', 'event_id') }}
)

select
    event_id,
    anonymous_id,
    customer_id,
    event_type,
    page_url,
    referrer_url,
    -- host of the referrer ('https://www.google.com/search?q=x' -> 'www.google.com')
    lower({{ dbt.split_part('referrer_url', "'/'", 3) }}) as referrer_host,
    occurred_at,
    {{ to_reporting_date('occurred_at') }} as occurred_date,
    context_device as device,
    context_utm_source as utm_source,
    context_utm_medium as utm_medium,
    context_utm_campaign as utm_campaign,
    context_user_agent as user_agent,
    _partition_date,
    _source_file,
    _source_line,
    _loaded_at
from latest_delivery
