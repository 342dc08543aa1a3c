-- Per-customer status history as spells: one row per customer and date range
-- [from_date, to_date) over which both the lifecycle status and the plan held stay the same.
-- "Daily status" of a customer on day d = the row with from_date <= d < to_date (a full
-- customer x day table would be 1M x 365 rows; a BI daily view can join a calendar to this).
-- Status at the END of day d, from int_customers__active_spells (A(d) = active at the end of d):
--   new        A(d), not A(d-1), never active before (first day of the first active spell)
--   returning  A(d), not A(d-1), active before (first day of a later spell)
--   active     A(d) and A(d-1)
--   churned    not A(d), A(d-1) (the first inactive day after a spell)
--   inactive   not A(d), not A(d-1), active before (the rest of the gap)
-- So for every day, counting customers by status gives the day grain of the retention parts
-- exactly: S = active + churned, E = active + new + returning, N = new + returning.
-- Days before the customer's first active day have no row (never active yet).
-- plan / is_paid = end-of-day subscription state of d (int_subscriptions__plan_periods; 'none'
-- before any subscription event). Consecutive rows may carry equal values (e.g. a renewal).
-- Statuses dated after as_of_date() are projections assuming no further order or subscription event.
{%- set far_future = "cast('9999-12-31' as date)" %}

with spells as (
    select customer_id, spell_number, from_date, to_date
    from {{ ref('int_customers__active_spells') }}
),

with_next as (
    select
        spells.*,
        lead(from_date) over (partition by customer_id order by from_date) as next_from_date
    from spells
),

status_rows as (
    -- the first day of a spell
    select customer_id, from_date, case when spell_number = 1 then 'new' else 'returning' end as status
    from with_next
    union all
    -- the rest of the spell
    select customer_id, cast({{ dbt.dateadd('day', 1, 'from_date') }} as date), 'active'
    from with_next
    where to_date > cast({{ dbt.dateadd('day', 1, 'from_date') }} as date)
    union all
    -- the first inactive day
    select customer_id, to_date, 'churned'
    from with_next
    where to_date < {{ far_future }}
    union all
    -- the rest of the gap until the next spell, or for good
    select customer_id, cast({{ dbt.dateadd('day', 1, 'to_date') }} as date), 'inactive'
    from with_next
    where to_date < cast('9999-12-30' as date)
        and (next_from_date is null or next_from_date > cast({{ dbt.dateadd('day', 1, 'to_date') }} as date))
),

plan_rows as (
    select customer_id, from_date, plan, is_paid
    from {{ ref('int_subscriptions__plan_periods') }}
    where from_date <= {{ as_of_date() }}
),

change_points as (
    select customer_id, from_date, max(status) as status, max(plan) as plan,
        max(case when is_paid then 1 else 0 end) as is_paid_flag, max(has_plan) as has_plan
    from (
        select customer_id, from_date, status, cast(null as {{ dbt.type_string() }}) as plan,
            cast(null as boolean) as is_paid, 0 as has_plan
        from status_rows
        union all
        select customer_id, from_date, cast(null as {{ dbt.type_string() }}), plan, is_paid, 1
        from plan_rows
    ) as points
    group by customer_id, from_date
),

grouped as (
    -- portable forward fill: a point without a value joins the group of the last point with one
    select
        change_points.*,
        count(status) over (partition by customer_id order by from_date rows between unbounded preceding and current row) as status_group,
        sum(has_plan) over (partition by customer_id order by from_date rows between unbounded preceding and current row) as plan_group
    from change_points
),

filled as (
    select
        customer_id,
        from_date,
        max(status) over (partition by customer_id, status_group) as status,
        max(case when has_plan = 1 then plan end) over (partition by customer_id, plan_group) as plan,
        max(case when has_plan = 1 then is_paid_flag end) over (partition by customer_id, plan_group) as is_paid_flag,
        plan_group
    from grouped
)

select
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(status as {{ dbt.type_string() }}) as status,
    status in ('new', 'returning', 'active') as is_active,
    cast(case when plan_group = 0 then 'none' else plan end as {{ dbt.type_string() }}) as plan,
    coalesce(is_paid_flag, 0) = 1 as is_paid,
    cast(from_date as date) as from_date,
    cast(coalesce(lead(from_date) over (partition by customer_id order by from_date), {{ far_future }}) as date) as to_date
from filled
where status is not null
