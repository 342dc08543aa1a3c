{#- Engine set-up around a build (dbt_project.yml on-run-start / on-run-end). Nothing on DuckDB
    and PostgreSQL, where ingestion and the ML assets write real tables. -#}

{#- Spark: register the Parquet folders of CEW_SPARK_DIR that ingestion (raw) and the ML assets
    (ml) wrote (the pipeline lists them in CEW_SPARK_EXTERNAL_TABLES) as the external tables of
    the dbt sources. Dropped and created again, so a changed schema is picked up (dropping an
    external table keeps its files). -#}
{% macro register_external_tables() -%}
    {{ return(adapter.dispatch('register_external_tables')()) }}
{%- endmacro %}

{% macro default__register_external_tables() -%}
{%- endmacro %}

{% macro spark__register_external_tables() -%}
    {%- if execute -%}
        {%- set root = env_var('CEW_SPARK_DIR', '') | trim -%}
        {%- set written = (env_var('CEW_SPARK_EXTERNAL_TABLES', '') | trim).split(',') -%}
        {%- set schemas = [] -%}
        {#- only what the project reads (the sources), not the quarantine tables or the ledger -#}
        {%- for source in graph.sources.values() if (source.schema ~ '.' ~ source.identifier) in written -%}
            {%- set table = source.schema ~ '.' ~ source.identifier -%}
            {%- if not root -%}
                {{ exceptions.raise_compiler_error('CEW_SPARK_DIR is not set: where are the Parquet files of ' ~ table ~ '?') }}
            {%- endif -%}
            {%- if source.schema not in schemas -%}
                {%- do run_query('create database if not exists ' ~ source.schema) -%}
                {%- do schemas.append(source.schema) -%}
            {%- endif -%}
            {%- do run_query('drop table if exists ' ~ table) -%}
            {%- do run_query('create table ' ~ table ~ ' using parquet location ' ~ sql_literal(root ~ '/' ~ table | replace('.', '/'))) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- Spark: drop the staging tables of the keyed insert_overwrite (get_insert_overwrite_sql). -#}
{% macro drop_incremental_scratch() -%}
    {{ return(adapter.dispatch('drop_incremental_scratch')()) }}
{%- endmacro %}

{% macro default__drop_incremental_scratch() -%}
{%- endmacro %}

{% macro spark__drop_incremental_scratch() -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.config.materialized == 'incremental' -%}
            {%- do run_query('drop table if exists ' ~ node.schema ~ '.' ~ node.alias ~ '__dbt_keep') -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- Spark overrides of dbt's dateadd and datediff. dbt-spark's go through unix seconds and
    to_timestamp(bigint), which is null for the TIMESTAMP_NTZ type this project uses on Spark
    (naive UTC timestamps, like DuckDB's and PostgreSQL's: profiles.yml). Semantics as DuckDB's:
    dateadd keeps the clock time, datediff counts the boundaries of the unit crossed. -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart }}, cast({{ interval }} as bigint), {{ from_date_or_timestamp }})
{%- endmacro %}

{% macro spark__datediff(first_date, second_date, datepart) -%}
    {%- if datepart == 'day' -%}
        datediff(cast({{ second_date }} as date), cast({{ first_date }} as date))
    {%- elif datepart in ('hour', 'minute', 'second') -%}
        timestampdiff({{ datepart }}, date_trunc('{{ datepart }}', {{ first_date }}), date_trunc('{{ datepart }}', {{ second_date }}))
    {%- else -%}
        {{ return(dbt_spark.spark__datediff(first_date, second_date, datepart)) }}
    {%- endif -%}
{%- endmacro %}
