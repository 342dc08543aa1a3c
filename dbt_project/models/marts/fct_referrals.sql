-- One row per referral (latest delivered version): who referred whom, when the friend signed
-- up, and their first order. dim_referrer_customer_id falls back to the unknown-customer member
-- while the referrer is not (yet) in the CRM.
{%- set string = dbt.type_string() %}

with referrals as (
    select * from {{ ref('stg_referrals__referrals') }}
),

crm_customers as (
    select customer_id from {{ ref('stg_crm__customers') }}
)

select
    cast(referrals.referral_id as {{ string }}) as referral_id,
    cast(referrals.referral_code as {{ string }}) as referral_code,
    cast(referrals.referrer_customer_id as {{ string }}) as referrer_customer_id,
    cast(
        case when crm_customers.customer_id is not null then referrals.referrer_customer_id else {{ sql_literal(var('unknown_customer_id')) }} end
        as {{ string }}
    ) as dim_referrer_customer_id,
    cast(referrals.referred_customer_id as {{ string }}) as referred_customer_id,
    cast(referrals.created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(referrals.created_date as date) as created_date,
    cast(referrals.signed_up_at as {{ dbt.type_timestamp() }}) as signed_up_at,
    cast(referrals.signed_up_date as date) as signed_up_date,
    referrals.signed_up_at is not null as is_signed_up,
    cast(referrals.first_order_id as {{ string }}) as first_order_id,
    referrals.first_order_id is not null as has_first_order
from referrals
left join crm_customers
    on crm_customers.customer_id = referrals.referrer_customer_id
