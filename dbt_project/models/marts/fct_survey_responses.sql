-- One row per survey invitation (latest delivery), answered or not, with the NPS category, the
-- CSAT/DSAT flags and the customer's survey load when it was sent: invitations to the same
-- customer in the 30 days ending at sent_at (this one included), flagged when above the
-- survey_fatigue_invitations setting. Comments of erased customers are already removed.
with invitations as (
    select * from {{ ref('stg_surveys__responses') }}
),

crm_customers as (
    select customer_id from {{ ref('stg_crm__customers') }}
),

-- a customer gets few invitations, so a self-join on the customer is cheap and portable
trailing_load as (
    select
        invitation.invitation_id,
        count(*) as invitations_trailing_30d
    from invitations as invitation
    inner join invitations as earlier
        on earlier.customer_id = invitation.customer_id
        and earlier.sent_at <= invitation.sent_at
        and earlier.sent_at > {{ dbt.dateadd('day', -30, 'invitation.sent_at') }}
    group by invitation.invitation_id
)

select
    cast(invitations.invitation_id as {{ dbt.type_string() }}) as invitation_id,
    cast(invitations.customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(
        case when crm_customers.customer_id is not null then invitations.customer_id else {{ sql_literal(var('unknown_customer_id')) }} end
        as {{ dbt.type_string() }}
    ) as dim_customer_id,
    cast(invitations.survey_type as {{ dbt.type_string() }}) as survey_type,
    cast(invitations.touchpoint as {{ dbt.type_string() }}) as touchpoint,
    cast(invitations.channel as {{ dbt.type_string() }}) as channel,
    cast(invitations.sent_at as {{ dbt.type_timestamp() }}) as sent_at,
    cast(invitations.sent_date as date) as sent_date,
    cast(invitations.responded_at as {{ dbt.type_timestamp() }}) as responded_at,
    cast(invitations.responded_date as date) as responded_date,
    invitations.responded_at is not null as is_answered,
    cast(invitations.is_response as boolean) as is_response,
    cast(invitations.score as {{ dbt.type_bigint() }}) as score,
    cast(invitations.nps_category as {{ dbt.type_string() }}) as nps_category,
    cast(case when invitations.survey_type = 'csat' and invitations.is_response then invitations.score >= 4 end as boolean) as is_csat_satisfied,
    cast(case when invitations.survey_type = 'csat' and invitations.is_response then invitations.score <= 2 end as boolean) as is_csat_dissatisfied,
    cast({{ dbt.datediff('invitations.sent_at', 'invitations.responded_at', 'second') }} as {{ dbt.type_bigint() }}) as response_seconds,
    cast(invitations.comment as {{ dbt.type_string() }}) as comment,
    cast(trailing_load.invitations_trailing_30d as {{ dbt.type_bigint() }}) as invitations_trailing_30d,
    trailing_load.invitations_trailing_30d > {{ var('survey_fatigue_invitations') }} as is_fatigued_at_send
from invitations
left join trailing_load
    on trailing_load.invitation_id = invitations.invitation_id
left join crm_customers
    on crm_customers.customer_id = invitations.customer_id
