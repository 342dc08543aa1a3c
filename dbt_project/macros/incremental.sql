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
    target's rows with a key of the batch are deleted, then the batch is inserted).
    `also_replace`: a condition on the target's rows that an incremental batch with a run window
    replaces whatever their key (they are deleted first). -#}
{% macro replace_by_key_config(unique_key, also_replace=none) -%}
    {{ return(adapter.dispatch('replace_by_key_config')(unique_key, also_replace)) }}
{%- endmacro %}

{% macro default__replace_by_key_config(unique_key, also_replace) -%}
    {%- set model_config = {'materialized': 'incremental', 'unique_key': unique_key, 'incremental_strategy': 'delete+insert', 'on_schema_change': 'fail'} -%}
    {%- if also_replace -%}
        {%- do model_config.update({'pre_hook': "{% if incremental_run_start() %}delete from {{ this }} where " ~ also_replace ~ "{% endif %}"}) -%}
    {%- endif -%}
    {{ return(model_config) }}
{%- endmacro %}

{#- Spark's Parquet tables cannot delete rows: dbt-spark's insert_overwrite, which the override of
    get_insert_overwrite_sql below makes replace by key. -#}
{% macro spark__replace_by_key_config(unique_key, also_replace) -%}
    {{ return({'materialized': 'incremental', 'unique_key': unique_key, 'incremental_strategy': 'insert_overwrite', 'file_format': 'parquet', 'on_schema_change': 'fail', 'meta': {'also_replace': also_replace}}) }}
{%- endmacro %}

{#- dbt-spark's insert_overwrite, by key for a model with a unique_key (replace_by_key_config):
    the new table is the batch plus the target's rows whose key the batch does not hold (nor
    `also_replace` selects), staged in `<table>__dbt_keep` (Spark cannot overwrite a table it
    reads from), then written over the target. The same rows as delete+insert; the table's
    files are rewritten (Parquet without Delta cannot delete), the batch alone is computed. -#}
{% macro get_insert_overwrite_sql(source_relation, target_relation, existing_relation) -%}
    {%- set unique_key = config.get('unique_key') -%}
    {%- if not unique_key -%}
        {{ return(dbt_spark.get_insert_overwrite_sql(source_relation, target_relation, existing_relation)) }}
    {%- endif -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set columns = adapter.get_columns_in_relation(target_relation) | map(attribute='quoted') | join(', ') -%}
    {%- set also_replace = (config.get('meta') or {}).get('also_replace') if incremental_run_start() else none -%}
    {%- set keep = target_relation.incorporate(path={'identifier': target_relation.identifier ~ '__dbt_keep'}) -%}
    {%- do run_query('drop table if exists ' ~ keep) -%}
    {%- set stage -%}
        create table {{ keep }} using parquet as
        select {{ columns }} from {{ source_relation }}
        union all
        select {{ columns }} from {{ target_relation }} as target_row
        where not exists (
            select 1 from {{ source_relation }} as batch_row
            where {% for key in keys %}batch_row.{{ key }} = target_row.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
        )
        {%- if also_replace %}
            and not ({{ also_replace }})
        {%- endif %}
    {%- endset -%}
    {%- do run_query(stage) -%}
    insert overwrite table {{ target_relation }} select {{ columns }} from {{ keep }}
{%- endmacro %}
