{{ config(**replace_by_key_config(['metric_name', 'period_grain', 'period_start', 'customer_id'])) }}
-- Observations of the engagement score metrics: each scored customer's score on the last day of
-- each period (the run date for the period still running). A state at the period end, so each
-- grain is emitted from its own end date, never summed over days.
-- Incremental (docs/incremental-models.md): a run replaces, by (metric, grain, period,
-- customer), the periods whose end-of-period row customer_engagement_daily rescored for that
-- customer; customers new to the table get all their periods.
-- depends_on: {{ ref('fct_engagement_events') }}
{%- set double = type_double() %}
{%- set as_of = as_of_date() %}
{%- set first_scored_day = incremental_run_start() %}

with
{%- if first_scored_day %}
-- the customers the table holds (a day row each, every day) and where each one's rows change
scored_before as (
    {{ engagement_rescore_from(
        first_scored_day, 'period_start', "metric_name = 'engagement_score_mean' and period_grain = 'day'"
    ) | indent(4) }}
),
{%- endif %}

daily as (
    select daily.customer_id, daily.score_date, daily.score, daily.band, daily.week_ago_score
    from {{ ref('customer_engagement_daily') }} as daily
    {%- if first_scored_day %}
    left join scored_before
        on scored_before.customer_id = daily.customer_id
    {%- endif %}
    where daily.score_date <= {{ as_of }}
    {%- if first_scored_day %}
        and (scored_before.customer_id is null or daily.score_date >= scored_before.score_from)
    {%- endif %}
),

-- each grain from its own period-end rows: every day is a day's end; a week or month ends on
-- its last day, or on the run date while it is still running
period_ends as (
    {%- for grain in ['day', 'week', 'month'] %}
    {%- set grain_sql = "'" ~ grain ~ "'" %}
    {{ 'union all' if not loop.first }}
    select
        customer_id,
        {{ grain_sql }} as period_grain,
        {{ period_start(grain_sql, 'score_date') }} as period_start,
        score,
        band,
        -- the drop alert of customer_engagement_current, on the period's last day
        case
            when week_ago_score > 0 and week_ago_score - score > {{ var('engagement_drop_share') }} * week_ago_score
            then 1.0 else 0.0
        end as dropped
    from daily
    {%- if grain != 'day' %}
    where score_date = {{ as_of }}
        or score_date = {{ period_end(grain_sql, period_start(grain_sql, 'score_date')) }}
    {%- endif %}
    {%- endfor %}
),

observations as (
    select 'engagement_score_mean' as metric_name, customer_id, period_grain, period_start, score as x from period_ends
    union all
    select 'pct_at_risk', customer_id, period_grain, period_start, case when band = 'at_risk' then 1.0 else 0.0 end from period_ends
    union all
    select 'pct_power_users', customer_id, period_grain, period_start, case when band = 'power_user' then 1.0 else 0.0 end from period_ends
    union all
    select 'pct_score_drops', customer_id, period_grain, period_start, dropped from period_ends
)

select
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(period_start as date) as period_start,
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(null as {{ dbt.type_string() }}) as channel,
    cast(null as {{ dbt.type_string() }}) as touchpoint,
    cast(x as {{ double }}) as numerator,
    cast(1 as {{ double }}) as denominator,
    cast(1 as {{ dbt.type_bigint() }}) as sample_size,
    cast(x * x as {{ double }}) as sum_squares
from observations
