{#- Keep one row per key: the first by order_by, each expression sorted descending with nulls
    last ("latest wins"). Default order = landing lineage: a later partition day wins, then the
    later file name, then the later line. Returns a SELECT with an extra _version_rank column.

    Why not one row_number() over every row: a window sorts whole rows, and the event streams
    are tens of millions of wide rows of which almost none share a key (the loader already
    dedupes within a day). So the window ranks only the rows of keys seen more than once (and
    of null keys, which the window groups as before); the other rows pass through an anti
    join. stg_web__events on 37.2M hits: 61 s instead of 94 s (benchmarks/results.md).
    The relation is read three times: a CTE that only scans a table should be marked
    inline_cte(), or DuckDB and PostgreSQL store a copy of every row first. -#}
{% macro latest_per_key(relation, key_columns, order_by=none) -%}
    {%- set keys = [key_columns] if key_columns is string else key_columns -%}
    {%- set order_by = order_by if order_by is not none else ['_partition_date', '_source_file', '_source_line'] -%}
    {%- set order_by = [order_by] if order_by is string else order_by -%}
    {%- set key_aliases = [] -%}
    {%- for key in keys -%}{%- do key_aliases.append('_key_' ~ loop.index) -%}{%- endfor -%}
    {%- set matches_repeated_key -%}
        exists (
            select 1 from repeated_keys
            where {% for key in keys %}repeated_keys.{{ key_aliases[loop.index0] }} = {{ key }}{{ ' and ' if not loop.last }}{% endfor %}
        )
    {%- endset -%}
    select *
    from (
        with repeated_keys as (
            select {% for key in keys %}{{ key }} as {{ key_aliases[loop.index0] }}{{ ', ' if not loop.last }}{% endfor %}
            from {{ relation }}
            where {% for key in keys %}{{ key }} is not null{{ ' and ' if not loop.last }}{% endfor %}
            group by {{ keys | join(', ') }}
            having count(*) > 1
        )

        select versions.*, 1 as _version_rank
        from {{ relation }} as versions
        where {% for key in keys %}{{ key }} is not null and {% endfor %}not {{ matches_repeated_key }}

        union all

        select *
        from (
            select
                versions.*,
                row_number() over (
                    partition by {{ keys | join(', ') }}
                    order by {% for expr in order_by %}{{ expr }} desc nulls last{{ ', ' if not loop.last }}{% endfor %}
                ) as _version_rank
            from {{ relation }} as versions
            where {% for key in keys %}{{ key }} is null or {% endfor %}{{ matches_repeated_key }}
        ) as ranked
        where _version_rank = 1
    ) as latest_versions
{%- endmacro %}
