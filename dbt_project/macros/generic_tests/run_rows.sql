{#- Data tests of an incremental run check the rows the run wrote, not all history again
    (docs/incremental-models.md): on a nightly run the tables below are tested only where the
    filter holds. A full build, a --full-refresh, or a build without a run window tests every
    row. This overrides dbt's default__get_where_subquery, which every generic test calls on
    its model; a test's own `where` config still applies on top. -#}
{% macro default__get_where_subquery(relation) -%}
    {%- set filters = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do filters.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set run_rows = run_rows_filter(relation) -%}
    {%- if run_rows -%}
        {%- do filters.append('(' ~ run_rows ~ ')') -%}
    {%- endif -%}
    {%- if filters -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ filters | join(' and ') ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- The rows of `relation` an incremental run wrote (a superset is fine, a subset only where
    noted), as a SQL condition; none when every row is to be tested. -#}
{% macro run_rows_filter(relation) -%}
    {%- set run_start_date = run_var('run_start_date') -%}
    {%- if run_start_date is none or flags.FULL_REFRESH or relation.identifier is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set run_start = "cast('" ~ modules.datetime.date.fromisoformat(run_start_date).isoformat() ~ "' as date)" -%}
    {%- set lookback = dbt.dateadd('day', -31, run_start) -%}
    {%- set filters = {
        'stg_web__events': '_partition_date >= ' ~ run_start,
        'stg_app__events': '_partition_date >= ' ~ run_start,
        'stg_email__events': '_partition_date >= ' ~ run_start,
        'stg_social__interactions': '_partition_date >= ' ~ run_start,
        'fct_engagement_events': 'delivered_date >= ' ~ run_start ~ " or source not in ('web', 'app', 'email', 'social')",
        'customer_engagement_daily': 'score_date >= ' ~ run_start,
        'fct_sessions': 'started_at >= ' ~ lookback,
    } -%}
    {#- the raw sources are replaced by landing day, each row with its _partition_date: the run
        loaded its days' rows -#}
    {%- if relation.schema == 'raw' -%}
        {{ return('_partition_date >= ' ~ run_start) }}
    {%- endif -%}
    {{ return(filters.get(relation.identifier)) }}
{%- endmacro %}
