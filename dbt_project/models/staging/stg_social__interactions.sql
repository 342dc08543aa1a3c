{{ config(**replace_by_key_config('interaction_id')) }}
-- A table, not a view: the events are the warehouse's biggest input and several models read
-- them; as a view each reader would repeat the dedup window over every row. Incremental: a
-- nightly run re-reads only the rows its days delivered (macro incremental_delivered_rows).
-- One row per interaction on the brand's social accounts (a later delivery wins).
-- A full build reads the raw table where latest_per_key uses it, not a stored copy of it
-- (inline_cte); an incremental batch stores its few rows once.
with source_rows as {{ inline_cte(incremental_run_start() is none) }} (
    {{ incremental_delivered_rows(source('social', 'social_interactions'), 'interaction_id') | indent(4) }}
),

latest_delivery as (
    {{ latest_per_key('source_rows', 'interaction_id') }}
)

select
    interaction_id,
    platform,
    post_id,
    customer_id,
    interaction_type,
    -- the metrics contract counts these as interactions (not impressions, follows, unfollows)
    interaction_type in ('like', 'comment', 'share', 'repost', 'mention', 'reply', 'dm') as is_interaction,
    occurred_at,
    {{ to_reporting_date('occurred_at') }} as occurred_date,
    _partition_date,
    _source_file,
    _source_line,
    _loaded_at
from latest_delivery
