-- One row per web session (keyed by anonymous_id) and app session (keyed by device_id).
-- A session ends after 30 minutes without a hit: a hit more than 30 minutes after the
-- previous hit of the same key starts a new one (exactly 30:00 still continues it); midnight is
-- no boundary. One pass over the web and app events: lag() over the key ordered by occurred_at
-- (event_id breaks ties) -> new-session flag -> running sum = session number -> aggregate.
-- Traffic source (web only) is read from the session's first hit, by seed
-- web_traffic_source_rules: utm_medium, then utm_source, then the referrer host (no referrer or
-- the brand's own host = direct; a listed search engine / social network; any other site =
-- referral). The brand's own hosts are the hosts of the sessions' landing pages (page_url).
-- Incremental (docs/incremental-models.md, macros/sessions.sql): the pre-hook records the
-- visitors the run's days changed and deletes their sessions from the last one that started by
-- the first change; the batch rebuilds those visitors' hits from there, numbering on from the
-- sessions kept.
{{ config(
    pre_hook=["{{ sessions_reopen_hook('drop') }}", "{{ sessions_reopen_hook('record') }}", "{{ sessions_reopen_hook('delete') }}"],
    post_hook=["{{ sessions_reopen_hook('drop') }}"],
    **replace_by_key_config('session_id')
) }}
{%- set gap_minutes = 30 %}
{%- set run_start = incremental_run_start() %}
{%- set reopened = sessions_reopened_relation() if run_start is not none else none %}

with web_hits as (
    select
        'web' as source,
        anonymous_id as visitor_key,
        {{ '0' if run_start is none else 'reopened.kept_sessions' }} as kept_sessions,
        customer_id,
        event_id,
        event_type,
        occurred_at,
        page_url,
        nullif(referrer_host, '') as referrer_host,
        lower(trim(utm_source)) as utm_source,
        lower(trim(utm_medium)) as utm_medium,
        utm_campaign,
        device,
        cast(null as {{ dbt.type_string() }}) as platform
    from {{ ref('stg_web__events') }} as events
    {{- reopened_hits_join(run_start, reopened, 'web', 'anonymous_id') }}
    where anonymous_id is not null
),

app_hits as (
    select
        'app' as source,
        device_id as visitor_key,
        {{ '0' if run_start is none else 'reopened.kept_sessions' }} as kept_sessions,
        customer_id,
        event_id,
        event_type,
        occurred_at,
        cast(null as {{ dbt.type_string() }}) as page_url,
        cast(null as {{ dbt.type_string() }}) as referrer_host,
        cast(null as {{ dbt.type_string() }}) as utm_source,
        cast(null as {{ dbt.type_string() }}) as utm_medium,
        cast(null as {{ dbt.type_string() }}) as utm_campaign,
        cast(null as {{ dbt.type_string() }}) as device,
        platform
    from {{ ref('stg_app__events') }} as events
    {{- reopened_hits_join(run_start, reopened, 'app', 'device_id') }}
    where device_id is not null
),

hits as (
    select * from web_hits
    union all
    select * from app_hits
),

-- window 1: the new-session flag; the first hit's attributes are kept on that hit only, so the
-- second window sorts narrow rows
flagged as (
    select
        source,
        visitor_key,
        kept_sessions,
        customer_id,
        event_id,
        event_type,
        occurred_at,
        is_session_start,
        case when is_session_start = 1 then page_url end as start_page_url,
        case when is_session_start = 1 then referrer_host end as start_referrer_host,
        case when is_session_start = 1 then utm_source end as start_utm_source,
        case when is_session_start = 1 then utm_medium end as start_utm_medium,
        case when is_session_start = 1 then utm_campaign end as start_utm_campaign,
        case when is_session_start = 1 then device end as start_device,
        platform
    from (
        select
            hits.*,
            case
                when lag(occurred_at) over (partition by source, visitor_key order by occurred_at, event_id) is null then 1
                when occurred_at > {{ dbt.dateadd('minute', gap_minutes, 'lag(occurred_at) over (partition by source, visitor_key order by occurred_at, event_id)') }} then 1
                else 0
            end as is_session_start
        from hits
    ) as lagged
),

-- window 2: running sum of the flags = session number within the key
numbered as (
    select
        flagged.*,
        sum(is_session_start) over (
            partition by source, visitor_key order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as session_number
    from flagged
),

-- exactly one hit per session has is_session_start = 1: max(case ...) picks its attributes
sessions as (
    select
        source,
        visitor_key,
        session_number,
        max(kept_sessions) as kept_sessions,
        max(case when is_session_start = 1 then event_id end) as first_event_id,
        max(customer_id) as customer_id,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        count(*) as hits,
        sum(case when event_type = 'page_view' then 1 else 0 end) as page_views,
        sum(case when event_type = 'purchase' then 1 else 0 end) as purchases,
        max(start_page_url) as landing_page_url,
        max(start_referrer_host) as referrer_host,
        max(start_utm_source) as utm_source,
        max(start_utm_medium) as utm_medium,
        max(start_utm_campaign) as utm_campaign,
        max(start_device) as device,
        max(platform) as platform
    from numbered
    group by source, visitor_key, session_number
),

rules as (
    select match_on, lower(trim(match_value)) as match_value, traffic_source
    from {{ ref('web_traffic_source_rules') }}
),

-- the brand's own hosts: hosts of the pages where web sessions land (an incremental batch: its
-- own sessions and those the table keeps)
own_hosts as (
    select distinct {{ page_host('landing_page_url') }} as host
    from sessions
    where source = 'web' and landing_page_url is not null
    {%- if run_start is not none %}
    union
    select {{ page_host('landing_page_url') }} as host
    from {{ this }}
    where source = 'web' and landing_page_url is not null
    {%- endif %}
),

-- classify each distinct referrer host once (few rows): the longest matching rule wins;
-- a rule matches the host itself and its subdomains (google.com matches www.google.com)
referrer_hosts as (
    select distinct referrer_host
    from sessions
    where source = 'web' and referrer_host is not null
),

host_matches as (
    select
        referrer_hosts.referrer_host,
        rules.traffic_source,
        row_number() over (
            partition by referrer_hosts.referrer_host
            order by {{ dbt.length('rules.match_value') }} desc, rules.traffic_source
        ) as match_rank
    from referrer_hosts
    inner join rules
        on rules.match_on = 'referrer_host'
        and (
            {{ dbt.split_part('referrer_hosts.referrer_host', "':'", 1) }} = rules.match_value
            or {{ dbt.split_part('referrer_hosts.referrer_host', "':'", 1) }} like {{ dbt.concat(["'%.'", 'rules.match_value']) }}
        )
),

host_classes as (
    select
        referrer_hosts.referrer_host,
        case
            when own_hosts.host is not null then 'direct'
            when host_matches.traffic_source is not null then host_matches.traffic_source
            else 'referral'
        end as host_traffic_source
    from referrer_hosts
    left join own_hosts
        on own_hosts.host = referrer_hosts.referrer_host
    left join host_matches
        on host_matches.referrer_host = referrer_hosts.referrer_host
        and host_matches.match_rank = 1
),

medium_rules as (
    select match_value, min(traffic_source) as traffic_source
    from rules where match_on = 'utm_medium' group by match_value
),

source_rules as (
    select match_value, min(traffic_source) as traffic_source
    from rules where match_on = 'utm_source' group by match_value
),

crm_customers as (
    select customer_id from {{ ref('stg_crm__customers') }}
),

classified as (
    select
        sessions.*,
        case
            when sessions.source <> 'web' then null
            when medium_rules.traffic_source is not null then medium_rules.traffic_source
            when source_rules.traffic_source is not null then source_rules.traffic_source
            when sessions.referrer_host is null then 'direct'
            else host_classes.host_traffic_source
        end as traffic_source
    from sessions
    left join medium_rules
        on medium_rules.match_value = sessions.utm_medium
    left join source_rules
        on source_rules.match_value = sessions.utm_source
    left join host_classes
        on host_classes.referrer_host = sessions.referrer_host
)

select
    cast({{ dbt.concat(['classified.source', "':'", 'classified.first_event_id']) }} as {{ dbt.type_string() }}) as session_id,
    cast(classified.source as {{ dbt.type_string() }}) as source,
    cast(case when classified.source = 'web' then classified.visitor_key end as {{ dbt.type_string() }}) as anonymous_id,
    cast(case when classified.source = 'app' then classified.visitor_key end as {{ dbt.type_string() }}) as device_id,
    cast(classified.kept_sessions + classified.session_number as {{ dbt.type_bigint() }}) as visitor_session_number,
    cast(classified.customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(
        case
            when classified.customer_id is null then null
            when crm_customers.customer_id is not null then classified.customer_id
            else {{ sql_literal(var('unknown_customer_id')) }}
        end as {{ dbt.type_string() }}
    ) as dim_customer_id,
    cast(classified.started_at as {{ dbt.type_timestamp() }}) as started_at,
    cast(classified.ended_at as {{ dbt.type_timestamp() }}) as ended_at,
    cast({{ to_reporting_date('classified.started_at') }} as date) as session_date,
    cast({{ dbt.datediff('classified.started_at', 'classified.ended_at', 'second') }} as {{ dbt.type_bigint() }}) as duration_seconds,
    cast(classified.hits as {{ dbt.type_bigint() }}) as hits,
    cast(case when classified.source = 'web' then classified.page_views end as {{ dbt.type_bigint() }}) as page_views,
    cast(case when classified.source = 'web' then classified.purchases end as {{ dbt.type_bigint() }}) as purchases,
    case
        when classified.source = 'web' then classified.hits = 1 and classified.page_views = 1
    end as is_bounce,
    cast(classified.traffic_source as {{ dbt.type_string() }}) as traffic_source,
    cast(classified.landing_page_url as {{ dbt.type_string() }}) as landing_page_url,
    cast(classified.referrer_host as {{ dbt.type_string() }}) as referrer_host,
    cast(classified.utm_source as {{ dbt.type_string() }}) as utm_source,
    cast(classified.utm_medium as {{ dbt.type_string() }}) as utm_medium,
    cast(classified.utm_campaign as {{ dbt.type_string() }}) as utm_campaign,
    cast(classified.device as {{ dbt.type_string() }}) as device,
    cast(classified.platform as {{ dbt.type_string() }}) as platform
from classified
left join crm_customers
    on crm_customers.customer_id = classified.customer_id
