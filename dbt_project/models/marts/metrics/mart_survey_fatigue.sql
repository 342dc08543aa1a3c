-- Survey load per customer as of the run date: invitations in the trailing 30 days (ending on
-- the as-of date), how many were answered, and a fatigue flag when the count is above the
-- survey_fatigue_invitations setting (CEW_SURVEY_FATIGUE_INVITATIONS). Response rates by
-- touchpoint and channel over time are in mart_survey__metrics (survey_response_rate,
-- segments touchpoint and channel).
with invitations as (
    select customer_id, dim_customer_id, sent_at, sent_date, is_answered
    from {{ ref('fct_survey_responses') }}
),

per_customer as (
    select
        customer_id,
        max(dim_customer_id) as dim_customer_id,
        max(sent_at) as last_invited_at,
        count(*) as invitations_total,
        sum(case when sent_date > {{ dbt.dateadd('day', -30, as_of_date()) }} and sent_date <= {{ as_of_date() }} then 1 else 0 end)
            as invitations_last_30d,
        sum(case when sent_date > {{ dbt.dateadd('day', -30, as_of_date()) }} and sent_date <= {{ as_of_date() }} and is_answered then 1 else 0 end)
            as answered_last_30d
    from invitations
    group by customer_id
)

select
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(dim_customer_id as {{ dbt.type_string() }}) as dim_customer_id,
    cast({{ as_of_date() }} as date) as as_of_date,
    cast(last_invited_at as {{ dbt.type_timestamp() }}) as last_invited_at,
    cast(invitations_total as {{ dbt.type_bigint() }}) as invitations_total,
    cast(invitations_last_30d as {{ dbt.type_bigint() }}) as invitations_last_30d,
    cast(answered_last_30d as {{ dbt.type_bigint() }}) as answered_last_30d,
    cast(100.0 * answered_last_30d / nullif(invitations_last_30d, 0) as {{ type_double() }}) as response_rate_last_30d,
    cast({{ var('survey_fatigue_invitations') }} as {{ dbt.type_bigint() }}) as fatigue_threshold,
    invitations_last_30d > {{ var('survey_fatigue_invitations') }} as is_fatigued
from per_customer
