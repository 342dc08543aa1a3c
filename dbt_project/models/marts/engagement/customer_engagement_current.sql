-- One row per scored customer as of the run date: the latest score and band, the score 7 and
-- 30 days earlier and the changes, score_drop_alert when the score fell by more than
-- engagement_drop_share (CEW_ENGAGEMENT_DROP_SHARE) of its value a week earlier, is_pql for
-- free-plan or trial customers at highly_engaged or above (ready to upgrade), and the three
-- event types that contribute most to the score (largest absolute points), so a customer
-- success person knows why.
{%- set window = engagement_window_days() %}
{%- set half_life = engagement_half_life() %}
{%- set double = type_double() %}

with daily as (
    select customer_id, score_date, score, band, band_rank
    from {{ ref('customer_engagement_daily') }}
),

latest as (
    select * from daily where score_date = {{ as_of_date() }}
),

week_ago as (
    select customer_id, score from daily where score_date = {{ dbt.dateadd('day', -7, as_of_date()) }}
),

month_ago as (
    select customer_id, score from daily where score_date = {{ dbt.dateadd('day', -30, as_of_date()) }}
),

plan_now as (
    -- the state at the end of the run date
    select customer_id, plan, is_trial
    from {{ ref('int_subscriptions__plan_periods') }}
    where from_date <= {{ as_of_date() }} and {{ as_of_date() }} < to_date
),

contributions as (
    select
        customer_id,
        {{ dbt.concat(['source', "':'", 'event_type']) }} as event_label,
        {{ round_score("sum(weight" ~ ((" * power(0.5, " ~ dbt.datediff('occurred_date', as_of_date(), 'day') ~ " / " ~ half_life ~ ")") if half_life is not none else "") ~ ")") }} as points
    from {{ ref('fct_engagement_events') }}
    where is_known_customer
        and occurred_date <= {{ as_of_date() }}
        and occurred_date > {{ dbt.dateadd('day', -window, as_of_date()) }}
    group by customer_id, source, event_type
),

ranked_contributions as (
    select
        customer_id, event_label, points,
        row_number() over (partition by customer_id order by abs(points) desc, event_label) as contribution_rank
    from contributions
    where points <> 0
),

top_contributions as (
    select
        customer_id,
        {%- for rank in [1, 2, 3] %}
        max(case when contribution_rank = {{ rank }} then event_label end) as top_event_{{ rank }},
        max(case when contribution_rank = {{ rank }} then points end) as top_event_{{ rank }}_points{{ ',' if not loop.last }}
        {%- endfor %}
    from ranked_contributions
    where contribution_rank <= 3
    group by customer_id
),

highly_engaged as (
    select band_rank from {{ ref('engagement_score_bands') }} where band = 'highly_engaged'
)

select
    cast(latest.customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(latest.score_date as date) as score_date,
    cast(latest.score as {{ double }}) as score,
    cast(latest.band as {{ dbt.type_string() }}) as band,
    cast(latest.band_rank as {{ dbt.type_bigint() }}) as band_rank,
    cast(week_ago.score as {{ double }}) as score_7d_ago,
    cast(month_ago.score as {{ double }}) as score_30d_ago,
    cast(latest.score - week_ago.score as {{ double }}) as score_change_7d,
    cast(latest.score - month_ago.score as {{ double }}) as score_change_30d,
    coalesce(
        week_ago.score > 0 and (week_ago.score - latest.score) > {{ var('engagement_drop_share') }} * week_ago.score,
        false
    ) as score_drop_alert,
    cast(coalesce(plan_now.plan, 'none') as {{ dbt.type_string() }}) as current_plan,
    coalesce(plan_now.is_trial, false) as is_trial,
    coalesce(
        (plan_now.plan = 'free' or plan_now.is_trial) and latest.band_rank >= (select band_rank from highly_engaged),
        false
    ) as is_pql,
    {%- for rank in [1, 2, 3] %}
    cast(top_contributions.top_event_{{ rank }} as {{ dbt.type_string() }}) as top_event_{{ rank }},
    cast(top_contributions.top_event_{{ rank }}_points as {{ double }}) as top_event_{{ rank }}_points{{ ',' if not loop.last }}
    {%- endfor %}
from latest
left join week_ago on week_ago.customer_id = latest.customer_id
left join month_ago on month_ago.customer_id = latest.customer_id
left join plan_now on plan_now.customer_id = latest.customer_id
left join top_contributions on top_contributions.customer_id = latest.customer_id
