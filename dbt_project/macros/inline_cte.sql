{#- The keyword after `<name> as` that has the engine read a CTE where it is used instead of
    storing its rows first. DuckDB and PostgreSQL store (materialize) a CTE that the query
    references more than once: right for a CTE that computes something, a waste for one that
    only scans a table, which is then written out in full (and spilled) to be read back. At 1M
    customers stg_web__events copied its 37.2M raw rows that way (9.9 GiB spilled): 49.6 s,
    31.4 s inlined (benchmarks/results.md 2026-12-08 00:29). Spark inlines every CTE and has no
    such keyword. `inline=false` leaves the engine's default, for a CTE that is only sometimes a
    plain scan. -#}
{% macro inline_cte(inline=true) -%}
    {{ return(adapter.dispatch('inline_cte')(inline)) }}
{%- endmacro %}

{% macro default__inline_cte(inline) -%}
{%- endmacro %}

{% macro duckdb__inline_cte(inline) -%}
    {%- if inline %}not materialized{% endif -%}
{%- endmacro %}

{% macro postgres__inline_cte(inline) -%}
    {%- if inline %}not materialized{% endif -%}
{%- endmacro %}
