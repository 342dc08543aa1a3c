{#- Fails for every row where the boolean SQL expression is not true (false or null), optionally
    only over rows matching where (the generic `where` config also works). -#}
{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not coalesce({{ expression }}, false)
{% endtest %}
