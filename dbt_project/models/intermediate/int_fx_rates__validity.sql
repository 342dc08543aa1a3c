-- Each published rate with the days it applies to: from its own day until the next published
-- rate of the same currency (exclusive). The latest rate of a currency is open-ended.
with rates as (
    select rate_date, currency, rate_to_usd
    from {{ ref('stg_finance__fx_rates') }}
),

with_next_rate as (
    select
        currency,
        rate_date as valid_from,
        lead(rate_date) over (partition by currency order by rate_date) as next_rate_date,
        rate_to_usd
    from rates
)

select
    currency,
    valid_from,
    coalesce(next_rate_date, cast('9999-12-31' as date)) as valid_to,
    rate_to_usd,
    next_rate_date is null as is_current
from with_next_rate
