-- One rate per currency and day (a later delivery of the same day wins).
-- Rates of 0 or below are unusable and dropped here, so the previous rate keeps applying.
with source_rows as {{ inline_cte() }} (
    select * from {{ source('finance', 'fx_rates') }}
),

latest_delivery as (
    {{ latest_per_key('source_rows', [adapter.quote('date'), 'upper(trim(currency))']) }}
)

select
    {{ adapter.quote('date') }} as rate_date,
    upper(trim(currency)) as currency,
    cast(rate_to_usd as {{ type_double() }}) as rate_to_usd,
    _partition_date,
    _source_file,
    _source_line,
    _loaded_at
from latest_delivery
where rate_to_usd > 0
