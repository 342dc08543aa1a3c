{#- Time handling. The warehouse stores naive UTC timestamps; days, weeks and months of the
    marts are those of var('reporting_timezone'). With the default 'UTC' the conversions
    compile to the bare expression (no per-row work). -#}

{% macro _reporting_tz_is_utc() -%}
    {{ return((var('reporting_timezone') | string | trim | upper) in ('UTC', 'ETC/UTC', 'Z', 'GMT', 'ETC/GMT', '')) }}
{%- endmacro %}

{#- Naive UTC timestamp -> naive local timestamp in the reporting time zone. -#}
{% macro to_reporting_tz(ts) -%}
    {%- if _reporting_tz_is_utc() -%}
        {{ ts }}
    {%- else -%}
        {{ return(adapter.dispatch('to_reporting_tz')(ts, sql_literal(var('reporting_timezone')))) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__to_reporting_tz(ts, tz) -%}
    (({{ ts }}) at time zone 'UTC') at time zone {{ tz }}
{%- endmacro %}

{% macro duckdb__to_reporting_tz(ts, tz) -%}
    timezone({{ tz }}, timezone('UTC', {{ ts }}))
{%- endmacro %}

{% macro spark__to_reporting_tz(ts, tz) -%}
    from_utc_timestamp({{ ts }}, {{ tz }})
{%- endmacro %}

{#- Naive local timestamp in the reporting time zone -> naive UTC timestamp (inverse of the above). -#}
{% macro from_reporting_tz(ts) -%}
    {%- if _reporting_tz_is_utc() -%}
        {{ ts }}
    {%- else -%}
        {{ return(adapter.dispatch('from_reporting_tz')(ts, sql_literal(var('reporting_timezone')))) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__from_reporting_tz(ts, tz) -%}
    (({{ ts }}) at time zone {{ tz }}) at time zone 'UTC'
{%- endmacro %}

{% macro duckdb__from_reporting_tz(ts, tz) -%}
    timezone('UTC', timezone({{ tz }}, {{ ts }}))
{%- endmacro %}

{% macro spark__from_reporting_tz(ts, tz) -%}
    to_utc_timestamp({{ ts }}, {{ tz }})
{%- endmacro %}

{#- Naive UTC timestamp -> calendar date in the reporting time zone. -#}
{% macro to_reporting_date(ts) -%}
    cast({{ to_reporting_tz(ts) }} as date)
{%- endmacro %}

{#- A per-run value: var(name) when given (--vars, unit-test overrides), else env var
    CEW_<NAME> (how Dagster passes a run's days), else none. The env var is read only at
    execution: read while parsing, its nightly change would make dbt re-parse every model
    that uses it; --vars would make dbt re-parse the whole project. -#}
{% macro run_var(name) -%}
    {%- set value = var(name, none) -%}
    {%- if (value is none or (value | string | trim) in ('', 'None', 'null')) and execute -%}
        {%- set value = env_var('CEW_' ~ (name | upper), '') -%}
    {%- endif -%}
    {%- if value is none or (value | string | trim) in ('', 'None', 'null') -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(value | string | trim) }}
{%- endmacro %}

{#- The day the run reports on: run_var('run_date') (YYYY-MM-DD, set by Dagster per partition) or today. -#}
{% macro as_of_date() -%}
    {%- set run_date = run_var('run_date') -%}
    {%- if run_date is none -%}
        current_date
    {%- else -%}
        {#- parse it so that a malformed value fails at compile time, not as odd SQL -#}
        {%- set day = modules.datetime.date.fromisoformat(run_date) -%}
        cast('{{ day.isoformat() }}' as date)
    {%- endif -%}
{%- endmacro %}
