-- Followers and posts per platform and day (a later delivery of the same day wins).
with source_rows as {{ inline_cte() }} (
    select * from {{ source('social', 'social_account_daily') }}
),

latest_delivery as (
    {{ latest_per_key('source_rows', ['platform', adapter.quote('date')]) }}
)

select
    platform,
    {{ adapter.quote('date') }} as account_date,
    followers,
    posts_published,
    _partition_date,
    _source_file,
    _source_line,
    _loaded_at
from latest_delivery
