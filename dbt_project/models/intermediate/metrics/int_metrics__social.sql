-- Observations of the social metrics (docs/metrics-framework.md), channel = platform, up to
-- as_of_date(). social_interactions: interactions (like, comment, share, repost, mention, reply,
-- dm; not impressions, follows, unfollows) by the interaction's date, per customer (null for
-- unmatched handles). social_engagement_rate: interactions / impression rows of
-- stg_social__interactions, account level (customer_id null). Both additive over time.
-- follower_growth_rate, per grain, account level: start = followers on the latest
-- stg_social__account_daily day BEFORE the period's first day (the count the period starts
-- with), end = followers on the latest day on or before the period's last day capped at
-- as_of_date(); numerator end - start, denominator start. A period of a platform is emitted
-- when the platform has an account row in it; without an earlier row (history starts inside
-- the period) its parts are 0 / 0, so the value is null (sample_size 0).
{%- set double = type_double() %}

with interactions as (
    select platform, customer_id, occurred_date, is_interaction, interaction_type
    from {{ ref('stg_social__interactions') }}
    where occurred_date <= {{ as_of_date() }}
        and (is_interaction or interaction_type = 'impression')
),

-- one pass: per day, platform and customer
interaction_days as (
    select
        occurred_date,
        platform,
        customer_id,
        sum(case when is_interaction then 1 else 0 end) as interactions,
        sum(case when interaction_type = 'impression' then 1 else 0 end) as impressions
    from interactions
    group by occurred_date, platform, customer_id
),

grains as (
    {{ metric_grains() }}
),

interaction_observations as (
    select
        'social_interactions' as metric_name,
        grains.period_grain,
        {{ period_start('grains.period_grain', 'interaction_days.occurred_date') }} as period_start,
        interaction_days.customer_id,
        interaction_days.platform as channel,
        sum(interaction_days.interactions) as numerator,
        cast(null as {{ double }}) as denominator,
        sum(interaction_days.interactions) as sample_size
    from interaction_days
    cross join grains
    where interaction_days.interactions > 0
    group by grains.period_grain, 3, interaction_days.customer_id, interaction_days.platform
),

engagement_observations as (
    select
        'social_engagement_rate' as metric_name,
        grains.period_grain,
        {{ period_start('grains.period_grain', 'interaction_days.occurred_date') }} as period_start,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        interaction_days.platform as channel,
        sum(interaction_days.interactions) as numerator,
        cast(sum(interaction_days.impressions) as {{ double }}) as denominator,
        sum(interaction_days.impressions) as sample_size
    from interaction_days
    cross join grains
    group by grains.period_grain, 3, interaction_days.platform
),

account_days as (
    select platform, account_date, followers
    from {{ ref('stg_social__account_daily') }}
    where account_date <= {{ as_of_date() }}
),

platform_periods as (
    select distinct
        account_days.platform,
        grains.period_grain,
        {{ period_start('grains.period_grain', 'account_days.account_date') }} as period_start
    from account_days
    cross join grains
),

bounded_periods as (
    select
        platform,
        period_grain,
        period_start,
        least({{ period_end('period_grain', 'period_start') }}, {{ as_of_date() }}) as period_last_day
    from platform_periods
),

-- the account table is small (platforms x days): plain range joins are cheap here
period_days as (
    select
        bounded_periods.platform,
        bounded_periods.period_grain,
        bounded_periods.period_start,
        max(case when account_days.account_date < bounded_periods.period_start then account_days.account_date end) as start_day,
        max(account_days.account_date) as end_day
    from bounded_periods
    inner join account_days
        on account_days.platform = bounded_periods.platform
        and account_days.account_date <= bounded_periods.period_last_day
    group by bounded_periods.platform, bounded_periods.period_grain, bounded_periods.period_start
),

follower_observations as (
    select
        'follower_growth_rate' as metric_name,
        period_days.period_grain,
        period_days.period_start,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        period_days.platform as channel,
        -- no earlier row: 0 / 0, so the value is null (sample_size 0 says why)
        coalesce(end_counts.followers - start_counts.followers, 0) as numerator,
        cast(coalesce(start_counts.followers, 0) as {{ double }}) as denominator,
        case when start_counts.followers is not null then 1 else 0 end as sample_size
    from period_days
    inner join account_days as end_counts
        on end_counts.platform = period_days.platform
        and end_counts.account_date = period_days.end_day
    left join account_days as start_counts
        on start_counts.platform = period_days.platform
        and start_counts.account_date = period_days.start_day
),

observations as (
    select * from interaction_observations
    union all
    select * from engagement_observations
    union all
    select * from follower_observations
)

select
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(period_start as date) as period_start,
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(channel as {{ dbt.type_string() }}) as channel,
    cast(null as {{ dbt.type_string() }}) as touchpoint,
    cast(numerator as {{ double }}) as numerator,
    cast(denominator as {{ double }}) as denominator,
    cast(sample_size as {{ dbt.type_bigint() }}) as sample_size,
    cast(null as {{ double }}) as sum_squares
from observations
