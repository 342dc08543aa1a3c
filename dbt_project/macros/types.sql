{#- Small type and literal helpers shared by the other macros. -#}

{#- A quoted SQL string literal with the engine's quote escaping (Spark uses backslashes). -#}
{% macro sql_literal(value) -%}
    {{ dbt.string_literal(dbt.escape_single_quotes(value | string)) }}
{%- endmacro %}

{#- 8-byte floating point. dbt.type_float() is FLOAT, which DuckDB and Spark read as 4 bytes. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{#- Median of a numeric expression as an aggregate. -#}
{% macro median(expr) -%}
    {{ return(adapter.dispatch('median')(expr)) }}
{%- endmacro %}

{% macro default__median(expr) -%}
    percentile_cont(0.5) within group (order by {{ expr }})
{%- endmacro %}

{% macro duckdb__median(expr) -%}
    median({{ expr }})
{%- endmacro %}

{% macro spark__median(expr) -%}
    percentile({{ expr }}, 0.5)
{%- endmacro %}
