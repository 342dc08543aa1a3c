-- Simple CLV per customer (spec: average order value x purchase frequency (orders per year) x
-- expected lifespan (years) x gross margin share), each factor a column, as of as_of_date().
-- A later Python asset may replace it. Readings:
--   avg_order_value      net revenue / completed orders with a known amount (fct_orders,
--                        reporting currency; orders without an fx rate are left out)
--   purchase_frequency_per_year  dim_customers.purchase_frequency_per_year (completed orders x
--                        365.25 / observed days since signup or first order, at least 30 days)
--   gross_margin_share   the customer's margin / net revenue of those orders
--   expected_lifespan_years = 1 / yearly churn rate, capped at 10 years (also 10 when no churn
--                        was observed). The yearly churn rate is estimated once from the whole
--                        data, from int_customers__active_spells: daily hazard h = spells that
--                        ended by as_of_date() / active customer-days observed up to as_of_date();
--                        yearly churn = 1 - (1 - h)^365.25.
--   simple_clv           the product; 0 for a customer without completed orders; null when the
--                        customer's orders have no known amount, or their net revenue is 0
--                        (margin share undefined).
{%- set double = type_double() %}
{%- set max_lifespan_years = 10 %}

with customers as (
    select customer_id, signup_date, acquisition_channel, purchase_frequency_per_year
    from {{ ref('dim_customers') }}
    where not is_unknown_member
),

orders as (
    select
        customer_id,
        count(*) as completed_orders,
        sum(case when net_revenue is not null then 1 else 0 end) as orders_with_amount,
        sum(net_revenue) as net_revenue,
        sum(margin) as margin
    from {{ ref('fct_orders') }}
    where is_completed
        and ordered_date <= {{ as_of_date() }}
    group by customer_id
),

spells as (
    select from_date, to_date
    from {{ ref('int_customers__active_spells') }}
    where from_date <= {{ as_of_date() }}
),

churn_estimate as (
    select
        cast(sum(case when to_date <= {{ as_of_date() }} then 1 else 0 end) as {{ double }})
            / nullif(cast(sum({{ dbt.datediff('from_date', 'case when to_date <= ' ~ as_of_date() ~ ' then to_date else ' ~ dbt.dateadd('day', 1, as_of_date()) ~ ' end', 'day') }}) as {{ double }}), 0)
            as daily_churn_hazard
    from spells
),

lifespan as (
    select
        daily_churn_hazard,
        1 - power(1 - daily_churn_hazard, 365.25) as yearly_churn_rate
    from churn_estimate
),

factors as (
    select
        customers.customer_id,
        customers.signup_date,
        customers.acquisition_channel,
        coalesce(orders.completed_orders, 0) as completed_orders,
        orders.net_revenue,
        orders.margin,
        orders.net_revenue / nullif(orders.orders_with_amount, 0) as avg_order_value,
        customers.purchase_frequency_per_year,
        orders.margin / nullif(orders.net_revenue, 0) as gross_margin_share,
        lifespan.yearly_churn_rate,
        case
            when lifespan.yearly_churn_rate > 0 and 1 / lifespan.yearly_churn_rate < {{ max_lifespan_years }}
                then 1 / lifespan.yearly_churn_rate
            else {{ max_lifespan_years }}
        end as expected_lifespan_years
    from customers
    cross join lifespan
    left join orders
        on orders.customer_id = customers.customer_id
)

select
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(signup_date as date) as signup_date,
    cast(acquisition_channel as {{ dbt.type_string() }}) as acquisition_channel,
    cast(completed_orders as {{ dbt.type_bigint() }}) as completed_orders,
    cast(net_revenue as {{ double }}) as net_revenue,
    cast(margin as {{ double }}) as margin,
    cast(avg_order_value as {{ double }}) as avg_order_value,
    cast(purchase_frequency_per_year as {{ double }}) as purchase_frequency_per_year,
    cast(gross_margin_share as {{ double }}) as gross_margin_share,
    cast(yearly_churn_rate as {{ double }}) as yearly_churn_rate,
    cast(expected_lifespan_years as {{ double }}) as expected_lifespan_years,
    cast(case
        when completed_orders = 0 then 0
        else avg_order_value * purchase_frequency_per_year * expected_lifespan_years * gross_margin_share
    end as {{ double }}) as simple_clv
from factors
