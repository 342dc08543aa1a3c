{#- Age band from a birth year: age = year(as_of_date) - birth_year (the source has no birth
    day, so the age can be one year high before the birthday). Bands are those of the
    metrics contract; a null, future or under-18 age is 'unknown'. -#}
{% macro age_band(birth_year, as_of_date) -%}
    {%- set age = '(extract(year from ' ~ as_of_date ~ ') - ' ~ birth_year ~ ')' -%}
    case
        when {{ birth_year }} is null then 'unknown'
        when {{ age }} >= 65 then '65+'
        when {{ age }} >= 55 then '55-64'
        when {{ age }} >= 45 then '45-54'
        when {{ age }} >= 35 then '35-44'
        when {{ age }} >= 25 then '25-34'
        when {{ age }} >= 18 then '18-24'
        else 'unknown'
    end
{%- endmacro %}
