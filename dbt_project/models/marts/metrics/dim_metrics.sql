-- One row per metric of the registry (macros/metrics/registry.sql): what BI tools show as the
-- metric's definition, unit and how its value and interval are computed.
{%- set rows = [] %}
{%- for m in metric_registry() %}
    {%- do rows.append(
        "select " ~ sql_literal(m.name) ~ " as metric_name, " ~ sql_literal(m.domain) ~ " as domain, "
        ~ sql_literal(m.kind) ~ " as kind, cast(" ~ m.scale ~ " as " ~ type_double() ~ ") as scale, "
        ~ sql_literal(m.ci) ~ " as ci_method, " ~ sql_literal(m.unit) ~ " as unit, "
        ~ sql_literal(m.segments if m.segments is string else (m.segments | join(','))) ~ " as segments, "
        ~ sql_literal(m.description) ~ " as description"
    ) %}
{%- endfor %}

with registry as (
    {{ rows | join('\n    union all ') }}
)

select
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(domain as {{ dbt.type_string() }}) as domain,
    cast(kind as {{ dbt.type_string() }}) as kind,
    cast(scale as {{ type_double() }}) as scale,
    cast(ci_method as {{ dbt.type_string() }}) as ci_method,
    cast(unit as {{ dbt.type_string() }}) as unit,
    cast(segments as {{ dbt.type_string() }}) as segments,
    cast(description as {{ dbt.type_string() }}) as description
from registry
