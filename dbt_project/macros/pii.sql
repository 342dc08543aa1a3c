{#- Pseudonymisation and masking of personal data. Used only inside staging models:
    clear-text PII never leaves stg_crm__customers. All macros return null for null input. -#}

{#- Keyed SHA-256 (hex) of pii_hash_key || value. Same input and key give the same hash on every engine. -#}
{% macro hash_pii(expr) -%}
    {{ return(adapter.dispatch('hash_pii')(expr)) }}
{%- endmacro %}

{% macro default__hash_pii(expr) -%}
    sha2(concat({{ sql_literal(var('pii_hash_key')) }}, cast({{ expr }} as {{ dbt.type_string() }})), 256)
{%- endmacro %}

{% macro duckdb__hash_pii(expr) -%}
    sha256({{ sql_literal(var('pii_hash_key')) }} || cast({{ expr }} as varchar))
{%- endmacro %}

{% macro postgres__hash_pii(expr) -%}
    encode(sha256(convert_to({{ sql_literal(var('pii_hash_key')) }} || cast({{ expr }} as text), 'UTF8')), 'hex')
{%- endmacro %}

{% macro spark__hash_pii(expr) -%}
    sha2(concat({{ sql_literal(var('pii_hash_key')) }}, cast({{ expr }} as string)), 256)
{%- endmacro %}

{#- Constant that replaces hashes of customers on the erasure list. -#}
{% macro pii_erased_marker() -%}
    'erased'
{%- endmacro %}

{#- 'jane.doe@example.com' -> 'j***@example.com'. Not an address (no '@') -> null. -#}
{% macro mask_email(expr) -%}
    {%- set email = 'lower(trim(' ~ expr ~ '))' -%}
    case
        when {{ dbt.position("'@'", email) }} > 1
            then {{ dbt.concat(['substr(' ~ email ~ ', 1, 1)', "'***@'", dbt.split_part(email, "'@'", 2)]) }}
    end
{%- endmacro %}

{#- 'Jane Mary Doe' -> 'J. D.' (first letters of the first and last word); 'Jane' -> 'J.'. -#}
{% macro mask_name(expr) -%}
    {%- set name = 'trim(' ~ expr ~ ')' -%}
    {%- set first_initial = 'upper(substr(' ~ name ~ ', 1, 1))' -%}
    {#- the last word starts right after the last space: found by searching the reversed name -#}
    {%- set last_initial = 'upper(substr(' ~ name ~ ', ' ~ dbt.length(name) ~ ' - '
        ~ dbt.position("' '", 'reverse(' ~ name ~ ')') ~ ' + 2, 1))' -%}
    case
        when {{ name }} = '' then null
        when {{ dbt.position("' '", name) }} = 0 then {{ dbt.concat([first_initial, "'.'"]) }}
        else {{ dbt.concat([first_initial, "'. '", last_initial, "'.'"]) }}
    end
{%- endmacro %}

{#- '+90 (532) 555-1234' -> '*******1234': a fixed-width mask (does not reveal the length) and the
    last four digits. Fewer than four digits -> '*******'. -#}
{% macro mask_phone(expr) -%}
    {%- set digits = digits_only(expr) -%}
    case
        when {{ digits }} = '' then null
        when {{ dbt.length(digits) }} < 4 then '*******'
        else {{ dbt.concat(["'*******'", dbt.right(digits, 4)]) }}
    end
{%- endmacro %}

{#- The digits of a string (regexp_replace is global by default only on Spark). -#}
{% macro digits_only(expr) -%}
    {{ return(adapter.dispatch('digits_only')(expr)) }}
{%- endmacro %}

{% macro default__digits_only(expr) -%}
    regexp_replace({{ expr }}, '[^0-9]', '', 'g')
{%- endmacro %}

{% macro spark__digits_only(expr) -%}
    regexp_replace({{ expr }}, '[^0-9]', '')
{%- endmacro %}
