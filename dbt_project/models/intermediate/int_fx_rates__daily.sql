-- One row per currency and calendar day from the currency's first published rate up to the day
-- before its current (latest) rate, holding the rate that applies that day: days without a
-- published rate take the latest earlier one. Days from the current rate onwards are served by
-- the current row of int_fx_rates__validity (see macro fx_rate_joins), so this table never
-- needs to reach into the future. Lets every conversion be an equality join on (currency, day)
-- instead of a range join, which does not scale to large fact tables.
with validity as (
    select currency, valid_from, rate_to_usd
    from {{ ref('int_fx_rates__validity') }}
),

currency_spans as (
    select
        currency,
        min(valid_from) as first_day,
        cast({{ dbt.datediff('min(valid_from)', 'max(valid_from)', 'day') }} as {{ dbt.type_bigint() }}) as days
    from validity
    group by currency
),

day_offsets as (
    -- 0 .. 36599: spans up to 100 years of rate history
    select cast(generated_number - 1 as {{ dbt.type_int() }}) as day_offset
    from ({{ dbt.generate_series(36600) }}) as series
),

calendar as (
    -- few currencies x their days: the inequality only filters a tiny cross product
    select
        currency_spans.currency,
        cast({{ dbt.dateadd('day', 'day_offsets.day_offset', 'currency_spans.first_day') }} as date) as rate_date
    from currency_spans
    inner join day_offsets
        on day_offsets.day_offset < currency_spans.days
),

published as (
    select
        calendar.currency,
        calendar.rate_date,
        validity.valid_from,
        validity.rate_to_usd,
        -- days after a published rate share its group number: a portable forward fill
        count(validity.valid_from) over (
            partition by calendar.currency
            order by calendar.rate_date
            rows between unbounded preceding and current row
        ) as rate_group
    from calendar
    left join validity
        on validity.currency = calendar.currency
        and validity.valid_from = calendar.rate_date
)

select
    currency,
    rate_date,
    max(rate_to_usd) over (partition by currency, rate_group) as rate_to_usd,
    max(valid_from) over (partition by currency, rate_group) as rate_valid_from
from published
