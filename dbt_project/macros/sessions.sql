{#- fct_sessions, incremental (docs/incremental-models.md): a run rebuilds each changed visitor's
    sessions from the last session that started by the visitor's first change; the earlier
    sessions cannot change (a session ends more than 30 minutes before the next one starts, so a
    later hit can only extend or follow the reopened one). -#}

{#- Scratch table of the visitors a run reopens: written by the pre-hook before it deletes their
    reopened sessions, read by the batch, dropped by the post-hook. -#}
{% macro sessions_reopened_relation() -%}
    {{ return(this.incorporate(path={"identifier": this.identifier ~ "__reopened"})) }}
{%- endmacro %}

{#- The brand's own host of a page URL (scheme://host/...), as fct_sessions compares it. -#}
{% macro page_host(url) -%}
    lower({{ dbt.split_part(url, "'/'", 3) }})
{%- endmacro %}

{#- An incremental batch reads only the reopened visitors' hits from reopen_at on. -#}
{% macro reopened_hits_join(run_start, reopened, source, visitor_column) -%}
    {%- if run_start is not none %}
    inner join {{ reopened }} as reopened
        on reopened.source = '{{ source }}'
        and reopened.visitor_key = events.{{ visitor_column }}
        and events.occurred_at >= coalesce(reopened.reopen_at, events.occurred_at)
    {%- endif %}
{%- endmacro %}

{#- (source, visitor_key, reopen_at, kept_sessions) of each visitor whose sessions change: hits
    delivered in the run's window; sessions waiting for their customer's CRM row, which has now
    arrived (they re-link); and web sessions referred by a host the window may have made one of
    the brand's own (a host of a delivered page that no session lands on yet). reopen_at = start
    of the visitor's last session that started by the first change (null: rebuild them all);
    kept_sessions = the visitor's sessions before it. -#}
{% macro sessions_reopen_query(run_start) -%}
with changes as (
    select 'web' as source, anonymous_id as visitor_key, min(occurred_at) as changed_from
    from {{ ref('stg_web__events') }}
    where _partition_date >= {{ run_start }} and anonymous_id is not null
    group by anonymous_id
    union all
    select 'app' as source, device_id as visitor_key, min(occurred_at) as changed_from
    from {{ ref('stg_app__events') }}
    where _partition_date >= {{ run_start }} and device_id is not null
    group by device_id
    union all
    select source, coalesce(anonymous_id, device_id) as visitor_key, min(started_at) as changed_from
    from {{ this }}
    where dim_customer_id = {{ sql_literal(var('unknown_customer_id')) }}
        and customer_id in (select customer_id from {{ ref('stg_crm__customers') }})
    group by source, coalesce(anonymous_id, device_id)
    union all
    select source, anonymous_id as visitor_key, min(started_at) as changed_from
    from {{ this }}
    where source = 'web'
        and referrer_host in (
            select {{ page_host('page_url') }}
            from {{ ref('stg_web__events') }}
            where _partition_date >= {{ run_start }} and page_url is not null
            except
            select {{ page_host('landing_page_url') }}
            from {{ this }}
            where source = 'web' and landing_page_url is not null
        )
    group by source, anonymous_id
),

visitors as (
    select source, visitor_key, min(changed_from) as changed_from
    from changes
    group by source, visitor_key
),

opened_before as (
    select
        visitors.source,
        visitors.visitor_key,
        max(sessions.started_at) as reopen_at,
        count(sessions.started_at) as sessions_by_change
    from visitors
    left join {{ this }} as sessions
        on sessions.source = visitors.source
        and coalesce(sessions.anonymous_id, sessions.device_id) = visitors.visitor_key
        and sessions.started_at <= visitors.changed_from
    group by visitors.source, visitors.visitor_key
)

select
    source,
    visitor_key,
    reopen_at,
    case when sessions_by_change > 0 then sessions_by_change - 1 else 0 end as kept_sessions
from opened_before
{%- endmacro %}

{#- The SQL of one hook step of fct_sessions (empty when the build is not incremental with a
    window, and dbt skips an empty hook): 'drop' the scratch table (before and after), 'record' the
    reopened visitors in it, 'delete' their sessions from reopen_at on (all of them when
    reopen_at is null). -#}
{% macro sessions_reopen_hook(step) -%}
    {%- set run_start = incremental_run_start() -%}
    {%- set reopened = sessions_reopened_relation() -%}
    {%- if run_start is none -%}
    {%- elif step == 'record' -%}
        create table {{ reopened }} as
        {{ sessions_reopen_query(run_start) }}
    {%- elif step == 'delete' -%}
        {{ adapter.dispatch('sessions_delete_reopened')(reopened) }}
    {%- elif step == 'drop' -%}
        drop table if exists {{ reopened }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown sessions_reopen_hook step '" ~ step ~ "'") }}
    {%- endif -%}
{%- endmacro %}

{#- The session_ids of the reopened visitors' sessions from reopen_at on (all of them when
    reopen_at is null). -#}
{% macro sessions_reopened_ids(reopened) -%}
    select sessions.session_id
    from {{ this }} as sessions
    inner join {{ reopened }} as reopened
        on reopened.source = sessions.source
        and reopened.visitor_key = coalesce(sessions.anonymous_id, sessions.device_id)
    where sessions.started_at >= coalesce(reopened.reopen_at, sessions.started_at)
{%- endmacro %}

{#- The 'delete' hook step: remove the reopened sessions, which the batch rebuilds (a late hit
    can merge two sessions, so some session_ids go for good: replacing by key is not enough). -#}
{% macro default__sessions_delete_reopened(reopened) -%}
    delete from {{ this }}
    where session_id in (
        {{ sessions_reopened_ids(reopened) | indent(8) }}
    )
{%- endmacro %}

{#- Spark's Parquet tables cannot DELETE: the kept sessions are staged in a scratch table and
    written over the model (Spark cannot overwrite a table it reads from), by statements run
    here; the hook itself is then empty, which dbt skips. -#}
{% macro spark__sessions_delete_reopened(reopened) -%}
    {%- if execute -%}
    {%- set kept = this.incorporate(path={"identifier": this.identifier ~ "__kept"}) -%}
    {%- do run_query('drop table if exists ' ~ kept) -%}
    {%- do run_query('create table ' ~ kept ~ ' using parquet as select * from ' ~ this
        ~ ' where session_id not in (' ~ sessions_reopened_ids(reopened) ~ ')') -%}
    {%- do run_query('insert overwrite table ' ~ this ~ ' select * from ' ~ kept) -%}
    {%- do run_query('drop table if exists ' ~ kept) -%}
    {%- endif -%}
{%- endmacro %}
