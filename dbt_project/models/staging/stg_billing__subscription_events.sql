-- One row per subscription lifecycle event (a later delivery wins), MRR also in the reporting currency.
with source_rows as {{ inline_cte() }} (
    select * from {{ source('billing', 'subscription_events') }}
),

latest_delivery as (
    {{ latest_per_key('source_rows', 'event_id') }}
),

subscription_events as (
    select
        event_id as subscription_event_id,
        subscription_id,
        customer_id,
        event_type,
        plan,
        plan <> 'free' as is_paid_plan,
        occurred_at,
        {{ to_reporting_date('occurred_at') }} as occurred_date,
        upper(trim(currency)) as currency,
        mrr,
        cancel_reason,
        _partition_date,
        _source_file,
        _source_line,
        _loaded_at
    from latest_delivery
),

events_with_rate as (
    select
        subscription_events.*,
        {{ fx_rate_to_reporting('subscription_events.currency', 'subscription_events.occurred_date') }} as fx_rate_to_reporting
    from subscription_events
    {{ fx_rate_joins('subscription_events.currency', 'subscription_events.occurred_date') }}
)

select
    subscription_event_id,
    subscription_id,
    customer_id,
    event_type,
    plan,
    is_paid_plan,
    occurred_at,
    occurred_date,
    currency,
    mrr,
    fx_rate_to_reporting,
    {{ to_reporting_currency('mrr') }} as mrr_reporting,
    cancel_reason,
    _partition_date,
    _source_file,
    _source_line,
    _loaded_at
from events_with_rate
