-- CRR + churn rate = 100 exactly wherever S > 0 (same metric period and segment): both rest on
-- the same S, CRR counts S members still active at the period's end, churn the others.
with retention as (
    select period_grain, period_start, segment_name, segment_value, metric_name, value
    from {{ ref('mart_retention__metrics') }}
    where metric_name in ('customer_retention_rate', 'churn_rate')
),

paired as (
    select
        period_grain, period_start, segment_name, segment_value,
        max(case when metric_name = 'customer_retention_rate' then value end) as crr,
        max(case when metric_name = 'churn_rate' then value end) as churn_rate,
        count(*) as metrics
    from retention
    group by period_grain, period_start, segment_name, segment_value
)

select *
from paired
where metrics <> 2
    or (crr is null) <> (churn_rate is null)
    or abs(crr + churn_rate - 100) > 0.000001
