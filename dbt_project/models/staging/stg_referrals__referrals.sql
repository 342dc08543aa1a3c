-- One row per referral, as it stands in the latest delivery (a referral re-sent once the friend
-- signed up replaces the earlier row).
with source_rows as {{ inline_cte() }} (
    select * from {{ source('referrals', 'referrals') }}
),

latest_delivery as (
    {{ latest_per_key('source_rows', 'referral_id') }}
)

select
    referral_id,
    referral_code,
    referrer_customer_id,
    referred_customer_id,
    created_at,
    {{ to_reporting_date('created_at') }} as created_date,
    signed_up_at,
    {{ to_reporting_date('signed_up_at') }} as signed_up_date,
    first_order_id,
    _partition_date,
    _source_file,
    _source_line,
    _loaded_at
from latest_delivery
