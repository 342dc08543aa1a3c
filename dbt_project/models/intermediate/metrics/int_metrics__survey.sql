-- Observations of the survey metrics (docs/metrics-framework.md): one row per metric, grain,
-- period, customer, survey channel and touchpoint. Scores count by responded_at (a response =
-- an invitation with a score); the response rate counts invitations by sent_at, answered =
-- responded_at set. NPS parts: x = +1 promoter, 0 passive, -1 detractor, so sum_squares =
-- promoters + detractors (the trinomial variance).
{%- set double = type_double() %}

with invitations as (
    select customer_id, survey_type, touchpoint, channel, sent_date, responded_at, responded_date, score, nps_category, is_response
    from {{ ref('stg_surveys__responses') }}
),

scored as (
    select * from invitations where is_response
),

observations as (
    select 'nps' as metric_name, customer_id, channel, touchpoint, responded_date as observed_date,
        case nps_category when 'promoter' then 1 when 'detractor' then -1 else 0 end as x
    from scored where survey_type = 'nps'
    union all
    select 'csat', customer_id, channel, touchpoint, responded_date, case when score >= 4 then 1 else 0 end
    from scored where survey_type = 'csat'
    union all
    select 'csat_mean', customer_id, channel, touchpoint, responded_date, score
    from scored where survey_type = 'csat'
    union all
    select 'dsat', customer_id, channel, touchpoint, responded_date, case when score <= 2 then 1 else 0 end
    from scored where survey_type = 'csat'
    union all
    select 'ces', customer_id, channel, touchpoint, responded_date, score
    from scored where survey_type = 'ces'
    union all
    select 'survey_response_rate', customer_id, channel, touchpoint, sent_date,
        case when responded_at is not null then 1 else 0 end
    from invitations
)

{{ additive_observations('observations') }}
