{#- The parts of a domain's observations before they are expanded to one row per metric, shared by
    its per-customer observation model (int_metrics__<domain>, the definition) and its
    _by_segment model, which sums the parts per segment first and expands the few rolled-up
    rows to the metrics after (docs/metrics-framework.md). -#}

{#- Web (int_metrics__web, int_metrics__web_by_segment): CTEs sessions (fct_sessions up to
    as_of_date()), grains, session_days (additive parts per day, customer and source),
    web_sessions, first_sessions, visitor_periods and visitor_customer_periods (visitors per
    grain, period and customer: converted, returning_visitors, visitors; a visitor belongs to a
    period when one of its web sessions started in it, to the greatest customer_id of those
    sessions, and returns when its first session ever started before the period). -#}
{% macro web_observation_parts() -%}
{%- set double = type_double() -%}
-- a plain scan read by several CTEs: inlined, not stored (inline_cte)
sessions as {{ inline_cte() }} (
    select
        session_id, source, anonymous_id, customer_id, session_date, duration_seconds,
        page_views, purchases, is_bounce, traffic_source, visitor_session_number
    from {{ ref('fct_sessions') }}
    where session_date <= {{ as_of_date() }}
),

grains as (
    {{ metric_grains() }}
),

-- one pass over the sessions: the additive parts per day, customer and source
session_days as (
    select
        session_date,
        customer_id,
        source,
        count(*) as sessions,
        sum(cast(duration_seconds as {{ double }})) as duration_sum,
        sum(cast(duration_seconds as {{ double }}) * cast(duration_seconds as {{ double }})) as duration_squares,
        sum(page_views) as page_views,
        sum(case when is_bounce then 1 else 0 end) as bounces,
        sum(case when traffic_source = 'referral' then 1 else 0 end) as referral_sessions
    from sessions
    group by session_date, customer_id, source
),

web_sessions as (
    select * from sessions where source = 'web'
),

first_sessions as (
    select anonymous_id, session_date as first_session_date
    from web_sessions
    where visitor_session_number = 1
),

-- one row per visitor and period, per grain (distinct counts are not additive over time)
visitor_periods as (
    select
        web_sessions.anonymous_id,
        grains.period_grain,
        {{ period_start('grains.period_grain', 'web_sessions.session_date') }} as period_start,
        max(web_sessions.customer_id) as customer_id,
        max(case when web_sessions.purchases > 0 then 1 else 0 end) as converted,
        min(first_sessions.first_session_date) as first_session_date
    from web_sessions
    cross join grains
    left join first_sessions
        on first_sessions.anonymous_id = web_sessions.anonymous_id
    group by 1, 2, 3
),

-- visitors counted per customer and period
visitor_customer_periods as (
    select
        period_grain,
        period_start,
        customer_id,
        sum(converted) as converted,
        sum(case when first_session_date < period_start then 1 else 0 end) as returning_visitors,
        count(*) as visitors
    from visitor_periods
    group by period_grain, period_start, customer_id
)
{%- endmacro %}

{#- E-mail (int_metrics__email, int_metrics__email_by_segment): CTEs events, pair_days, pairs,
    grains, delivered_days ((campaign, customer) pairs summed per customer, e-mail type and day
    of the first delivery: opened, clicked, unsubscribed, pairs) and engaged_customers (one row
    per grain, period and customer with an open or click event dated in the period). -#}
{% macro email_observation_parts() -%}
events as (
    select customer_id, campaign_id, email_type, event_type, occurred_date
    from {{ ref('stg_email__events') }}
    where customer_id is not null
        and occurred_date <= {{ as_of_date() }}
        and event_type in ('delivered', 'open', 'click', 'unsubscribe')
),

-- one pass over the events: per pair and day
pair_days as (
    select
        campaign_id,
        customer_id,
        occurred_date,
        max(email_type) as email_type,
        max(case when event_type = 'delivered' then 1 else 0 end) as delivered,
        max(case when event_type = 'open' then 1 else 0 end) as opened,
        max(case when event_type = 'click' then 1 else 0 end) as clicked,
        max(case when event_type = 'unsubscribe' then 1 else 0 end) as unsubscribed
    from events
    group by campaign_id, customer_id, occurred_date
),

pairs as (
    select
        campaign_id,
        customer_id,
        max(email_type) as email_type,
        min(case when delivered = 1 then occurred_date end) as delivered_date,
        max(opened) as opened,
        max(clicked) as clicked,
        max(unsubscribed) as unsubscribed
    from pair_days
    where campaign_id is not null
    group by campaign_id, customer_id
),

grains as (
    {{ metric_grains() }}
),

-- pairs summed per customer, type and delivery day before the grains multiply the rows
delivered_days as (
    select
        customer_id,
        email_type,
        delivered_date,
        sum(opened) as opened,
        sum(clicked) as clicked,
        sum(unsubscribed) as unsubscribed,
        count(*) as pairs
    from pairs
    where delivered_date is not null
    group by customer_id, email_type, delivered_date
),

-- customers with an open or click per day, then per period of each grain
engaged_days as (
    select distinct customer_id, occurred_date
    from pair_days
    where opened = 1 or clicked = 1
),

engaged_customers as (
    select distinct
        grains.period_grain,
        {{ period_start('grains.period_grain', 'engaged_days.occurred_date') }} as period_start,
        engaged_days.customer_id
    from engaged_days
    cross join grains
)
{%- endmacro %}

{#- Revenue (int_metrics__revenue, int_metrics__revenue_by_segment): CTEs orders (completed
    orders of fct_orders up to as_of_date()), grains and order_days (per customer, sales channel
    and ordered_date: revenue and margin summed with their known-amount counts, orders,
    referral orders). -#}
{% macro revenue_observation_parts() -%}
orders as (
    select customer_id, channel, ordered_date, net_revenue, margin, is_referral_order
    from {{ ref('fct_orders') }}
    where is_completed
        and ordered_date <= {{ as_of_date() }}
),

grains as (
    {{ metric_grains() }}
),

order_days as (
    select
        customer_id,
        channel,
        ordered_date,
        sum(coalesce(net_revenue, 0)) as revenue,
        sum(case when net_revenue is not null then 1 else 0 end) as revenue_orders,
        sum(coalesce(margin, 0)) as margin,
        sum(case when margin is not null then 1 else 0 end) as margin_orders,
        count(*) as orders,
        sum(case when is_referral_order then 1 else 0 end) as referral_orders
    from orders
    group by customer_id, channel, ordered_date
)
{%- endmacro %}

{#- Additive parts -> their sums per segment, as observations_by_segment and segment_rollup sum
    observation rows, but over a few wide rows of measures instead of a row per metric. Emits the
    CTEs `<name>__summed` (per attribute set and plan) and `<name>` (rolled up: key_columns,
    segment_name, segment_value and the measures: segment_rollup). `parts` (a CTE) has
    customer_id (null: no customer: 'unknown' in every customer segment, plan included),
    period_start, the key_columns (period_start among them), the dimensions and the measures;
    the plan is the one held at the start of period_start ('none' for a customer without one).
    Needs the CTEs of segment_attribution_ctes(). -#}
{% macro parts_by_segment(name, parts, key_columns, measures, dimensions=[]) -%}
{{ name }}__summed as (
    select
        {%- for column in key_columns + dimensions %}
        parts.{{ column }},
        {%- endfor %}
        customer_attribute_sets.attribute_set_id,
        case when parts.customer_id is null then 'unknown' else coalesce(plan_periods.plan, 'none') end as plan,
        {%- for measure in measures %}
        sum(parts.{{ measure }}) as {{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ parts }} as parts
    {{ segment_attribution_joins('parts') }}
    group by
        {%- for column in key_columns + dimensions %}
        parts.{{ column }},
        {%- endfor %}
        customer_attribute_sets.attribute_set_id,
        case when parts.customer_id is null then 'unknown' else coalesce(plan_periods.plan, 'none') end
),

{{ name }} as (
    {{ segment_rollup(name ~ '__summed', key_columns, measures, dimensions) | indent(4) }}
)
{%- endmacro %}
