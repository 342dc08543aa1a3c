-- Facts whose customer is not (yet) in the CRM link to the unknown-customer member: exactly
-- one such row must exist, under var unknown_customer_id.
select count(*) as unknown_members
from {{ ref('dim_customers') }}
where is_unknown_member and customer_id = {{ sql_literal(var('unknown_customer_id')) }}
having count(*) <> 1
