-- Current version of every CRM customer, pseudonymised.
-- Clear-text e-mail, name and phone are read here and never selected out: the output carries
-- keyed hashes and masked forms only. Customers on the erasure list lose even those.
with source_rows as {{ inline_cte() }} (
    select * from {{ source('crm', 'crm_customers') }}
),

current_version as (
    -- entity versions: the latest updated_at wins, then the later delivery
    {{ latest_per_key('source_rows', 'customer_id', ['updated_at', '_partition_date', '_source_file', '_source_line']) }}
),

erasure_requests as (
    select distinct customer_id from {{ ref('pii_erasure_requests') }}
),

customers as (
    select
        current_version.*,
        erasure_requests.customer_id is not null as is_erased
    from current_version
    left join erasure_requests
        on erasure_requests.customer_id = current_version.customer_id
)

select
    customer_id,
    {{ hash_pii('customer_id') }} as customer_key,
    case when is_erased then {{ pii_erased_marker() }} else {{ hash_pii('lower(trim(email))') }} end as email_hash,
    case when not is_erased then {{ mask_email('email') }} end as email_masked,
    case when not is_erased then {{ mask_name('full_name') }} end as name_masked,
    case when not is_erased then {{ mask_phone('phone') }} end as phone_masked,
    is_erased,
    signup_at,
    {{ to_reporting_date('signup_at') }} as signup_date,
    upper(trim(country)) as country,
    -- city and birth year narrow a person down: erased with the rest of the personal data
    case when not is_erased then city end as city,
    case when not is_erased then birth_year end as birth_year,
    gender,
    income_band,
    persona,
    acquisition_channel,
    marketing_opt_in,
    updated_at,
    _partition_date,
    _source_file,
    _source_line,
    _loaded_at
from customers
