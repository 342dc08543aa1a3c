-- One row per order (a later delivery wins), with net amount and reporting-currency amounts.
with source_rows as {{ inline_cte() }} (
    select * from {{ source('shop', 'orders') }}
),

latest_delivery as (
    {{ latest_per_key('source_rows', 'order_id') }}
),

orders as (
    select
        order_id,
        customer_id,
        ordered_at,
        {{ to_reporting_date('ordered_at') }} as ordered_date,
        status,
        channel,
        upper(trim(currency)) as currency,
        gross_amount,
        discount_amount,
        gross_amount - discount_amount as net_amount,
        cost_amount,
        referral_code,
        _partition_date,
        _source_file,
        _source_line,
        _loaded_at
    from latest_delivery
),

orders_with_rate as (
    select
        orders.*,
        {{ fx_rate_to_reporting('orders.currency', 'orders.ordered_date') }} as fx_rate_to_reporting
    from orders
    {{ fx_rate_joins('orders.currency', 'orders.ordered_date') }}
)

select
    order_id,
    customer_id,
    ordered_at,
    ordered_date,
    status,
    channel,
    referral_code,
    referral_code is not null as is_referral_order,
    currency,
    gross_amount,
    discount_amount,
    net_amount,
    cost_amount,
    fx_rate_to_reporting,
    {{ to_reporting_currency('gross_amount') }} as gross_amount_reporting,
    {{ to_reporting_currency('discount_amount') }} as discount_amount_reporting,
    {{ to_reporting_currency('net_amount') }} as net_amount_reporting,
    {{ to_reporting_currency('cost_amount') }} as cost_amount_reporting,
    _partition_date,
    _source_file,
    _source_line,
    _loaded_at
from orders_with_rate
