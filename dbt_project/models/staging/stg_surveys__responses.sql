-- One row per survey invitation, as it stands in the latest delivery (an invitation re-sent once
-- answered replaces the unanswered row). Comments of customers on the erasure list are removed.
with source_rows as {{ inline_cte() }} (
    select * from {{ source('surveys', 'survey_responses') }}
),

latest_delivery as (
    {{ latest_per_key('source_rows', 'invitation_id') }}
),

erasure_requests as (
    select distinct customer_id from {{ ref('pii_erasure_requests') }}
)

select
    latest_delivery.invitation_id,
    latest_delivery.customer_id,
    latest_delivery.survey_type,
    latest_delivery.touchpoint,
    latest_delivery.channel,
    latest_delivery.sent_at,
    {{ to_reporting_date('latest_delivery.sent_at') }} as sent_date,
    latest_delivery.responded_at,
    {{ to_reporting_date('latest_delivery.responded_at') }} as responded_date,
    latest_delivery.score,
    -- a response = an invitation answered with a score (metrics contract)
    latest_delivery.responded_at is not null and latest_delivery.score is not null as is_response,
    case
        when latest_delivery.survey_type <> 'nps' or latest_delivery.score is null then null
        when latest_delivery.score >= 9 then 'promoter'
        when latest_delivery.score >= 7 then 'passive'
        else 'detractor'
    end as nps_category,
    -- free text may hold personal data
    case when erasure_requests.customer_id is null then latest_delivery.comment end as comment,
    latest_delivery._partition_date,
    latest_delivery._source_file,
    latest_delivery._source_line,
    latest_delivery._loaded_at
from latest_delivery
left join erasure_requests
    on erasure_requests.customer_id = latest_delivery.customer_id
