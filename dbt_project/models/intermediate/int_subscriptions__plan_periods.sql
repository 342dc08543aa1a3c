-- The plan each customer holds over time, as date ranges of end-of-day states: the row with
-- from_date <= d < to_date is the state at the END of day d (reporting time zone), set by the
-- customer's last subscription event on or before d. So the plan held at the START of a
-- period beginning on p is the row with from_date < p <= to_date (events before that day).
-- A customer with several subscriptions is in the state of their latest event (one plan per
-- customer). cancelled -> plan 'none'; trial_expired -> 'free'; a trial holds the trial's plan
-- but is not paid. Customers without subscription events have no rows (plan 'none').
with events as (
    select customer_id, subscription_event_id, event_type, plan, occurred_at, occurred_date
    from {{ ref('stg_billing__subscription_events') }}
),

last_event_of_day as (
    select *
    from (
        select
            events.*,
            row_number() over (
                partition by customer_id, occurred_date
                order by occurred_at desc, subscription_event_id desc
            ) as rank_in_day
        from events
    ) as ranked
    where rank_in_day = 1
)

select
    customer_id,
    case
        when event_type = 'cancelled' then 'none'
        when event_type = 'trial_expired' then 'free'
        else plan
    end as plan,
    event_type in ('trial_converted', 'subscribed', 'upgraded', 'downgraded', 'renewed') and plan <> 'free' as is_paid,
    event_type = 'trial_started' as is_trial,
    event_type as last_event_type,
    occurred_date as from_date,
    coalesce(
        lead(occurred_date) over (partition by customer_id order by occurred_date),
        cast('9999-12-31' as date)
    ) as to_date
from last_event_of_day
