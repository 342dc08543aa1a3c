-- One row per order, latest delivered version (stg_shop__orders keeps the latest delivery: a
-- status correction such as a return arrives that way). Money in the reporting currency
-- (var reporting_currency): the delivered amounts are converted here with the shared fx macros
-- (rate of ordered_date in the reporting time zone; a day without a published rate takes the
-- latest earlier rate; null when no rate is known yet). net_revenue = gross - discount,
-- margin = net_revenue - cost. dim_customer_id falls back to the unknown-customer member while
-- the customer is not (yet) in the CRM, like fct_engagement_events.
{%- set string = dbt.type_string() %}
{%- set double = type_double() %}

with orders as (
    select
        order_id, customer_id, ordered_at, ordered_date, status, channel, referral_code,
        currency, gross_amount, discount_amount, cost_amount
    from {{ ref('stg_shop__orders') }}
),

crm_customers as (
    select customer_id from {{ ref('stg_crm__customers') }}
),

converted as (
    select
        orders.*,
        {{ fx_rate_to_reporting('orders.currency', 'orders.ordered_date') }} as fx_rate_to_reporting
    from orders
    {{ fx_rate_joins('orders.currency', 'orders.ordered_date') }}
),

amounts as (
    select
        converted.*,
        {{ to_reporting_currency('gross_amount') }} as gross_revenue,
        {{ to_reporting_currency('discount_amount') }} as discount,
        {{ to_reporting_currency('cost_amount') }} as cost
    from converted
)

select
    cast(amounts.order_id as {{ string }}) as order_id,
    cast(amounts.customer_id as {{ string }}) as customer_id,
    cast(
        case when crm_customers.customer_id is not null then amounts.customer_id else {{ sql_literal(var('unknown_customer_id')) }} end
        as {{ string }}
    ) as dim_customer_id,
    crm_customers.customer_id is not null as is_known_customer,
    cast(amounts.ordered_at as {{ dbt.type_timestamp() }}) as ordered_at,
    cast(amounts.ordered_date as date) as ordered_date,
    cast(amounts.status as {{ string }}) as status,
    amounts.status = 'completed' as is_completed,
    cast(amounts.channel as {{ string }}) as channel,
    cast(amounts.referral_code as {{ string }}) as referral_code,
    amounts.referral_code is not null as is_referral_order,
    cast(amounts.currency as {{ string }}) as currency,
    cast(amounts.gross_amount as {{ double }}) as gross_amount,
    cast(amounts.discount_amount as {{ double }}) as discount_amount,
    cast(amounts.cost_amount as {{ double }}) as cost_amount,
    cast(amounts.fx_rate_to_reporting as {{ double }}) as fx_rate_to_reporting,
    cast(amounts.gross_revenue as {{ double }}) as gross_revenue,
    cast(amounts.discount as {{ double }}) as discount,
    cast(amounts.gross_revenue - amounts.discount as {{ double }}) as net_revenue,
    cast(amounts.cost as {{ double }}) as cost,
    cast(amounts.gross_revenue - amounts.discount - amounts.cost as {{ double }}) as margin
from amounts
left join crm_customers
    on crm_customers.customer_id = amounts.customer_id
