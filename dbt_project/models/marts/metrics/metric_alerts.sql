-- One row per breach of a rule of seed metric_alert_thresholds by a metric_values row: complete
-- periods only (the period ended on or before the run date), with at least min_sample_size
-- observations. severity = critical when the critical value is crossed, else warning.
-- alert_id is stable across runs, so the notifier sends each breach once (a breach that
-- escalates from warning to critical is a new alert).
with metric_values as (
    select * from {{ ref('metric_values') }}
    where value is not null
),

thresholds as (
    select * from {{ ref('metric_alert_thresholds') }}
),

checked as (
    select
        metric_values.metric_name,
        metric_values.period_grain,
        metric_values.period_start,
        metric_values.segment_name,
        metric_values.segment_value,
        metric_values.value,
        metric_values.sample_size,
        metric_values.ci_low,
        metric_values.ci_high,
        thresholds.comparison,
        thresholds.warning_value,
        thresholds.critical_value,
        thresholds.note,
        case
            when thresholds.comparison = 'below' and metric_values.value < thresholds.critical_value then 'critical'
            when thresholds.comparison = 'above' and metric_values.value > thresholds.critical_value then 'critical'
            when thresholds.comparison = 'below' and metric_values.value < thresholds.warning_value then 'warning'
            when thresholds.comparison = 'above' and metric_values.value > thresholds.warning_value then 'warning'
        end as severity
    from metric_values
    inner join thresholds
        on thresholds.metric_name = metric_values.metric_name
        and thresholds.period_grain = metric_values.period_grain
        and thresholds.segment_name = metric_values.segment_name
        and (thresholds.segment_value = metric_values.segment_value or thresholds.segment_value = '*')
    where metric_values.sample_size >= coalesce(thresholds.min_sample_size, 0)
        and {{ period_end('metric_values.period_grain', 'metric_values.period_start') }} <= {{ as_of_date() }}
)

select
    cast({{ dbt.hash(dbt.concat([
        'metric_name', "'|'", 'period_grain', "'|'", 'cast(period_start as ' ~ dbt.type_string() ~ ')', "'|'",
        'segment_name', "'|'", 'segment_value', "'|'", 'severity'])) }} as {{ dbt.type_string() }}) as alert_id,
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(period_start as date) as period_start,
    cast({{ period_end('period_grain', 'period_start') }} as date) as period_end,
    cast(segment_name as {{ dbt.type_string() }}) as segment_name,
    cast(segment_value as {{ dbt.type_string() }}) as segment_value,
    cast(value as {{ type_double() }}) as value,
    cast(sample_size as {{ dbt.type_bigint() }}) as sample_size,
    cast(ci_low as {{ type_double() }}) as ci_low,
    cast(ci_high as {{ type_double() }}) as ci_high,
    cast(comparison as {{ dbt.type_string() }}) as comparison,
    cast(case when severity = 'critical' then critical_value else warning_value end as {{ type_double() }}) as threshold,
    cast(warning_value as {{ type_double() }}) as warning_value,
    cast(critical_value as {{ type_double() }}) as critical_value,
    cast(severity as {{ dbt.type_string() }}) as severity,
    cast(note as {{ dbt.type_string() }}) as note
from checked
where severity is not null
