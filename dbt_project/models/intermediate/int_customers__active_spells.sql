-- Maximal active spells per customer: the date ranges [from_date, to_date) over which the
-- customer is active at the END of every day d (from_date <= d < to_date, the end-of-day
-- convention of int_subscriptions__plan_periods). Spec: active on d = holds a paid
-- subscription on d, or completed an order in the active_window_days (var, default 90) ending
-- on d. Readings: "holds a paid subscription on d" = the end-of-day subscription state of d is
-- paid (int_subscriptions__plan_periods.is_paid); a completed order on day o makes the customer
-- active on o .. o + W - 1, i.e. [o, o + W). Overlapping or touching order windows and paid
-- intervals are merged into one spell, so spells of a customer never overlap nor touch.
-- Only what happened up to as_of_date() counts; a spell still running at as_of_date() ends at
-- its projected end (the order window's end, or 9999-12-31 for a paid plan with no later event).
-- "Daily status" of a customer = the spell containing the day (int_customers__status_history).
{%- set window_days = var('active_window_days') | int %}

with completed_order_days as (
    select distinct customer_id, ordered_date
    from {{ ref('fct_orders') }}
    where is_completed
        and ordered_date <= {{ as_of_date() }}
),

intervals as (
    select
        customer_id,
        ordered_date as from_date,
        cast({{ dbt.dateadd('day', window_days, 'ordered_date') }} as date) as to_date
    from completed_order_days
    union all
    select customer_id, from_date, to_date
    from {{ ref('int_subscriptions__plan_periods') }}
    where is_paid
        and from_date <= {{ as_of_date() }}
),

ordered_intervals as (
    select
        customer_id,
        from_date,
        to_date,
        max(to_date) over (
            partition by customer_id
            order by from_date, to_date
            rows between unbounded preceding and 1 preceding
        ) as previous_max_to_date
    from intervals
),

flagged as (
    select
        customer_id,
        from_date,
        to_date,
        -- a new spell starts when the interval begins after everything before it has ended
        case when previous_max_to_date is null or from_date > previous_max_to_date then 1 else 0 end as starts_spell
    from ordered_intervals
),

numbered as (
    select
        customer_id,
        from_date,
        to_date,
        sum(starts_spell) over (
            partition by customer_id
            order by from_date, to_date
            rows between unbounded preceding and current row
        ) as spell_number
    from flagged
)

select
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(spell_number as {{ dbt.type_bigint() }}) as spell_number,
    cast(min(from_date) as date) as from_date,
    cast(max(to_date) as date) as to_date
from numbered
group by customer_id, spell_number
