-- One row per CRM customer: dim_customers with the CLV (ml.customer_clv) and churn scores
-- (ml.customer_churn_scores) the Python assets wrote in the same run. Until those tables exist
-- (fresh warehouse, dbt outside Dagster, another engine) the ML columns are null.
{%- set string = dbt.type_string() %}
{%- set double = type_double() %}
{%- set bigint = dbt.type_bigint() %}
{%- set clv_source = source('ml', 'customer_clv') %}
{%- set churn_source = source('ml', 'customer_churn_scores') %}
{%- set ns = namespace(clv=false, churn=false) %}
{%- if execute %}
    {%- set ns.clv = adapter.get_relation(clv_source.database, clv_source.schema, clv_source.identifier) is not none %}
    {%- set ns.churn = adapter.get_relation(churn_source.database, churn_source.schema, churn_source.identifier) is not none %}
{%- endif %}

with customers as (
    select * from {{ ref('dim_customers') }}
    where not is_unknown_member
),

clv as (
    {%- if ns.clv %}
    select
        customer_id, as_of_date, simple_clv, purchase_frequency_per_year, expected_lifespan_years,
        gross_margin_share, expected_purchases_12m, p_alive, expected_avg_spend, clv_12m, model_status
    from {{ clv_source }}
    {%- else %}
    select
        cast(null as {{ string }}) as customer_id, cast(null as date) as as_of_date,
        cast(null as {{ double }}) as simple_clv, cast(null as {{ double }}) as purchase_frequency_per_year,
        cast(null as {{ double }}) as expected_lifespan_years, cast(null as {{ double }}) as gross_margin_share,
        cast(null as {{ double }}) as expected_purchases_12m, cast(null as {{ double }}) as p_alive,
        cast(null as {{ double }}) as expected_avg_spend, cast(null as {{ double }}) as clv_12m,
        cast(null as {{ string }}) as model_status
    where 1 = 0
    {%- endif %}
),

churn as (
    {%- if ns.churn %}
    select
        customer_id, snapshot_date, churn_probability, risk_band, driver_1, driver_2, driver_3, model_version,
        model_status
    from {{ churn_source }}
    {%- else %}
    select
        cast(null as {{ string }}) as customer_id, cast(null as date) as snapshot_date,
        cast(null as {{ double }}) as churn_probability, cast(null as {{ string }}) as risk_band,
        cast(null as {{ string }}) as driver_1, cast(null as {{ string }}) as driver_2,
        cast(null as {{ string }}) as driver_3, cast(null as {{ string }}) as model_version,
        cast(null as {{ string }}) as model_status
    where 1 = 0
    {%- endif %}
)

select
    cast(customers.customer_id as {{ string }}) as customer_id,
    cast(customers.customer_key as {{ string }}) as customer_key,
    cast(customers.country as {{ string }}) as country,
    cast(customers.persona as {{ string }}) as persona,
    cast(customers.acquisition_channel as {{ string }}) as acquisition_channel,
    cast(customers.age_band as {{ string }}) as age_band,
    cast(customers.signup_date as date) as signup_date,
    cast(customers.tenure_days as {{ bigint }}) as tenure_days,
    cast(customers.orders_count as {{ bigint }}) as orders_count,
    cast(customers.revenue as {{ double }}) as revenue,
    cast(customers.avg_order_value as {{ double }}) as avg_order_value,
    cast(customers.recency_days as {{ bigint }}) as recency_days,
    cast(customers.current_plan as {{ string }}) as current_plan,
    cast(customers.support_tickets_count as {{ bigint }}) as support_tickets_count,
    cast(customers.latest_nps_score as {{ bigint }}) as latest_nps_score,
    cast(customers.latest_csat_score as {{ bigint }}) as latest_csat_score,
    cast(customers.latest_ces_score as {{ bigint }}) as latest_ces_score,
    cast(customers.engagement_score as {{ double }}) as engagement_score,
    cast(customers.engagement_band as {{ string }}) as engagement_band,
    cast(clv.as_of_date as date) as clv_as_of_date,
    cast(clv.simple_clv as {{ double }}) as simple_clv,
    cast(clv.purchase_frequency_per_year as {{ double }}) as purchase_frequency_per_year,
    cast(clv.expected_lifespan_years as {{ double }}) as expected_lifespan_years,
    cast(clv.gross_margin_share as {{ double }}) as gross_margin_share,
    cast(clv.expected_purchases_12m as {{ double }}) as expected_purchases_12m,
    cast(clv.p_alive as {{ double }}) as p_alive,
    cast(clv.expected_avg_spend as {{ double }}) as expected_avg_spend,
    cast(clv.clv_12m as {{ double }}) as clv_12m,
    cast(clv.model_status as {{ string }}) as clv_model_status,
    cast(churn.snapshot_date as date) as churn_snapshot_date,
    cast(churn.churn_probability as {{ double }}) as churn_probability,
    cast(churn.risk_band as {{ string }}) as churn_risk_band,
    cast(churn.driver_1 as {{ string }}) as churn_driver_1,
    cast(churn.driver_2 as {{ string }}) as churn_driver_2,
    cast(churn.driver_3 as {{ string }}) as churn_driver_3,
    cast(churn.model_version as {{ string }}) as churn_model_version,
    cast(churn.model_status as {{ string }}) as churn_model_status
from customers
left join clv on clv.customer_id = customers.customer_id
left join churn on churn.customer_id = customers.customer_id
