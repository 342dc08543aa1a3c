-- Observations of the app metrics (docs/metrics-framework.md), from stg_app__events up to
-- as_of_date(), by the event's date, channel = platform, customer_id as on the event (installs
-- usually happen before login: null, i.e. segment all and 'unknown'). app_installs and
-- app_uninstalls count events; app_uninstall_rate = uninstalls / installs of the same period
-- (not a cohort: an uninstall counts in its own period whenever the install was). Additive
-- over time.
{%- set double = type_double() %}

with install_days as (
    -- one pass over the app events
    select
        occurred_date,
        platform,
        customer_id,
        sum(case when event_type = 'install' then 1 else 0 end) as installs,
        sum(case when event_type = 'uninstall' then 1 else 0 end) as uninstalls
    from {{ ref('stg_app__events') }}
    where event_type in ('install', 'uninstall')
        and occurred_date <= {{ as_of_date() }}
    group by occurred_date, platform, customer_id
),

metrics as (
    select 'app_installs' as metric_name union all
    select 'app_uninstalls' union all
    select 'app_uninstall_rate'
),

grains as (
    {{ metric_grains() }}
),

observations as (
    select
        metrics.metric_name,
        grains.period_grain,
        {{ period_start('grains.period_grain', 'install_days.occurred_date') }} as period_start,
        install_days.customer_id,
        install_days.platform as channel,
        sum(case when metrics.metric_name = 'app_installs' then install_days.installs else install_days.uninstalls end) as numerator,
        sum(case when metrics.metric_name = 'app_uninstall_rate' then install_days.installs end) as denominator,
        sum(case when metrics.metric_name = 'app_uninstalls' then install_days.uninstalls else install_days.installs end) as sample_size
    from install_days
    cross join metrics
    cross join grains
    group by 1, 2, 3, 4, 5
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
