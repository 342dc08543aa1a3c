{#- The metric pattern (docs/metrics-framework.md): observation rows -> segments x grains -> value
    and 95% interval. All SQL here is portable (dbt cross-database macros, plain CASE/sqrt). -#}

{#- The three period grains as a relation with one column, period_grain. -#}
{% macro metric_grains() -%}
    select 'day' as period_grain
    union all select 'week' as period_grain
    union all select 'month' as period_grain
{%- endmacro %}

{#- First day of the period of grain_sql ('day' | 'week' | 'month', a SQL expression) holding date_sql.
    Weeks are ISO weeks (Monday start) on every engine. -#}
{% macro period_start(grain_sql, date_sql) -%}
    case {{ grain_sql }}
        when 'day' then cast({{ date_sql }} as date)
        when 'week' then cast({{ dbt.date_trunc('week', date_sql) }} as date)
        else cast({{ dbt.date_trunc('month', date_sql) }} as date)
    end
{%- endmacro %}

{#- Last day of the period of grain_sql starting on start_sql. -#}
{% macro period_end(grain_sql, start_sql) -%}
    case {{ grain_sql }}
        when 'day' then cast({{ start_sql }} as date)
        when 'week' then cast({{ dbt.dateadd('day', 6, start_sql) }} as date)
        else cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, start_sql)) }} as date)
    end
{%- endmacro %}

{#- Segments in one pass: `group by {{ segment_grouping_sets(keys, segments) }}` gives a grouping
    set per segment plus one without (segment 'all'); grouping_set_segment_name/_value say which
    set a row belongs to. A segment column must not be null in the sets' input (coalesce it to
    'unknown'), or its null group reads as another set's; where nulls are meant to be dropped
    (a metric's own dimensions), drop rows with a null segment_value afterwards. -#}
{% macro segment_grouping_sets(keys, segments) -%}
grouping sets (
        ({{ keys | join(', ') }}),
        {%- for name in segments %}
        ({{ keys | join(', ') }}, {{ name }}){{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{% macro grouping_set_segment_name(segments) -%}
case
            {%- for name in segments %}
            when grouping({{ name }}) = 0 then '{{ name }}'
            {%- endfor %}
            else 'all'
        end
{%- endmacro %}

{% macro grouping_set_segment_value(segments) -%}
case
            {%- for name in segments %}
            when grouping({{ name }}) = 0 then {{ name }}
            {%- endfor %}
            else 'all'
        end
{%- endmacro %}

{#- (metric_name, segment_name) pairs the registry allows for the metrics of `domain`. -#}
{% macro _metric_segment_pairs(domain) -%}
    {%- set rows = [] -%}
    {%- for metric in metric_registry() if metric.domain == domain -%}
        {%- set names = (['all'] + customer_segment_names() + ['channel', 'touchpoint'])
            if metric.segments == 'customer' else metric.segments -%}
        {%- for segment_name in names -%}
            {%- do rows.append("select " ~ sql_literal(metric.name) ~ " as metric_name, " ~ sql_literal(segment_name) ~ " as segment_name") -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if not rows -%}
        {{ exceptions.raise_compiler_error("no metric of domain '" ~ domain ~ "' in the registry") }}
    {%- endif -%}
    {{ rows | join('\n    union all ') }}
{%- endmacro %}

{#- Registry attributes of the metrics of `domain`, as a relation. -#}
{% macro _metric_attributes(domain) -%}
    {%- set rows = [] -%}
    {%- for metric in metric_registry() if metric.domain == domain -%}
        {%- do rows.append("select " ~ sql_literal(metric.name) ~ " as metric_name, " ~ sql_literal(metric.kind) ~ " as kind, "
            ~ "cast(" ~ metric.scale ~ " as " ~ type_double() ~ ") as scale, " ~ sql_literal(metric.ci) ~ " as ci_method") -%}
    {%- endfor -%}
    {{ rows | join('\n    union all ') }}
{%- endmacro %}

{#- The CTEs that attribute rows to segments: customers (segment_customers()),
    customer_attribute_sets and attribute_sets (customer_attribute_sets()) and plan_periods
    (int_subscriptions__plan_periods). -#}
{% macro segment_attribution_ctes() -%}
customers as (
    {{ segment_customers() | indent(4) }}
),

{{ customer_attribute_sets('customers') }},

plan_periods as (
    select customer_id, plan, from_date, to_date
    from {{ ref('int_subscriptions__plan_periods') }}
)
{%- endmacro %}

{#- The joins that give each row of `rows_alias` (customer_id, period_start) its attribute set
    (customer_attribute_sets; null without a known customer) and the plan held at the start of
    period_start (plan_periods: set by the last event before that day; null without one). Needs
    the CTEs of segment_attribution_ctes(). -#}
{% macro segment_attribution_joins(rows_alias) -%}
left join customer_attribute_sets
        on customer_attribute_sets.customer_id = {{ rows_alias }}.customer_id
    -- the state in force at the start of period_start: set by the last event before that day
    left join plan_periods
        on plan_periods.customer_id = {{ rows_alias }}.customer_id
        and plan_periods.from_date < {{ rows_alias }}.period_start
        and {{ rows_alias }}.period_start <= plan_periods.to_date
{%- endmacro %}

{#- Known customers with their fixed segments (all but plan), coalesced to 'unknown': the input
    of customer_attribute_sets. -#}
{% macro segment_customers() -%}
{%- set fixed_names = customer_segment_names() | reject('equalto', 'plan') | list -%}
select
    customer_id,
    {%- for name in fixed_names %}
    coalesce(cast({{ name }} as {{ dbt.type_string() }}), 'unknown') as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ ref('dim_customers') }}
where not is_unknown_member
{%- endmacro %}

{#- Two CTEs, customer_attribute_sets (customer_id -> attribute_set_id: a number per combination
    of the fixed customer segments, all but plan) and attribute_sets (one row per combination and
    its number), from a CTE `customers_cte` with customer_id and those segments, already coalesced
    to 'unknown'. The fixed attributes take few combinations (22k at 1M customers), so
    per-customer rows summed by the number, with the strings joined back to the sums, need far
    less memory than rows grouped by six strings. The number is a dense_rank over the customers,
    not a join of the customers to their distinct combinations: DuckDB estimated that join (six
    equalities) at 263M rows for 1M customers and built its hash table on the other side, the
    observations (100M rows at 1M customers: 42 s of int_metrics__email_by_segment's 76 s). -#}
{% macro customer_attribute_sets(customers_cte) -%}
{%- set fixed_names = customer_segment_names() | reject('equalto', 'plan') | list -%}
customer_attribute_sets as (
    select
        customer_id,
        {{ fixed_names | join(', ') }},
        dense_rank() over (order by {{ fixed_names | join(', ') }}) as attribute_set_id
    from {{ customers_cte }}
),

attribute_sets as (
    select distinct attribute_set_id, {{ fixed_names | join(', ') }}
    from customer_attribute_sets
)
{%- endmacro %}

{#- Observation rows (one per customer) -> their parts summed per metric, grain, period and
    combination of segment values: the customer segments (customer_segment_names(), never null:
    'unknown' when missing) and the metric's own dimensions. Customer segments come from
    dim_customers (current attributes); plan is the plan held at the period's start
    (int_subscriptions__plan_periods, 'none' without one); rows without a customer count as
    'unknown' in each customer segment.
    segment_overrides: optional list of customer segment names (e.g. ['acquisition_channel'])
    for which the observation model carries a column of the same name; where that column is not
    null it replaces the customer's value (marketing spend has no customer but has a channel).
    dimensions: the metric's own dimensions the observation model fills (channel, touchpoint);
    the others are always null there, and leaving them out saves their grouping sets.
    (parts_by_segment rolls additive parts up to segment_name / segment_value instead, for a
    model read with by_segment='rolled_up'.) -#}
{% macro observations_by_segment(observations, segment_overrides=[], dimensions=['channel', 'touchpoint']) -%}
{%- set fixed_names = customer_segment_names() | reject('equalto', 'plan') | list -%}
{%- set fixed_overrides = segment_overrides | select('in', fixed_names) | list -%}
{%- set double = type_double() -%}
{%- for name in segment_overrides if name not in customer_segment_names() -%}
    {{ exceptions.raise_compiler_error("segment override '" ~ name ~ "' is not a customer segment") }}
{%- endfor -%}
with observations as (
    select * from {{ observations }}
),

-- the observation rows are summed by attribute set (a number), not by six strings
{{ segment_attribution_ctes() }},

{%- set plan_value = "case when observations.customer_id is not null then coalesce(plan_periods.plan, 'none') end" %}
{%- if 'plan' in segment_overrides %}
{%- set plan_value = 'coalesce(observations.plan, ' ~ plan_value ~ ')' %}
{%- endif %}
{#- the grouping keys, alias -> expression, selected and grouped by alike -#}
{%- set keys = [('metric_name', 'observations.metric_name'), ('period_grain', 'observations.period_grain'), ('period_start', 'observations.period_start')] %}
{%- for name in dimensions %}{% do keys.append((name, 'observations.' ~ name)) %}{% endfor %}
{#- null without a known customer -#}
{%- do keys.append(('attribute_set_id', 'customer_attribute_sets.attribute_set_id')) %}
{%- for name in fixed_overrides %}{% do keys.append(('override_' ~ name, 'observations.' ~ name)) %}{% endfor %}
{%- do keys.append(('plan', "coalesce(cast(" ~ plan_value ~ " as " ~ dbt.type_string() ~ "), 'unknown')")) %}

summed as (
    select
        {%- for alias, expression in keys %}
        {{ expression }} as {{ alias }},
        {%- endfor %}
        sum(observations.numerator) as numerator,
        sum(observations.denominator) as denominator,
        sum(observations.sample_size) as sample_size,
        sum(observations.sum_squares) as sum_squares
    from observations
    {{ segment_attribution_joins('observations') }}
    group by
        {%- for alias, expression in keys %}
        {{ expression }}{{ ',' if not loop.last }}
        {%- endfor %}
),

-- several attribute sets can read the same after an override: sum again by the strings
attributed as (
    select
        summed.metric_name,
        summed.period_grain,
        summed.period_start,
        {%- for name in customer_segment_names() %}
        {%- if name == 'plan' %}
        summed.plan,
        {%- elif name in fixed_overrides %}
        coalesce(cast(summed.override_{{ name }} as {{ dbt.type_string() }}), attribute_sets.{{ name }}, 'unknown') as {{ name }},
        {%- else %}
        coalesce(attribute_sets.{{ name }}, 'unknown') as {{ name }},
        {%- endif %}
        {%- endfor %}
        {%- for name in dimensions %}
        summed.{{ name }},
        {%- endfor %}
        summed.numerator,
        summed.denominator,
        summed.sample_size,
        summed.sum_squares
    from summed
    left join attribute_sets
        on attribute_sets.attribute_set_id = summed.attribute_set_id
)

select
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(period_start as date) as period_start,
    {%- for name in customer_segment_names() + dimensions %}
    cast({{ name }} as {{ dbt.type_string() }}) as {{ name }},
    {%- endfor %}
    cast(sum(numerator) as {{ double }}) as numerator,
    cast(sum(denominator) as {{ double }}) as denominator,
    cast(sum(sample_size) as {{ dbt.type_bigint() }}) as sample_size,
    cast(sum(sum_squares) as {{ double }}) as sum_squares
from attributed
group by
    metric_name,
    period_grain,
    period_start{% for name in customer_segment_names() + dimensions %},
    {{ name }}
    {%- endfor %}
{%- endmacro %}

{#- Observations -> one row per metric x grain x period x segment with summed parts.
    observations: an observation model (one row per customer: see observations_by_segment for
    segment_overrides and dimensions); with by_segment=true, its rows already summed per segment
    combination by observations_by_segment (an int_metrics__<domain>_by_segment model); with
    by_segment='rolled_up', rows already rolled up to segment_name / segment_value (a
    segment_rollup() model). -#}
{% macro metric_rollup(domain, observations, segment_overrides=[], dimensions=['channel', 'touchpoint'], by_segment=false) -%}
{%- if by_segment == 'rolled_up' %}
with segment_parts as (
    select metric_name, period_grain, period_start, segment_name, segment_value, numerator, denominator, sample_size, sum_squares
    from {{ observations }}
),
{%- else %}
with combinations as (
    {%- if by_segment %}
    select * from {{ observations }}
    {%- else %}
    {{ observations_by_segment(observations, segment_overrides, dimensions) | indent(4) }}
    {%- endif %}
),

-- one pass: a grouping set per segment (the customer segments are never null here;
-- channel/touchpoint may be, and their null groups are dropped below)
segment_parts as (
    select
        metric_name,
        period_grain,
        period_start,
        {{ grouping_set_segment_name(customer_segment_names() + dimensions) }} as segment_name,
        {{ grouping_set_segment_value(customer_segment_names() + dimensions) }} as segment_value,
        sum(numerator) as numerator,
        sum(denominator) as denominator,
        sum(sample_size) as sample_size,
        sum(sum_squares) as sum_squares
    from combinations
    group by {{ segment_grouping_sets(['metric_name', 'period_grain', 'period_start'], customer_segment_names() + dimensions) }}
),
{%- endif %}

allowed_segments as (
    {{ _metric_segment_pairs(domain) }}
),

-- one segment-'all' row of zero parts per metric and period, so empty periods are not missing
empty_periods as (
    select
        attributes.metric_name,
        periods.period_grain,
        periods.period_start,
        'all' as segment_name,
        'all' as segment_value,
        0 as numerator,
        case when attributes.kind = 'count' then null else 0 end as denominator,
        0 as sample_size,
        0 as sum_squares
    from ({{ _metric_attributes(domain) }}) as attributes
    cross join {{ ref('int_metric_periods') }} as periods
),

unpivoted as (
    select segment_parts.*
    from segment_parts
    inner join allowed_segments
        on allowed_segments.metric_name = segment_parts.metric_name
        and allowed_segments.segment_name = segment_parts.segment_name
    where segment_parts.segment_value is not null
    union all
    select * from empty_periods
)

select
    metric_name,
    period_grain,
    period_start,
    segment_name,
    segment_value,
    sum(numerator) as numerator,
    sum(denominator) as denominator,
    sum(sample_size) as sample_size,
    sum(sum_squares) as sum_squares
from unpivoted
group by metric_name, period_grain, period_start, segment_name, segment_value
{%- endmacro %}

{#- Rolled-up parts (relation `parts`) -> value and 95% interval by the registry's kind and method. -#}
{% macro metric_finalize(domain, parts) -%}
{%- set z = 1.959963985 -%}
{%- set double = type_double() -%}
with parts as (
    select * from {{ parts }}
),

attributes as (
    {{ _metric_attributes(domain) }}
),

measured as (
    select
        parts.*,
        attributes.kind,
        attributes.scale,
        attributes.ci_method,
        cast(parts.numerator as {{ double }}) / nullif(cast(parts.denominator as {{ double }}), 0) as mean_x
    from parts
    inner join attributes
        on attributes.metric_name = parts.metric_name
),

intervals as (
    select
        measured.*,
        case
            when ci_method = 'wilson' and mean_x is not null then
                {{ z }} * sqrt(
                    greatest(mean_x * (1 - mean_x), 0) / denominator
                    + {{ z * z }} / (4 * denominator * denominator)
                ) / (1 + {{ z * z }} / denominator)
            when ci_method = 'trinomial' and mean_x is not null then
                {{ z }} * sqrt(greatest(sum_squares / denominator - mean_x * mean_x, 0) / denominator)
            when ci_method = 'normal_mean' and mean_x is not null and denominator >= 2 then
                {{ z }} * sqrt(
                    greatest((sum_squares - denominator * mean_x * mean_x) / (denominator - 1), 0) / denominator
                )
        end as half_width,
        case
            when ci_method = 'wilson' and mean_x is not null then
                (mean_x + {{ z * z }} / (2 * denominator)) / (1 + {{ z * z }} / denominator)
            else mean_x
        end as ci_centre
    from measured
)

select
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(period_start as date) as period_start,
    cast(segment_name as {{ dbt.type_string() }}) as segment_name,
    cast(segment_value as {{ dbt.type_string() }}) as segment_value,
    cast(numerator as {{ double }}) as numerator,
    cast(denominator as {{ double }}) as denominator,
    cast(case when kind = 'count' then numerator else scale * mean_x end as {{ double }}) as value,
    cast(sample_size as {{ dbt.type_bigint() }}) as sample_size,
    -- greatest/least skip nulls on some engines: test half_width first
    cast(case
        when half_width is null then null
        when ci_method = 'trinomial' then greatest(scale * (ci_centre - half_width), -100)
        else scale * (ci_centre - half_width)
    end as {{ double }}) as ci_low,
    cast(case
        when half_width is null then null
        when ci_method = 'trinomial' then least(scale * (ci_centre + half_width), 100)
        else scale * (ci_centre + half_width)
    end as {{ double }}) as ci_high,
    cast(sum_squares as {{ double }}) as sum_squares,
    cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as computed_at
from intervals
{%- endmacro %}

{#- A domain mart: `{{ metric_mart('survey', ref('int_metrics__survey')) }}`; segment_overrides,
    dimensions and by_segment: see metric_rollup. -#}
{% macro metric_mart(domain, observations, segment_overrides=[], dimensions=['channel', 'touchpoint'], by_segment=false) -%}
with rolled_up as (
    {{ metric_rollup(domain, observations, segment_overrides, dimensions, by_segment) | indent(4) }}
),

finalized as (
    {{ metric_finalize(domain, 'rolled_up') | indent(4) }}
)

select * from finalized
{%- endmacro %}

{#- Observation rows of metrics that are additive over time -> the observation-model columns
    for all three grains. `relation` has metric_name, customer_id, channel, touchpoint,
    observed_date (reporting-tz date) and x (the observed value: 0/1 for proportions, the
    score or duration for means, the amount for sums); each row counts once in sample_size
    and the denominator. Periods after as_of_date() are left out. -#}
{% macro additive_observations(relation) -%}
    {%- set double = type_double() -%}
    select
        cast(observations.metric_name as {{ dbt.type_string() }}) as metric_name,
        cast(grains.period_grain as {{ dbt.type_string() }}) as period_grain,
        {{ period_start('grains.period_grain', 'observations.observed_date') }} as period_start,
        cast(observations.customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(observations.channel as {{ dbt.type_string() }}) as channel,
        cast(observations.touchpoint as {{ dbt.type_string() }}) as touchpoint,
        cast(sum(observations.x) as {{ double }}) as numerator,
        cast(count(*) as {{ double }}) as denominator,
        cast(count(*) as {{ dbt.type_bigint() }}) as sample_size,
        cast(sum(observations.x * observations.x) as {{ double }}) as sum_squares
    from {{ relation }} as observations
    cross join ({{ metric_grains() }}) as grains
    where observations.observed_date <= {{ as_of_date() }}
    group by 1, 2, 3, 4, 5, 6
{%- endmacro %}

{#- The plan held at the START of each day, as intervals [first_day, last_day] that cover every
    day of each customer with subscription events (int_subscriptions__plan_periods: the row
    with from_date < d <= to_date; 'none' up to the first event's day). Customers without
    events have no rows: 'none'. -#}
{% macro plan_at_day_start_intervals() -%}
select
    customer_id,
    plan,
    cast({{ dbt.dateadd('day', 1, 'from_date') }} as date) as first_day,
    to_date as last_day
from {{ ref('int_subscriptions__plan_periods') }}
union all
select customer_id, 'none' as plan, cast('1900-01-01' as date) as first_day, min(from_date) as last_day
from {{ ref('int_subscriptions__plan_periods') }}
group by customer_id
{%- endmacro %}

{#- Per-customer day ranges -> +1 on each range's first day and -1 the day after its last, per
    attribute set and plan: `ranges` (a CTE) has customer_id, the key_columns and first_day,
    last_day (inclusive). A range is first cut where the plan held at the day's start changes.
    Emits CTEs `<name>__cut` and `<name>` (key_columns, attribute_set_id, plan, change_date,
    delta summed per key and day); needs the CTEs customer_attribute_sets and plan_intervals
    (plan_at_day_start_intervals). -#}
{% macro customer_range_deltas(name, ranges, key_columns) -%}
{%- set keys = key_columns + ['attribute_set_id', 'plan'] -%}
{{ name }}__cut as (
    select
        {%- for column in key_columns %}
        ranges.{{ column }},
        {%- endfor %}
        -- 0: not a known customer (no attribute set), so the running sums' keys are never null
        coalesce(customer_attribute_sets.attribute_set_id, 0) as attribute_set_id,
        coalesce(plan_intervals.plan, 'none') as plan,
        case when plan_intervals.first_day > ranges.first_day then plan_intervals.first_day else ranges.first_day end as first_day,
        case when plan_intervals.last_day < ranges.last_day then plan_intervals.last_day else ranges.last_day end as last_day
    from {{ ranges }} as ranges
    left join plan_intervals
        on plan_intervals.customer_id = ranges.customer_id
        and plan_intervals.first_day <= ranges.last_day
        and ranges.first_day <= plan_intervals.last_day
    left join customer_attribute_sets
        on customer_attribute_sets.customer_id = ranges.customer_id
),

{{ name }} as (
    select {{ keys | join(', ') }}, change_date, sum(delta) as delta
    from (
        select {{ keys | join(', ') }}, first_day as change_date, 1 as delta
        from {{ name }}__cut
        union all
        select {{ keys | join(', ') }}, cast({{ dbt.dateadd('day', 1, 'last_day') }} as date) as change_date, -1 as delta
        from {{ name }}__cut
    ) as deltas
    group by {{ keys | join(', ') }}, change_date
)
{%- endmacro %}

{#- Per-customer rows of a period -> the same rows with the customer's attribute_set_id (0: no
    known customer) and the plan held at the start of period_start_column ('none' without one).
    Needs the CTEs customer_attribute_sets and plan_intervals. -#}
{% macro with_segment_keys(relation, period_start_column) -%}
select
    keyed.*,
    coalesce(customer_attribute_sets.attribute_set_id, 0) as attribute_set_id,
    coalesce(plan_intervals.plan, 'none') as plan
from {{ relation }} as keyed
left join customer_attribute_sets
    on customer_attribute_sets.customer_id = keyed.customer_id
left join plan_intervals
    on plan_intervals.customer_id = keyed.customer_id
    and plan_intervals.first_day <= keyed.{{ period_start_column }}
    and keyed.{{ period_start_column }} <= plan_intervals.last_day
{%- endmacro %}

{#- Day counts from deltas (customer_range_deltas, usually rolled up by segment_rollup first):
    `deltas` (a CTE) has the key_columns, change_date and delta. Emits CTEs ending in `<name>`
    with the key_columns, counted_date and customers (> 0) for every day of `days` (a relation
    with a column period_day) where the running sum of the key's deltas is positive, each level
    held until the key's next change. Rows: keys x days, never ranges x days. -#}
{% macro running_day_counts(name, deltas, key_columns, days) -%}
{{ name }}__levels as (
    select
        {{ key_columns | join(', ') }},
        change_date,
        sum(delta) over (
            partition by {{ key_columns | join(', ') }}
            order by change_date
            rows between unbounded preceding and current row
        ) as customers,
        lead(change_date) over (partition by {{ key_columns | join(', ') }} order by change_date) as next_change_date
    from {{ deltas }}
),

{{ name }} as (
    select
        {%- for column in key_columns %}
        levels.{{ column }},
        {%- endfor %}
        days.period_day as counted_date,
        levels.customers
    from {{ name }}__levels as levels
    inner join {{ days }} as days
        on days.period_day >= levels.change_date
        and days.period_day < levels.next_change_date
    where levels.customers > 0
)
{%- endmacro %}

{#- Rows keyed by attribute set and plan -> the same sums per segment: `relation` has the
    key_columns, attribute_set_id (0 or null: no known customer, 'unknown' in every fixed
    segment), plan and the measures; the CTE attribute_sets (customer_attribute_sets) must be
    defined. One grouping set per customer segment and per dimension (the metric's own channel
    or touchpoint, a column of `relation`; its null group is not a segment value: the marts
    drop it) plus one without (segment 'all'); emits a select of key_columns, segment_name,
    segment_value and sum(measure) as measure. Additive
    parts can be rolled up here, before anything per day is expanded, because every segment
    row is the sum of its combinations' rows. -#}
{% macro segment_rollup(relation, key_columns, measures, dimensions=[]) -%}
{%- set fixed_names = customer_segment_names() | reject('equalto', 'plan') | list -%}
{%- set segments = customer_segment_names() + dimensions -%}
select
    {%- for column in key_columns %}
    {{ column }},
    {%- endfor %}
    {{ grouping_set_segment_name(segments) }} as segment_name,
    {{ grouping_set_segment_value(segments) }} as segment_value,
    {%- for measure in measures %}
    sum({{ measure }}) as {{ measure }}{{ ',' if not loop.last }}
    {%- endfor %}
from (
    select
        {%- for column in key_columns %}
        keyed.{{ column }},
        {%- endfor %}
        {%- for name in fixed_names %}
        coalesce(attribute_sets.{{ name }}, 'unknown') as {{ name }},
        {%- endfor %}
        keyed.plan,
        {%- for name in dimensions %}
        keyed.{{ name }},
        {%- endfor %}
        {%- for measure in measures %}
        keyed.{{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ relation }} as keyed
    left join attribute_sets
        on attribute_sets.attribute_set_id = keyed.attribute_set_id
) as attributed
group by {{ segment_grouping_sets(key_columns, segments) }}
{%- endmacro %}

{#- The active users' covered ranges (int_metrics__active_users and its _by_segment model): CTEs
    activity_days (customer_id, activity_date: an event with counts_as_activity, up to the
    as-of date) and activity_ranges (metric_name dau/wau/mau, customer_id, activity_date,
    covered_days): each active day covers the days activity_date .. + covered_days - 1, up to
    the window's length, the customer's next active day (exclusive) or the as-of date, so a
    customer's ranges never overlap. -#}
{% macro active_user_ranges() -%}
{{ active_user_days() }},

activity_ranges as (
    select
        windows.metric_name,
        with_next.customer_id,
        with_next.activity_date,
        least(
            windows.window_days,
            coalesce({{ dbt.datediff('with_next.activity_date', 'with_next.next_activity_date', 'day') }}, windows.window_days),
            {{ dbt.datediff('with_next.activity_date', as_of_date(), 'day') }} + 1
        ) as covered_days
    from (
        select
            customer_id,
            activity_date,
            lead(activity_date) over (partition by customer_id order by activity_date) as next_activity_date
        from activity_days
    ) as with_next
    cross join (
        {{ active_user_windows() | indent(8) }}
    ) as windows
)
{%- endmacro %}

{#- CTE activity_days (customer_id, activity_date): the days with an event with
    counts_as_activity, up to the as-of date. -#}
{% macro active_user_days() -%}
activity_days as (
    select distinct customer_id, occurred_date as activity_date
    from {{ ref('fct_engagement_events') }}
    where counts_as_activity
        and customer_id is not null
        and occurred_date <= {{ as_of_date() }}
)
{%- endmacro %}

{#- dau, wau and mau with their window in days, as a relation (metric_name, window_days). -#}
{% macro active_user_windows() -%}
select 'dau' as metric_name, 1 as window_days
union all select 'wau', 7
union all select 'mau', 30
{%- endmacro %}

{#- The covered ranges of active_user_ranges merged where they touch: CTE activity_islands
    (metric_name, customer_id, first_day, last_day), one row per run of days a customer counts
    in the metric without a break. Needs the CTE activity_days (active_user_days). A day
    continues the island of the customer's previous active day when it comes at most the
    window's length after it; an island ends on its last active day + window - 1, capped at the
    as-of date. The same days as the ranges in far fewer rows (at 1M customers x 120 days: 12.8M
    islands for 45.6M ranges), for models that count customers per day from range boundaries. -#}
{% macro active_user_islands() -%}
activity_day_neighbours as (
    select
        customer_id,
        activity_date,
        lag(activity_date) over (partition by customer_id order by activity_date) as previous_activity_date,
        lead(activity_date) over (partition by customer_id order by activity_date) as next_activity_date
    from activity_days
),

-- the active days that start or end an island, per metric (most days of a long run do neither)
island_bounds as (
    select *
    from (
        select
            windows.metric_name,
            windows.window_days,
            neighbours.customer_id,
            neighbours.activity_date,
            case
                when neighbours.previous_activity_date is null then true
                when {{ dbt.datediff('neighbours.previous_activity_date', 'neighbours.activity_date', 'day') }} > windows.window_days then true
                else false
            end as starts_island,
            case
                when neighbours.next_activity_date is null then true
                when {{ dbt.datediff('neighbours.activity_date', 'neighbours.next_activity_date', 'day') }} > windows.window_days then true
                else false
            end as ends_island
        from activity_day_neighbours as neighbours
        cross join (
            {{ active_user_windows() | indent(12) }}
        ) as windows
    ) as flagged
    where starts_island or ends_island
),

-- an island's start and its end are neighbours among the bounds (one row when they coincide)
activity_islands as (
    select
        metric_name,
        customer_id,
        activity_date as first_day,
        -- (never null: Spark's dateadd asserts its date is not null, a start's end bound follows it)
        least(
            cast({{ dbt.dateadd('day', 'window_days - 1', 'case when ends_island or next_bound_date is null then activity_date else next_bound_date end') }} as date),
            {{ as_of_date() }}
        ) as last_day
    from (
        select
            island_bounds.*,
            lead(activity_date) over (partition by customer_id, metric_name order by activity_date) as next_bound_date
        from island_bounds
    ) as paired
    where starts_island
)
{%- endmacro %}

{#- The columns of a rolled-up observation model (by_segment='rolled_up'), typed, from
    `relation` with metric_name, period_grain, period_start, segment_name, segment_value,
    numerator, denominator, sample_size, sum_squares. -#}
{% macro select_rolled_up_parts(relation) -%}
{%- set double = type_double() -%}
select
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(period_start as date) as period_start,
    cast(segment_name as {{ dbt.type_string() }}) as segment_name,
    cast(segment_value as {{ dbt.type_string() }}) as segment_value,
    cast(numerator as {{ double }}) as numerator,
    cast(denominator as {{ double }}) as denominator,
    cast(sample_size as {{ dbt.type_bigint() }}) as sample_size,
    cast(sum_squares as {{ double }}) as sum_squares
from {{ relation }}
{%- endmacro %}

{#- The retention metrics' calendar (int_metrics__retention and its _by_segment model): CTEs
    spells (int_customers__active_spells), bounds and calendar (calendar_date: every day from
    the day before the first spell to the as-of date). -#}
{% macro retention_calendar() -%}
spells as (
    select customer_id, from_date, to_date
    from {{ ref('int_customers__active_spells') }}
),

bounds as (
    select
        cast({{ dbt.dateadd('day', -1, 'min(from_date)') }} as date) as first_day,
        cast({{ dbt.datediff(dbt.dateadd('day', -1, 'min(from_date)'), as_of_date(), 'day') }} as {{ dbt.type_bigint() }}) as days
    from spells
),

calendar as (
    select cast({{ dbt.dateadd('day', 'day_offsets.day_offset', 'bounds.first_day') }} as date) as calendar_date
    from bounds
    inner join (
        -- 0 .. 36599: up to 100 years of history
        select cast(generated_number - 1 as {{ dbt.type_int() }}) as day_offset
        from ({{ dbt.generate_series(36600) }}) as series
    ) as day_offsets
        on day_offsets.day_offset <= bounds.days
)
{%- endmacro %}
