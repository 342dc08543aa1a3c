{#- Keep one row per key: the first by order_by, each expression sorted descending with nulls
    last ("latest wins"). Default order = landing lineage: a later partition day wins, then the
    later file name, then the later line. Returns a SELECT with an extra _version_rank column. -#}
{% macro latest_per_key(relation, key_columns, order_by=none) -%}
    {%- set keys = [key_columns] if key_columns is string else key_columns -%}
    {%- set order_by = order_by if order_by is not none else ['_partition_date', '_source_file', '_source_line'] -%}
    {%- set order_by = [order_by] if order_by is string else order_by -%}
    select *
    from (
        select
            versions.*,
            row_number() over (
                partition by {{ keys | join(', ') }}
                order by {% for expr in order_by %}{{ expr }} desc nulls last{{ ', ' if not loop.last }}{% endfor %}
            ) as _version_rank
        from {{ relation }} as versions
    ) as ranked
    where _version_rank = 1
{%- endmacro %}
