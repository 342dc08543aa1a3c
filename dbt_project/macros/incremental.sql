{#- Incremental models (docs/incremental-models.md). A nightly run rebuilds only what its days
    touched: the rows (re)delivered on or after the run's first day (`CEW_RUN_START_DATE`, the
    landing day of the partitions the run loaded), found through the `_partition_date` /
    `delivered_date` lineage columns every raw row carries. A full refresh (or a first run, or a
    run without a run window) rebuilds everything and gives the same rows. -#}

{#- The run's first landing day as a SQL date when this build is incremental, else none
    (a full build, or a build without a run window). -#}
{% macro incremental_run_start() -%}
    {%- set run_start_date = run_var('run_start_date') -%}
    {#- the window first: unit tests without one never ask is_incremental() (no `this` there) -#}
    {%- if run_start_date and is_incremental() -%}
        {{ return("cast('" ~ modules.datetime.date.fromisoformat(run_start_date).isoformat() ~ "' as date)") }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{#- The raw rows an incremental batch of a "latest delivery wins" model re-reads (a full build:
    all of them). The latest delivery wins first by `_partition_date`, so for a key delivered on
    or after the run's first day the winner is among those days' rows: the batch reads only them,
    plus the earlier versions of keys the model holds from those days that they no longer
    deliver (a re-delivered day without the key falls back to its previous delivery). A key that
    loses every delivery keeps its last row until a full refresh. -#}
{% macro incremental_delivered_rows(source_relation, key) -%}
    {%- set run_start = incremental_run_start() -%}
    {%- if run_start is none -%}
    select * from {{ source_relation }}
    {%- else -%}
    select * from {{ source_relation }}
    where _partition_date >= {{ run_start }}
    union all
    select * from {{ source_relation }}
    where _partition_date < {{ run_start }}
        and {{ key }} in (
            select {{ key }} from {{ this }} where _partition_date >= {{ run_start }}
            except
            select {{ key }} from {{ source_relation }} where _partition_date >= {{ run_start }}
        )
    {%- endif -%}
{%- endmacro %}

{#- Config of a model whose incremental batches replace rows by key (dbt's delete+insert: the
    target's rows with a key of the batch are deleted, then the batch is inserted). -#}
{% macro replace_by_key_config(unique_key) -%}
    {{ return({'materialized': 'incremental', 'unique_key': unique_key, 'incremental_strategy': 'delete+insert', 'on_schema_change': 'fail'}) }}
{%- endmacro %}
