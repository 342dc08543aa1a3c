-- Clear-text PII must not reach the marts: only masked forms of the e-mail and phone, initials
-- for the name, and 64-hex-character hashes (or the erasure marker).
select customer_id
from {{ ref('dim_customers') }}
where (email_masked is not null and email_masked not like '_***@%')
   or (phone_masked is not null and phone_masked not like '*******%')
   or (name_masked is not null and {{ dbt.length('name_masked') }} > 5)
   or (email_hash is not null and email_hash <> {{ pii_erased_marker() }} and {{ dbt.length('email_hash') }} <> 64)
   or {{ dbt.length('customer_key') }} <> 64
