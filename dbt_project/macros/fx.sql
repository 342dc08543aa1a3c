{#- Currency conversion to var('reporting_currency').

    rate(c, d) = USD per unit of currency c on day d: the latest rate published on or before d
    (int_fx_rates__daily fills the days between two published rates; from a currency's latest
    published rate onwards the current row of int_fx_rates__validity applies). USD is 1.
    factor = rate(currency, d) / rate(reporting_currency, d); 1 when currency = reporting currency;
    null when a needed rate is not known on d (no earlier rate at all).

    Usage, inside a select over a relation aliased `alias`:
        select ..., {{ fx_rate_to_reporting('o.currency', 'o.ordered_date') }} as fx_rate_to_reporting
        from orders as o
        {{ fx_rate_joins('o.currency', 'o.ordered_date') }}
    All joins are equality joins (fast at any volume). -#}

{% macro reporting_currency() -%}
    {{ return(var('reporting_currency') | string | trim | upper) }}
{%- endmacro %}

{#- The left joins that fetch the rates of one (currency, day); prefix names the aliases. -#}
{% macro fx_rate_joins(currency_column, date_column, prefix='fx') -%}
    left join {{ ref('int_fx_rates__daily') }} as {{ prefix }}_day
        on {{ prefix }}_day.currency = {{ currency_column }}
        and {{ prefix }}_day.rate_date = {{ date_column }}
    left join {{ ref('int_fx_rates__validity') }} as {{ prefix }}_latest
        on {{ prefix }}_latest.currency = {{ currency_column }}
        and {{ prefix }}_latest.is_current
    {%- if reporting_currency() != 'USD' %}
    left join {{ ref('int_fx_rates__daily') }} as {{ prefix }}_rep_day
        on {{ prefix }}_rep_day.currency = {{ sql_literal(reporting_currency()) }}
        and {{ prefix }}_rep_day.rate_date = {{ date_column }}
    left join {{ ref('int_fx_rates__validity') }} as {{ prefix }}_rep_latest
        on {{ prefix }}_rep_latest.currency = {{ sql_literal(reporting_currency()) }}
        and {{ prefix }}_rep_latest.is_current
    {%- endif %}
{%- endmacro %}

{#- USD per unit from the joins above: the day's (filled) rate, else the current rate when the day
    is on or after its valid_from. -#}
{% macro _fx_rate_to_usd(currency_sql, date_column, day_alias, latest_alias) -%}
    case
        when {{ currency_sql }} = 'USD' then 1.0
        else coalesce(
            {{ day_alias }}.rate_to_usd,
            case when {{ date_column }} >= {{ latest_alias }}.valid_from then {{ latest_alias }}.rate_to_usd end
        )
    end
{%- endmacro %}

{#- Factor that turns an amount in currency_column into the reporting currency (double). -#}
{% macro fx_rate_to_reporting(currency_column, date_column, prefix='fx') -%}
    {%- set rep = reporting_currency() -%}
    case
        when {{ currency_column }} = {{ sql_literal(rep) }} then cast(1.0 as {{ type_double() }})
        else cast(
            {{ _fx_rate_to_usd(currency_column, date_column, prefix ~ '_day', prefix ~ '_latest') }}
            {%- if rep != 'USD' %}
            / nullif({{ _fx_rate_to_usd(sql_literal(rep), date_column, prefix ~ '_rep_day', prefix ~ '_rep_latest') }}, 0)
            {%- endif %}
            as {{ type_double() }})
    end
{%- endmacro %}

{#- amount x factor, as double: money columns named <amount>_reporting. -#}
{% macro to_reporting_currency(amount, rate_column='fx_rate_to_reporting') -%}
    cast(cast({{ amount }} as {{ type_double() }}) * {{ rate_column }} as {{ type_double() }})
{%- endmacro %}
