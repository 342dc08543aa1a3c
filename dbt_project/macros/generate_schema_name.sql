{#- Custom schemas are used as they are (staging, intermediate, marts, seeds), not prefixed
    with the target schema: BI tools and the published copy address `marts.<table>`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
