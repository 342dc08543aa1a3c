-- One row per day, channel and campaign (a later delivery wins), spend also in the reporting currency.
with source_rows as {{ inline_cte() }} (
    select * from {{ source('marketing', 'marketing_spend') }}
),

latest_delivery as (
    {{ latest_per_key('source_rows', [adapter.quote('date'), 'channel', 'campaign_id']) }}
),

spend as (
    select
        {{ adapter.quote('date') }} as spend_date,
        channel,
        campaign_id,
        upper(trim(currency)) as currency,
        spend_amount,
        _partition_date,
        _source_file,
        _source_line,
        _loaded_at
    from latest_delivery
),

spend_with_rate as (
    select
        spend.*,
        {{ fx_rate_to_reporting('spend.currency', 'spend.spend_date') }} as fx_rate_to_reporting
    from spend
    {{ fx_rate_joins('spend.currency', 'spend.spend_date') }}
)

select
    spend_date,
    channel,
    campaign_id,
    currency,
    spend_amount,
    fx_rate_to_reporting,
    {{ to_reporting_currency('spend_amount') }} as spend_amount_reporting,
    _partition_date,
    _source_file,
    _source_line,
    _loaded_at
from spend_with_rate
